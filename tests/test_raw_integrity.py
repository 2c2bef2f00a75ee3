"""The raw layer is checked against the ingest ledger: files changed, deleted or planted
outside orphanlake are found, repaired or moved aside, and reported."""

from datetime import datetime, timezone

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from fixtures.vcf_factory import write_vcf
from orchestration.ingest.runner import ingest_genomic
from orchestration.lake.schemas import RAW_SCHEMAS
from orchestration.settings import LakePaths
from test_ingest_runner import _vcf_text

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2025, 2, 1, tzinfo=timezone.utc)
T2 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def _lake(tmp_path) -> LakePaths:
    paths = LakePaths(tmp_path / "lake").ensure()
    g = paths.landing / "genomic" / "b1"
    g.mkdir(parents=True)
    write_vcf(g / "a.vcf.gz", _vcf_text(["PAT-0001", "PAT-0002"]))
    write_vcf(g / "b.vcf.gz", _vcf_text(["PAT-0003"], pos=200))
    return paths


def _variants(paths) -> list[str]:
    files = sorted(paths.raw_table("variants").glob("**/*.parquet"))
    return sorted(pl.read_parquet(files)["patient_id"].to_list())


def _raw(paths, name="a.vcf.gz"):
    return paths.raw_table("variants") / "b1" / f"{name}.parquet"


def test_a_raw_file_emptied_outside_orphanlake_is_re_ingested_and_reported(tmp_path):
    paths = _lake(tmp_path)
    ingest_genomic(paths, T0)
    before = _variants(paths)
    # the probe's attack: an empty table of the same schema over one patient file
    pq.write_table(RAW_SCHEMAS["variants"].empty_table(), _raw(paths))
    s = ingest_genomic(paths, T1)
    assert _variants(paths) == before == ["PAT-0001", "PAT-0002", "PAT-0003"]
    assert (s.files_repaired, s.files_ingested, s.files_skipped_unchanged) == (1, 1, 1)
    [note] = s.outside_changes
    assert note.startswith("raw/variants/b1/a.vcf.gz.parquet was modified")
    assert "outside orphanlake" in note and "landing/genomic/b1/a.vcf.gz" in note
    assert "raw/variants/b1/a.vcf.gz.parquet was modified" in s.as_metadata()["outside_changes"]
    again = ingest_genomic(paths, T2)    # repaired: nothing left to do
    assert (again.files_repaired, again.files_skipped_unchanged, again.outside_changes) == (0, 2, [])


def test_a_deleted_or_linked_raw_file_is_restored(tmp_path):
    paths = _lake(tmp_path)
    ingest_genomic(paths, T0)
    _raw(paths).unlink()
    s = ingest_genomic(paths, T1)
    assert s.files_repaired == 1 and "was deleted" in s.outside_changes[0]
    original = _raw(paths, "b.vcf.gz").read_bytes()
    (tmp_path / "elsewhere.parquet").write_bytes(original)
    _raw(paths, "b.vcf.gz").unlink()
    _raw(paths, "b.vcf.gz").symlink_to(tmp_path / "elsewhere.parquet")   # same bytes, a link
    s = ingest_genomic(paths, T2)
    assert s.files_repaired == 1 and "replaced by a link" in s.outside_changes[0]
    assert not _raw(paths, "b.vcf.gz").is_symlink()
    assert _variants(paths) == ["PAT-0001", "PAT-0002", "PAT-0003"]


def test_planted_raw_files_are_moved_aside_and_reported(tmp_path):
    paths = _lake(tmp_path)
    ingest_genomic(paths, T0)
    planted = pl.read_parquet(_raw(paths)).with_columns(pl.lit("PAT-9999").alias("patient_id"))
    planted.write_parquet(paths.raw_table("variants") / "b1" / "evil.parquet")
    (paths.raw_table("variants") / "b9").mkdir()
    planted.write_parquet(paths.raw_table("variants") / "b9" / ".hidden.parquet")
    (paths.raw_table("quarantine") / "b1").mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"x": [1]}).write_parquet(paths.raw_table("quarantine") / "b1" / "zzz.parquet")
    # another domain's quarantine file is that domain's business
    pl.DataFrame({"x": [1]}).write_parquet(paths.raw_table("quarantine") / "b1" / "clinical__p.json.parquet")

    s = ingest_genomic(paths, T1)
    assert "PAT-9999" not in _variants(paths)
    moved = sorted(p.relative_to(paths.home).as_posix()
                   for p in (paths.quarantine / "_tampered").rglob("*.parquet"))
    assert [m.split("/", 3)[3] for m in moved] == [
        "raw/quarantine/b1/zzz.parquet", "raw/variants/b1/evil.parquet",
        "raw/variants/b9/.hidden.parquet"]
    assert len(s.outside_changes) == 3
    assert all("outside orphanlake" in c and "moved to quarantine/_tampered/" in c
               for c in s.outside_changes)
    assert (paths.raw_table("quarantine") / "b1" / "clinical__p.json.parquet").exists()
    assert s.files_skipped_unchanged == 2     # the ingested files themselves were intact


def test_a_ledger_without_outputs_is_adopted_without_re_ingesting(tmp_path):
    paths = _lake(tmp_path)
    ingest_genomic(paths, T0)
    ledger = paths.raw / "_ledger" / "genomic.parquet"
    pq.write_table(pq.read_table(ledger).drop_columns(["outputs"]), ledger)  # an old ledger
    mtimes = {p: p.stat().st_mtime_ns for p in paths.raw_table("variants").rglob("*.parquet")}

    s = ingest_genomic(paths, T1)
    assert (s.files_skipped_unchanged, s.files_ingested, s.outside_changes) == (2, 0, [])
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    rows = pq.read_table(ledger).to_pylist()
    assert all(r["outputs"] and len(r["outputs"][0]["sha256"]) == 64 for r in rows)

    pq.write_table(RAW_SCHEMAS["variants"].empty_table(), _raw(paths))   # now it is watched
    assert ingest_genomic(paths, T2).files_repaired == 1
    assert _variants(paths) == ["PAT-0001", "PAT-0002", "PAT-0003"]


def test_rows_planted_in_a_schema_file_are_removed(tmp_path):
    paths = _lake(tmp_path)
    ingest_genomic(paths, T0)
    schema_file = paths.raw_table("variants") / "_schema.parquet"
    planted = pq.read_table(_raw(paths)).slice(0, 1)
    pq.write_table(planted.set_column(planted.schema.get_field_index("patient_id"), "patient_id",
                                      pa.array(["PAT-9999"])), schema_file)
    ingest_genomic(paths, T1)
    assert pq.read_metadata(schema_file).num_rows == 0
    assert "PAT-9999" not in _variants(paths)


def test_the_ingest_asset_warns_on_the_run_and_records_what_it_repaired(tmp_path):
    from orchestration.assets.ingest import report_ingest

    class Log:
        def __init__(self):
            self.warnings = []

        def warning(self, msg, *args):
            self.warnings.append(msg % args)

    class Context:
        log = Log()

    paths = _lake(tmp_path)
    ingest_genomic(paths, T0)
    _raw(paths).unlink()
    meta = report_ingest(Context, ingest_genomic(paths, T1))
    [warning] = Context.log.warnings
    assert warning.startswith("raw layer: raw/variants/b1/a.vcf.gz.parquet was deleted outside orphanlake")
    assert meta["files_repaired"] == 1
    assert "a.vcf.gz.parquet was deleted" in meta["outside_changes"].value


def test_raw_files_copied_in_and_registered_are_kept(tmp_path):
    # rank-genes copies the main lake's expression cohort into its scratch lake
    from orchestration.ingest.runner import ingest_expression, register_copies

    paths = _lake(tmp_path)
    cohort = paths.raw_table("expression") / "cohort_b1"
    cohort.mkdir(parents=True)
    pl.DataFrame({"patient_id": ["PAT-0001"]}).write_parquet(cohort / "tpm.tsv.parquet")
    register_copies(paths, "expression", [cohort / "tpm.tsv.parquet"])
    s = ingest_expression(paths, T0)
    assert (cohort / "tpm.tsv.parquet").exists() and s.outside_changes == []
