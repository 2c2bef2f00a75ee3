"""Compound library files (SDF/MOL, SMILES, CSV/TSV) → raw ``compound_records`` rows.

Every record is parsed without sanitization and then standardized by
``orchestration.chem.standardize`` so a structure RDKit refuses is quarantined with
RDKit's own reason. SDF text is split on ``$$$$`` here rather than by RDKit's supplier,
so a record whose molblock is broken still has its ID, title and position reported.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path
from typing import Iterator

import pyarrow as pa
from rdkit import Chem

from orchestration.chem.standardize import (StructureError, Standardized, parse_molblock,
                                            parse_smiles, standardize_mol)
from orchestration.ingest import limits
from orchestration.ingest.designs import DESIGN_LIBRARY, DesignIndex
from orchestration.ingest.ids import escaped, id_problem, shown
from orchestration.ingest.landing import open_landing
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.lake.schemas import COMPOUND_RECORDS, without_lineage

COMPOUND_RECORDS_SCHEMA = without_lineage(COMPOUND_RECORDS)

TABLE = "compound_records"
SDF_ID_FIELDS = ("compound_id", "ID", "id", "chembl_id", "molecule_chembl_id", "Catalog_ID")
SDF_NAME_FIELDS = ("name", "NAME", "pref_name", "Name")
CSV_ID_COLUMNS = ("compound_id", "id")
CSV_SMILES_COLUMNS = ("smiles",)
CSV_NAME_COLUMNS = ("name",)
_ROWS_PER_TABLE = 100_000

_KINDS = {
    ".sdf": "sdf", ".sd": "sdf", ".mol": "sdf",
    ".smi": "smiles", ".smiles": "smiles",
    ".csv": "csv", ".tsv": "tsv",
}


def compound_file_kind(path: Path) -> str | None:
    """'sdf' | 'smiles' | 'csv' | 'tsv' from the file name (``.gz`` allowed), else None."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _KINDS.get(suffixes[-1]) if suffixes else None


def _raw_lines(path: Path) -> Iterator[bytes]:
    """Lines as bytes, within max_line_bytes and max_bytes_compounds (counted after gunzip,
    so a gzip bomb stops at the limit)."""
    max_line = limits.MAX_LINE_BYTES.value
    size = limits.MAX_BYTES["compounds"]
    cap, total, number = size.value, 0, 0
    with open_landing(path) as raw_fh, \
            (gzip.open(raw_fh, "rb") if path.name.lower().endswith(".gz") else raw_fh) as fh:
        while raw := fh.readline(max_line + 2):
            number += 1
            total += len(raw)
            if total > cap:
                raise size.refuse(f"the file is more than {cap:,} bytes (decompressed)", cap)
            length = len(raw.rstrip(b"\r\n"))
            if length > max_line:
                more = "at least " if not raw.endswith(b"\n") else ""
                raise limits.MAX_LINE_BYTES.refuse(f"line {number:,} is {more}{length:,} bytes",
                                                   max_line)
            yield raw


def _lines(path: Path, keep_newline: bool = False) -> Iterator[str]:
    """Decoded lines (without line endings unless asked); vendor files are not always UTF-8."""
    try:
        first = True
        for raw in _raw_lines(path):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("latin-1")
            if first:
                line = line.lstrip("\ufeff")
                first = False
            line = line.rstrip("\r\n")
            # csv needs the newline to keep it inside a quoted multi-line cell.
            yield line + "\n" if keep_newline else line
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise FileRejected(f"corrupt or truncated gzip stream: {exc}") from None


class _Collector:
    """Accepted rows, quarantine, and the first locator of every compound id seen."""

    def __init__(self, library: str, designs: DesignIndex) -> None:
        self.library = library
        self.designs = designs
        self.rows: list[dict] = []
        self.tables: list[pa.Table] = []
        self.quarantine: list[QuarantineRecord] = []
        self.first_seen: dict[str, str] = {}
        self.records = 0
        self.max_records = limits.MAX_RECORDS["compounds"]
        self.cap = self.max_records.value

    def reject(self, locator: str, compound_id: str | None, reason: str) -> None:
        shown_id = compound_id if compound_id is None or id_problem(compound_id) is None \
            else shown(compound_id)
        where = f"{locator} (ID {shown_id})" if compound_id else locator
        self.quarantine.append(QuarantineRecord("record", where, f"{where}: {reason}"))

    def count(self) -> None:
        """One more record read; FileRejected past max_records_compounds."""
        self.records += 1
        if self.records > self.cap:
            raise self.max_records.refuse(
                f"the file has more than {self.cap:,} compound records", self.cap)

    def claim(self, locator: str, compound_id: str) -> bool:
        """False (and quarantined) when the id fails the id rule or already appeared
        earlier in the file."""
        problem = id_problem(compound_id)
        if problem:
            self.reject(locator, compound_id, f"compound id {problem}")
            return False
        first = self.first_seen.get(compound_id)
        if first is not None:
            self.reject(locator, compound_id,
                        f"duplicate compound id {compound_id!r} (first at {first})")
            return False
        self.first_seen[compound_id] = locator
        return True

    def accept(self, locator: str, compound_id: str, name: str | None, input_smiles: str,
               std: Standardized) -> None:
        """Keep the record, unless it re-uses a design id (ingest/designs.py)."""
        problem = self.designs.problem(compound_id, std.inchikey)
        if problem:
            self.reject(locator, compound_id, problem)
            return
        self.rows.append({
            "library": self.library, "compound_id": compound_id, "name": name,
            "record_locator": locator, "input_smiles": input_smiles, "smiles": std.smiles,
            "inchikey": std.inchikey, "standardization": "; ".join(std.notes) or None,
        })
        if len(self.rows) >= _ROWS_PER_TABLE:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.tables.append(pa.Table.from_pylist(self.rows, schema=COMPOUND_RECORDS_SCHEMA))
            self.rows = []

    def smiles_record(self, locator: str, compound_id: str | None, name: str | None,
                      smiles: str) -> None:
        if not compound_id:
            self.reject(locator, None, "has no compound id")
            return
        if not self.claim(locator, compound_id):
            return
        if not smiles:
            self.reject(locator, compound_id, "has no SMILES")
            return
        try:
            std = standardize_mol(parse_smiles(smiles))
        except StructureError as exc:
            self.reject(locator, compound_id, str(exc))
            return
        self.accept(locator, compound_id, name, smiles, std)

    def result(self) -> ParseResult:
        self.flush()
        if not self.tables and not self.quarantine:
            raise FileRejected("no records")
        tables = self.tables or [COMPOUND_RECORDS_SCHEMA.empty_table()]
        return ParseResult(tables={TABLE: tables}, quarantine=self.quarantine)


# --- SDF / MOL -------------------------------------------------------------------------

def _sdf_records(lines: Iterator[str]) -> Iterator[list[str]]:
    record: list[str] = []
    for line in lines:
        if line.strip() == "$$$$":
            yield record
            record = []
        else:
            record.append(line)
    if any(line.strip() for line in record):
        yield record


def _split_record(record: list[str]) -> tuple[str, dict[str, str]]:
    """(molblock text, data items) of one SDF record."""
    end = next((i for i, line in enumerate(record) if line.startswith("M  END")), None)
    if end is None:
        # No terminator: RDKit gets the whole thing and reports what is missing.
        return "\n".join(record) + "\n", {}
    block = "\n".join(record[:end + 1]) + "\n"
    props: dict[str, str] = {}
    key, values = None, []
    for line in record[end + 1:]:
        if line.startswith(">"):
            if key is not None:
                props.setdefault(key, "\n".join(values).strip())
            start, stop = line.find("<"), line.find(">", line.find("<") + 1)
            key = line[start + 1:stop].strip() if start >= 0 and stop > start else None
            values = []
        elif key is not None:
            if line.strip() == "":
                props.setdefault(key, "\n".join(values).strip())
                key, values = None, []
            else:
                values.append(line)
    if key is not None:
        props.setdefault(key, "\n".join(values).strip())
    return block, props


def _first(props: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = props.get(name, "").strip()
        if value:
            return value
    return None


def _parse_sdf(path: Path, out: _Collector) -> None:
    for n, record in enumerate(_sdf_records(_lines(path)), start=1):
        out.count()
        locator = f"record {n}"
        if not any(line.strip() for line in record):
            out.reject(locator, None, "empty record")
            continue
        block, props = _split_record(record)
        title = record[0].strip()
        # no id at all: name it by file and record, so two such files in one library
        # cannot overwrite each other's compounds
        compound_id = _first(props, SDF_ID_FIELDS) or title or f"{path.name}:{locator}"
        name = _first(props, SDF_NAME_FIELDS) or (title if title and title != compound_id
                                                  else None)
        if not out.claim(locator, compound_id):
            continue
        try:
            mol = parse_molblock(block)
            std = standardize_mol(mol)
            # standardize_mol sanitized a copy; the aromatic form is the readable input.
            Chem.SanitizeMol(mol)
            input_smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
        except StructureError as exc:
            out.reject(locator, compound_id, str(exc))
            continue
        out.accept(locator, compound_id, name, input_smiles, std)


# --- SMILES ----------------------------------------------------------------------------

def _parse_smiles_file(path: Path, out: _Collector) -> None:
    seen_content = False
    for lineno, line in enumerate(_lines(path), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        tokens = text.split()
        if not seen_content:
            seen_content = True
            if tokens[0].lower() == "smiles":
                continue
        out.count()
        compound_id = tokens[1] if len(tokens) > 1 else None
        name = " ".join(tokens[2:]) or None
        out.smiles_record(f"line {lineno}", compound_id, name, tokens[0])


# --- CSV / TSV -------------------------------------------------------------------------

def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _cell(row: list[str], index: int | None) -> str | None:
    if index is None or index >= len(row):
        return None
    return row[index].strip() or None


def _parse_table(path: Path, out: _Collector, delimiter: str) -> None:
    reader = csv.reader(_lines(path, keep_newline=True), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise FileRejected("no records")
        smiles_col = _column(header, CSV_SMILES_COLUMNS)
        if smiles_col is None:
            raise FileRejected(f"the header has no smiles column (columns: "
                               f"{escaped(', '.join(header))[:200]})")
        id_col = _column(header, CSV_ID_COLUMNS)
        if id_col is None:
            raise FileRejected("the header has no compound_id (or id) column "
                               f"(columns: {escaped(', '.join(header))[:200]})")
        name_col = _column(header, CSV_NAME_COLUMNS)
        last = reader.line_num
        for row in reader:
            lineno, last = last + 1, reader.line_num
            if not any(value.strip() for value in row):
                continue
            out.count()
            out.smiles_record(f"line {lineno}", _cell(row, id_col), _cell(row, name_col),
                              _cell(row, smiles_col) or "")
    except csv.Error as exc:
        raise FileRejected(f"malformed {'TSV' if delimiter == chr(9) else 'CSV'} at line "
                           f"{reader.line_num}: {exc}") from None


def parse_compound_file(path: Path, designs: DesignIndex | None = None) -> ParseResult:
    """Parse one compound library file into ``compound_records``; library = parent folder.
    ``designs``: the published design ids records are checked against (none: every id of
    the design-id form is refused)."""
    path = Path(path)
    if path.parent.name == DESIGN_LIBRARY:
        raise FileRejected(f"the library name {DESIGN_LIBRARY!r} is reserved for the lake's own "
                           "designs (published designed_compounds); deliver this file under "
                           "another library folder")
    kind = compound_file_kind(path)
    if kind is None:
        raise FileRejected(f"not a compound file: unknown extension {''.join(path.suffixes)!r} "
                           "(expected .sdf, .mol, .smi, .smiles, .csv or .tsv, optionally .gz)")
    out = _Collector(path.parent.name, designs or DesignIndex())
    if kind == "sdf":
        _parse_sdf(path, out)
    elif kind == "smiles":
        _parse_smiles_file(path, out)
    else:
        _parse_table(path, out, "\t" if kind == "tsv" else ",")
    return out.result()
