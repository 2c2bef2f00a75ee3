"""The checks across a study's files and the per-study isolation of its analysis
(orchestration/ingest/trial_checks.py, models/trials/analysis.py), on small hand-made
staged tables."""

from datetime import datetime, timezone

import polars as pl

from models.trials import analysis
from orchestration.ingest.trial_checks import check_study_tables, study_failures

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 2, 1, tzinfo=timezone.utc)


def _lineage(n: int, file: str, at=T0, first: int = 1) -> dict:
    return {"locator": [f"record {first + i}" for i in range(n)], "source_file": [file] * n,
            "source_sha256": ["x"] * n, "batch_id": ["S"] * n, "ingested_at": [at] * n}


def _dm(ids, arms, file="trials/S/dm.xpt", at=T0, first=1):
    return pl.DataFrame({"studyid": ["S"] * len(ids), "usubjid": ids, "arm": arms,
                         "age": [50.0] * len(ids), **_lineage(len(ids), file, at, first)})


def _ae(ids, file="trials/S/ae.xpt"):
    return pl.DataFrame({"studyid": ["S"] * len(ids), "usubjid": ids,
                         "aedecod": ["HEADACHE"] * len(ids), **_lineage(len(ids), file)})


def test_two_arms_across_files_refuse_the_subject_and_its_records():
    dm = pl.concat([_dm(["S-1", "S-2"], ["Drug", "Placebo"]),
                    _dm(["S-1"], ["Placebo"], file="trials/S/dm2.csv", at=T1)])
    out, refused = check_study_tables({"trial_dm": dm, "trial_ae": _ae(["S-1", "S-2"])}, set())
    assert out["trial_dm"]["usubjid"].to_list() == ["S-2"]
    assert out["trial_ae"]["usubjid"].to_list() == ["S-2"]
    subject = refused.filter(pl.col("granularity") == "subject")
    assert subject.height == 2 and subject["reason"].str.contains("two arms (Drug / Placebo)", literal=True).all()


def test_a_subject_sent_twice_keeps_the_newest_files_row():
    old = _dm(["S-1"], ["Drug"], file="trials/S/dm.xpt", at=T0).with_columns(pl.lit(50.0).alias("age"))
    new = _dm(["S-1"], ["Drug"], file="trials/S/dm_v2.xpt", at=T1).with_columns(pl.lit(51.0).alias("age"))
    out, refused = check_study_tables({"trial_dm": pl.concat([old, new])}, set())
    assert out["trial_dm"]["age"].to_list() == [51.0] and refused.is_empty()
    # within one file, record 2 comes before record 10 (numerically)
    ten = _dm(["S-2"] * 2, ["Drug"] * 2, first=2).with_columns(
        pl.Series("locator", ["record 10", "record 2"]), pl.Series("age", [10.0, 2.0]))
    out, _ = check_study_tables({"trial_dm": ten}, set())
    assert out["trial_dm"]["age"].to_list() == [2.0]


def test_records_of_unknown_subjects_and_links_to_no_patient_are_refused():
    links = pl.DataFrame({"studyid": [None, None, None], "usubjid": ["S-1", "S-9", "S-2"],
                          "patient_id": ["P1", "P1", "P-unknown"], **_lineage(3, "trials/S/patient_links.csv")})
    out, refused = check_study_tables(
        {"trial_dm": _dm(["S-1", "S-2"], ["Drug", "Placebo"]), "trial_ae": _ae(["S-1", "S-7"]),
         "trial_links": links}, {"P1"})
    assert out["trial_ae"]["usubjid"].to_list() == ["S-1"]
    assert out["trial_links"].select("studyid", "usubjid", "patient_id").rows() == [("S", "S-1", "P1")]
    reasons = refused["reason"].to_list()
    assert any("AE record of subject S-7, who is not in DM" in r for r in reasons)
    assert any("names subject S-9, who is not in study S" in r for r in reasons)
    assert any("names patient P-unknown, who is not a lake patient" in r for r in reasons)
    assert set(refused["granularity"].to_list()) == {"record"}


def test_one_studys_failure_never_stops_the_others(monkeypatch):
    dm = pl.concat([_dm(["A-1"], ["Drug"]).with_columns(pl.lit("A").alias("studyid")),
                    _dm(["B-1"], ["Drug"]).with_columns(pl.lit("B").alias("studyid"))])
    real = analysis.study_analysis_data

    def flaky(tables, study):
        if study == "A":
            raise RuntimeError("something only study A has")
        return real(tables, study)

    monkeypatch.setattr(analysis, "study_analysis_data", flaky)
    failures: dict[str, str] = {}
    data = analysis.analysis_data({"trial_dm": dm}, failures)
    assert data["adsl"]["studyid"].to_list() == ["B"]
    assert failures == {"A": "RuntimeError: something only study A has"}
    rows = study_failures({"trial_dm": dm}, failures)
    assert rows.select("granularity", "locator", "batch_id").rows() == [("batch", "A", "A")]
    assert rows["quarantined_at"].to_list() == [T0]        # stable: when the study landed
    assert "could not be analysed (RuntimeError" in rows["reason"][0]


def test_a_model_without_signal_says_so_rather_than_showing_a_reversed_risk():
    """An out-of-fold AUC whose interval is not above 0.5 is read for the user: no evidence
    of ranking better than chance (below 0.5 is what CV gives without a signal)."""
    base = {"estimable": True, "n": 60, "events": 20, "auc": {"mean": 0.4, "lo": 0.3, "hi": 0.5},
            "calibration": {"intercept": {"value": 0.0, "lo": -1.0, "hi": 1.0},
                            "slope": {"value": -1.0, "lo": -3.0, "hi": 1.0}},
            "brier": 0.2, "features": ["age"], "caveat": "20 events among 60 subjects",
            "coefficients": [{"feature": "age", "odds_ratio_per_sd": 1.1}]}
    null = analysis._risk_row("S", "discontinued", "ittfl",
                              {**base, "auc_pooled": {"value": 0.34, "lo": 0.2, "hi": 0.48}})
    assert null["note"].startswith("no evidence the model ranks better than chance")
    assert "without a signal" in null["note"] and null["auc"] == 0.34
    real = analysis._risk_row("S", "discontinued", "ittfl",
                              {**base, "auc_pooled": {"value": 0.8, "lo": 0.7, "hi": 0.9}})
    assert real["note"] == "20 events among 60 subjects"


def test_the_primary_parameter_is_the_one_the_trial_summary_names():
    bds = pl.DataFrame({"paramcd": ["ALT", "DISBMK", "HR", "HR"], "usubjid": ["a", "b", "c", "d"],
                        "param": ["Alanine Aminotransferase", "Disease Activity Biomarker",
                                  "Heart Rate", "Heart Rate"], "chg": [1.0, 2.0, 3.0, 4.0]})
    measure = "Change from baseline in plasma disease activity biomarker at Week 24"
    assert analysis.primary_parameter(bds, measure) == "DISBMK"
    assert analysis.primary_parameter(bds, "three hrs of rest") == "HR"   # none named: most subjects
    assert analysis.primary_parameter(bds, "HR at rest, then ALT") in ("ALT", "HR")
