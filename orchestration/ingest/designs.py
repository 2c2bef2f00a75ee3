"""The lake's own designs as a compound library (``orphanlake_designs``).

The newest publication's ``designed_compounds`` (published/<stamp>/designed_compounds.parquet)
is a library of its own, ``orphanlake_designs``, with compound_id = design_id: a plate map
may name a design id exactly like a vendor's catalogue id. A design enters
raw/compound_records (standardized like any library record, so ``int_compounds`` /
``int_compound_ids`` resolve it) once a file under landing/plates/ names it, i.e. when it
was made and tested, not when it was only proposed: a refresh that publishes designs
therefore does not change the next refresh's inputs (re-running with nothing new changes
nothing), and the compound marts only hold structures that exist. The publication is the
previous refresh's, so the design asset (which reads the same publication) and the ingest
form no cycle in the asset graph.

Design ids belong to the lake: a landing library record whose id has the design-id form
(``D-<TARGET>-R<round>-<nnnn>``) is refused per record when no published design has that
id, or when the published design is another structure; the same structure re-submitted
(a vendor's record of a compound it made) is accepted. A landing folder named like the
design library is refused whole. A landing record is checked against the designs published
when it is ingested; a later publication does not re-ingest every library.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from orchestration.chem.standardize import StructureError, parse_smiles, standardize_mol
from orchestration.lake.catalog import published_file
from orchestration.lake.schemas import COMPOUND_RECORDS, without_lineage
from orchestration.settings import LakePaths

DESIGN_LIBRARY = "orphanlake_designs"
DESIGNS_TABLE = "designed_compounds"          # the mart, as published
DESIGN_ID = re.compile(r"^D-(?P<target>.+)-R(?P<round>[0-9]+)-(?P<number>[0-9]{4})$")
DESIGN_ID_SQL = r"^D-.+-R[0-9]+-[0-9]{4}$"    # the same rule, for polars / DuckDB regexes
# a design id inside any text (a plate map in whatever delimiter); candidates are then
# matched against the published ids, so a loose pattern only costs a set lookup
DESIGN_ID_IN_TEXT = re.compile(rb"D-[A-Za-z0-9_.:+-]+?-R[0-9]+-[0-9]{4}")
DESIGN_ID_FORM = "D-<TARGET>-R<round>-<nnnn>"
RAW_NAME = "published_designs"                # raw/compound_records/orphanlake_designs/<this>.parquet
LEDGER_KEY = "published/designed_compounds.parquet"


def is_design_id(value: str | None) -> bool:
    """True when ``value`` has the design-id form (whether or not such a design exists)."""
    return bool(value) and DESIGN_ID.match(value) is not None


def latest_designs(paths: LakePaths) -> tuple[Path | None, pl.DataFrame]:
    """(file, rows) of the newest publication's designed_compounds; (None, empty) when no
    publication has designs."""
    src = published_file(paths, DESIGNS_TABLE)
    if src is None:
        return None, pl.DataFrame(schema={"design_id": pl.String, "smiles": pl.String,
                                          "inchikey": pl.String})
    return src, pl.read_parquet(src)


@dataclass(frozen=True)
class DesignIndex:
    """design_id → InChIKey of every published design (what landing records are checked
    against)."""
    inchikeys: dict[str, str] = field(default_factory=dict)

    def problem(self, compound_id: str, inchikey: str) -> str | None:
        """Why a landing record with this id and structure cannot be accepted, or None."""
        if not is_design_id(compound_id):
            return None
        known = self.inchikeys.get(compound_id)
        if known is None:
            return (f"compound id {compound_id!r} has the form of a design id "
                    f"({DESIGN_ID_FORM}) but no published design has it; design ids are "
                    f"given by the lake (library {DESIGN_LIBRARY})")
        if known != inchikey:
            return (f"design id {compound_id!r} is a published design of another structure "
                    f"(InChIKey {known}); this record's structure is {inchikey}: a design "
                    "re-submitted with a different structure is refused")
        return None


def design_records(designs: pl.DataFrame) -> tuple[pa.Table, dict[str, str], list[str]]:
    """(compound_records rows without lineage, design_id → InChIKey, problems) of the
    published designs, each standardized like a landing record (a design whose SMILES
    RDKit refuses is left out and named in ``problems``)."""
    rows, index, problems = [], {}, []
    for n, row in enumerate(designs.select("design_id", "smiles").iter_rows(named=True), 1):
        did, smi = row["design_id"], row["smiles"]
        if not did or did in index:
            continue
        try:
            std = standardize_mol(parse_smiles(smi or ""))
        except StructureError as exc:
            problems.append(f"design {did}: {exc}")
            continue
        index[did] = std.inchikey
        rows.append({"library": DESIGN_LIBRARY, "compound_id": did, "name": None,
                     "record_locator": f"row {n}", "input_smiles": smi, "smiles": std.smiles,
                     "inchikey": std.inchikey,
                     "standardization": "; ".join(std.notes) or None})
    schema = without_lineage(COMPOUND_RECORDS)
    return pa.Table.from_pylist(rows, schema=schema), index, problems


def named_in_plates(paths: LakePaths) -> set[str]:
    """Every design-id-shaped token in the files under landing/plates/ (read as the plate
    ingest reads them: links refused, size-bounded, gunzipped); a file the plate ingest
    would refuse is skipped here (it is quarantined there)."""
    from orchestration.ingest.landing import read_landing
    from orchestration.ingest.quarantine import FileRejected

    root = paths.landing_domain("plates")
    found: set[str] = set()
    if not root.is_dir():
        return found
    for f in sorted(root.rglob("*")):
        if f.is_symlink() or not f.is_file():
            continue
        try:
            data = read_landing(f, "plates")
        except (FileRejected, OSError):
            continue
        found.update(m.decode("ascii") for m in DESIGN_ID_IN_TEXT.findall(data))
    return found


def sync_design_library(paths: LakePaths, now: datetime, summary) -> DesignIndex:
    """Mirror the newest published designs that a landing plate file names into
    raw/compound_records/orphanlake_designs/ (through ``runner.ingest_derived``: unchanged,
    nothing is written); returns the index of every published design, which landing
    records are checked against."""
    from orchestration.ingest import runner

    src, designs = latest_designs(paths)
    named = named_in_plates(paths) if src is not None and designs.height else set()
    made = designs.filter(pl.col("design_id").is_in(sorted(named))) if named else designs.clear()
    # the design asset standardized every design like a library record, so its InChIKey is
    # the key; a row without one (written by another tool) is standardized here
    keyed = designs.filter(pl.col("inchikey").is_not_null()) if "inchikey" in designs.columns \
        else designs.clear()
    index = dict(design_records(designs.join(keyed.select("design_id"), on="design_id",
                                             how="anti"))[1]) if designs.height else {}
    index.update({d: k for d, k in keyed.select("design_id", "inchikey").iter_rows() if d})
    if src is None or made.height == 0:
        runner.ingest_derived(paths, "compounds", LEDGER_KEY, "compound_records", DESIGN_LIBRARY,
                              RAW_NAME, None, None, now, summary)
        return DesignIndex(index)
    table, _, problems = design_records(made)
    for p in problems:
        summary.quarantine_reasons.append(f"{src.relative_to(paths.home).as_posix()}: {p}")
    # what is written: the named designs' ids and structures (not the whole publication)
    sha = hashlib.sha256("\n".join(f"{r['design_id']}\t{r['smiles']}" for r in made.sort(
        "design_id").select("design_id", "smiles").iter_rows(named=True)).encode()).hexdigest()
    runner.ingest_derived(paths, "compounds", LEDGER_KEY, "compound_records", DESIGN_LIBRARY,
                          RAW_NAME, table, sha, now, summary,
                          source_file=src.relative_to(paths.home).as_posix())
    return DesignIndex(index)
