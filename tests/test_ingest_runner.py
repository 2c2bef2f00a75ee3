import json
from datetime import datetime, timezone

import polars as pl
import pyarrow.parquet as pq
import pytest

from fixtures.vcf_factory import csq, header, write_vcf
from orchestration.ingest.expression import parse_expression
from orchestration.ingest.quarantine import FileRejected
from orchestration.ingest.runner import ingest_clinical, ingest_expression, ingest_genomic
from orchestration.lake.schemas import RAW_SCHEMAS
from orchestration.settings import LakePaths
from test_ingest_phenopackets import packet

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2025, 2, 1, tzinfo=timezone.utc)


def _vcf_text(samples, pos=100):
    rec = (f"1\t{pos}\t.\tA\tG\t50\tPASS\tCSQ=" +
           csq(Allele="G", Consequence="missense_variant", IMPACT="MODERATE", SYMBOL="GENE1",
               Gene="ENSG1") + "\tGT" + "".join("\t0/1" for _ in samples))
    return header(list(samples)) + rec + "\n"


def _lake(tmp_path) -> LakePaths:
    paths = LakePaths(tmp_path / "lake").ensure()
    g = paths.landing / "genomic" / "b1"
    g.mkdir(parents=True)
    write_vcf(g / "good.vcf.gz", _vcf_text(["PAT-0001", "PAT-0002"]))
    bad_cols = _vcf_text(["PAT-0003"]) + "1\t7\t.\tA\tG\t5\tCSQ=G\tGT\t0/1\n"
    write_vcf(g / "ragged.vcf.gz", bad_cols)
    trunc = write_vcf(g / "trunc.vcf.gz", _vcf_text(["PAT-0004"]) * 1, "gzip")
    trunc.write_bytes(trunc.read_bytes()[:-20])
    write_vcf(g / "pii.vcf", _vcf_text(["PAT-0005", "John Smith"]), "plain")
    (g / "good.vcf.gz.tbi").write_bytes(b"index")            # sidecar: ignored
    c = paths.landing / "clinical" / "b1"
    c.mkdir(parents=True)
    (c / "p1.json").write_text(json.dumps(packet()))
    p2 = packet(subject={"id": "PAT-0002", "sex": "MALE"}, interpretations=[])
    p2["phenotypicFeatures"].append({"type": {"id": "HP:9999999"}})
    (c / "p2.json").write_text(json.dumps(p2))
    (c / "bad.json").write_text(json.dumps(packet(subject={"sex": "MALE"})))
    e = paths.landing / "expression" / "b1"
    e.mkdir(parents=True)
    (e / "tpm.tsv").write_text("gene\tPAT-0001\tPAT-0002\tCTRL-9\n"
                               "GENE1\t1.5\t2\t3\nGENE2\tNA\t-1\t0\nGENE3\t0\t4.25\t1\n")
    (e / "stranger.tsv").write_text("gene\tX1\tX2\nGENE1\t1\t2\n")
    return paths


def _outputs(paths):
    """Every file the lake holds outside landing/, with its mtime (the writer lock's file is
    not data: each writer records itself in it)."""
    return {p.relative_to(paths.home).as_posix(): p.stat().st_mtime_ns
            for p in paths.home.rglob("*")
            if p.is_file() and "landing" not in p.parts and p.name != ".writer.lock"}


def _read(paths, table):
    return pl.read_parquet(sorted(paths.raw_table(table).glob("**/*.parquet")))


def _ingest_all(paths, now):
    return (ingest_genomic(paths, now), ingest_clinical(paths, now), ingest_expression(paths, now))


def test_batch_ingest_quarantines_and_keeps_the_rest(tmp_path):
    paths = _lake(tmp_path)
    g, c, e = _ingest_all(paths, T0)
    assert (g.files_seen, g.files_ingested, g.files_quarantined) == (4, 2, 2)
    assert g.records_quarantined == 1 and g.rows_written["variants"] == 3
    assert (c.files_seen, c.files_ingested, c.files_quarantined, c.records_quarantined) == (3, 2, 1, 1)
    assert (e.files_ingested, e.files_quarantined) == (1, 1)
    for table, schema in RAW_SCHEMAS.items():
        assert pq.read_schema(paths.raw_table(table) / "_schema.parquet").equals(schema)
    variants = _read(paths, "variants")
    assert sorted(variants["patient_id"].to_list()) == ["PAT-0001", "PAT-0002", "PAT-0003"]
    assert set(variants["source_file"]) == {"genomic/b1/good.vcf.gz", "genomic/b1/ragged.vcf.gz"}
    assert variants["batch_id"].unique().to_list() == ["b1"]
    q = _read(paths, "quarantine")
    files = {r["original_path"]: r for r in q.filter(pl.col("granularity") == "file").iter_rows(named=True)}
    assert set(files) == {"landing/genomic/b1/trunc.vcf.gz", "landing/genomic/b1/pii.vcf",
                          "landing/clinical/b1/bad.json", "landing/expression/b1/stranger.tsv"}
    assert "truncated" in files["landing/genomic/b1/trunc.vcf.gz"]["reason"]
    assert "direct identifier" in files["landing/genomic/b1/pii.vcf"]["reason"]
    assert "Smith" not in " ".join(q["reason"].to_list())
    for row in files.values():
        assert (paths.home / row["quarantine_copy"]).read_bytes() == \
            (paths.home / row["original_path"]).read_bytes()
    assert {r for r in q.filter(pl.col("granularity") != "file")["granularity"]} == \
        {"record", "term", "sample"}
    expr = _read(paths, "expression")
    assert sorted(zip(expr["patient_id"], expr["gene_symbol"], expr["tpm"])) == [
        ("PAT-0001", "GENE1", 1.5), ("PAT-0001", "GENE3", 0.0),
        ("PAT-0002", "GENE1", 2.0), ("PAT-0002", "GENE3", 4.25)]
    assert (paths.landing / "genomic" / "b1" / "trunc.vcf.gz").exists()  # landing untouched


def test_rerun_is_idempotent_and_changed_files_replace_their_outputs(tmp_path):
    paths = _lake(tmp_path)
    _ingest_all(paths, T0)
    before = _outputs(paths)
    counts = {t: _read(paths, t).height for t in RAW_SCHEMAS}
    g, c, e = _ingest_all(paths, T1)
    assert (g.files_skipped_unchanged, c.files_skipped_unchanged, e.files_skipped_unchanged) == (4, 3, 2)
    assert g.files_ingested + c.files_ingested + e.files_ingested == 0
    assert {k: v for k, v in _outputs(paths).items() if "_ledger" not in k} == \
        {k: v for k, v in before.items() if "_ledger" not in k}
    assert {t: _read(paths, t).height for t in RAW_SCHEMAS} == counts

    good = paths.landing / "genomic" / "b1" / "good.vcf.gz"
    write_vcf(good, _vcf_text(["PAT-0001"], pos=999))
    g = ingest_genomic(paths, T1)
    assert (g.files_ingested, g.files_skipped_unchanged) == (1, 3)
    v = _read(paths, "variants").filter(pl.col("source_file") == "genomic/b1/good.vcf.gz")
    sites = _read(paths, "variant_sites").filter(pl.col("source_file") == "genomic/b1/good.vcf.gz")
    assert sites["pos"].to_list() == [999] and v["ingested_at"].to_list() == [T1]

    good.write_text("garbage")                        # now bad: its rows must disappear
    ingest_genomic(paths, T1)
    v = _read(paths, "variants")
    assert "genomic/b1/good.vcf.gz" not in set(v["source_file"])
    assert (paths.quarantine / "genomic" / "b1" / "good.vcf.gz").read_text() == "garbage"


def test_expression_record_and_sample_quarantine(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("gene_symbol\tA\tB\tZ\nG1\t1\tx\t2\nG1\t3\t3\t3\n\t1\t1\t1\nG2\t0\t1e2\t\n")
    result = parse_expression(path, {"A", "B"})
    rows = [r for t in result.tables["expression"] for r in t.to_pylist()]
    assert sorted((r["patient_id"], r["gene_symbol"], r["tpm"]) for r in rows) == [
        ("A", "G1", 1.0), ("A", "G2", 0.0), ("B", "G2", 100.0)]
    q = {(r.granularity, r.locator) for r in result.quarantine}
    assert q == {("sample", "Z"), ("record", "line 2, sample B"), ("record", "line 3"),
                 ("record", "line 4")}
    with pytest.raises(FileRejected, match="no sample column matches"):
        parse_expression(path, {"Q"})
    (tmp_path / "pii.tsv").write_text("gene\tA\tmary@example.com\nG1\t1\t2\n")
    with pytest.raises(FileRejected, match="direct identifier"):
        parse_expression(tmp_path / "pii.tsv", {"A"})


def test_parallel_ingest_writes_what_serial_ingest_writes(tmp_path):
    from orchestration.ingest.runner import ingest_domain
    from orchestration.ingest.vcf import parse_vcf

    results = {}
    for workers in (1, 2):
        paths = _lake(tmp_path / f"w{workers}")
        summary = ingest_domain(paths, "genomic", parse_vcf, ["variants"], T0, workers=workers)
        rows = _read(paths, "variants").drop("ingested_at").sort(pl.all())
        quarantine = _read(paths, "quarantine").select("source_file", "granularity", "locator",
                                                       "reason").sort(pl.all())
        results[workers] = (summary.files_ingested, summary.files_quarantined,
                            summary.records_quarantined, summary.rows_written, rows, quarantine)
    serial, parallel = results[1], results[2]
    assert serial[:4] == parallel[:4]
    assert serial[4].equals(parallel[4]) and serial[5].equals(parallel[5])
