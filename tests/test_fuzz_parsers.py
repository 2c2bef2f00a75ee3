"""Hostile-input fuzzing of every ingest parser (Hypothesis, property-based).

For each landing format (VCF, phenopacket, expression TSV, SDF, SMILES, compound CSV/TSV,
plate run.json, plate map, long signal export, EnVision-style matrix export, clinical-trial
datasets: SDTM/ADaM CSV and link files, Dataset-JSON, SAS XPORT) generated
files — valid files mutated structurally, re-encoded and (where allowed) compressed, plus
random bytes; see ``fixtures/hostile_inputs.py`` — must satisfy:

* the parser returns a ParseResult or raises FileRejected, nothing else (no TypeError,
  IndexError, UnicodeDecodeError, RDKit or polars error, RecursionError ...), also while
  its table streams are consumed;
* every table it yields casts to its RAW_SCHEMAS schema, with the ids and measurements
  that downstream models key on non-null (and numbers finite where the parser promises);
* every quarantine record is record/term/sample/well/plate level with a readable reason;
* the parse writes no file anywhere (it runs with cwd and TMPDIR inside a sandbox that is
  compared before and after);
* at runner level (fewer examples): ``ingest_domain`` on a batch of one fuzzed file and
  one known-good file ingests the good file's rows, ingests or quarantines the fuzzed one
  (file-level quarantine only ever with a FileRejected reason, never "could not be parsed"),
  and writes nothing outside the lake.

The default budget keeps ``make test`` fast; ``ORPHANLAKE_FUZZ_EXAMPLES=N`` runs N inputs per
parser (``make fuzz``: 10,000) and N/100 per domain at runner level. Examples are
derandomized and the example database is off, so every run of one budget is the same.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fixtures import hostile_inputs as hi
from orchestration.ingest.compounds import parse_compound_file
from orchestration.ingest.expression import parse_expression
from orchestration.ingest.phenopackets import parse_phenopacket
from orchestration.ingest.plates import ROLES, parse_plate_file
from orchestration.ingest.quarantine import GRANULARITIES, FileRejected, ParseResult
from orchestration.ingest.runner import _locator_order, ingest_domain
from orchestration.ingest.trials import parse_trial_file
from orchestration.ingest.vcf import parse_vcf
from orchestration.lake.schemas import RAW_SCHEMAS, without_lineage
from orchestration.lake.trial_schemas import KEY_VARIABLES, TRIAL_SCHEMAS
from orchestration.reference.hpo import load_ontology
from orchestration.settings import TRIAL_TABLES, LakePaths

pytestmark = pytest.mark.fuzz

BUDGET = int(os.environ.get("ORPHANLAKE_FUZZ_EXAMPLES", "0"))
KNOWN_PATIENTS = frozenset(hi.SAMPLE_IDS)
parse_known_expression = functools.partial(parse_expression, known_patients=KNOWN_PATIENTS)

# Columns a raw row is useless (or misleading) without: ids that dbt joins on and the
# measurement itself.
REQUIRED = {
    "variants": ("patient_id", "record", "allele", "genotype", "zygosity"),
    "variant_sites": ("record", "allele", "chrom", "pos", "ref", "alt"),
    "no_calls": ("patient_id", "record", "genotype"),
    "patients": ("patient_id", "sex", "is_solved"),
    "phenotypes": ("patient_id", "hpo_id", "hpo_id_submitted", "term_resolution", "excluded"),
    "diagnoses": ("patient_id", "disease_id"),
    "expression": ("patient_id", "gene_symbol", "tpm"),
    "compound_records": ("library", "compound_id", "record_locator", "smiles", "inchikey"),
    "plate_runs": ("run_id", "assay_id", "target_gene", "readout", "stage"),
    "plate_wells": ("run_id", "plate_id", "well", "row_idx", "col_idx", "plate_rows",
                    "plate_cols", "signal"),
    "plate_maps": ("run_id", "plate_id", "well", "role"),
}
# a trial table: its key variables (a record without one is refused), where it came from, and
# the columns the parser sets (the findings / design domain, the BDS dataset's name)
REQUIRED.update({t: (*KEY_VARIABLES[t], "locator") for t in TRIAL_TABLES})
REQUIRED["trial_findings"] += ("domain",)
REQUIRED["trial_design"] += ("domain",)
REQUIRED["trial_adbds"] += ("dataset",)
# The site key of a VCF's tables: every call's and no-call's key is one of variant_sites'.
SITE_KEYS = {"variants": ("record", "allele"), "variant_sites": ("record", "allele"),
             "no_calls": ("record",)}
# Numbers the parsers promise to be finite (and, for these, not negative).
FINITE_NON_NEGATIVE = {"expression": ("tpm",), "plate_maps": ("concentration_um",)}
FINITE = {"variant_sites": ("qual", "allele_freq", "revel", "cadd_phred"),
          "plate_wells": ("signal",),
          # every numeric trial variable: a value that is not a finite number refuses its record
          **{t: tuple(f.name for f in TRIAL_SCHEMAS[t] if f.type == pa.float64())
             for t in TRIAL_TABLES}}


def fuzz_settings(default: int, share: int = 1) -> settings:
    """``default`` examples for ``make test``; ORPHANLAKE_FUZZ_EXAMPLES / ``share`` with it."""
    return settings(max_examples=max(BUDGET // share, 1) if BUDGET else default,
                    derandomize=True, database=None,
                    deadline=None, print_blob=False,
                    suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------- sandbox
class Sandbox:
    """A temp folder holding the lake and an ``outside`` folder that is the process's cwd
    and TMPDIR while the fuzz tests run, with a sentinel file in each."""

    def __init__(self, base: Path):
        self.base = base
        self.lake = base / "lake"
        self.outside = base / "outside"
        self.outside.mkdir(parents=True)
        (self.outside / "sentinel.txt").write_text("untouched\n")

    def landing(self, folder: str) -> Path:
        """landing/<folder>/ of the lake, emptied of the previous example's files."""
        where = self.lake / "landing" / folder
        if where.is_dir():
            for p in where.iterdir():
                p.unlink()
        else:
            where.mkdir(parents=True)
        return where

    def fresh_lake(self) -> LakePaths:
        """An empty lake (landing/ only) for one example."""
        shutil.rmtree(self.lake, ignore_errors=True)
        return LakePaths(self.lake).ensure()

    def snapshot(self, root: Path | None = None) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of every file and folder under ``root`` (default: everything)."""
        root = root or self.base
        out = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                st_ = p.lstat()
                out[p.relative_to(self.base).as_posix()] = (st_.st_size, st_.st_mtime_ns)
        return out


@pytest.fixture(scope="module")
def sandbox():
    # Loading the HPO release raises the recursion limit (as it does in a real ingest);
    # done here, not inside a Hypothesis example, which would warn and not restore it.
    load_ontology()
    base = Path(tempfile.mkdtemp(prefix="orphanlake-fuzz-"))
    box = Sandbox(base)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(box.outside)
        mp.setenv("TMPDIR", str(box.outside))
        mp.setattr(tempfile, "tempdir", str(box.outside))
        yield box
    shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- the property
def check_table(name: str, chunk) -> None:
    """One yielded chunk conforms to the raw schema of ``name``."""
    assert name in RAW_SCHEMAS and name != "quarantine", f"unknown table {name!r}"
    table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_batches([chunk])
    body = without_lineage(RAW_SCHEMAS[name])
    table = table.select(body.names).cast(body)        # what the runner does
    for col in REQUIRED[name]:
        assert table[col].null_count == 0, f"{name}.{col} has nulls"
    for col in FINITE.get(name, ()) + FINITE_NON_NEGATIVE.get(name, ()):
        values = [v for v in table[col].to_pylist() if v is not None]
        assert all(math.isfinite(v) for v in values), f"{name}.{col} is not finite: {values[:5]}"
        if col in FINITE_NON_NEGATIVE.get(name, ()):
            assert all(v >= 0 for v in values), f"{name}.{col} is negative"
    if name == "plate_maps":
        assert set(table["role"].to_pylist()) <= set(ROLES)
    if name == "plate_wells":
        rows = table.select(["row_idx", "col_idx", "plate_rows", "plate_cols"]).to_pylist()
        assert all(0 <= r["row_idx"] < r["plate_rows"] and 0 <= r["col_idx"] < r["plate_cols"]
                   for r in rows), "a well lies outside its plate"


def parse_outcome(parse, path: Path) -> str:
    """Run ``parse`` on ``path`` and consume everything; 'parsed' or 'rejected'.

    Anything but FileRejected propagates and fails the test, with the input shown.
    """
    try:
        result = parse(path)
        assert isinstance(result, ParseResult), type(result)
        keys: dict[str, set] = {}
        for name, stream in result.tables.items():
            for chunk in stream:
                check_table(name, chunk)
                if name in SITE_KEYS:
                    keys.setdefault(name, set()).update(
                        zip(*(chunk.column(c).to_pylist() for c in SITE_KEYS[name])))
    except FileRejected as exc:
        assert str(exc).strip(), "FileRejected without a reason"
        return "rejected"
    # a VCF's calls and no-calls point at sites it wrote (stg_variants joins on them)
    sites = keys.get("variant_sites", set())
    assert keys.get("variants", set()) <= sites, "a call without its site"
    assert keys.get("no_calls", set()) <= {(r,) for r, _ in sites}, "a no-call without a site"
    for rec in result.quarantine:
        assert rec.granularity in GRANULARITIES and rec.granularity != "file", rec
        assert isinstance(rec.reason, str) and rec.reason.strip(), rec
    sorted(result.quarantine, key=_locator_order)      # as the runner orders them
    return "parsed"


def fuzz_parse(box: Sandbox, parse, folder: str, name: str, data: bytes,
               siblings: dict[str, bytes] | None = None) -> str:
    """Write ``data`` as landing/<folder>/<name> (the folder emptied first, ``siblings``
    beside it), parse it, and check that the parse wrote nothing anywhere in the sandbox."""
    where = box.landing(folder)
    for sib, content in (siblings or {}).items():
        (where / sib).write_bytes(content)
    path = where / name
    path.write_bytes(data)
    before = box.snapshot()
    outcome = parse_outcome(parse, path)
    assert box.snapshot() == before, "the parser wrote to disk"
    return outcome


# --------------------------------------------------------------------------- per parser
# Inputs the fuzzing once found a defect with run first, on every budget (@example).
_VCF_NAN = "\n".join(hi.header(["PAT-0001"]).rstrip("\n").split("\n") + [
    "1\t100\t.\tA\tG\tinf\tPASS\tCSQ=" + hi.csq(Allele="G", Consequence="missense_variant",
                                                 SYMBOL="GENE1", gnomADe_AF="nan",
                                                 REVEL="0.1&nan", CADD_PHRED="-inf") + "\tGT\t0/1"])
CORRUPT_GZIP = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xb4O\xcdK\xe5\x0cp\x0c\xd15000\xe4"
                b"\x02\x00\x97\x88\xa6\x9f\x0e\x00\x00\x00")
# a gzip stream read as text: latin-1 characters that RDKit echoes cut mid-UTF-8 sequence
SMILES_SPLIT_UTF8 = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xacVHTH\xce\xcf\xcdM\xcd+\xe1\xe5rv"
                     b"\xf6Wp\x0ep\xd15P\xc8K\xccMU0\xe0\xe5\x02\x00G\x0c/w\x1f\x00\x00\x00")
# Slow, not failing, on the code before their fixes (the tests have no clock): a header cell
# of 140,000 characters took the e-mail pattern 50 s; 20 lines of ',"' took csv.Sniffer 95 s;
# a 'Plate: <id>' cell with 20,000 inner spaces took the plate-line pattern 3 s.
LONG_HEADER_TSV = ("gene\tPAT-0001\t" + "9" * 140_000 + "\nGENE1\t1\t2\n").encode()
SNIFFER_TRAP = ("\n".join([',"' * 2000] * 20) + "\n").encode()
SPACE_RUN_MATRIX = ("Plate: a" + " " * 20_000 + "b\n,1,2,3\nA,1,2,3\nB,4,5,6\n").encode()
HUGE_CSV_CELL = b'plate_id,well,signal\nPL1,A01,"' + b"1" * 140_000 + b'"\n'
SUPERSCRIPT_DIGIT_MAP = ("plate_id,well,compound_id,concentration_um,role\n" + ",".join(["\u00b2"] * 50)
                         + "\nPL1,G01,,1e-3,pos_ctrl\n").encode()


@fuzz_settings(60)
@given(hi.vcf_files())
@example(("s.vcf", _VCF_NAN.encode()))
def test_fuzz_vcf(sandbox, case):
    fuzz_parse(sandbox, parse_vcf, "genomic/b1", *case)


@fuzz_settings(80)
@given(hi.phenopacket_files())
@example(("p.json", b'{"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
@example(("p.json", b'{"id": ' + b"9" * 5000 + b"}"))
def test_fuzz_phenopacket(sandbox, case):
    fuzz_parse(sandbox, parse_phenopacket, "clinical/b1", *case)


@fuzz_settings(80)
@given(hi.expression_files())
@example(("tpm.tsv", CORRUPT_GZIP))
@example(("tpm.tsv", LONG_HEADER_TSV))
def test_fuzz_expression(sandbox, case):
    fuzz_parse(sandbox, parse_known_expression, "expression/b1", *case)


@fuzz_settings(50)
@given(hi.sdf_files())
def test_fuzz_sdf(sandbox, case):
    fuzz_parse(sandbox, parse_compound_file, "compounds/lib1", *case)


@fuzz_settings(60)
@given(hi.smiles_files())
@example(("lib.smi", SMILES_SPLIT_UTF8))
def test_fuzz_smiles(sandbox, case):
    fuzz_parse(sandbox, parse_compound_file, "compounds/lib1", *case)


@fuzz_settings(60)
@given(hi.compound_table_files())
def test_fuzz_compound_csv(sandbox, case):
    fuzz_parse(sandbox, parse_compound_file, "compounds/lib1", *case)


@fuzz_settings(100)
@given(hi.run_files())
def test_fuzz_run_json(sandbox, case):
    fuzz_parse(sandbox, parse_plate_file, "plates/RUN1", *case)


def _run_json(declared) -> dict[str, bytes]:
    if declared is None:
        return {}
    return {"run.json": ('{"assay_id": "A", "target_gene": "G", "readout": "inhibition", '
                         f'"stage": "primary", "plate_format": {declared!r}}}'
                         .replace("'", '"')).encode()}


@fuzz_settings(80)
@given(hi.plate_map_files(), hi.declared_run_json())
@example(("map.csv", CORRUPT_GZIP), None)
@example(("map.csv", SUPERSCRIPT_DIGIT_MAP), None)
def test_fuzz_plate_map(sandbox, case, declared):
    fuzz_parse(sandbox, parse_plate_file, "plates/RUN1", *case, siblings=_run_json(declared))


@fuzz_settings(80)
@given(hi.plate_long_files(), hi.declared_run_json())
@example(("signals.csv", HUGE_CSV_CELL), None)
@example(("signals.csv", SNIFFER_TRAP), None)
def test_fuzz_plate_long(sandbox, case, declared):
    fuzz_parse(sandbox, parse_plate_file, "plates/RUN1", *case, siblings=_run_json(declared))


@fuzz_settings(60)
@given(hi.plate_matrix_files(), hi.declared_run_json())
@example(("envision.csv", SPACE_RUN_MATRIX), None)
def test_fuzz_plate_matrix(sandbox, case, declared):
    fuzz_parse(sandbox, parse_plate_file, "plates/RUN1", *case, siblings=_run_json(declared))


# Dataset-JSON numbers json reads but float() does not hold: 5,000 digits (json raised a
# ValueError, not JSONDecodeError), 400 digits (float() raised OverflowError), 1e400 (read as
# inf and ingested as AVAL inf).
def _adtte_json(aval: str, extra: str) -> bytes:
    cols = [("STUDYID", "string"), ("USUBJID", "string"), ("PARAMCD", "string"),
            ("AVAL", "double"), ("CNSR", "integer"), ("SRCSEQ", "integer")]
    return ('{"datasetJSONVersion": "1.1.0", "name": "ADTTE", "columns": ['
            + ", ".join(f'{{"name": "{n}", "dataType": "{t}"}}' for n, t in cols)
            + f'], "rows": [["S1", "S1-001", "OS", {aval}, 0, {extra}], '
            '["S1", "S1-002", "OS", 5, 1, 2]]}').encode()


@fuzz_settings(80)
@given(hi.trial_files())
@example(("adtte.json", _adtte_json("1", "9" * 5000)))
@example(("adtte.json", _adtte_json("9" * 400, "-" + "9" * 400)))
@example(("adtte.json", _adtte_json("1e400", "-1e999")))
def test_fuzz_trials(sandbox, case):
    fuzz_parse(sandbox, parse_trial_file, "trials/S1", *case)


# --------------------------------------------------------------------------- runner level
def _good_vcf() -> bytes:
    text = "\n".join(hi.header(["PAT-0001"]).rstrip("\n").split("\n") + [
        "1\t100\t.\tA\tG\t50\tPASS\tCSQ=" + hi.csq(Allele="G", Consequence="missense_variant",
                                                   SYMBOL="GENE1", Gene="ENSG1") + "\tGT\t0/1"])
    return (text + "\n").encode()


GOOD_PACKET = ('{"id": "pp-g", "subject": {"id": "PAT-0002", "sex": "MALE"}, '
               '"phenotypicFeatures": [{"type": {"id": "HP:0001250"}}]}').encode()

# domain -> (parser, tables, good file name, good bytes, {table: good rows}, fuzz strategy)
DOMAINS = {
    "genomic": (parse_vcf, ["variants", "variant_sites", "no_calls"], "good.vcf", _good_vcf(),
                {"variants": 1, "variant_sites": 1},
                hi.vcf_files()),
    "clinical": (parse_phenopacket, ["patients", "phenotypes", "diagnoses"], "good.json",
                 GOOD_PACKET, {"patients": 1, "phenotypes": 1}, hi.phenopacket_files()),
    "expression": (parse_known_expression, ["expression"], "good.tsv",
                   b"gene\tPAT-0001\nGENE1\t1.5\nGENE2\t0\n", {"expression": 2},
                   hi.expression_files()),
    "compounds": (parse_compound_file, ["compound_records"], "good.smi",
                  b"CCO CPD-1 ethanol\nc1ccccc1O CPD-2\n", {"compound_records": 2},
                  st.one_of(hi.sdf_files(), hi.smiles_files(), hi.compound_table_files())),
    "plates": (parse_plate_file, ["plate_runs", "plate_wells", "plate_maps"], "good_signals.csv",
               b"plate_id,well,signal\nPLG,A01,10\nPLG,H12,20\n", {"plate_wells": 2},
               st.one_of(hi.run_files(), hi.plate_map_files(), hi.plate_long_files(),
                         hi.plate_matrix_files())),
    "trials": (parse_trial_file, list(TRIAL_TABLES), "dm.csv",
               b"STUDYID,DOMAIN,USUBJID,ARM,SEX,AGE\nS1,DM,S1-001,Placebo,F,54\n"
               b"S1,DM,S1-002,Drug 10 mg,M,61\n", {"trial_dm": 2}, hi.trial_files()),
}


RUNNER_REGRESSIONS = {"plates": [("map.csv", SUPERSCRIPT_DIGIT_MAP)]}


@contextlib.contextmanager
def _quiet_runner_log():
    import logging
    logger = logging.getLogger("orchestration.ingest.runner")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _rows(path: Path) -> int:
    return pq.read_metadata(path).num_rows if path.exists() else 0


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_fuzz_runner_keeps_batch(sandbox, domain):
    parse, tables, good_name, good, good_rows, files = DOMAINS[domain]

    @fuzz_settings(8, share=100)
    @given(files)
    def one_batch(case):
        name, data = case
        paths = sandbox.fresh_lake()
        batch = paths.landing_domain(domain) / "B1"
        batch.mkdir(parents=True)
        (batch / good_name).write_bytes(good)
        (batch / name).write_bytes(data)
        outside = sandbox.snapshot(sandbox.outside)
        with _quiet_runner_log():
            summary = ingest_domain(paths, domain, parse, tables, workers=1)
        assert sandbox.snapshot(sandbox.outside) == outside, "ingest wrote outside the lake"
        assert summary.files_seen == 2
        for table, n in good_rows.items():
            target = paths.raw_table(table) / "B1" / f"{good_name}.parquet"
            assert _rows(target) == n, f"the good file's {table} rows were not all ingested"
        ledger = {r["source_file"]: r["status"] for r in
                  pq.read_table(paths.raw / "_ledger" / f"{domain}.parquet").to_pylist()}
        assert ledger[f"{domain}/B1/{good_name}"] == "ingested"
        status = ledger[f"{domain}/B1/{name}"]
        q_file = paths.raw_table("quarantine") / "B1" / f"{domain}__{name}.parquet"
        if status == "quarantined":
            q = pq.read_table(q_file).to_pylist()
            assert [r["granularity"] for r in q] == ["file"]
            assert not q[0]["reason"].startswith("could not be parsed ("), q[0]["reason"]
            assert (paths.quarantine / domain / "B1" / name).read_bytes() == data
        else:
            assert status == "ingested"
            for table in tables:
                out = paths.raw_table(table) / "B1" / f"{name}.parquet"
                if out.exists():
                    assert pq.read_schema(out).equals(RAW_SCHEMAS[table])
        files_written = [p for p in paths.home.rglob("*") if p.is_file()]
        assert all(p.resolve().is_relative_to(paths.home.resolve()) for p in files_written)

    for case in RUNNER_REGRESSIONS.get(domain, ()):
        one_batch = example(case)(one_batch)
    one_batch()
