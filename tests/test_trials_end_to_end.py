"""Clinical trials through the real refresh (issue 14): the session's e2e lake holds a
randomized and a single-arm trial (SAS transport v5) and one study per defect (as .xpt,
Dataset-JSON and CSV), written by orchestration/simulate/trial.py with its hidden truth
kept apart."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from orchestration.lake.io import read_mart


def _mart(paths, name: str) -> pl.DataFrame:
    return read_mart(paths.marts / f"{name}.parquet")


def _studies(summary) -> dict[str, dict]:
    return summary["trials"]["studies"]


def _truth(summary, design: str) -> tuple[str, dict]:
    study, info = next((s, i) for s, i in _studies(summary).items() if i["design"] == design)
    return study, json.loads(Path(info["truth_path"]).read_text())


def test_every_trial_mart_is_filled_for_the_generated_studies(e2e_lake):
    paths, summary = e2e_lake
    subjects = _mart(paths, "trial_subjects")
    for study, info in _studies(summary).items():
        mine = subjects.filter(pl.col("studyid") == study)
        assert mine.height == info["n_subjects"], study
        assert (mine["ittfl"] == "Y").all() and mine["trtsdt"].null_count() == 0
        assert mine["is_lake_patient"].sum() == info["n_linked"]
    randomized, _ = _truth(summary, "randomized")
    single, _ = _truth(summary, "single_arm")
    demo = _mart(paths, "trial_demographics").filter(pl.col("studyid") == randomized)
    assert {"Total", "PLACEBO"} <= set(demo["arm"].to_list())
    age = demo.filter((pl.col("variable") == "age") & (pl.col("arm") == "Total"))
    assert age["n"].item() == _studies(summary)[randomized]["n_subjects"]
    ae = _mart(paths, "trial_adverse_events").filter(pl.col("studyid") == randomized)
    assert {"any", "soc", "pt"} == set(ae["level"].to_list())
    assert ae.filter(pl.col("level") == "pt")["rd"].drop_nulls().len() > 0
    eff = _mart(paths, "trial_efficacy")
    assert {"change_from_baseline", "lsmean", "difference"} <= set(
        eff.filter(pl.col("studyid") == randomized)["kind"].to_list())
    assert "single_arm_change" in eff.filter(pl.col("studyid") == single)["kind"].to_list()
    tte = _mart(paths, "trial_time_to_event").filter(pl.col("studyid") == randomized)
    assert {"TTPD", "TTDISC", "TTAE"} <= set(tte["paramcd"].to_list())
    assert tte.filter(pl.col("kind") == "comparison")["hazard_ratio"].drop_nulls().len() == 3


def test_estimates_cover_the_generators_truth(e2e_lake):
    """The randomized trial's ANCOVA difference of the biomarker's change at the final visit
    and its Cox hazard ratio of progression or death: each 95% CI holds the true value (one
    fixed seed: a deterministic check of the whole chain, not a coverage rate, which
    bench/bench_trials.py measures over hundreds of trials)."""
    paths, summary = e2e_lake
    study, truth = _truth(summary, "randomized")
    marker = truth["biomarker"]
    diff = _mart(paths, "trial_efficacy").filter(
        (pl.col("studyid") == study) & (pl.col("paramcd") == marker["lbtestcd"])
        & (pl.col("kind") == "difference")).row(0, named=True)
    assert diff["avisit"] == marker["final_visit"]
    assert diff["lo"] <= marker["effect_in_sample"] <= diff["hi"], (diff, marker)
    hr = _mart(paths, "trial_time_to_event").filter(
        (pl.col("studyid") == study) & (pl.col("paramcd") == "TTPD")
        & (pl.col("kind") == "comparison")).row(0, named=True)
    assert hr["events"] == truth["ttpd"]["n_events"]
    assert hr["hr_lo"] <= truth["ttpd"]["hazard_ratio"] <= hr["hr_hi"], hr
    single, s_truth = _truth(summary, "single_arm")
    change = _mart(paths, "trial_efficacy").filter(
        (pl.col("studyid") == single) & (pl.col("paramcd") == marker["lbtestcd"])
        & (pl.col("kind") == "single_arm_change")).row(0, named=True)
    true_change = s_truth["biomarker"]["placebo_drift"] + s_truth["biomarker"]["effect_in_sample"]
    assert change["lo"] <= true_change <= change["hi"], (change, true_change)


def _refused(paths, study: str) -> pl.DataFrame:
    q = _mart(paths, "quarantine").filter(pl.col("domain") == "trials")
    return q.filter(pl.col("source_file").str.starts_with(f"trials/{study}/"))


@pytest.mark.parametrize("defect, granularity, reason", [
    ("missing_aedecod", "file", "lacks the key variable(s) AEDECOD"),
    ("non_iso_dates", "value", "is not an ISO 8601 date"),
    ("unknown_subject", "record", "who is not in DM"),
    ("subject_in_two_arms", "record", "different arms|who is not in DM"),
    ("direct_identifier", "variable", "direct identifier (person name)"),
])
def test_each_defect_is_refused_at_the_smallest_granularity(e2e_lake, defect, granularity, reason):
    paths, summary = e2e_lake
    bad = next(b for b in summary["trials"]["bad_studies"] if b["defect"] == defect)
    rows = _refused(paths, bad["study"])
    assert rows.height, f"nothing refused for {defect}"
    assert set(rows["granularity"].to_list()) == {granularity}, rows
    for part in reason.split("|"):       # each expected reason is there; nothing else is
        assert rows["reason"].str.contains(part, literal=True).any(), (part, rows["reason"].to_list())
    assert rows["reason"].map_elements(lambda r: any(p in r for p in reason.split("|")),
                                       return_dtype=pl.Boolean).all(), rows["reason"].to_list()
    # the rest of that study is still in: its subjects (but a refused one) are analysed
    subjects = _mart(paths, "trial_subjects").filter(pl.col("studyid") == bad["study"])
    assert subjects.height > 0
    if defect == "non_iso_dates":
        expected = [int(r) for r in str(bad["locator"]).removeprefix("records ").split(",")]
        assert sorted(int(loc.split()[1]) for loc in rows["locator"].to_list()) == expected


def test_a_full_birth_date_is_cut_to_the_year_not_refused(e2e_lake):
    paths, summary = e2e_lake
    bad = next(b for b in summary["trials"]["bad_studies"] if b["defect"] == "full_birthdate")
    assert _refused(paths, bad["study"]).is_empty()
    dm = pl.read_parquet(paths.raw_table("trial_dm") / bad["study"])
    assert dm.height and (dm["brthdtc"].str.len_chars() == 4).all(), dm["brthdtc"].to_list()


def test_kaplan_meier_curves_and_the_ae_plot_are_in_the_ui(e2e_lake):
    """The curves are inlined, the largest trial's first; a parameter without events gets
    a line, not a flat picture."""
    _, summary = e2e_lake
    randomized, _ = _truth(summary, "randomized")
    instance = dg.DagsterInstance.get()
    km = instance.get_latest_materialization_event(dg.AssetKey("trial_stats_time_to_event"))
    text = km.asset_materialization.metadata["kaplan_meier"].value
    assert text.count("data:image/png;base64,") >= 3 and "numbers at risk" in text
    assert text.startswith(f"**{randomized}:")
    assert "no events, so no curve:" in text         # the one-defect studies have none
    ae = instance.get_latest_materialization_event(dg.AssetKey("trial_stats_adverse_events"))
    assert "data:image/png;base64," in ae.asset_materialization.metadata["adverse_events_plot"].value


def test_risk_models_say_not_estimable_rather_than_invent_numbers(e2e_lake):
    """Each study gets its three models; one with fewer than 10 events (or non-events) is
    "not estimable" with no number, one with enough has an AUC inside its interval."""
    paths, summary = e2e_lake
    risk = pl.read_parquet(paths.evidence / "trial_risk_models.parquet")
    adsl = pl.read_parquet(paths.evidence / "trial_adam_adsl.parquet")
    for design in ("randomized", "single_arm"):
        study, _ = _truth(summary, design)
        mine = {r["outcome"]: r for r in risk.filter(pl.col("studyid") == study).iter_rows(named=True)}
        assert {"discontinued", "serious_or_severe_teae"} <= set(mine)
        subjects = adsl.filter((pl.col("studyid") == study) & (pl.col("ittfl") == "Y"))
        events = subjects.filter(pl.col("eosstt") == "DISCONTINUED").height
        non_events = subjects.filter(pl.col("eosstt") == "COMPLETED").height
        d = mine["discontinued"]
        assert d["estimable"] == (min(events, non_events) >= 10), (d, events, non_events)
        if d["estimable"]:
            assert d["events"] == events and 0 <= d["auc_lo"] <= d["auc"] <= d["auc_hi"] <= 1
        else:
            assert d["auc"] is None and d["note"].startswith("not estimable")
