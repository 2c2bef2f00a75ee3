"""The trial simulator (orchestration/simulate/trial.py): SDTM studies, their files and truth."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyreadstat
import pytest

from orchestration.simulate.screening import TRUTH_SCHEMA
from orchestration.simulate.trial import (AE_TERMS, BAD_DEFECTS, INTEGER, PLACEHOLDER_COMPOUND,
                                          VARIABLES, collapse_doses, generate_trials,
                                          simulate_trial, study_day_date, variable_label,
                                          write_study, write_xpt, xpt_problems)

TARGET = "GBA1"
# (patient_id, gene, causal consequences, defect): the batch truth's columns that matter
COHORT = [("OL-P00050001", "GBA1", "stop_gained;missense_variant", None),
          ("OL-P00050002", "GBA1", "missense_variant;missense_variant", None),
          ("OL-P00050003", "GBA1", "frameshift_variant", None),
          ("OL-P00050004", "GBA1", "missense_variant", None),
          ("OL-P00050005", "GBA1", "stop_gained", "direct_identifier"),   # never in the lake
          ("OL-P00050006", "PAH", "stop_gained", None)]


def _fake_lake(home: Path, screen: bool = True) -> Path:
    """A lake's truth as the batch and screening generators write it (their file names and
    columns), small enough for a unit test."""
    batch = home / "truth" / "batch_0005_6"
    batch.mkdir(parents=True)
    pl.DataFrame({
        "patient_id": [c[0] for c in COHORT], "sex": ["MALE", "FEMALE"] * 3,
        "is_solved": [True] * 6, "disease_id": ["ORPHA:355"] * 5 + ["ORPHA:716"],
        "disease_name": ["Gaucher disease"] * 5 + ["Phenylketonuria"],
        "gene_symbol": [c[1] for c in COHORT], "causal_consequences": [c[2] for c in COHORT],
        "defect": [c[3] for c in COHORT]}).write_csv(batch / "truth.tsv", separator="\t")
    if screen:
        folder = home / "truth" / "screen_001" / "screening"
        folder.mkdir(parents=True)
        (folder / "plates.json").write_text(json.dumps({"target_gene": TARGET}))
        rows = [("chembl_approved", "CHEMBL2", "C", 6.9, True),      # PRAZOSIN
                ("chembl_approved", "CHEMBL3", "C", 7.8, True),      # NICOTINE: the best
                ("chembl_approved", "CHEMBL4", "C", None, False),
                ("vendor_analogs", "VA-0001", "C", 9.5, True)]       # not an approved drug
        pl.DataFrame([r + (0.0, 0.0, False, False, None, None) for r in rows],
                     schema=TRUTH_SCHEMA, orient="row").write_parquet(
            folder / "compound_activity.parquet")
    return home


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    home = _fake_lake(tmp_path_factory.mktemp("trial_lake"))
    summary = generate_trials(home, 5, n_randomized=24, n_single_arm=12, with_bad_files=True)
    return home, summary


@pytest.fixture(scope="module")
def big():
    """A large randomized study: sample statistics near the truth."""
    return simulate_trial(3, n_subjects=1600)


def test_collapse_doses_and_study_days():
    assert collapse_doses([100, 100, None, 100, 50, 50, None, None, 50]) == [
        (1, 2, 100), (4, 4, 100), (5, 6, 50), (9, 9, 50)]
    assert collapse_doses([0.0] * 5, first_day=3) == [(3, 7, 0.0)]
    import datetime as dt

    d1 = dt.date(2024, 3, 1)
    assert [study_day_date(d1, k) for k in (-1, 1, 2)] == ["2024-02-29", "2024-03-01",
                                                           "2024-03-02"]


def test_same_seed_same_bytes(tmp_path, lake):
    home, _ = lake
    again = _fake_lake(tmp_path / "again")
    generate_trials(again, 5, n_randomized=24, n_single_arm=12, with_bad_files=True)
    for part in ("landing", "truth/trials"):
        first, second = _files(home / part), _files(again / part)
        assert first and first == second, part
    other, _ = simulate_trial(6, n_subjects=24)
    same, _ = simulate_trial(5, n_subjects=24)
    assert not other["DM"].equals(same["DM"])


def test_lake_studies_compound_links_and_truth_outside_landing(lake):
    home, summary = lake
    # the most potent true active among the screened approved drugs, named
    assert summary["compound_id"] == "CHEMBL3" and summary["compound_name"] == "NICOTINE"
    assert "screen_001" in summary["compound_source"]
    cohort = {c[0]: "stop_gained" in c[2] or "frameshift" in c[2]
              for c in COHORT if c[1] == TARGET and c[3] is None}
    linked = {}
    designs = set()
    for studyid, study in summary["studies"].items():
        folder = Path(study["folder"])
        assert folder == home / "landing" / "trials" / studyid
        truth_path = Path(study["truth_path"])
        assert truth_path == home / "truth" / "trials" / f"{studyid}.json"
        assert "landing" not in truth_path.relative_to(home).parts
        truth = json.loads(truth_path.read_text())
        designs.add(truth["design"])
        assert truth["compound_id"] == "CHEMBL3" and truth["disease"] == "Gaucher disease"
        assert not any("truth" in p.name or p.suffix == ".json" and "subjects" in p.read_text()
                       for p in folder.iterdir())
        links_path = folder / "patient_links.csv"
        if study["n_linked"]:
            links = pl.read_csv(links_path)
            assert links.columns == ["STUDYID", "USUBJID", "PATIENT_ID"]
            dm_ids = _dm_ids(folder)
            assert set(links["USUBJID"]) <= dm_ids
            carriers = {s["usubjid"]: s["lof_carrier"] for s in truth["subjects"]}
            for u, pid in links.select("USUBJID", "PATIENT_ID").iter_rows():
                assert pid in cohort, f"{pid} is no lake patient of the {TARGET} cohort"
                assert carriers[u] == cohort[pid]
                linked[pid] = studyid
        else:
            assert not links_path.exists()
    assert designs == {"randomized", "single_arm"}
    # every eligible patient enrols once (alternately); the quarantined one and the PAH
    # patient never
    assert set(linked) == set(cohort)


def _dm_ids(folder: Path) -> set[str]:
    if (folder / "dm.xpt").exists():
        return set(pyreadstat.read_xport(str(folder / "dm.xpt"))[0]["USUBJID"])
    rows = json.loads((folder / "dm.json").read_text())
    return {r[2] for r in rows["rows"]}


def test_placeholder_compound_without_a_screen(tmp_path):
    home = _fake_lake(tmp_path, screen=False)
    summary = generate_trials(home, 1, n_randomized=8, n_single_arm=4)
    assert summary["compound_id"] == PLACEHOLDER_COMPOUND
    assert "no screen" in summary["compound_source"]
    truth = json.loads(Path(next(iter(summary["studies"].values()))["truth_path"]).read_text())
    assert "placeholder" in truth["compound_source"]


def test_xpt_reads_back_with_pyreadstat_and_pandas(tmp_path):
    frames, _ = simulate_trial(2, n_subjects=16)
    files = write_study(tmp_path, frames, "xpt")
    assert sorted(p.name for p in files) == sorted(f"{d.lower()}.xpt" for d in VARIABLES)
    for path in files:
        domain = path.stem.upper()
        df, meta = pyreadstat.read_xport(str(path))
        via_pandas = pd.read_sas(path, format="xport", encoding="utf-8")
        assert meta.table_name == domain
        assert list(df.columns) == list(via_pandas.columns) == list(VARIABLES[domain])
        assert all(len(c) <= 8 for c in df.columns)
        for col in df.columns:
            label = meta.column_names_to_labels[col]
            assert label == variable_label(col) and len(label) <= 40
            src = frames[domain][col]
            if src.dtype == pl.Float64:
                expect = src.to_numpy()
                assert np.allclose(df[col].to_numpy(float), expect, equal_nan=True), col
                assert np.allclose(via_pandas[col].to_numpy(float), expect, equal_nan=True), col
            else:
                expect = src.fill_null("").to_list()   # SAS has no missing text: blank
                assert df[col].tolist() == expect, col
                assert via_pandas[col].fillna("").tolist() == expect, col


def test_xpt_limits_refused_naming_the_variable(tmp_path):
    frame = pl.DataFrame({"STUDYID": ["S"], "LONGNAME9": ["x"], "AETERM": ["é" + "a" * 200]})
    problems = xpt_problems("AE", frame)
    assert any(p.startswith("AE.LONGNAME9:") and "8 characters" in p for p in problems)
    assert any(p.startswith("AE.AETERM:") and "202 bytes" in p for p in problems)
    assert any(p.startswith("AE.AETERM:") and "ASCII" in p for p in problems)
    with pytest.raises(ValueError, match="ae.xpt.*LONGNAME9"):
        write_xpt(tmp_path / "ae.xpt", "AE", frame)
    frames, _ = simulate_trial(2, n_subjects=16)
    assert all(not xpt_problems(d, f) for d, f in frames.items())


def test_dataset_json_and_csv(tmp_path):
    frames, _ = simulate_trial(2, n_subjects=16, design="single_arm")
    for path in write_study(tmp_path / "json", frames, "json", "2023-05-01T09:00:00"):
        doc = json.loads(path.read_text())
        domain = path.stem.upper()
        assert doc["datasetJSONVersion"].startswith("1.1")
        assert doc["datasetJSONCreationDateTime"] == "2023-05-01T09:00:00"
        assert doc["name"] == domain and doc["itemGroupOID"] == f"IG.{domain}"
        assert doc["records"] == len(doc["rows"]) == frames[domain].height
        assert [c["name"] for c in doc["columns"]] == list(VARIABLES[domain])
        for c in doc["columns"]:
            assert c["itemOID"] == f"IT.{domain}.{c['name']}" and c["label"]
            assert c["dataType"] in ("string", "integer", "double")
        assert all(len(r) == len(doc["columns"]) for r in doc["rows"])
        back = pl.DataFrame(doc["rows"], schema=list(VARIABLES[domain]), orient="row",
                            infer_schema_length=None)
        for k, c in enumerate(doc["columns"]):
            values = [r[k] for r in doc["rows"]]
            if c["dataType"] == "integer":
                assert all(v is None or type(v) is int for v in values), c["name"]
            assert back[c["name"]].cast(frames[domain][c["name"]].dtype).equals(
                frames[domain][c["name"]]), c["name"]
    for path in write_study(tmp_path / "csv", frames, "csv"):
        back = pl.read_csv(path, infer_schema_length=0)
        domain = path.stem.upper()
        assert back.columns == list(VARIABLES[domain]) and back.height == frames[domain].height
        if "AGE" in back.columns:
            assert all(re.fullmatch(r"\d+", a) for a in back["AGE"])


def test_biomarker_change_near_the_truth(big):
    frames, truth = big
    bm = truth["biomarker"]
    lb = frames["LB"].filter(pl.col("LBTESTCD") == bm["lbtestcd"])
    base = lb.filter(pl.col("LBBLFL") == "Y").select("USUBJID", base="LBSTRESN")
    final = lb.filter(pl.col("VISIT") == bm["final_visit"]).select("USUBJID", aval="LBSTRESN")
    subj = pl.DataFrame(truth["subjects"]).rename({"usubjid": "USUBJID"})
    chg = (final.join(base, on="USUBJID").join(subj, on="USUBJID")
           .with_columns(chg=pl.col("aval") - pl.col("base")))
    assert lb.filter(pl.col("LBBLFL") == "Y")["LBDY"].unique().to_list() == [1.0]
    # the file holds the modelled change (values rounded to 0.1) unless floored (rare)
    assert chg["final_floored"].sum() <= 2
    chg = chg.filter(~pl.col("final_floored"))
    assert (chg["chg"] - chg["true_change_final"]).abs().max() < 0.11
    means = chg.group_by("armcd", "lof_carrier").agg(pl.col("chg").mean(), pl.len())
    m = {(a, c): v for a, c, v, _ in means.iter_rows()}
    assert min(means["len"]) > 100
    trt = chg.filter(pl.col("armcd") == "TRT")["chg"].mean()
    pbo = chg.filter(pl.col("armcd") == "PBO")["chg"].mean()
    assert abs((trt - pbo) - bm["effect_marginal"]) < 5.0          # SE about 1.2 nmol/L
    assert abs((m[("TRT", False)] - m[("PBO", False)]) - bm["effect"]) < 6.0
    interaction = (m[("TRT", True)] - m[("PBO", True)]) - (m[("TRT", False)] - m[("PBO", False)])
    assert abs(interaction - bm["interaction_lof"]) < 9.0          # SE about 2.5
    assert bm["effect"] == -0.25 * 180 and bm["unit"] == "nmol/L"


def test_adverse_event_frequencies_near_the_truth(big):
    frames, truth = big
    dm = frames["DM"].select("USUBJID", "ARMCD", "RFXSTDTC", "RFXENDTC")
    ae = frames["AE"].join(dm, on="USUBJID")
    te = ae.filter((pl.col("AESTDTC") >= pl.col("RFXSTDTC"))
                   & (pl.col("AESTDTC").str.to_date() <= pl.col("RFXENDTC").str.to_date()
                      + pl.duration(days=30)))
    n_arm = dict(dm.group_by("ARMCD").len().iter_rows())
    for pt, info in truth["adverse_events"]["terms"].items():
        assert info["aebodsys"] == AE_TERMS[pt][0]
        for arm, p in info["probability"].items():
            k = te.filter((pl.col("AEDECOD") == pt)
                          & (pl.col("ARMCD") == arm))["USUBJID"].n_unique()
            assert abs(k / n_arm[arm] - p) < 0.05, (pt, arm, k / n_arm[arm], p)
    # some AEs precede the first dose, some follow the last one (within 30 days)
    assert (ae["AESTDY"] < 1).sum() > 50
    assert te.filter(pl.col("AESTDTC") > pl.col("RFXENDTC")).height > 50
    assert set(ae["AESEV"]) == {"MILD", "MODERATE", "SEVERE"} and set(ae["AESER"]) == {"Y", "N"}


def test_ttpd_hazard_ratio_and_disposition(big):
    from lifelines import CoxPHFitter

    frames, truth = big
    ds = frames["DS"].filter(pl.col("DSCAT") == "DISPOSITION EVENT")
    assert ds["USUBJID"].n_unique() == ds.height == frames["DM"].height
    tte = (ds.join(frames["DM"].select("USUBJID", "ARMCD", "RFSTDTC", "DTHFL"), on="USUBJID")
           .with_columns(
               time=(pl.col("DSSTDTC").str.to_date() - pl.col("RFSTDTC").str.to_date())
               .dt.total_days() + 1,
               event=pl.col("DSDECOD").is_in(["PROGRESSIVE DISEASE", "DEATH"]).cast(pl.Int8),
               trt=(pl.col("ARMCD") == "TRT").cast(pl.Int8)))
    assert ((tte["DSDECOD"] == "DEATH") == (tte["DTHFL"] == "Y")).all()
    assert tte["event"].sum() == truth["ttpd"]["n_events"] > 200
    cph = CoxPHFitter().fit(tte.select("time", "event", "trt").to_pandas(), "time", "event")
    log_hr = float(cph.params_["trt"])
    assert abs(log_hr - math.log(truth["ttpd"]["hazard_ratio"])) < 0.35   # SE about 0.13


def test_exposure_matches_treatment_dates(big):
    frames, _ = big
    ex = frames["EX"].join(frames["DM"].select("USUBJID", "ARMCD", "RFXSTDTC", "RFXENDTC"),
                           on="USUBJID")
    assert (ex["EXSTDTC"] <= ex["EXENDTC"]).all()
    first = ex.group_by("USUBJID").agg(pl.col("EXSTDTC").min(), pl.col("EXENDTC").max(),
                                       pl.col("RFXSTDTC").first(), pl.col("RFXENDTC").first())
    assert (first["EXSTDTC"] == first["RFXSTDTC"]).all()
    assert (first["EXENDTC"] == first["RFXENDTC"]).all()
    gaps = ex.sort("USUBJID", "EXSEQ").with_columns(
        prev=pl.col("EXENDY").shift(1).over("USUBJID"))
    assert (gaps["EXSTDY"] > gaps["prev"]).fill_null(True).all()      # no overlaps
    assert set(ex.filter(pl.col("ARMCD") == "PBO")["EXTRT"]) == {"PLACEBO"}
    assert set(ex.filter(pl.col("ARMCD") == "TRT")["EXDOSE"]) == {100.0, 50.0}


def test_single_arm_has_one_arm():
    frames, truth = simulate_trial(4, n_subjects=20, design="single_arm")
    assert set(frames["DM"]["ARMCD"]) == {"TRT"} and set(frames["TA"]["ARMCD"]) == {"TRT"}
    assert dict(frames["TS"].select("TSPARMCD", "TSVAL").iter_rows())["RANDOM"] == "N"
    assert "RANDOMIZED" not in set(frames["DS"]["DSDECOD"])
    assert list(truth["arms"]) == ["TRT"] and truth["ttpd"]["hazard_ratio"] is None
    dm = frames["DM"]
    assert dm["BRTHDTC"].str.len_chars().max() == 4           # year only in a clean study
    with pytest.raises(ValueError, match="design"):
        simulate_trial(4, design="crossover")


def test_bad_studies_carry_one_defect_each(lake):
    home, summary = lake
    rows = {r["defect"]: r for r in summary["bad_studies"]}
    assert set(rows) == set(BAD_DEFECTS)
    landing = home / "landing"

    def read(rel: str) -> pl.DataFrame:
        path = landing / rel
        if path.suffix == ".xpt":
            return pl.from_pandas(pyreadstat.read_xport(str(path))[0])
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            return pl.DataFrame(doc["rows"], schema=[c["name"] for c in doc["columns"]],
                                orient="row", infer_schema_length=None)
        return pl.read_csv(path, infer_schema_length=0)

    def dm_of(rel: str) -> pl.DataFrame:
        return read(re.sub(r"/ae\.", "/dm.", rel))

    assert "AEDECOD" not in read(rows["missing_aedecod"]["file"]).columns
    dates = read(rows["non_iso_dates"]["file"])["AESTDTC"]
    assert dates.str.contains(r"^\d\d/\d\d/\d{4}$").any()
    assert not dates.str.contains(r"^\d{4}-\d\d-\d\d$").all()
    ae = read(rows["unknown_subject"]["file"])
    assert set(ae["USUBJID"]) - set(dm_of(rows["unknown_subject"]["file"])["USUBJID"])
    dm = read(rows["subject_in_two_arms"]["file"])
    twice = dm.group_by("USUBJID").agg(pl.col("ARM").n_unique()).filter(pl.col("ARM") > 1)
    assert twice.height == 1
    assert "PATNAME" in read(rows["direct_identifier"]["file"]).columns
    assert read(rows["full_birthdate"]["file"])["BRTHDTC"].str.contains(     # ISO or DD/MM/YYYY
        r"^\d{4}-\d\d-\d\d$|^\d\d/\d\d/\d{4}$").all()
    for row in rows.values():
        truth = json.loads((home / "truth" / "trials" / f"{row['study']}.json").read_text())
        assert truth["defects"] == [row]
    # the good studies stay clean
    for studyid in summary["studies"]:
        dm = read(f"trials/{studyid}/" + next(
            p.name for p in (landing / "trials" / studyid).glob("dm.*")))
        assert "PATNAME" not in dm.columns and dm["USUBJID"].n_unique() == dm.height
        assert dm["BRTHDTC"].str.len_chars().max() == 4
        ae = read(f"trials/{studyid}/" + next(
            p.name for p in (landing / "trials" / studyid).glob("ae.*")))
        assert ae["AESTDTC"].str.contains(r"^\d{4}-\d\d-\d\d$").all()
        assert set(ae["USUBJID"]) <= set(dm["USUBJID"])


def test_integer_variables_are_whole_numbers(big):
    frames, _ = big
    for domain, frame in frames.items():
        for col in frame.columns:
            if col in INTEGER:
                values = frame[col].drop_nulls().to_numpy()
                assert (values == np.round(values)).all(), (domain, col)
