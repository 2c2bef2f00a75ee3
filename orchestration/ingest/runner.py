"""Idempotent per-domain ingest: landing/<domain>/<batch>/<file> → raw/<table>/<batch>/<file>.parquet.

A ledger (raw/_ledger/<domain>.parquet) remembers the sha256 each landing file had when
it was last ingested, and the sha256 of each raw file that ingest wrote; unchanged files
are skipped (once their raw files are found intact: see lake/integrity), changed ones
replace exactly their own outputs. Outputs are written to a temporary name and renamed
into place only after the whole file parsed, so a file rejected half-way leaves no
partial rows behind.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.ingest import limits
from orchestration.ingest.landing import ROOT, Refusal, open_landing, scan_domain, scan_root
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.lake import integrity
from orchestration.lake.lock import writer_lock
from orchestration.lake.schemas import LINEAGE, RAW_SCHEMAS
from orchestration.settings import TRIAL_TABLES, LakePaths

log = logging.getLogger(__name__)

LEDGER_SCHEMA = pa.schema([("source_file", pa.string()), ("source_sha256", pa.string()),
                          ("context", pa.string()), ("batch_id", pa.string()),
                          ("status", pa.string()), ("ingested_at", pa.timestamp("us", tz="UTC")),
                          # raw files this row's ingest wrote (path in the lake, sha256):
                          # see lake/integrity; null in ledgers written before it
                          ("outputs", integrity.OUTPUTS_TYPE)])
MAX_REASONS = 500


@dataclass
class IngestSummary:
    domain: str
    files_seen: int = 0
    files_ingested: int = 0
    files_skipped_unchanged: int = 0
    files_quarantined: int = 0
    records_quarantined: int = 0
    entries_refused: int = 0        # landing entries not read (links, special files, strays)
    rows_written: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: list[str] = field(default_factory=list)
    files_repaired: int = 0         # re-ingested because raw/ was changed outside orphanlake
    outside_changes: list[str] = field(default_factory=list)   # what was found and done

    def merge(self, other: "IngestSummary") -> None:
        """Add a worker's counts for the files it ingested."""
        self.files_ingested += other.files_ingested
        self.files_quarantined += other.files_quarantined
        self.records_quarantined += other.records_quarantined
        for t, n in other.rows_written.items():
            self.rows_written[t] = self.rows_written.get(t, 0) + n
        room = MAX_REASONS - len(self.quarantine_reasons)
        self.quarantine_reasons.extend(other.quarantine_reasons[:max(room, 0)])

    def as_metadata(self) -> dict:
        """Plain dict for Dagster materialization metadata."""
        return {"files_seen": self.files_seen, "files_ingested": self.files_ingested,
                "files_skipped_unchanged": self.files_skipped_unchanged,
                "files_quarantined": self.files_quarantined,
                "records_quarantined": self.records_quarantined,
                "entries_refused": self.entries_refused,
                **{f"rows_{t}": n for t, n in self.rows_written.items()},
                "quarantine_reasons": "\n".join(self.quarantine_reasons),
                "files_repaired": self.files_repaired,
                "outside_changes": "\n".join(self.outside_changes)}


def ensure_schema_files(paths: LakePaths) -> None:
    """Write raw/<table>/_schema.parquet (zero rows, exact schema) for every raw table."""
    for table, schema in RAW_SCHEMAS.items():
        target = paths.raw_table(table) / "_schema.parquet"
        if (target.is_file() and not target.is_symlink() and pq.read_schema(target).equals(schema)
                and pq.read_metadata(target).num_rows == 0):   # rows planted there are data
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name("._schema.parquet.tmp")
        pq.write_table(schema.empty_table(), tmp)
        tmp.replace(target)


def _ledger_path(paths: LakePaths, domain: str) -> Path:
    return paths.raw / "_ledger" / f"{domain}.parquet"


def _load_ledger(paths: LakePaths, domain: str) -> dict[str, dict]:
    path = _ledger_path(paths, domain)
    if not path.exists():
        return {}
    return {r["source_file"]: r for r in pq.read_table(path).to_pylist()}


def _save_ledger(paths: LakePaths, domain: str, ledger: dict[str, dict]) -> None:
    path = _ledger_path(paths, domain)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    rows = [ledger[k] for k in sorted(ledger)]
    pq.write_table(pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA), tmp)
    tmp.replace(path)


def _landing_sha256(path: Path) -> str:
    """sha256 of a landing file, opened without following a link (FileRejected if it is one)."""
    return integrity.sha256_of(path, open_landing)


def _refusals_path(paths: LakePaths, domain: str) -> Path:
    return paths.raw_table("quarantine") / "_landing" / f"{domain}.parquet"


def _record_refusals(paths: LakePaths, domain: str, refused: list[Refusal], now: datetime,
                     summary: IngestSummary) -> None:
    """Keep raw/quarantine/_landing/<domain>.parquet equal to the entries refused now.

    The file is a snapshot, so an entry refused on every refresh stays one row, with the
    time it was first refused; the summary names only refusals not recorded before.
    """
    target = _refusals_path(paths, domain)
    before: dict[tuple, datetime] = {}
    if target.exists():
        for r in pq.read_table(target).to_pylist():
            before[(r["source_file"], r["granularity"], r["reason"])] = r["ingested_at"]
    rows = []
    for r in refused:
        key = (r.rel, r.granularity, r.reason)
        if key not in before and len(summary.quarantine_reasons) < MAX_REASONS:
            summary.quarantine_reasons.append(f"{r.rel} [{r.granularity}]: {r.reason}")
        # entries outside the domains are counted once, by the ingest that first saw them
        summary.entries_refused += domain != ROOT or key not in before
        rows.append({"domain": domain, "granularity": r.granularity, "locator": None,
                     "reason": r.reason, "original_path": f"landing/{r.rel}",
                     "quarantine_copy": None, "source_file": r.rel, "source_sha256": None,
                     "batch_id": r.batch, "ingested_at": before.get(key, now)})
    if {(r["source_file"], r["granularity"], r["reason"]) for r in rows} == set(before):
        return                       # unchanged: leave the file (and its mtime) alone
    if not rows:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=RAW_SCHEMAS["quarantine"]), tmp)
    tmp.replace(target)


def _copy_refused(path: Path, target: Path) -> None:
    """Copy a refused landing file to quarantine/, never through a link."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_landing(path) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    st = path.lstat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


class _Lineage:
    def __init__(self, source_file: str, sha: str, batch: str, now: datetime):
        self.values = [(LINEAGE[0], source_file), (LINEAGE[1], sha), (LINEAGE[2], batch),
                       (LINEAGE[3], now)]

    def add(self, data: pa.Table, schema: pa.Schema) -> pa.Table:
        body = pa.schema([f for f in schema if f.name not in {x.name for x, _ in self.values}])
        data = data.select(body.names).cast(body)
        for fld, value in self.values:
            data = data.append_column(fld, pa.repeat(pa.scalar(value, fld.type), data.num_rows))
        return data


def _write_tables(streams: dict[str, object], targets: dict[str, Path], lineage: _Lineage
                  ) -> dict[str, tuple[Path | None, int]]:
    """Stream each table's chunks into a temp Parquet next to its target; {table: (temp path
    or None, rows)}. The streams are read in turn, one chunk of each, so a parser whose
    tables come from one pass over the file (a VCF's calls, sites and no-calls) holds one
    chunk per table rather than a whole table while another is written."""
    pending = {t: iter(chunks) for t, chunks in streams.items()}
    tmps = {t: targets[t].with_name(f".{targets[t].name}.tmp") for t in streams}
    writers: dict[str, pq.ParquetWriter] = {}
    rows = {t: 0 for t in streams}
    try:
        while pending:
            for t, chunks in list(pending.items()):
                chunk = next(chunks, None)
                if chunk is None:
                    del pending[t]
                    continue
                table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_batches([chunk])
                if table.num_rows == 0:
                    continue
                if t not in writers:
                    targets[t].parent.mkdir(parents=True, exist_ok=True)
                    writers[t] = pq.ParquetWriter(tmps[t], RAW_SCHEMAS[t], compression="zstd")
                writers[t].write_table(lineage.add(table, RAW_SCHEMAS[t]))
                rows[t] += table.num_rows
    except BaseException:
        for t, writer in writers.items():
            writer.close()
            tmps[t].unlink(missing_ok=True)
        raise
    for writer in writers.values():
        writer.close()
    return {t: (tmps[t] if t in writers else None, rows[t]) for t in streams}


def _locator_order(record: QuarantineRecord) -> tuple:
    # ASCII digits only (str.isdigit() also accepts '²', which int() refuses) and no more
    # than int() takes: a locator quotes ids from the file, which may be anything
    digits = "".join(ch for ch in (record.locator or "") if "0" <= ch <= "9")[:18]
    return (record.granularity, int(digits) if digits else -1, record.locator or "")


def _quarantine_table(records: list[QuarantineRecord], domain: str, original: str,
                      copy: str | None, lineage: _Lineage) -> pa.Table:
    data = pa.table({"domain": [domain] * len(records),
                     "granularity": [r.granularity for r in records],
                     "locator": [r.locator for r in records],
                     "reason": [r.reason for r in records],
                     "original_path": [original] * len(records),
                     "quarantine_copy": [copy] * len(records),
                     "plate_id": [r.plate_id for r in records],
                     "well": [r.well for r in records]})
    return lineage.add(data, RAW_SCHEMAS["quarantine"])


def _output_paths(paths: LakePaths, domain: str, batch: str, name: str,
                  tables: list[str]) -> tuple[dict[str, Path], Path]:
    """Where the ingest of landing/<domain>/<batch>/<name> writes: {table: file}, and its
    quarantine records' file."""
    return ({t: paths.raw_table(t) / batch / f"{name}.parquet" for t in tables},
            paths.raw_table("quarantine") / batch / f"{domain}__{name}.parquet")


def _recorded_outputs(paths: LakePaths, domain: str, batch: str, name: str,
                      tables: list[str]) -> list[dict]:
    """The ledger's ``outputs`` for the files an ingest of ``name`` left in raw/."""
    targets, q_target = _output_paths(paths, domain, batch, name, tables)
    return integrity.record(paths, [*targets.values(), q_target])


def _ingest_file(paths: LakePaths, domain: str, batch: str, path: Path, sha: str,
                 parse_file: Callable[..., ParseResult], tables: list[str], now: datetime,
                 summary: IngestSummary) -> str:
    rel = path.relative_to(paths.landing).as_posix()
    lineage = _Lineage(rel, sha, batch, now)
    targets, q_target = _output_paths(paths, domain, batch, path.name, tables)
    copy_target = paths.quarantine / domain / batch / path.name
    written: dict[str, tuple[Path | None, int]] = {}
    rejected: str | None = None
    try:
        result = parse_file(path)
        written = _write_tables({t: result.tables.get(t, ()) for t in tables}, targets, lineage)
        # threads may report lines out of order; keep the file's order
        records = sorted(result.quarantine, key=_locator_order)
    except FileRejected as exc:
        rejected = str(exc)
    except Exception as exc:  # one bad file must never stop the batch
        log.exception("ingest of %s failed", rel)
        rejected = f"could not be parsed ({type(exc).__name__}: {exc})"
    if rejected is not None:
        for tmp, _ in written.values():
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        written = {t: (None, 0) for t in tables}
        try:
            _copy_refused(path, copy_target)
        except FileRejected as exc:      # swapped for a link or a FIFO since the scan
            copy_target.unlink(missing_ok=True)
            rejected = f"{rejected} (no copy kept: the landing file {exc})"
        records = [QuarantineRecord("file", None, rejected)]
    else:
        copy_target.unlink(missing_ok=True)
    for t, (tmp, rows) in written.items():
        if tmp is None:
            targets[t].unlink(missing_ok=True)
        else:
            tmp.replace(targets[t])
        summary.rows_written[t] = summary.rows_written.get(t, 0) + rows
    if records:
        copy_rel = (copy_target.relative_to(paths.home).as_posix()
                    if rejected and copy_target.exists() else None)
        original = path.relative_to(paths.home).as_posix()
        q_target.parent.mkdir(parents=True, exist_ok=True)
        tmp = q_target.with_name(f".{q_target.name}.tmp")
        pq.write_table(_quarantine_table(records, domain, original, copy_rel, lineage), tmp)
        tmp.replace(q_target)
        for r in records:
            if len(summary.quarantine_reasons) < MAX_REASONS:
                where = f" {r.locator}" if r.locator else ""
                summary.quarantine_reasons.append(f"{rel} [{r.granularity}{where}]: {r.reason}")
    else:
        q_target.unlink(missing_ok=True)
    if rejected is not None:
        summary.files_quarantined += 1
        return "quarantined"
    summary.files_ingested += 1
    summary.records_quarantined += len(records)
    return "ingested"


def _ingest_in_worker(paths: LakePaths, domain: str, batch: str, path: Path, sha: str,
                      parse_file: Callable[..., ParseResult], tables: list[str],
                      now: datetime) -> tuple[str, IngestSummary]:
    part = IngestSummary(domain=domain, rows_written={t: 0 for t in tables})
    return _ingest_file(paths, domain, batch, path, sha, parse_file, tables, now, part), part


def ingest_domain(paths: LakePaths, domain: str, parse_file: Callable[..., ParseResult],
                  tables: list[str], now: datetime | None = None,
                  context: str = "", workers: int = 1) -> IngestSummary:
    """Ingest every new or changed file of landing/<domain>/*/ into raw/ (see module doc).

    ``context`` fingerprints outside inputs the parse depends on (e.g. the known patient
    ids for expression); a file is re-ingested when its sha256 or the context changed.
    ``workers`` > 1 parses files in that many processes (each file's outputs are still
    written and renamed by the process that parsed it; the ledger stays in this one).
    """
    with writer_lock(paths):
        return _ingest_domain(paths, domain, parse_file, tables,
                              now or datetime.now(timezone.utc), context, workers)


def _ingest_domain(paths: LakePaths, domain: str, parse_file: Callable[..., ParseResult],
                   tables: list[str], now: datetime, context: str, workers: int) -> IngestSummary:
    limits.check_environment()
    ensure_schema_files(paths)
    summary = IngestSummary(domain=domain, rows_written={t: 0 for t in tables})
    ledger = _load_ledger(paths, domain)
    for row in ledger.values():
        if row.get("outputs") is None:      # a ledger from before outputs were recorded
            row["outputs"] = _recorded_outputs(paths, domain, row["batch_id"],
                                               Path(row["source_file"]).name, tables)
    # entries outside every domain are reported by whichever ingest runs first
    _record_refusals(paths, ROOT, scan_root(paths), now, summary)
    scan = scan_domain(paths, domain)
    refused = list(scan.refused)
    todo = []
    for batch, path in scan.files:
        summary.files_seen += 1
        rel = path.relative_to(paths.landing).as_posix()
        try:
            sha = _landing_sha256(path)
        except FileRejected as exc:      # replaced by a link or a FIFO since the scan
            refused.append(Refusal(rel, batch, "file", f"{rel} {exc}"))
            continue
        seen = ledger.get(rel)
        if seen and seen["source_sha256"] == sha and (seen["context"] or "") == context:
            damage = integrity.problems(paths, seen["outputs"])
            if not damage:
                summary.files_skipped_unchanged += 1
                continue
            summary.files_repaired += 1
            summary.outside_changes.extend(
                f"{d}; repaired by ingesting landing/{rel} again" for d in damage)
        todo.append((rel, batch, path, sha))
    try:
        if workers > 1 and len(todo) > workers:
            # spawn, not fork: the parent runs threads (Dagster, polars, Arrow)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_ingest_in_worker, paths, domain, batch, path, sha,
                                       parse_file, tables, now) for _, batch, path, sha in todo]
                for (rel, batch, path, sha), future in zip(todo, futures):
                    status, part = future.result()
                    summary.merge(part)
                    ledger[rel] = _ledger_row(rel, sha, context, batch, status, now,
                                              _recorded_outputs(paths, domain, batch, path.name, tables))
        else:
            for rel, batch, path, sha in todo:
                status = _ingest_file(paths, domain, batch, path, sha, parse_file, tables, now,
                                      summary)
                ledger[rel] = _ledger_row(rel, sha, context, batch, status, now,
                                          _recorded_outputs(paths, domain, batch, path.name, tables))
    finally:
        _save_ledger(paths, domain, ledger)
    known = {o["path"] for row in ledger.values() for o in row["outputs"]}
    summary.outside_changes.extend(integrity.move_aside(
        paths, integrity.strays(paths, domain, tables, known), now))
    _record_refusals(paths, domain, refused, now, summary)
    return summary


def _ledger_row(rel: str, sha: str, context: str, batch: str, status: str, now: datetime,
                outputs: list[dict]) -> dict:
    return {"source_file": rel, "source_sha256": sha, "context": context,
            "batch_id": batch, "status": status, "ingested_at": now, "outputs": outputs}


def register_copies(paths: LakePaths, domain: str, files: list[Path],
                    now: datetime | None = None) -> None:
    """Record raw files copied in from another lake (rank-genes copies the main lake's
    expression cohort into its scratch lake) in this lake's ledger, so its ingest counts
    them as accounted for instead of moving them aside as planted."""
    with writer_lock(paths):
        ledger = _load_ledger(paths, domain)
        for f in files:
            key = f"copied/{f.relative_to(paths.raw).as_posix()}"
            ledger[key] = {"source_file": key, "source_sha256": None, "context": None,
                           "batch_id": None, "status": "copied",
                           "ingested_at": now or datetime.now(timezone.utc),
                           "outputs": integrity.record(paths, [f])}
        _save_ledger(paths, domain, ledger)


def known_patient_ids(paths: LakePaths) -> set[str]:
    """Patient ids already in raw/patients and raw/variants (the expression whitelist)."""
    ids: set[str] = set()
    for table in ("patients", "variants"):
        files = sorted(paths.raw_table(table).glob("**/*.parquet"))
        if files:
            ids |= set(pl.scan_parquet(files).select("patient_id").unique().collect()
                       .get_column("patient_id").drop_nulls().to_list())
    return ids


def parse_genomic_file(path: Path) -> ParseResult:
    """A PED file (``*.ped``) of a genomic batch as pedigrees; anything else as a VCF (whose
    parser names what an unknown file is not)."""
    if path.name.lower().endswith(".ped"):
        from orchestration.ingest.pedigree import parse_ped
        return parse_ped(path)
    from orchestration.ingest.vcf import parse_vcf
    return parse_vcf(path)


def ingest_genomic(paths: LakePaths, now: datetime | None = None) -> IngestSummary:
    """Ingest landing/genomic VCFs into raw/variants, raw/variant_sites and raw/no_calls, and
    PED files into raw/pedigrees."""
    return ingest_domain(paths, "genomic", parse_genomic_file,
                         ["variants", "variant_sites", "no_calls", "pedigrees"], now,
                         workers=int(os.environ.get("ORPHANLAKE_INGEST_WORKERS", os.cpu_count() or 1)))


def ingest_clinical(paths: LakePaths, now: datetime | None = None) -> IngestSummary:
    """Ingest landing/clinical phenopackets into raw/patients, raw/phenotypes, raw/diagnoses
    (a Family phenopacket's proband too, and its pedigree into raw/family_pedigrees)."""
    from orchestration.ingest.phenopackets import parse_phenopacket
    return ingest_domain(paths, "clinical", parse_phenopacket,
                         ["patients", "phenotypes", "diagnoses", "family_pedigrees"], now)


def ingest_expression(paths: LakePaths, now: datetime | None = None) -> IngestSummary:
    """Ingest landing/expression TSVs into raw/expression, keeping only known patients."""
    from orchestration.ingest.expression import parse_expression
    known = known_patient_ids(paths)
    context = hashlib.sha256("\n".join(sorted(known)).encode()).hexdigest()
    return ingest_domain(paths, "expression",
                         functools.partial(parse_expression, known_patients=known),
                         ["expression"], now, context=context)


def ingest_trials(paths: LakePaths, now: datetime | None = None) -> IngestSummary:
    """Ingest landing/trials/<study>/ SDTM domains and ADaM datasets (SAS transport v5,
    Dataset-JSON, CSV) and the study's patient link file into the raw trial tables
    (settings.TRIAL_TABLES), conformed to lake/trial_schemas.py; checks within one file
    (keys, ISO 8601 dates, direct identifiers, a subject in two arms) refuse the smallest
    part that is wrong (ingest/trials.py)."""
    from orchestration.ingest.trials import parse_trial_file
    return ingest_domain(paths, "trials", parse_trial_file, list(TRIAL_TABLES), now)


def ingest_compounds(paths: LakePaths, now: datetime | None = None) -> IngestSummary:
    """Ingest landing/compounds/<library>/ SDF, SMILES and CSV files into
    raw/compound_records, standardized with RDKit (structures that fail are quarantined
    by record), and the newest published designs as library ``orphanlake_designs``
    (ingest/designs.py: landing records re-using a design id are checked against them)."""
    from orchestration.ingest.compounds import parse_compound_file
    from orchestration.ingest.designs import sync_design_library

    now = now or datetime.now(timezone.utc)
    with writer_lock(paths):
        designs = IngestSummary(domain="compounds")
        index = sync_design_library(paths, now, designs)
        summary = ingest_domain(paths, "compounds",
                                functools.partial(parse_compound_file, designs=index),
                                # not index.context: a new publication of designs must
                                # not re-ingest every library (designs.py module doc)
                                ["compound_records"], now,
                                workers=int(os.environ.get("ORPHANLAKE_INGEST_WORKERS",
                                                           os.cpu_count() or 1)))
    summary.merge(designs)
    return summary


def ingest_derived(paths: LakePaths, domain: str, key: str, table: str, batch: str, name: str,
                   data: pa.Table | None, sha: str | None, now: datetime, summary: IngestSummary,
                   source_file: str | None = None) -> None:
    """Write rows the lake derives from its own publications (not from landing/) to
    raw/<table>/<batch>/<name>.parquet and record the file in the domain's ledger under
    ``key`` (so the ingest counts it as accounted for, and repairs it when changed outside
    orphanlake). Nothing is written while ``sha`` (of the source) is the recorded one and
    the file is intact; ``data`` None removes the file and its ledger row."""
    target = paths.raw_table(table) / batch / f"{name}.parquet"
    with writer_lock(paths):
        ledger = _load_ledger(paths, domain)
        seen = ledger.get(key)
        if data is None:
            if seen is not None or target.exists():
                target.unlink(missing_ok=True)
                ledger.pop(key, None)
                _save_ledger(paths, domain, ledger)
            return
        if seen and seen["source_sha256"] == sha and not integrity.problems(paths, seen["outputs"] or []):
            summary.files_skipped_unchanged += 1
            return
        ensure_schema_files(paths)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        lineage = _Lineage(source_file or key, sha or "", batch, now)
        pq.write_table(lineage.add(data, RAW_SCHEMAS[table]), tmp, compression="zstd")
        tmp.replace(target)
        ledger[key] = _ledger_row(key, sha, "", batch, "ingested", now,
                                  integrity.record(paths, [target]))
        _save_ledger(paths, domain, ledger)
        summary.files_ingested += 1
        summary.rows_written[table] = summary.rows_written.get(table, 0) + data.num_rows


def _run_json_sha256(path: Path) -> str:
    try:
        return _landing_sha256(path)
    except FileRejected:          # swapped for a link since the scan: its own ingest says so
        return "refused"


def ingest_plates(paths: LakePaths, now: datetime | None = None) -> IngestSummary:
    """Ingest landing/plates/<run>/ run metadata, plate maps and reader exports into
    raw/plate_runs, raw/plate_maps and raw/plate_wells."""
    from orchestration.ingest.plates import parse_plate_file
    # an export is read with its run's run.json (plate format, signal range): a changed
    # run.json re-reads every export of the lake's plate runs (they are small)
    run_files = sorted((batch, f) for batch, f in scan_domain(paths, "plates").files
                       if f.name == "run.json")
    context = hashlib.sha256("\n".join(
        f"{batch}:{_run_json_sha256(f)}" for batch, f in run_files).encode()).hexdigest()
    return ingest_domain(paths, "plates", parse_plate_file,
                         ["plate_runs", "plate_wells", "plate_maps"], now, context=context)
