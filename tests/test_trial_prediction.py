"""models/trials/prediction.py: the analysis frame, the cross-validated risk model and the
genotype-subgroup efficacy, on small simulated trials with known truth."""

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from models.trials.prediction import (
    FEATURES, MIN_EVENTS, ae_outcome, build_frame, discontinuation_outcome,
    evaluate_risk_model, make_model, oof_predictions, response_outcome, subgroup_efficacy)


def _trial(n=200, seed=1, b_base=0.0, b_lof=0.0, b_trt=0.0, intercept=0.0, lake_frac=1.0,
           carrier_frac=0.4, interaction=0.0):
    """(frame, true P(event)) of a simulated two-arm trial: logit P(event) = intercept +
    b_base * z(base) + b_lof * lof + b_trt * treated; chg = -3 treated - 1 lof +
    interaction * treated * lof + 0.2 (base - 50) + N(0, 2)."""
    rng = np.random.default_rng(seed)
    ids = [f"S-{i:03d}" for i in range(n)]
    treated = rng.integers(0, 2, n)
    age = rng.normal(40, 12, n).round()
    sex = rng.choice(["M", "F"], n)
    base = rng.normal(50, 10, n)
    lof = (rng.random(n) < carrier_frac).astype(int)
    lake = rng.random(n) < lake_frac
    lp = intercept + b_base * (base - 50) / 10 + b_lof * lof + b_trt * treated
    p = 1 / (1 + np.exp(-lp))
    event = (rng.random(n) < p).astype(int)
    chg = (-3 * treated - lof + interaction * treated * lof + 0.2 * (base - 50)
           + rng.normal(0, 2, n))
    adsl = pl.DataFrame({"usubjid": ids,
                         "trt01p": np.where(treated == 1, "Drug 10 mg", "Placebo").tolist(),
                         "age": age, "sex": sex.tolist(), "saffl": ["Y"] * n})
    outcomes = pl.DataFrame({"usubjid": ids, "base": base, "chg": chg, "event": event})
    genotype = pl.DataFrame({"usubjid": [i for i, k in zip(ids, lake) if k],
                             "lof_carrier": [int(v) for v, k in zip(lof, lake) if k]})
    return build_frame(adsl, outcomes, genotype), p


# --- outcomes and frame ------------------------------------------------------------------


def test_response_outcome_thresholds_by_hand():
    bds = pl.DataFrame({
        "usubjid": ["A", "A", "B", "C", "D", "E", "F"],
        "paramcd": ["BIO"] * 7,
        "avisit": ["Baseline", "Week 24", "Week 24", "Week 24", "Week 24", "Week 24", "Week 24"],
        "ablfl": ["Y", None, None, None, None, None, None],
        "base": [10.0, 10.0, 10.0, 0.0, 20.0, 10.0, 10.0],
        "chg": [None, -3.0, -2.0, -1.0, None, 4.0, -5.0]})
    r = {u: v for u, v in response_outcome(bds).select("usubjid", "response").iter_rows()}
    # -30 % exactly is a response; -20 % is not; base 0 / chg null: not evaluable (null)
    assert r == {"A": 1, "B": 0, "C": None, "D": None, "E": 0, "F": 1}
    up = dict(response_outcome(bds, threshold=0.4, direction="increase")
              .select("usubjid", "response").iter_rows())
    assert up["E"] == 1 and up["A"] == 0
    absolute = dict(response_outcome(bds, threshold=2.5, relative=False)
                    .select("usubjid", "response").iter_rows())
    assert absolute["A"] == 1 and absolute["B"] == 0 and absolute["C"] == 0


def test_response_outcome_needs_the_analysis_visit():
    bds = pl.DataFrame({"usubjid": ["A", "A"], "avisit": ["Week 12", "Week 24"],
                        "base": [10.0, 10.0], "chg": [-1.0, -4.0]})
    with pytest.raises(ValueError, match="avisit"):
        response_outcome(bds)
    assert response_outcome(bds, avisit="Week 24")["response"].to_list() == [1]
    with pytest.raises(ValueError, match="direction"):
        response_outcome(bds, direction="down")


def test_ae_and_discontinuation_outcomes():
    adsl = pl.DataFrame({"usubjid": ["A", "B", "C"],
                         "eosstt": ["COMPLETED", "DISCONTINUED", "ONGOING"]})
    adae = pl.DataFrame({"usubjid": ["A", "B", "C"], "aedecod": ["Headache", "Nausea", "headache"],
                         "trtemfl": ["Y", "Y", "N"]})
    assert ae_outcome(adsl, adae, ["HEADACHE"])["ae"].to_list() == [1, 0, 0]
    assert discontinuation_outcome(adsl)["discontinued"].to_list() == [0, 1, None]


def test_build_frame_by_hand():
    adsl = pl.DataFrame({"usubjid": ["A", "B", "C", "D"],
                         "trt01p": ["Drug", "Placebo", "Drug", "Drug"],
                         "age": [30.0, 41.0, None, 50.0], "sex": ["M", "F", "U", "m"],
                         "saffl": ["Y", "Y", "Y", "N"]})
    outcomes = pl.DataFrame({"usubjid": ["A", "B"], "base": [5.0, 6.0], "ae": [1, 0]})
    genotype = pl.DataFrame({"usubjid": ["A", "B", "Z"], "lof_carrier": [True, None, False]})
    f = build_frame(adsl, outcomes, genotype)
    assert f.columns[:2 + len(FEATURES)] == ["usubjid", "trt01p", *FEATURES]
    rows = {r["usubjid"]: r for r in f.iter_rows(named=True)}
    assert [rows[u]["treated"] for u in "ABCD"] == [1, 0, 1, 1]  # "Placebo" is control
    assert [rows[u]["male"] for u in "ABCD"] == [1, 0, None, 1]
    assert [rows[u]["lof_carrier"] for u in "ABCD"] == [1, None, None, None]
    assert [rows[u]["genotype_known"] for u in "ABCD"] == [1, 0, 0, 0]
    assert rows["C"]["age"] is None and rows["C"]["base"] is None  # left for per-fold imputation
    assert [rows[u]["ae"] for u in "ABCD"] == [1, 0, None, None]
    assert build_frame(adsl, outcomes, genotype, population="saffl")["usubjid"].to_list() == \
        ["A", "B", "C"]


def test_build_frame_refuses_what_it_cannot_read():
    adsl = pl.DataFrame({"usubjid": ["A", "B"], "trt01p": ["Low dose", "High dose"]})
    geno = pl.DataFrame({"usubjid": ["A"], "lof_carrier": [1]})
    out = pl.DataFrame({"usubjid": ["A"], "ae": [1]})
    with pytest.raises(ValueError, match="control arm"):
        build_frame(adsl, out, geno)
    assert build_frame(adsl, out, geno, control="Low dose")["treated"].to_list() == [0, 1]
    with pytest.raises(ValueError, match="'A' appears 2 times"):
        build_frame(adsl, pl.concat([out, out]), geno, control="Low dose")
    with pytest.raises(ValueError, match="'Q' is not in adsl"):
        build_frame(adsl, pl.DataFrame({"usubjid": ["Q"], "ae": [1]}), geno, control="Low dose")
    single = build_frame(adsl.with_columns(pl.lit("Drug").alias("trt01p")), out, geno)
    assert single["treated"].to_list() == [1, 1]


# --- the risk model ----------------------------------------------------------------------


def test_strong_signal_is_estimable_and_auc_matches_sklearn():
    frame, p_true = _trial(n=200, seed=3, b_base=1.8, b_lof=1.2, intercept=-0.6)
    y = frame["event"].to_numpy()
    true_auc = roc_auc_score(y, p_true)  # the generating model's AUC on this sample
    assert true_auc > 0.8
    res = evaluate_risk_model(frame, "event", repeats=5)
    assert res["estimable"] and res["n"] == 200 and res["events"] == int(y.sum())
    assert res["auc"]["mean"] > 0.7 and res["auc_pooled"]["lo"] > 0.7
    assert res["auc_pooled"]["lo"] <= true_auc <= res["auc_pooled"]["hi"]
    # the same numbers from sklearn called directly on the out-of-fold predictions
    oof = oof_predictions(frame, "event", repeats=5)
    P = oof.pivot(on="repeat", index="usubjid", values="prob").sort("usubjid").drop("usubjid")
    per_repeat = [roc_auc_score(y, P[c].to_numpy()) for c in P.columns]
    assert res["auc"]["mean"] == pytest.approx(np.mean(per_repeat), abs=1e-12)
    assert res["auc_pooled"]["value"] == pytest.approx(
        roc_auc_score(y, P.to_numpy().mean(axis=1)), abs=1e-12)
    ors = {c["feature"]: c["odds_ratio_per_sd"] for c in res["coefficients"]}
    assert ors["base"] > 2 and ors["lof_carrier"] > 1.3  # the built-in effects, right sign
    # every simulated subject is a lake patient: genotype_known cannot inform, so is dropped
    assert res["features_dropped"] == {"genotype_known": "the same for every subject"}


def test_no_signal_interval_covers_one_half():
    frame, _ = _trial(n=120, seed=5, intercept=-0.4)
    res = evaluate_risk_model(frame, "event", repeats=5)
    assert res["estimable"]
    assert res["auc_pooled"]["lo"] < 0.5 < res["auc_pooled"]["hi"]


def test_too_few_events_is_not_estimable_and_invents_nothing():
    frame, _ = _trial(n=60, seed=2)
    y = np.zeros(60, dtype=int)
    y[:MIN_EVENTS - 3] = 1
    frame = frame.with_columns(pl.Series("event", y))
    res = evaluate_risk_model(frame, "event")
    assert res == {"estimable": False, "outcome": "event", "n": 60, "events": 7,
                   "n_missing_outcome": 0,
                   "reason": "7 events and 53 non-events among 60 subjects; at least 10 of "
                             "each are needed"}
    with pytest.raises(ValueError, match="not estimable"):
        oof_predictions(frame, "event")


def test_missing_outcomes_left_out_and_folds_reduced():
    frame, _ = _trial(n=100, seed=4)
    y = np.zeros(100)
    y[:12] = 1
    frame = frame.with_columns(pl.Series("event", y).set(pl.Series(np.arange(100) >= 95), None))
    res = evaluate_risk_model(frame, "event", repeats=2, folds=10)
    assert res["n"] == 95 and res["n_missing_outcome"] == 5 and res["events"] == 12
    assert res["cv"]["folds"] == 6 and res["cv"]["folds_requested"] == 10  # 12 events / 2


def test_calibration_slope_near_one_on_well_specified_data():
    frame, _ = _trial(n=200, seed=7, b_base=1.0, b_lof=0.8, b_trt=-0.6)
    res = evaluate_risk_model(frame, "event", repeats=5)
    cal = res["calibration"]
    assert 0.6 < cal["slope"]["value"] < 1.5 and cal["slope"]["lo"] < 1 < cal["slope"]["hi"]
    assert cal["intercept"]["lo"] < 0 < cal["intercept"]["hi"]
    # the slope is statsmodels' logistic recalibration of the pooled out-of-fold logit
    p = (oof_predictions(frame, "event", repeats=5).group_by("usubjid").agg(pl.col("prob").mean())
         .sort("usubjid")["prob"].to_numpy())
    y = frame.sort("usubjid")["event"].to_numpy()
    direct = sm.Logit(y, sm.add_constant(np.log(p / (1 - p)))).fit(disp=0).params[1]
    assert cal["slope"]["value"] == pytest.approx(direct, rel=1e-6)
    assert res["brier"] == pytest.approx(np.mean((p - y) ** 2), rel=1e-9)


def test_deterministic_for_a_seed():
    frame, _ = _trial(n=120, seed=8, b_base=1.0)
    a = evaluate_risk_model(frame, "event", repeats=3, seed=11)
    assert a == evaluate_risk_model(frame, "event", repeats=3, seed=11)
    assert a["auc"] != evaluate_risk_model(frame, "event", repeats=3, seed=12)["auc"]


def test_imputation_and_scaling_fitted_on_training_folds_only():
    steps = make_model().steps
    assert isinstance(make_model(), Pipeline) and [s for s, _ in steps] == \
        ["impute", "scale", "logistic"]
    frame, _ = _trial(n=120, seed=9, b_base=1.0)
    frame = frame.with_columns(pl.when(pl.col("usubjid") == "S-001").then(None)
                               .otherwise(pl.col("age")).alias("age"))
    oof = oof_predictions(frame, "event", repeats=1)
    held = oof.filter(pl.col("fold") == 0).sort("usubjid")["usubjid"].to_list()
    keep, others = held[0], held[1:]
    # Wreck the held-out fold's other subjects (extreme values, missing ages): a model whose
    # median / mean / SD had seen them would score ``keep`` differently; the folds depend
    # only on the outcome and the seed, so ``keep`` is scored by the same training folds.
    wrecked = frame.with_columns(
        pl.when(pl.col("usubjid").is_in(others)).then(1e4).otherwise(pl.col("base")).alias("base"),
        pl.when(pl.col("usubjid").is_in(others)).then(None).otherwise(pl.col("age")).alias("age"))
    again = oof_predictions(wrecked, "event", repeats=1)
    assert again.filter(pl.col("fold") == 0).sort("usubjid")["usubjid"].to_list() == held

    def prob(df, u):
        return df.filter(pl.col("usubjid") == u)["prob"][0]

    assert prob(again, keep) == pytest.approx(prob(oof, keep), abs=1e-12)
    assert prob(again, others[0]) != pytest.approx(prob(oof, others[0]), abs=1e-6)


# --- efficacy by genotype subgroup -------------------------------------------------------


def test_subgroup_interaction_recovered_and_cells_by_hand():
    frame, _ = _trial(n=160, seed=10, interaction=-4.0, lake_frac=0.8)
    res = subgroup_efficacy(frame, "chg")
    known = frame.filter(pl.col("genotype_known") == 1)
    assert res.filter(pl.col("statistic") == "mean")["n"].sum() == known.height < frame.height
    inter = res.filter(pl.col("statistic") == "interaction").row(0, named=True)
    assert inter["estimate"] < 0 and inter["lo"] < -4.0 < inter["hi"] and inter["p"] < 0.05
    assert f"{known.height} of 160 subjects" in inter["caveat"]
    assert "adjusted for base" in inter["caveat"] and "exploratory" in inter["caveat"]
    cell = res.filter((pl.col("arm") == "treated") & (pl.col("lof_carrier") == 1)).row(
        0, named=True)
    x = known.filter((pl.col("treated") == 1) & (pl.col("lof_carrier") == 1))["chg"].to_numpy()
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert cell["n"] == len(x) and cell["trt01p"] == "Drug 10 mg"
    assert (cell["estimate"], cell["sd"], cell["lo"], cell["hi"]) == pytest.approx(
        (x.mean(), x.std(ddof=1), lo, hi))
    assert cell["caveat"].startswith(f"n={len(x)} carriers on treated: exploratory, not powered")


def test_subgroup_cell_with_one_subject_not_estimable():
    frame, _ = _trial(n=40, seed=12)
    carriers_on_drug = frame.filter((pl.col("treated") == 1) & (pl.col("lof_carrier") == 1))
    drop = carriers_on_drug["usubjid"].to_list()[1:]
    res = subgroup_efficacy(frame.filter(~pl.col("usubjid").is_in(drop)))
    cell = res.filter((pl.col("arm") == "treated") & (pl.col("lof_carrier") == 1)).row(
        0, named=True)
    assert cell["n"] == 1 and cell["sd"] is None and cell["lo"] is None
    assert cell["caveat"] == "not estimable: n=1 carriers on treated (fewer than 2 subjects)"
    inter = res.filter(pl.col("statistic") == "interaction").row(0, named=True)
    assert inter["estimate"] is None and inter["caveat"].startswith(
        "not estimable: a cell has fewer than 2 subjects")


def test_subgroup_single_arm_has_no_interaction():
    frame, _ = _trial(n=30, seed=13)
    res = subgroup_efficacy(frame.with_columns(pl.lit(1.0).alias("treated")))
    assert res.filter(pl.col("arm") == "control")["n"].to_list() == [0, 0]
    inter = res.filter(pl.col("statistic") == "interaction").row(0, named=True)
    assert inter["estimate"] is None and "single-arm trial" in inter["caveat"]
