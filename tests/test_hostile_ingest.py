"""Hostile or broken landing input: links, special files, strays, bad ids, repeated terms,
oversized files and implausible plate readings are refused where they are, once, with a
reason — and never read, copied or allowed to stop the rest of the batch."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from fixtures.vcf_factory import csq, header, write_vcf
from orchestration.ingest import limits
from orchestration.ingest.compounds import parse_compound_file
from orchestration.ingest.expression import parse_expression
from orchestration.ingest.ids import MAX_ID_LENGTH, id_problem, shown
from orchestration.ingest.landing import open_landing
from orchestration.ingest.phenopackets import parse_phenopacket
from orchestration.ingest.plates import parse_plate_file
from orchestration.ingest.quarantine import FileRejected, ParseResult
from orchestration.ingest.runner import ingest_domain
from orchestration.ingest.vcf import parse_vcf
from orchestration.lake.schemas import RAW_SCHEMAS
from orchestration.settings import LakePaths
from test_ingest_phenopackets import packet

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2025, 2, 1, tzinfo=timezone.utc)
SECRET = b"root:x:0:0:SECRET-CONTENT-OUTSIDE-THE-LAKE\n"
RUN = {"assay_id": "A1", "target_gene": "GBA1", "readout": "inhibition", "stage": "primary"}


# --------------------------------------------------------------------------- helpers
class _Recorder:
    """A parser stand-in that remembers which files it was asked to read."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def __call__(self, path: Path) -> ParseResult:
        self.read.append(Path(path).name)
        Path(path).read_bytes()
        return ParseResult(tables={"patients": []})


def _lake(tmp_path: Path) -> LakePaths:
    return LakePaths(tmp_path / "lake").ensure()


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "passwd").write_bytes(SECRET)
    return outside / "passwd"


def _ingest(paths: LakePaths, now: datetime = T0, domain: str = "clinical"):
    parser = _Recorder()
    summary = ingest_domain(paths, domain, parser, ["patients"], now)
    return parser, summary


def _quarantine(paths: LakePaths) -> pl.DataFrame:
    files = [f for f in paths.raw_table("quarantine").rglob("*.parquet")
             if f.name != "_schema.parquet"]
    return (pl.read_parquet(files) if files
            else pl.from_arrow(RAW_SCHEMAS["quarantine"].empty_table()))


def _lake_holds(paths: LakePaths, needle: bytes) -> list[str]:
    return [str(p) for p in paths.home.rglob("*")
            if p.is_file() and not p.is_symlink() and "landing" not in p.parts
            and needle in p.read_bytes()]


def _vcf(samples: list[str], extra_lines: str = "") -> str:
    rec = ("1\t100\t.\tA\tG\t50\tPASS\tCSQ=" +
           csq(Allele="G", Consequence="missense_variant", IMPACT="MODERATE", SYMBOL="GENE1",
               Gene="ENSG1") + "\tGT" + "".join("\t0/1" for _ in samples))
    return header(samples) + rec + "\n" + extra_lines


# --------------------------------------------------------------------------- 1 links, FIFOs
def test_symlinked_file_is_refused_never_read_nor_copied_and_reported_once(tmp_path):
    paths = _lake(tmp_path)
    batch = paths.landing / "clinical" / "b1"
    batch.mkdir(parents=True)
    (batch / "good.json").write_text("{}")
    (batch / "evil.json").symlink_to(_secret(tmp_path))
    parser, summary = _ingest(paths)
    assert parser.read == ["good.json"]          # the rest of the batch is ingested
    q = _quarantine(paths)
    row = q.filter(pl.col("source_file") == "clinical/b1/evil.json").to_dicts()
    assert len(row) == 1 and row[0]["granularity"] == "file"
    assert "symbolic link" in row[0]["reason"] and row[0]["quarantine_copy"] is None
    assert row[0]["batch_id"] == "b1" and row[0]["domain"] == "clinical"
    assert any("evil.json" in r and "symbolic link" in r for r in summary.quarantine_reasons)
    assert summary.entries_refused == 1
    assert _lake_holds(paths, b"SECRET-CONTENT") == []        # nothing copied into the lake
    # the next refresh keeps the one row (same first-refused time) and does not re-report it
    parser, again = _ingest(paths, T1)
    q2 = _quarantine(paths).filter(pl.col("source_file") == "clinical/b1/evil.json")
    assert q2.height == 1 and q2["ingested_at"].to_list() == [T0]
    assert not any("evil.json" in r for r in again.quarantine_reasons)
    # once the link is gone, so is its row
    (batch / "evil.json").unlink()
    _ingest(paths, T1)
    assert _quarantine(paths).filter(pl.col("source_file") == "clinical/b1/evil.json").height == 0


def test_fifo_in_a_batch_is_refused_without_blocking(tmp_path):
    paths = _lake(tmp_path)
    batch = paths.landing / "clinical" / "b1"
    batch.mkdir(parents=True)
    (batch / "good.json").write_text("{}")
    os.mkfifo(batch / "pipe.json")               # opening it to read would block forever
    parser, summary = _ingest(paths)
    assert parser.read == ["good.json"]
    row = _quarantine(paths).filter(pl.col("source_file") == "clinical/b1/pipe.json").to_dicts()
    assert len(row) == 1 and "FIFO" in row[0]["reason"] and row[0]["granularity"] == "file"


def test_symlinked_batch_and_domain_folders_are_refused_unread(tmp_path):
    paths = _lake(tmp_path)
    outside = tmp_path / "elsewhere"
    (outside / "b9").mkdir(parents=True)
    (outside / "b9" / "p.json").write_text("{}")
    (paths.landing / "clinical").mkdir(parents=True)
    (paths.landing / "clinical" / "linked").symlink_to(outside / "b9", target_is_directory=True)
    (paths.landing / "expression").symlink_to(outside, target_is_directory=True)
    parser, summary = _ingest(paths)
    assert parser.read == []
    parser, _ = _ingest(paths, domain="expression")
    assert parser.read == []
    q = _quarantine(paths)
    rows = {r["source_file"]: r for r in q.to_dicts()}
    assert rows["clinical/linked"]["granularity"] == "batch"
    assert "symbolic link" in rows["clinical/linked"]["reason"]
    assert rows["expression"]["granularity"] == "batch" and rows["expression"]["domain"] == "expression"
    assert paths.raw_table("patients").joinpath("b9").exists() is False


def test_the_sensor_does_not_follow_links(tmp_path):
    from orchestration.jobs import landing_batches

    paths = _lake(tmp_path)
    outside = tmp_path / "elsewhere"
    (outside / "b9").mkdir(parents=True)
    (paths.landing / "clinical" / "real").mkdir(parents=True)
    (paths.landing / "clinical" / ".uploading").mkdir()
    (paths.landing / "clinical" / "linked").symlink_to(outside / "b9", target_is_directory=True)
    (paths.landing / "genomic").symlink_to(outside, target_is_directory=True)
    assert landing_batches(paths) == ["clinical/real"]


def test_a_file_swapped_for_a_link_after_the_scan_is_refused_by_the_parser(tmp_path):
    target = tmp_path / "p.json"
    target.write_text(json.dumps(packet()))
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(FileRejected, match="symbolic link"):
        open_landing(link)
    with pytest.raises(FileRejected, match="symbolic link"):
        parse_phenopacket(link)
    vcf = write_vcf(tmp_path / "x.vcf", _vcf(["PAT-1"]), "plain")
    (tmp_path / "link.vcf").symlink_to(vcf)
    with pytest.raises(FileRejected, match="symbolic link"):
        parse_vcf(tmp_path / "link.vcf")


def test_a_file_swapped_for_a_link_between_scan_and_read_is_refused_by_the_runner(
        tmp_path, monkeypatch):
    from orchestration.ingest import runner

    paths = _lake(tmp_path)
    batch = paths.landing / "clinical" / "b1"
    batch.mkdir(parents=True)
    (batch / "good.json").write_text("{}")
    real_scan = runner.scan_domain

    def scan_then_swap(paths_, domain):
        scan = real_scan(paths_, domain)
        (batch / "late.json").symlink_to(_secret(tmp_path))     # appears after the check
        scan.files.append(("b1", batch / "late.json"))
        return scan

    monkeypatch.setattr(runner, "scan_domain", scan_then_swap)
    parser, summary = _ingest(paths)
    assert parser.read == ["good.json"]
    row = _quarantine(paths).filter(pl.col("source_file") == "clinical/b1/late.json").to_dicts()
    assert len(row) == 1 and "symbolic link" in row[0]["reason"]
    assert _lake_holds(paths, b"SECRET-CONTENT") == []


def test_a_batch_folder_swapped_for_a_link_after_the_scan_is_refused(tmp_path):
    """O_NOFOLLOW guards only a path's last component: the batch and domain folders are
    opened one by one without following a link too."""
    landing = tmp_path / "landing" / "clinical"
    (landing / "b1").mkdir(parents=True)
    (landing / "b1" / "p.json").write_text(json.dumps(packet()))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "p.json").write_text("SECRET-CONTENT")
    (landing / "b1").rename(tmp_path / "b1-old")
    (landing / "b1").symlink_to(outside, target_is_directory=True)
    with pytest.raises(FileRejected, match="linked folder"):
        open_landing(landing / "b1" / "p.json")


def test_batch_names_that_collide_with_the_lakes_own_files_are_refused(tmp_path):
    """A batch named `_schema.parquet` made every refresh of its domain crash on the raw
    table's schema file; `_landing` made ingests move each other's quarantine as planted."""
    paths = _lake(tmp_path)
    for name in ("_schema.parquet", "_landing", "_ledger"):
        (paths.landing / "clinical" / name).mkdir(parents=True)
        (paths.landing / "clinical" / name / "p.json").write_text(json.dumps(packet()))
    (paths.landing / "clinical" / "ok").mkdir()
    (paths.landing / "clinical" / "ok" / "p.json").write_text(json.dumps(packet()))
    parser, _ = _ingest(paths)
    assert parser.read == ["p.json"]
    refused = _quarantine(paths).filter(pl.col("granularity") == "batch")
    assert sorted(refused["source_file"].to_list()) == \
        ["clinical/_landing", "clinical/_ledger", "clinical/_schema.parquet"]
    assert all("reserved" in r for r in refused["reason"].to_list())


# --------------------------------------------------------------------------- 2 strays
def test_nothing_dropped_in_the_landing_zone_is_silently_ignored(tmp_path):
    paths = _lake(tmp_path)
    (paths.landing / "imaging" / "b1").mkdir(parents=True)         # not a domain
    (paths.landing / "imaging" / "b1" / "scan.dcm").write_bytes(b"DICM")
    (paths.landing / "notes.txt").write_text("hello")                # not in a domain
    clinical = paths.landing / "clinical"
    (clinical / "b1" / "sub").mkdir(parents=True)                     # batches are flat
    (clinical / "loose.json").write_text("{}")                        # not in a batch
    (clinical / "b1" / "ok.json").write_text("{}")
    (clinical / "b1" / ".ok.json.partial").write_text("{")           # upload in progress
    (clinical / ".incoming").mkdir()                                  # hidden batch: skipped
    (clinical / "bad\u202ename").mkdir()                              # batch name fails ids
    (clinical / "b1" / "x\x1b[2J.json").write_text("{}")              # a terminal escape
    parser, summary = _ingest(paths)
    assert parser.read == ["ok.json"]
    q = _quarantine(paths)
    got = {(r["domain"], r["source_file"], r["granularity"]) for r in q.to_dicts()}
    assert got == {("landing", "imaging", "batch"), ("landing", "notes.txt", "file"),
                   ("clinical", "clinical/b1/sub", "file"),
                   ("clinical", "clinical/loose.json", "file"),
                   ("clinical", "clinical/bad\\u202ename", "batch"),
                   ("clinical", "clinical/b1/x\\x1b[2J.json", "file")}
    assert all(r for r in q["reason"].to_list())
    assert len(summary.quarantine_reasons) == 6
    # a second domain's ingest and a second refresh add no rows and report nothing again
    _, other = _ingest(paths, T1, domain="expression")
    _, again = _ingest(paths, T1)
    assert _quarantine(paths).height == 6
    assert other.quarantine_reasons == [] and again.quarantine_reasons == []


def test_a_file_of_an_unknown_type_in_a_batch_is_refused_as_a_file(tmp_path):
    from orchestration.ingest.runner import ingest_genomic

    paths = _lake(tmp_path)
    batch = paths.landing / "genomic" / "b1"
    batch.mkdir(parents=True)
    (batch / "report.docx").write_bytes(b"PK\x03\x04 not a vcf")
    summary = ingest_genomic(paths, T0)
    assert summary.files_quarantined == 1
    row = _quarantine(paths).to_dicts()
    assert len(row) == 1 and row[0]["granularity"] == "file" and "not a VCF" in row[0]["reason"]


# --------------------------------------------------------------------------- 3 ids
@pytest.mark.parametrize("value", ["PAT-0001", "Patient 1", "Müller-7", "../../etc/x", "x" * 128,
                                   "患者-3", "CHEMBL25"])
def test_ids_that_pass(value):
    assert id_problem(value) is None


@pytest.mark.parametrize("value, words", [
    ("", "empty"), ("   ", "empty"), ("x" * 129, "129 characters"),
    (" PAT-1", "leading or trailing"), ("PAT-1\t", "leading or trailing"),
    ("PAT\x001", "control"), ("PAT\n1", "control"), ("PAT\u202e1", "U+202E"),
    ("PAT\u2066x", "U+2066"), ("PAT\u200b1", "ZERO WIDTH SPACE"), ("\ufeffPAT", "U+FEFF"),
    ("PAT\u20281", "line separator"), ("PAT\u20291", "paragraph separator"),
    ("PAT\ud8001", "surrogate"), ("PAT\u0378", "unassigned"), ("PAT\u00a01", "space other"),
    ("Mu\u0308ller", "NFC"),
])
def test_ids_that_are_refused(value, words):
    assert words in id_problem(value)


def test_shown_ids_are_short_and_escaped():
    text = shown("A\u202e" + "x" * 10_000)
    assert "\\u202e" in text and "\u202e" not in text and len(text) < 100
    assert MAX_ID_LENGTH == 128


def test_a_bad_vcf_sample_name_refuses_that_sample_only(tmp_path):
    path = write_vcf(tmp_path / "x.vcf", _vcf(["PAT-1", "PAT\u202e2", "PAT-3"]), "plain")
    result = parse_vcf(path)
    rows = pa.concat_tables(list(result.tables["variants"]))
    assert sorted(rows["patient_id"].to_pylist()) == ["PAT-1", "PAT-3"]
    [q] = result.quarantine
    assert q.granularity == "sample" and q.locator == "sample #2"
    assert "\\u202e" in q.reason and "U+202E" in q.reason


def test_a_bad_expression_column_is_refused_as_that_column(tmp_path):
    path = tmp_path / "tpm.tsv"
    path.write_text("gene\tA\tB\u200b\nG1\t1\t2\n")
    result = parse_expression(path, {"A", "B\u200b"})
    rows = result.tables["expression"][0].to_pylist()
    assert [r["patient_id"] for r in rows] == ["A"]
    [q] = result.quarantine
    assert q.granularity == "sample" and "column 3" in q.reason and "ZERO WIDTH" in q.reason


def test_a_bad_phenopacket_subject_id_refuses_the_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(packet(subject={"id": "PAT\u202e0001", "sex": "FEMALE"})))
    with pytest.raises(FileRejected, match=r"subject.id .*U\+202E"):
        parse_phenopacket(path)


def test_bad_compound_ids_are_refused_per_record_with_a_short_reason(tmp_path):
    long_id = "C" * 10_000
    path = tmp_path / "lib" / "lib.csv"
    path.parent.mkdir()
    path.write_text(f"compound_id,smiles\nOK-1,CCO\n{long_id},CCN\n\"BAD\u202e2\",CCC\n")
    result = parse_compound_file(path)
    ids = [r["compound_id"] for t in result.tables["compound_records"] for r in t.to_pylist()]
    assert ids == ["OK-1"]
    reasons = [q.reason for q in result.quarantine]
    assert len(reasons) == 2 and all(len(r) < 300 for r in reasons)
    assert "10,000 characters" in reasons[0] and "U+202E" in reasons[1]


def test_bad_plate_ids_in_maps_exports_and_run_json(tmp_path):
    run = tmp_path / "RUN1"
    run.mkdir()
    (run / "map.csv").write_text("plate_id,well,compound_id,role\n"
                                 "P1,A1,C1,sample\nP\x072,A1,C1,sample\nP1,A2,C\u202e9,sample\n")
    result = parse_plate_file(run / "map.csv")
    assert [r["well"] for r in result.tables["plate_maps"][0].to_pylist()] == ["A01"]
    assert [q.granularity for q in result.quarantine] == ["well", "well"]
    assert "\\x07" in result.quarantine[0].reason and "U+202E" in result.quarantine[1].reason
    (run / "signals.csv").write_text("plate_id,well,signal\nP1,A1,5\n" +
                                     "".join(f"{'Q' * 500},A{i},5\n" for i in range(1, 4)))
    result = parse_plate_file(run / "signals.csv")
    assert {r["plate_id"] for r in result.tables["plate_wells"][0].to_pylist()} == {"P1"}
    [q] = result.quarantine
    assert q.granularity == "plate" and "500 characters" in q.reason and len(q.reason) < 300
    (run / "run.json").write_text(json.dumps({**RUN, "assay_id": "A\u20281"}))
    with pytest.raises(FileRejected, match="assay_id .*line separator"):
        parse_plate_file(run / "run.json")


# --------------------------------------------------------------------------- 4 terms
def test_a_repeated_term_counts_once_and_observed_plus_excluded_is_refused(tmp_path):
    features = [{"type": {"id": "HP:0001250"}}] * 50_000 + [
        {"type": {"id": "HP:0001249"}, "excluded": True},
        {"type": {"id": "HP:0001249"}},
        {"type": {"id": "HP:0001263"}, "excluded": True},
        {"type": {"id": "HP:0001263"}, "excluded": True}]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(packet(phenotypicFeatures=features)))
    result = parse_phenopacket(path)
    rows = result.tables["phenotypes"][0].to_pylist()
    assert sorted((r["hpo_id"], r["excluded"]) for r in rows) == [("HP:0001250", False),
                                                                   ("HP:0001263", True)]
    [q] = result.quarantine
    assert q.granularity == "term" and q.locator == "HP:0001249"
    assert "both observed" in q.reason and "excluded" in q.reason


# --------------------------------------------------------------------------- 5 limits
def test_check_line_lengths_is_exact_at_the_boundary():
    limits.check_line_lengths(b"abcd\nabcd\nab", 1, 4)
    with pytest.raises(FileRejected, match=r"line 2 is 5 bytes, over max_line_bytes 4 "
                                           r"\(ORPHANLAKE_MAX_LINE_BYTES\)"):
        limits.check_line_lengths(b"abcd\nabcde\nab", 1, 4)
    with pytest.raises(FileRejected, match="line 7 is at least 6 bytes"):
        limits.check_line_lengths(b"ab\nabcdef", 6, 4, final=False)


def test_a_gzip_bomb_stops_at_the_byte_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("ORPHANLAKE_MAX_BYTES_PLATES", "1000000")
    run = tmp_path / "RUN1"
    run.mkdir()
    (run / "bomb.csv.gz").write_bytes(gzip.compress(b"plate_id,well,signal\n" +
                                                    b"P1,A1,5\n" * 5_000_000))
    with pytest.raises(FileRejected, match=r"inflates to more than 1,000,000 bytes .*"
                                           r"max_bytes_plates 1,000,000 "
                                           r"\(ORPHANLAKE_MAX_BYTES_PLATES\)"):
        parse_plate_file(run / "bomb.csv.gz")


def test_vcf_limits_bytes_lines_and_records(tmp_path, monkeypatch):
    body = "".join(f"1\t{100 + i}\t.\tA\tG\t50\tPASS\tCSQ=G|x\tGT\t0/1\n" for i in range(2000))
    path = write_vcf(tmp_path / "x.vcf.gz", _vcf(["PAT-1"], body), "bgzip")

    def consume():
        result = parse_vcf(path)
        for _ in result.tables["variants"]:
            pass

    monkeypatch.setenv("ORPHANLAKE_MAX_BYTES_GENOMIC", "20000")
    with pytest.raises(FileRejected, match=r"max_bytes_genomic 20,000 \(ORPHANLAKE_MAX_BYTES_GENOMIC\)"):
        consume()
    monkeypatch.delenv("ORPHANLAKE_MAX_BYTES_GENOMIC")
    monkeypatch.setenv("ORPHANLAKE_MAX_RECORDS_GENOMIC", "1000")
    with pytest.raises(FileRejected, match=r"more than 1,000 VCF data lines, over "
                                           r"max_records_genomic"):
        consume()
    monkeypatch.delenv("ORPHANLAKE_MAX_RECORDS_GENOMIC")
    long_line = "1\t5\t.\tA\tG\t50\tPASS\t" + "X" * 3000 + "\tGT\t0/1\n"
    path = write_vcf(tmp_path / "y.vcf.gz", _vcf(["PAT-1"], long_line), "gzip")
    monkeypatch.setenv("ORPHANLAKE_MAX_LINE_BYTES", "2000")
    with pytest.raises(FileRejected, match=r"line 9 is 3,\d+ bytes, over max_line_bytes 2,000"):
        consume()
    path = write_vcf(tmp_path / "z.vcf", _vcf(["PAT-1"]).replace(
        "##contig=<ID=X>", "##contig=<ID=X" + "," * 5000 + ">"), "plain")
    with pytest.raises(FileRejected, match=r"line 3 is at least 2,002 bytes, over max_line_bytes 2,000"):
        parse_vcf(path)


def test_compound_and_phenopacket_record_limits(tmp_path, monkeypatch):
    monkeypatch.setenv("ORPHANLAKE_MAX_RECORDS_COMPOUNDS", "3")
    path = tmp_path / "lib" / "lib.smi"
    path.parent.mkdir()
    path.write_text("".join(f"CCO C{i}\n" for i in range(4)))
    with pytest.raises(FileRejected, match=r"more than 3 compound records, over "
                                           r"max_records_compounds 3 \(ORPHANLAKE_MAX_RECORDS_COMPOUNDS\)"):
        parse_compound_file(path)
    monkeypatch.setenv("ORPHANLAKE_MAX_LINE_BYTES", "100")
    path.write_text("CCO C1\n" + "C" * 200 + " C2\n")
    with pytest.raises(FileRejected, match="line 2 is at least 102 bytes, over max_line_bytes 100"):
        parse_compound_file(path)
    monkeypatch.setenv("ORPHANLAKE_MAX_RECORDS_CLINICAL", "10")
    pp = tmp_path / "p.json"
    pp.write_text(json.dumps(packet(phenotypicFeatures=[{"type": {"id": "HP:0001250"}}] * 11)))
    with pytest.raises(FileRejected, match=r"phenotypicFeatures has 11 entries, over "
                                           r"max_records_clinical 10"):
        parse_phenopacket(pp)


def test_a_bad_limit_override_stops_the_ingest_before_any_file(tmp_path, monkeypatch):
    paths = _lake(tmp_path)
    (paths.landing / "clinical" / "b1").mkdir(parents=True)
    (paths.landing / "clinical" / "b1" / "ok.json").write_text("{}")
    monkeypatch.setenv("ORPHANLAKE_MAX_LINE_BYTES", "lots")
    with pytest.raises(ValueError, match="ORPHANLAKE_MAX_LINE_BYTES"):
        _ingest(paths)
    assert _quarantine(paths).height == 0


# --------------------------------------------------------------------------- 6 plate range
def test_implausible_plate_readings_are_refused_per_well(tmp_path):
    run = tmp_path / "RUN1"
    run.mkdir()
    (run / "run.json").write_text(json.dumps(RUN))
    (run / "s.csv").write_text("plate_id,well,signal\nP1,A1,5\nP1,A2,1e308\nP1,A3,-1e308\n"
                               "P1,A4,-250.5\nP1,A5,12000000\n")
    result = parse_plate_file(run / "s.csv")
    assert [r["well"] for r in result.tables["plate_wells"][0].to_pylist()] == ["A01", "A04", "A05"]
    reasons = {q.locator: q.reason for q in result.quarantine}
    assert set(reasons) == {"plate P1 well A02", "plate P1 well A03"}
    assert "1e+308 is outside the plausible range [-1e+09, 1e+09]" in reasons["plate P1 well A02"]
    # a run may set its own range; a bad range refuses its run.json
    (run / "run.json").write_text(json.dumps({**RUN, "signal_range": [0, 100]}))
    result = parse_plate_file(run / "s.csv")
    assert [r["well"] for r in result.tables["plate_wells"][0].to_pylist()] == ["A01"]
    assert "[0, 100] (run.json signal_range)" in result.quarantine[-1].reason
    assert parse_plate_file(run / "run.json").tables["plate_runs"][0].num_rows == 1
    for bad in ([100, 0], [0], ["a", 1], [0, float("inf")], "0-100", [True, 5]):
        (run / "run.json").write_text(json.dumps({**RUN, "signal_range": bad}))
        with pytest.raises(FileRejected, match="signal_range"):
            parse_plate_file(run / "run.json")


def test_a_changed_run_json_re_reads_the_runs_exports(tmp_path):
    """An export is read with its run.json's range and format: editing signal_range used
    to change nothing, because the unchanged export was skipped by the ledger."""
    from orchestration.ingest.runner import ingest_plates

    paths = _lake(tmp_path)
    run = paths.landing / "plates" / "RUN1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(RUN))
    (run / "s.csv").write_text("plate_id,well,signal\nP1,A1,5\nP1,A2,2e9\n")

    def wells():
        files = list(paths.raw_table("plate_wells").rglob("RUN1/*.parquet"))
        return sorted(pl.read_parquet(files)["well"].to_list()) if files else []

    ingest_plates(paths, T0)
    assert wells() == ["A01"]
    assert ingest_plates(paths, T1).files_ingested == 0          # nothing new, nothing read
    (run / "run.json").write_text(json.dumps({**RUN, "signal_range": [0, 1e10]}))
    ingest_plates(paths, T1)
    assert wells() == ["A01", "A02"]
