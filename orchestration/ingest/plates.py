"""Screening-plate landing files → raw ``plate_runs``, ``plate_maps`` and ``plate_wells``.

``landing/plates/<run_id>/`` holds, per run:

* ``run.json`` (or ``run.yaml``/``run.yml``): assay metadata, validated as a whole;
* a plate map: any CSV/TSV whose header has ``compound_id`` and ``role``;
* signal files, either a long table (``plate_id, well, signal``) or plate-reader matrix
  exports in the PerkinElmer EnVision style: per plate a "Plate information" section
  (``Plate,Repeat,Barcode,...`` and a values line) or a ``Plate: <id>`` line, other
  sections (Background information, Calculations, Protocol info...) and a matrix whose
  header row numbers the columns 1..N and whose rows are led by A, B, ... The first
  matrix after a plate identification is its signal; further matrices before the next
  plate identification (a second channel, a repeat) are ignored. A file with matrices but
  no plate identification names its plate after the file (``<stem>``, ``<stem>#2``, ...).

Text handling: UTF-8 with or without BOM (cp1252 as a fallback for old Windows exports),
CRLF, quoted cells, trailing empty cells, and decimal commas in ';'-separated files.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from models.plates.layout import (PLATE_FORMATS, format_for_dims, parse_well, row_label,
                                  smallest_format_holding, well_name)
from orchestration.ingest import limits
from orchestration.ingest.ids import id_problem, shown
from orchestration.ingest.landing import read_landing
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.lake.schemas import PLATE_MAPS, PLATE_RUNS, PLATE_WELLS, without_lineage

PLATE_RUNS_SCHEMA = without_lineage(PLATE_RUNS)
PLATE_WELLS_SCHEMA = without_lineage(PLATE_WELLS)
PLATE_MAPS_SCHEMA = without_lineage(PLATE_MAPS)

RUN_FILES = ("run.json", "run.yaml", "run.yml")
READOUTS = ("inhibition", "activation")
STAGES = ("primary", "dose_response")
ROLES = ("sample", "pos_ctrl", "neg_ctrl", "blank")
_FORMATS_TEXT = "96/384/1536-well layouts (8×12, 16×24, 32×48)"
# Readings a plate reader can plausibly report: luminescence counts (up to ~1e8), absorbance,
# fluorescence and background-subtracted negatives fit; 1e308 does not (it overflows every
# statistic downstream). A run may set its own range in run.json as "signal_range".
SIGNAL_RANGE = (-1e9, 1e9)


# --------------------------------------------------------------------------- text
def _read_text(path: Path) -> str:
    # gunzipped in a stream bounded by max_bytes_plates; line length and count bounded too
    data = read_landing(path, "plates")
    limits.check_line_lengths(data, 1, limits.MAX_LINE_BYTES.value)
    lines = limits.MAX_RECORDS["plates"]
    n_lines = data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))
    if n_lines > lines.value:
        raise lines.refuse(f"the file has {n_lines:,} lines")
    if b"\x00" in data[:4096]:
        raise FileRejected("binary file (NUL bytes); expected a CSV/TSV/TXT export")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _delimiter(lines: list[str]) -> str:
    """Tab, ';' or ',' by how many of the first non-empty lines contain each.

    Counting lines rather than characters keeps decimal commas in a ';' file and one
    stray ';' in a comma file from deciding the answer.
    """
    sample = [ln for ln in lines if ln.strip()][:60]
    if not sample:
        raise FileRejected("empty file")
    # No csv.Sniffer: its regexes backtrack for minutes on a few lines of quotes and commas
    # (95 s on 80 KB), and restricted to these delimiters it can only name one counted here.
    n = {d: sum(d in ln for ln in sample) for d in ("\t", ";", ",")}
    if n["\t"] and n["\t"] >= n[";"] and 2 * n["\t"] >= n[","]:
        return "\t"
    if n[";"] and 2 * n[";"] >= n[","]:
        return ";"
    return ","


def _rows(text: str, delim: str) -> list[list[str]]:
    reader = csv.reader(text.splitlines(), delimiter=delim)
    try:
        return [[c.strip().strip("\ufeff") for c in row] for row in reader]
    except csv.Error as exc:      # e.g. a cell over the csv module's field size limit
        raise FileRejected(f"malformed {'TSV' if delim == chr(9) else 'CSV'} at line "
                           f"{reader.line_num}: {exc}") from None


_NUM_COMMA = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")


def _number(cell: str, decimal_comma: bool) -> float | None:
    """A finite float or None (empty, text, NaN, ±inf)."""
    s = cell.strip().replace("\u2212", "-")
    if not s:
        return None
    if decimal_comma and _NUM_COMMA.match(s):
        s = s.replace(",", ".")
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _bad_signal(raw: str) -> str:
    return "empty signal" if not raw.strip() else f"signal {shown(raw)} is not a finite number"


# --------------------------------------------------------------------------- run.json
def _load_run(path: Path) -> dict:
    text = _read_text(path)
    try:
        if path.suffix.lower() == ".json":
            meta = json.loads(text)
        else:
            import yaml
            meta = yaml.safe_load(text)
    except Exception as exc:  # json/yaml errors have many types; all mean "unreadable"
        raise FileRejected(f"{path.name} is not valid {path.suffix.lstrip('.').upper()}: "
                           f"{str(exc).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise FileRejected(f"{path.name} must hold an object, got {type(meta).__name__}")
    return meta


def _plate_format(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FileRejected(f"plate_format {value!r} is not one of 96, 384, 1536")
    try:
        fmt = int(str(value).strip())
    except ValueError:
        raise FileRejected(f"plate_format {value!r} is not one of 96, 384, 1536") from None
    if fmt not in PLATE_FORMATS:
        raise FileRejected(f"plate_format {value!r} is not one of 96, 384, 1536")
    return fmt


def _validate_run(meta: dict, name: str) -> dict:
    def text(key: str, required: bool) -> str | None:
        v = meta.get(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                raise FileRejected(f"{name}: {key} is missing or empty")
            return None
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise FileRejected(f"{name}: {key} must be text, got {type(v).__name__}")
        return str(v).strip()

    def ident(key: str) -> str:
        v = text(key, True)
        if problem := id_problem(v):
            raise FileRejected(f"{name}: {key} {shown(v)} {problem}")
        return v

    row = {"assay_id": ident("assay_id"), "target_gene": ident("target_gene")}
    for key, allowed in (("readout", READOUTS), ("stage", STAGES)):
        v = text(key, True)
        if v.lower() not in allowed:
            raise FileRejected(f"{name}: {key} {shown(v)} is not one of {', '.join(allowed)}")
        row[key] = v.lower()
    row["plate_format"] = _plate_format(meta.get("plate_format"))
    row["description"] = text("description", False)
    _signal_range(meta.get("signal_range"), name)
    row.update(hit_calling(meta, row["readout"], name))
    return row


# Per-run hit-calling overrides in run.json (top-level keys; absent or null = the dbt vars
# hit_potency_percent, hit_threshold, replicate_spread_multiple). Each is a plain number
# (a string or a boolean is refused, not coerced) inside a range where it still means what
# it says: a potency cut-off is a percent of the control window, (0, 100]; a robust z of 0
# or less calls noise a hit and one above 50 can never be reached on a 384-well plate;
# a spread multiple of 0 or less would make every replicated compound inconclusive.
HIT_POTENCY_KEY = "hit_potency_percent"
HIT_Z_KEY = "hit_z_threshold"
SPREAD_KEY = "replicate_spread_multiple"
HIT_Z_MAX = 50.0
SPREAD_MAX = 100.0


def _number_setting(meta: dict, key: str, name: str, low: float, high: float,
                    low_open: bool, what: str) -> float | None:
    if key not in meta or meta[key] is None:
        return None
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FileRejected(f"{name}: {key} must be a number ({what}), got "
                           f"{type(v).__name__} {shown(json.dumps(v, default=str), 40)}")
    try:
        x = float(v)
    except OverflowError:                       # an integer of 400 digits
        x = math.inf
    inside = math.isfinite(x) and (x > low if low_open else x >= low) and x <= high
    if not inside:
        bound = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
        raise FileRejected(f"{name}: {key} {shown(str(v), 40)} is outside {bound} ({what})")
    return x


def hit_calling(meta: dict, readout: str, name: str) -> dict:
    """The run's hit-calling overrides: hit_potency_percent, hit_z_threshold,
    replicate_spread_multiple (None = the lake's default). FileRejected naming ``name``
    and the key when one is out of range, of the wrong type, or states its potency
    cut-off for the other direction of the assay.

    The potency cut-off may be given direction-neutral as ``hit_potency_percent`` (percent
    of the control window in the direction of the run's readout) or direction-explicit as
    ``hit_potency_percent_inhibition`` / ``hit_potency_percent_activation``; the explicit
    form must name the run's readout: an inhibition cut-off on an activation readout says
    the lab and the run.json disagree about what the assay measures, and calling hits
    either way would be a guess.
    """
    what = "percent of the control window"
    known = {HIT_POTENCY_KEY, HIT_Z_KEY, SPREAD_KEY, *(f"{HIT_POTENCY_KEY}_{d}" for d in READOUTS)}
    unknown = sorted(k for k in meta if isinstance(k, str) and k.startswith(("hit_", "replicate_"))
                     and k not in known)
    if unknown:      # a misspelt cut-off silently ignored would call hits by the default
        raise FileRejected(f"{name}: unknown hit-calling key {shown(unknown[0], 40)} (known: "
                           f"{', '.join(sorted(known))})")
    keys = [k for k in (HIT_POTENCY_KEY, *(f"{HIT_POTENCY_KEY}_{d}" for d in READOUTS))
            if meta.get(k) is not None]
    for k in keys:
        direction = k[len(HIT_POTENCY_KEY) + 1:]
        if direction and direction != readout:
            raise FileRejected(f"{name}: {k} states a potency cut-off for an {direction} assay, "
                               f"but the readout is {readout} (use {HIT_POTENCY_KEY} or "
                               f"{HIT_POTENCY_KEY}_{readout})")
    if len(keys) > 1:
        raise FileRejected(f"{name}: {' and '.join(keys)} both set the potency cut-off; give one")
    potency = (_number_setting(meta, keys[0], name, 0.0, 100.0, True, what) if keys else None)
    return {
        HIT_POTENCY_KEY: potency,
        HIT_Z_KEY: _number_setting(meta, HIT_Z_KEY, name, 0.0, HIT_Z_MAX, True,
                                   "robust z / B-score a hit must reach"),
        SPREAD_KEY: _number_setting(meta, SPREAD_KEY, name, 0.0, SPREAD_MAX, True,
                                    "replicate spread allowed, in multiples of the control noise"),
    }


def _signal_range(value, name: str) -> tuple[float, float]:
    """run.json's "signal_range": [low, high] (finite numbers, low < high), else
    SIGNAL_RANGE; FileRejected naming ``name`` when it is malformed."""
    if value is None:
        return SIGNAL_RANGE
    def finite(v) -> bool:
        try:
            return not isinstance(v, bool) and math.isfinite(float(v)) and \
                isinstance(v, (int, float))
        except (TypeError, ValueError, OverflowError):    # e.g. an integer of 400 digits
            return False

    ok = isinstance(value, list) and len(value) == 2 and all(finite(v) for v in value)
    if not ok or not float(value[0]) < float(value[1]):
        raise FileRejected(f"{name}: signal_range {shown(json.dumps(value, default=str), 60)} "
                           "must be [low, high]: two finite numbers, low below high")
    return float(value[0]), float(value[1])


def _parse_run(path: Path, run_id: str) -> ParseResult:
    row = {"run_id": run_id, **_validate_run(_load_run(path), path.name)}
    table = pa.Table.from_pylist([row], schema=PLATE_RUNS_SCHEMA)
    return ParseResult(tables={"plate_runs": [table]})


@dataclass(frozen=True)
class RunSettings:
    """What a run's exports and maps take from its run.json."""
    plate_format: int | None = None
    signal_range: tuple[float, float] = SIGNAL_RANGE


def run_settings(run_dir: Path) -> RunSettings:
    """plate_format and signal_range from the run folder's run.json/yaml, each when readable
    and valid, else the defaults (the run.json itself is refused by its own ingest). Read
    without following a link: a linked run.json counts as absent."""
    for name in RUN_FILES:
        p = run_dir / name
        if p.is_file() and not p.is_symlink():
            try:
                meta = _load_run(p)
            except FileRejected:
                return RunSettings()
            try:
                fmt = _plate_format(meta.get("plate_format"))
            except FileRejected:
                fmt = None
            try:
                signal = _signal_range(meta.get("signal_range"), name)
            except FileRejected:
                signal = SIGNAL_RANGE
            return RunSettings(fmt, signal)
    return RunSettings()


# --------------------------------------------------------------------------- plate map
def _header_index(header: list[str]) -> dict[str, int]:
    idx: dict[str, int] = {}
    for i, h in enumerate(header):
        key = h.strip().strip("\ufeff").lower().replace(" ", "_")
        idx.setdefault(key, i)
    return idx


def _first_row(rows: list[list[str]]) -> int:
    for i, r in enumerate(rows):
        if any(c for c in r):
            return i
    raise FileRejected("empty file")


def _cell(row: list[str], i: int | None) -> str:
    return row[i].strip() if i is not None and i < len(row) else ""


def _parse_map(rows: list[list[str]], start: int, run_id: str, fmt: int | None,
               decimal_comma: bool) -> ParseResult:
    h = _header_index(rows[start])
    missing = [c for c in ("plate_id", "well") if c not in h]
    if missing:
        raise FileRejected(f"plate map header (line {start + 1}) lacks {', '.join(missing)}")
    i_plate, i_well, i_cpd, i_role = h["plate_id"], h["well"], h["compound_id"], h["role"]
    i_conc = next((h[k] for k in ("concentration_um", "conc_um", "concentration") if k in h), None)
    dims = PLATE_FORMATS.get(fmt) if fmt else None
    quarantine: list[QuarantineRecord] = []
    good: dict[tuple[str, str], list[tuple[int, dict]]] = defaultdict(list)
    for li, row in enumerate(rows[start + 1:], start=start + 2):
        if not any(row):
            continue
        plate, raw_well = _cell(row, i_plate), _cell(row, i_well)
        plate_problem = id_problem(plate) if plate else None
        where = (f"plate {shown(plate) if plate_problem else plate or '?'} "
                 f"well {shown(raw_well) if id_problem(raw_well) else raw_well or '?'} "
                 f"(line {li})")

        def bad(reason: str) -> None:
            quarantine.append(QuarantineRecord("well", where, f"{where}: {reason}"))

        if not plate:
            bad("empty plate_id")
            continue
        if plate_problem:
            bad(f"plate_id {plate_problem}")
            continue
        try:
            r, c = parse_well(raw_well)
        except ValueError:
            bad(f"well {shown(raw_well)} is not a well id")
            continue
        well = well_name(r, c)
        where = f"plate {plate} well {well} (line {li})"
        if dims and (r >= dims[0] or c >= dims[1]):
            bad(f"well outside the declared {fmt}-well format ({dims[0]}×{dims[1]})")
            continue
        if smallest_format_holding(r, c) is None:
            bad("well outside a 1536-well plate (32×48)")
            continue
        role = _cell(row, i_role).lower()
        if role not in ROLES:
            bad(f"role {_cell(row, i_role)!r} is not one of {', '.join(ROLES)}")
            continue
        cpd = _cell(row, i_cpd) or None
        if cpd and (problem := id_problem(cpd)):
            bad(f"compound_id {shown(cpd)} {problem}")
            continue
        if role == "sample" and not cpd:
            bad("sample well without a compound_id")
            continue
        conc_raw = _cell(row, i_conc)
        conc = None
        if conc_raw:
            conc = _number(conc_raw, decimal_comma)
            if conc is None or conc < 0:
                bad(f"concentration_um {conc_raw!r} is not a number ≥ 0")
                continue
        good[(plate, well)].append((li, {"run_id": run_id, "plate_id": plate, "well": well,
                                         "compound_id": cpd, "concentration_um": conc,
                                         "role": role}))
    out = []
    for (plate, well), entries in good.items():
        if len(entries) > 1:
            lines = ", ".join(str(li) for li, _ in entries)
            for li, _ in entries:
                loc = f"plate {plate} well {well} (line {li})"
                quarantine.append(QuarantineRecord(
                    "well", loc, f"{loc}: well mapped {len(entries)} times (lines {lines}); "
                                 "all copies dropped"))
            continue
        out.append(entries[0][1])
    table = pa.Table.from_pylist(out, schema=PLATE_MAPS_SCHEMA)
    return ParseResult(tables={"plate_maps": [table]}, quarantine=quarantine)


# --------------------------------------------------------------------------- signals
@dataclass
class _Cell:
    line: int
    row: int
    col: int
    raw: str
    value: float | None


@dataclass
class _Plate:
    plate_id: str
    cells: list[_Cell]
    dims: tuple[int, int] | None = None     # matrix blocks know their dimensions
    where: str = ""                          # e.g. "matrix at line 12"


def _finish_plates(plates: list[_Plate], run_id: str, fmt: int | None,
                   quarantine: list[QuarantineRecord],
                   signal_range: tuple[float, float] = SIGNAL_RANGE) -> pa.Table:
    """Validate each plate's id, geometry, duplicates and readings (within
    ``signal_range``); return accepted wells.

    Completeness is not judged here: a long export lists the wells that were read, and
    which wells should have been read is the plate map's business (see
    ``models.plates.prepare``); a matrix block is complete by construction, its empty
    cells are refused as non-numeric wells."""
    out: dict[str, list] = {f.name: [] for f in PLATE_WELLS_SCHEMA}
    low, high = signal_range
    origin = ("(run.json signal_range)" if signal_range != SIGNAL_RANGE else
              "(the default; a run may set \"signal_range\": [low, high] in run.json)")
    for p in plates:
        pid = p.plate_id
        if problem := id_problem(pid):
            where = f" ({p.where})" if p.where else ""
            quarantine.append(QuarantineRecord("plate", f"plate {shown(pid)}",
                                               f"plate id {shown(pid)}{where} {problem}"))
            continue
        loc = f"plate {pid}"
        if p.dims is not None:
            found = format_for_dims(*p.dims)
            if found is None:
                quarantine.append(QuarantineRecord(
                    "plate", loc, f"plate {pid}: {p.where} is {p.dims[0]}×{p.dims[1]} "
                                  f"(rows×columns), not one of the {_FORMATS_TEXT}",
                    plate_id=pid))
                continue
            if fmt and found != fmt:
                d = PLATE_FORMATS[fmt]
                quarantine.append(QuarantineRecord(
                    "plate", loc, f"plate {pid}: {p.where} is {p.dims[0]}×{p.dims[1]} "
                                  f"but run.json declares a {fmt}-well plate ({d[0]}×{d[1]})",
                    plate_id=pid))
                continue
            plate_fmt = found
        else:
            max_r = max(c.row for c in p.cells)
            max_c = max(c.col for c in p.cells)
            if fmt:
                d = PLATE_FORMATS[fmt]
                outside = sorted({well_name(c.row, c.col) for c in p.cells
                                  if c.row >= d[0] or c.col >= d[1]})
                if outside:
                    listed = ", ".join(outside[:5]) + (" …" if len(outside) > 5 else "")
                    quarantine.append(QuarantineRecord(
                        "plate", loc, f"plate {pid}: {len(outside)} well(s) outside the declared "
                                      f"{fmt}-well format ({d[0]}×{d[1]}): {listed}",
                        plate_id=pid))
                    continue
                plate_fmt = fmt
            else:
                plate_fmt = smallest_format_holding(max_r, max_c)
                if plate_fmt is None:
                    quarantine.append(QuarantineRecord(
                        "plate", loc, f"plate {pid}: wells reach {well_name(max_r, max_c)} "
                                      f"({max_r + 1} rows × {max_c + 1} columns), beyond a "
                                      "1536-well plate", plate_id=pid))
                    continue
        R, C = PLATE_FORMATS[plate_fmt]
        by_well: dict[tuple[int, int], list[_Cell]] = defaultdict(list)
        for c in p.cells:
            by_well[(c.row, c.col)].append(c)
        wq: list[QuarantineRecord] = []
        for (r, c), cells in sorted(by_well.items()):
            w = well_name(r, c)
            wloc = f"plate {pid} well {w}"
            if len(cells) > 1:
                lines = ", ".join(str(x.line) for x in cells)
                wq.append(QuarantineRecord("well", wloc, f"{wloc}: duplicate well on lines "
                                                         f"{lines}; all copies dropped",
                                           plate_id=pid, well=w))
                continue
            cell = cells[0]
            if cell.value is None:
                wq.append(QuarantineRecord("well", wloc, f"{wloc} (line {cell.line}): "
                                                         f"{_bad_signal(cell.raw)}",
                                           plate_id=pid, well=w))
                continue
            if not low <= cell.value <= high:
                wq.append(QuarantineRecord(
                    "well", wloc, f"{wloc} (line {cell.line}): signal {cell.value:g} is outside "
                                  f"the plausible range [{low:g}, {high:g}] {origin}",
                    plate_id=pid, well=w))
                continue
            for k, v in (("run_id", run_id), ("plate_id", pid), ("well", w), ("row_idx", r),
                         ("col_idx", c), ("plate_rows", R), ("plate_cols", C),
                         ("signal", cell.value)):
                out[k].append(v)
        quarantine.extend(wq)
    return pa.Table.from_pydict(out, schema=PLATE_WELLS_SCHEMA)


def _parse_long(rows: list[list[str]], start: int, decimal_comma: bool,
                quarantine: list[QuarantineRecord]) -> list[_Plate]:
    h = _header_index(rows[start])
    i_plate, i_well, i_sig = h["plate_id"], h["well"], h["signal"]
    plates: dict[str, _Plate] = {}
    for li, row in enumerate(rows[start + 1:], start=start + 2):
        if not any(row):
            continue
        pid, raw_well, raw = _cell(row, i_plate), _cell(row, i_well), _cell(row, i_sig)
        if not pid:
            quarantine.append(QuarantineRecord("well", f"line {li}",
                                               f"line {li}: empty plate_id (well {raw_well!r})"))
            continue
        try:
            r, c = parse_well(raw_well)
        except ValueError:
            name = shown(pid) if id_problem(pid) else pid
            loc = f"plate {name} line {li}"
            quarantine.append(QuarantineRecord("well", loc, f"plate {name} (line {li}): well "
                                                            f"{shown(raw_well)} is not a well id"))
            continue
        plates.setdefault(pid, _Plate(pid, [])).cells.append(
            _Cell(li, r, c, raw, _number(raw, decimal_comma)))
    return list(plates.values())


# Written so no run of spaces can be split two ways (callers strip the id): the old
# "\s*(?:id)?\s*" and "(\S.*?)\s*$" backtracked quadratically (3 s on a 20,000-space cell).
_PLATE_LINE = re.compile(r"^\s*plate\s*(?:(?:id|name|barcode)\s*)?[:=]\s*(\S.*)$", re.I)


def _trim(row: list[str]) -> list[str]:
    end = len(row)
    while end and not row[end - 1]:
        end -= 1
    return row[:end]


def _matrix_header(row: list[str]) -> tuple[int, int] | None:
    """(first value column, N) when the row is a column-number header 1..N, else None."""
    cells = _trim(row)
    k = 0
    while k < len(cells) and not cells[k]:
        k += 1
    nums = cells[k:]
    if len(nums) < 2:
        return None
    try:
        vals = [int(x) for x in nums]
    except ValueError:
        return None
    if vals != list(range(1, len(vals) + 1)):
        return None
    # "Plate,1,2" style lines are not matrices; values sit right of a row-letter column
    return (k if k >= 1 else 1), len(vals)


# Trailing EnVision sections that describe the protocol, not a measurement; "Platemap"
# holds a matrix of well types (S, P, N, -) that must not be read as signals.
_METADATA_SECTIONS = ("platemap", "plate map", "basic assay information", "protocol information",
                      "plate type", "calculations", "auto export parameters", "operations",
                      "labels", "filters", "mirrors", "instrument", "exported with")


def _parse_matrix(rows: list[list[str]], stem: str, decimal_comma: bool) -> list[_Plate]:
    plates: list[_Plate] = []
    seen: set[str] = set()
    current: str | None = None
    taken = False                     # the current plate id already got its matrix
    skipping = False                  # inside a metadata section
    unnamed = 0
    i = 0
    n = len(rows)
    while i < n:
        row = rows[i]
        cells = _trim(row)
        low = [c.lower() for c in cells]
        if not cells:
            i += 1
            continue
        if low[0].startswith(_METADATA_SECTIONS):
            skipping = True
            i += 1
            continue
        if low[0].startswith(("plate information", "results", "background information",
                              "calculated results")):
            skipping = False
        if skipping and "barcode" not in low and not _PLATE_LINE.match(cells[0]):
            i += 1
            continue
        skipping = False
        # "Plate information" header (Plate,Repeat,Barcode,...) and its values line
        if "barcode" in low and i + 1 < n:
            j = i + 1
            while j < n and not any(rows[j]):
                j += 1
            vals = rows[j] if j < n else []
            bc = _cell(vals, low.index("barcode"))
            if not bc and "plate" in low:
                bc = _cell(vals, low.index("plate"))
            if bc:
                current, taken = bc, False
            i = j + 1
            continue
        m = _PLATE_LINE.match(cells[0]) if len(cells) == 1 else None
        if m:
            current, taken = m.group(1).strip(), False
            i += 1
            continue
        if len(cells) == 2 and low[0].rstrip(":") in ("plate", "plate id", "plate_id", "barcode"):
            current, taken = cells[1], False
            i += 1
            continue
        head = _matrix_header(row)
        if head is None:
            i += 1
            continue
        off, ncols = head
        lab = off - 1
        header_line = i + 1
        body: list[tuple[int, list[str]]] = []
        j = i + 1
        while j < n:
            r = rows[j]
            expected = row_label(len(body)) if len(body) < 26 * 27 else None
            if lab >= len(r) or expected is None or r[lab].strip().upper() != expected:
                break
            body.append((j + 1, r))
            j += 1
        i = j
        if not body:
            continue
        if current is None:
            unnamed += 1
            pid = stem if unnamed == 1 else f"{stem}#{unnamed}"
        elif taken:
            continue                   # a second channel / repeat of the same plate
        else:
            pid = current
        if not any(_number(_cell(r, off + ci), decimal_comma) is not None
                   for _, r in body for ci in range(ncols)):
            continue                   # a matrix of labels (well types), not of signals
        taken = True
        if pid in seen:
            continue                   # same barcode exported again: first block wins
        seen.add(pid)
        width = max([ncols] + [len(_trim(r)) - off for _, r in body])
        cells_out = [_Cell(li, ri, ci, _cell(r, off + ci), _number(_cell(r, off + ci), decimal_comma))
                     for ri, (li, r) in enumerate(body) for ci in range(ncols)]
        plates.append(_Plate(pid, cells_out, dims=(len(body), width),
                             where=f"matrix block at line {header_line}"))
    return plates


# --------------------------------------------------------------------------- entry
def parse_plate_file(path: Path) -> ParseResult:
    """Parse one file of ``landing/plates/<run_id>/`` (run_id = the parent folder's name).

    run.json/.yaml/.yml → ``plate_runs``; a table with compound_id and role columns →
    ``plate_maps``; a long signal table or EnVision-style matrices → ``plate_wells``.
    """
    path = Path(path)
    run_id = path.parent.name
    if path.name.lower() in RUN_FILES:
        return _parse_run(path, run_id)
    text = _read_text(path)
    delim = _delimiter(text.splitlines())
    rows = _rows(text, delim)
    decimal_comma = delim == ";"
    start = _first_row(rows)
    header = set(_header_index(rows[start]))
    settings = run_settings(path.parent)
    fmt = settings.plate_format
    if {"compound_id", "role"} <= header:
        result = _parse_map(rows, start, run_id, fmt, decimal_comma)
        if not {"plate_id", "well", "signal"} <= header:
            return result
        # a LIMS export holding the map and the signals in one table: both
        quarantine = list(result.quarantine)
        plates = _parse_long(rows, start, decimal_comma, quarantine)
        result.tables["plate_wells"] = [_finish_plates(plates, run_id, fmt, quarantine,
                                                       settings.signal_range)]
        result.quarantine = quarantine
        return result
    quarantine: list[QuarantineRecord] = []
    if {"plate_id", "well", "signal"} <= header:
        plates = _parse_long(rows, start, decimal_comma, quarantine)
        if not plates and not quarantine:
            raise FileRejected("long signal table has a header but no rows")
    else:
        plates = _parse_matrix(rows, path.name.split(".")[0], decimal_comma)
        if not plates:
            raise FileRejected("neither a long signal table (header with plate_id, well, "
                               "signal), a plate map (compound_id, role) nor a plate matrix "
                               "(a header row 1..N followed by rows A, B, ...)")
    table = _finish_plates(plates, run_id, fmt, quarantine, settings.signal_range)
    return ParseResult(tables={"plate_wells": [table]}, quarantine=quarantine)
