"""Trial statistics (models/trials/stats.py) and figures (models/trials/figures.py) on small
hand-made ADaM frames: against hand-computed values and against lifelines / statsmodels
called directly on the same data."""

import math

import numpy as np
import polars as pl
import pytest

from models.trials.adam import normalize_adsl
from models.trials.stats import (AE_INCIDENCE_SCHEMA, ANCOVA_SCHEMA, CHANGE_SCHEMA,
                                 DEMOGRAPHICS_SCHEMA, KM_CURVE_SCHEMA, KM_SUMMARY_SCHEMA,
                                 TTE_COMPARISON_SCHEMA, ae_incidence, control_arm,
                                 demographics, efficacy, km_curve, time_to_event)


def _adsl(arms, **cols):
    n = len(arms)
    base = {"studyid": ["S"] * n, "usubjid": [f"S-{i}" for i in range(1, n + 1)],
            "trt01p": arms, "saffl": ["Y"] * n, "ittfl": ["Y"] * n}
    return normalize_adsl(pl.DataFrame({**base, **cols}))


def _one(df, **where):
    for k, v in where.items():
        df = df.filter(pl.col(k).is_null() if v is None else pl.col(k) == v)
    assert df.height == 1, (where, df)
    return df.row(0, named=True)


def test_control_arm():
    assert control_arm(["Drug B", "Drug A", "PLACEBO + SoC"]) == "PLACEBO + SoC"
    assert control_arm(["Drug B", "Drug A"]) == "Drug A"
    assert control_arm([]) is None


# ---- demographics --------------------------------------------------------------------

def test_demographics_counts_means_and_percentages():
    adsl = _adsl(["Drug", "Drug", "Drug", "Placebo", "Placebo", "Placebo"],
                 age=[30.0, 40.0, 50.0, 20.0, 70.0, 99.0],
                 sex=["F", "F", "M", "M", "F", "F"],
                 race=["WHITE", None, "ASIAN", "WHITE", "WHITE", "ASIAN"])
    adsl = adsl.with_columns(ittfl=pl.Series(["Y"] * 5 + ["N"]))  # S-6 not in ITT
    d = demographics(adsl)
    assert d.schema == DEMOGRAPHICS_SCHEMA
    drug = _one(d, arm="Drug", variable="age")
    assert (drug["n"], drug["mean"], drug["sd"], drug["median"], drug["min"], drug["max"]) == (
        3, 40.0, 10.0, 40.0, 30.0, 50.0)
    assert drug["text"] == "40.0 (10.0)" and drug["kind"] == "continuous"
    pbo = _one(d, arm="Placebo", variable="age")
    assert (pbo["n"], pbo["mean"]) == (2, 45.0) and pbo["sd"] == pytest.approx(math.sqrt(1250))
    total = _one(d, arm="Total", variable="age")
    # 30, 40, 50, 20, 70: mean 42, squared deviations 144 + 4 + 64 + 484 + 784 = 1480
    assert (total["n"], total["mean"], total["median"]) == (5, 42.0, 40.0)
    assert total["sd"] == pytest.approx(math.sqrt(1480 / 4))
    f = _one(d, arm="Drug", variable="sex", category="F")
    assert (f["n"], f["count"], f["text"]) == (3, 2, "2 (66.7%)")
    assert f["pct"] == pytest.approx(200 / 3)
    assert _one(d, arm="Total", variable="sex", category="F")["count"] == 3
    assert _one(d, arm="Drug", variable="race", category="Missing")["count"] == 1
    assert _one(d, arm="Total", variable="agegr1", category=">=65")["count"] == 1
    assert d.filter(pl.col("variable") == "sex")["count"].sum() == 10  # arms + total


# ---- adverse events --------------------------------------------------------------------

def _ae_data():
    # exposure: Drug 100 + 200 + 65 = 365 days; Placebo 365 + 366 = 731 days
    adsl = _adsl(["Drug", "Drug", "Drug", "Placebo", "Placebo", "Drug"],
                 trtdurd=[100, 200, 65, 365, 366, None],
                 saffl=["Y", "Y", "Y", "Y", "Y", "N"])
    adae = pl.DataFrame(
        [("S-1", "NERV", "HEADACHE", "MILD", "N", "Y"),
         ("S-1", "NERV", "HEADACHE", "SEVERE", "Y", "Y"),     # the same PT again
         ("S-2", "NERV", "HEADACHE", "MODERATE", "N", "Y"),
         ("S-2", "GI", "NAUSEA", "MILD", "N", "Y"),
         ("S-3", "GI", "NAUSEA", "MILD", "N", "N"),            # not treatment-emergent
         ("S-4", "GI", "NAUSEA", "MODERATE", "N", "Y"),
         ("S-6", "NERV", "HEADACHE", "MILD", "N", "Y")],       # not in the safety set
        schema=["usubjid", "aebodsys", "aedecod", "aesev", "aeser", "trtemfl"], orient="row",
    ).with_columns(studyid=pl.lit("S"))
    return adae, adsl


def test_ae_incidence_counts_subjects_once_and_eair():
    adae, adsl = _ae_data()
    inc = ae_incidence(adae, adsl)
    assert inc.schema == AE_INCIDENCE_SCHEMA
    h = _one(inc, arm="Drug", level="pt", aedecod="HEADACHE", stratum="all")
    assert (h["n_subjects"], h["n_events"], h["n_safety"]) == (2, 3, 3)
    assert h["pct"] == pytest.approx(200 / 3)
    assert h["exposure_years"] == pytest.approx(365 / 365.25)
    # no dosing dates here: no time at risk, so no exposure-adjusted rate (said, not 0)
    assert h["eair"] is None and h["note"].startswith("eair not estimable")
    # placebo: a zero row is there
    hp = _one(inc, arm="Placebo", level="pt", aedecod="HEADACHE", stratum="all")
    assert (hp["n_subjects"], hp["pct"], hp["exposure_years"]) == (0, 0.0,
                                                                   pytest.approx(731 / 365.25))
    # S-3's nausea is not treatment-emergent: drug nausea = S-2 only
    assert _one(inc, arm="Drug", level="pt", aedecod="NAUSEA", stratum="all")["n_subjects"] == 1
    anyr = _one(inc, arm="Drug", level="any", stratum="all")
    assert (anyr["n_subjects"], anyr["n_events"]) == (2, 4)
    soc = _one(inc, arm="Drug", level="soc", aebodsys="NERV", stratum="all")
    assert soc["n_subjects"] == 2 and soc["aedecod"] is None


def test_ae_incidence_severity_is_the_worst_per_subject():
    adae, adsl = _ae_data()
    inc = ae_incidence(adae, adsl).filter((pl.col("arm") == "Drug") & (pl.col("level") == "pt")
                                          & (pl.col("aedecod") == "HEADACHE"))
    by = {r["stratum"]: r["n_subjects"] for r in inc.iter_rows(named=True)}
    # S-1: MILD and SEVERE → SEVERE; S-2: MODERATE; serious: S-1
    assert by == {"all": 2, "SEVERE": 1, "MODERATE": 1, "serious": 1}


def test_ae_risk_difference_matches_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep

    adae, adsl = _ae_data()
    inc = ae_incidence(adae, adsl)
    h = _one(inc, arm="Drug", level="pt", aedecod="HEADACHE", stratum="all")
    lo, hi = confint_proportions_2indep(2, 3, 0, 2, method="newcomb", compare="diff")
    assert h["control_arm"] == "Placebo"
    assert h["rd"] == pytest.approx(100 * 2 / 3)
    assert (h["rd_lo"], h["rd_hi"]) == (pytest.approx(100 * lo), pytest.approx(100 * hi))
    assert _one(inc, arm="Placebo", level="pt", aedecod="HEADACHE", stratum="all")["rd"] is None


# ---- time to event ----------------------------------------------------------------------

def _adtte(times, cnsr, arms, paramcd="TTPD"):
    n = len(times)
    return pl.DataFrame({"studyid": ["S"] * n, "usubjid": [f"S-{i}" for i in range(n)],
                         "paramcd": [paramcd] * n, "aval": [float(t) for t in times],
                         "cnsr": cnsr, "trtp": arms})


def test_km_against_a_hand_computed_estimate():
    # times 1..5, censored at 2 and 5: S(1) = 4/5, S(3) = 4/5 · 2/3, S(4) = that · 1/2
    tte = _adtte([1, 2, 3, 4, 5], [0, 1, 0, 0, 1], ["Drug"] * 5)
    curve = km_curve(tte, "TTPD")
    assert curve.schema == KM_CURVE_SCHEMA
    s = dict(zip(curve["time"].to_list(), curve["survival"].to_list()))
    assert s[0.0] == 1.0 and s[1.0] == pytest.approx(0.8)
    assert s[3.0] == pytest.approx(0.8 * 2 / 3) and s[4.0] == pytest.approx(0.8 * 2 / 3 / 2)
    assert curve["at_risk"].to_list() == [5, 5, 4, 3, 2, 1]
    summary, comparison = time_to_event(tte)
    assert summary.schema == KM_SUMMARY_SCHEMA and comparison.height == 0
    r = summary.row(0, named=True)
    assert (r["n"], r["events"], r["median"]) == (5, 3, 4.0)  # first time S ≤ 0.5
    assert r["km_90"] is None  # beyond follow-up


def test_time_to_event_matches_lifelines():
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from lifelines.utils import median_survival_times

    t_d = [30, 60, 95, 120, 200, 250, 300, 400, 410, 420]
    e_d = [1, 0, 1, 1, 0, 1, 1, 0, 1, 0]
    t_p = [10, 25, 40, 70, 100, 110, 150, 190, 220, 260]
    e_p = [1, 1, 0, 1, 1, 1, 0, 1, 1, 0]
    tte = _adtte(t_d + t_p, [1 - e for e in e_d + e_p], ["Drug"] * 10 + ["Placebo"] * 10)
    summary, comparison = time_to_event(tte)

    kmf = KaplanMeierFitter().fit(t_d, e_d)
    drug = _one(summary, arm="Drug")
    ci = median_survival_times(kmf.confidence_interval_)
    assert drug["median"] == kmf.median_survival_time_
    # an infinite bound (not reached) is null
    assert (drug["median_lo"], drug["median_hi"]) == tuple(
        None if math.isinf(v) else v for v in ci.iloc[0])
    assert drug["km_180"] == pytest.approx(float(kmf.survival_function_at_times(180).iloc[0]))
    assert drug["km_180_lo"] < drug["km_180"] < drug["km_180_hi"]
    assert _one(summary, arm="Placebo")["km_365"] is None     # placebo follow-up ends at 260

    c = _one(comparison, arm="Drug")
    assert c["control_arm"] == "Placebo" and (c["n"], c["events"]) == (20, 13)
    assert c["logrank_p"] == pytest.approx(logrank_test(t_d, t_p, e_d, e_p).p_value)
    import pandas as pd
    df = pd.DataFrame({"time": t_d + t_p, "event": e_d + e_p, "treated": [1] * 10 + [0] * 10})
    cph = CoxPHFitter().fit(df, "time", "event").summary.loc["treated"]
    assert c["hazard_ratio"] == pytest.approx(cph["exp(coef)"])
    assert (c["hr_lo"], c["hr_hi"]) == (pytest.approx(cph["exp(coef) lower 95%"]),
                                        pytest.approx(cph["exp(coef) upper 95%"]))
    assert c["cox_p"] == pytest.approx(cph["p"])
    assert c["hazard_ratio"] < 1 and c["note"] is None


def test_three_arms_use_the_multivariate_logrank():
    from lifelines.statistics import multivariate_logrank_test

    times = [5, 8, 12, 20, 3, 6, 9, 15, 30, 40, 50, 60]
    events = [1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0]
    arms = ["A"] * 4 + ["Placebo"] * 4 + ["B"] * 4
    _, comparison = time_to_event(_adtte(times, [1 - e for e in events], arms))
    assert comparison["arm"].to_list() == ["A", "B"]
    assert comparison["control_arm"].unique().to_list() == ["Placebo"]
    p = multivariate_logrank_test(times, arms, events).p_value
    assert comparison["logrank_p"].to_list() == [pytest.approx(p)] * 2


def test_cox_not_estimable_with_too_few_events():
    tte = _adtte([5, 8, 12, 20, 3, 6], [0, 1, 1, 1, 0, 0], ["Drug"] * 3 + ["Placebo"] * 3)
    _, comparison = time_to_event(tte)
    c = comparison.row(0, named=True)
    assert c["hazard_ratio"] is None and c["cox_p"] is None
    assert "not estimable" in c["note"] and c["logrank_p"] is not None


def test_arm_falls_back_to_adsl():
    tte = _adtte([5, 8], [0, 1], [None, None]).with_columns(usubjid=pl.Series(["S-1", "S-2"]))
    summary, _ = time_to_event(tte, _adsl(["Drug", "Drug"]))
    assert summary["arm"].to_list() == ["Drug"] and summary["n"][0] == 2


# ---- efficacy ---------------------------------------------------------------------------

def _bds(base, chg, arms, visit=("WEEK 12", 12.0)):
    """A baseline record and one post-baseline record per subject."""
    n = len(base)
    ids = [f"S-{i}" for i in range(1, n + 1)]
    bl = pl.DataFrame({"usubjid": ids, "avisit": "BASELINE", "avisitn": 0.0,
                       "aval": base, "base": base, "chg": [None] * n, "ablfl": "Y"},
                      schema_overrides={"chg": pl.Float64})
    post = pl.DataFrame({"usubjid": ids, "avisit": visit[0], "avisitn": visit[1],
                         "aval": [b + c for b, c in zip(base, chg)], "base": base, "chg": chg,
                         "ablfl": None}, schema_overrides={"ablfl": pl.String})
    return pl.concat([bl, post]).with_columns(studyid=pl.lit("S"), paramcd=pl.lit("SCORE"))


def test_ancova_matches_statsmodels_and_the_closed_form():
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(7)
    arms = ["Drug"] * 6 + ["Placebo"] * 6      # balanced
    base = rng.normal(50, 8, 12).round(1).tolist()
    chg = (rng.normal(0, 3, 12) - 0.3 * (np.array(base) - 50)
           - np.r_[np.full(6, 4.0), np.zeros(6)]).round(2).tolist()
    bds = _bds(base, chg, arms)
    adsl = _adsl(arms)
    change, ancova = efficacy(bds, adsl, "SCORE")
    assert change.schema == CHANGE_SCHEMA and ancova.schema == ANCOVA_SCHEMA

    # the closed form: a common within-arm slope b; LS mean = arm mean − b (arm mean base −
    # overall mean base); difference = mean chg difference − b × mean base difference
    x, y, g = np.array(base), np.array(chg), np.array(arms)
    xc = np.concatenate([x[g == a] - x[g == a].mean() for a in ("Drug", "Placebo")])
    yc = np.concatenate([y[g == a] - y[g == a].mean() for a in ("Drug", "Placebo")])
    b = (xc * yc).sum() / (xc ** 2).sum()
    ls = {a: y[g == a].mean() - b * (x[g == a].mean() - x.mean()) for a in ("Drug", "Placebo")}
    diff = (y[g == "Drug"].mean() - y[g == "Placebo"].mean()
            - b * (x[g == "Drug"].mean() - x[g == "Placebo"].mean()))

    fit = smf.ols("chg ~ C(arm, Treatment('Placebo')) + base",
                  data={"chg": y, "base": x, "arm": g}).fit()
    term = "C(arm, Treatment('Placebo'))[T.Drug]"
    d = _one(ancova, kind="difference")
    assert (d["arm"], d["comparator"], d["n"]) == ("Drug", "Placebo", 12)
    assert d["estimate"] == pytest.approx(diff) == pytest.approx(fit.params[term])
    assert d["se"] == pytest.approx(fit.bse[term])
    assert d["p_value"] == pytest.approx(fit.pvalues[term])
    lo, hi = fit.conf_int().loc[term]
    assert (d["lo"], d["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    for a in ("Drug", "Placebo"):
        r = _one(ancova, kind="lsmean", arm=a)
        assert r["lsmean"] == pytest.approx(ls[a])
        assert r["lsmean_lo"] < r["lsmean"] < r["lsmean_hi"] and r["n"] == 6
    assert _one(ancova, kind="lsmean", arm="Drug")["lsmean"] - _one(
        ancova, kind="lsmean", arm="Placebo")["lsmean"] == pytest.approx(diff)

    wk = _one(change, arm="Drug", avisit="WEEK 12")
    assert wk["n"] == 6 and wk["mean_chg"] == pytest.approx(y[:6].mean())
    assert wk["sd_chg"] == pytest.approx(y[:6].std(ddof=1))
    assert wk["se_chg"] == pytest.approx(y[:6].std(ddof=1) / math.sqrt(6))
    assert _one(change, arm="Drug", avisit="BASELINE")["mean_chg"] is None


def test_default_visit_is_the_last_scheduled_and_single_arm_t_interval():
    from scipy import stats

    base = [10.0, 12.0, 14.0, 16.0]
    wk4 = _bds(base, [1.0, 2.0, 4.0, 5.0], ["Drug"] * 4, visit=("WEEK 4", 4.0))
    unsched = _bds(base, [9.0, 9.0, 9.0, 9.0], ["Drug"] * 4, visit=("UNSCHEDULED", 4.1))
    bds = pl.concat([wk4, unsched.filter(pl.col("avisitn") > 0)])
    _, res = efficacy(bds, _adsl(["Drug"] * 4), "SCORE")
    r = res.row(0, named=True)
    assert (r["kind"], r["avisit"], r["n"]) == ("single_arm_change", "WEEK 4", 4)
    chg = np.array([1.0, 2.0, 4.0, 5.0])
    half = stats.t.ppf(0.975, 3) * chg.std(ddof=1) / 2
    assert r["estimate"] == pytest.approx(3.0)
    assert (r["lo"], r["hi"]) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert r["p_value"] == pytest.approx(stats.ttest_1samp(chg, 0).pvalue)
    assert r["lsmean"] is None


def test_ancova_not_estimable_without_residual_df():
    bds = _bds([10.0, 12.0, 14.0], [1.0, 2.0, 3.0], ["Drug", "Drug", "Placebo"])
    _, res = efficacy(bds, _adsl(["Drug", "Drug", "Placebo"]), "SCORE")
    assert res["lsmean"].null_count() == res.height
    assert all("not estimable" in n for n in res["note"])


# ---- empty inputs and figures ------------------------------------------------------------

def test_empty_inputs_give_typed_empty_frames():
    adae, adsl = _ae_data()
    tte = _adtte([1], [0], ["Drug"])
    assert demographics(adsl.clear()).schema == DEMOGRAPHICS_SCHEMA
    assert ae_incidence(adae.clear(), adsl.clear()).schema == AE_INCIDENCE_SCHEMA
    s, c = time_to_event(tte.clear())
    assert (s.height, s.schema, c.schema) == (0, KM_SUMMARY_SCHEMA, TTE_COMPARISON_SCHEMA)
    ch, an = efficacy(_bds([1.0], [1.0], ["Drug"]).clear(), adsl, "SCORE")
    assert (ch.height, ch.schema, an.schema) == (0, CHANGE_SCHEMA, ANCOVA_SCHEMA)
    assert km_curve(tte.clear(), "TTPD").schema == KM_CURVE_SCHEMA
    # no adverse events at all: the "any" row says 0 of N
    inc = ae_incidence(adae.clear(), adsl)
    assert inc.filter(pl.col("level") != "any").height == 0
    assert _one(inc, arm="Drug", level="any")["n_subjects"] == 0


def test_figures_are_pngs():
    import io

    from PIL import Image

    from models.trials.figures import ae_dot_png, km_png

    tte = _adtte([30, 60, 95, 120, 10, 25, 40, 70], [0, 1, 0, 0, 0, 0, 1, 0],
                 ["Drug"] * 4 + ["Placebo"] * 4)
    for src in (tte, km_curve(tte, "TTPD")):
        png = km_png(src, "TTPD", "time to progression")
        assert Image.open(io.BytesIO(png)).size == (800, 550)
    adae, adsl = _ae_data()
    png = ae_dot_png(ae_incidence(adae, adsl))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert ae_dot_png(ae_incidence(adae.clear(), adsl))[:4] == b"\x89PNG"


def test_adam_censoring_codes_above_one_are_censored_and_the_control_need_not_say_placebo():
    """ADaM codes CNSR 0 for an event and 1, 2, 3 … for reasons of censoring; the control
    arm is recognised by name (standard of care, vehicle …), not only "placebo", so a
    comparison is never reported the wrong way round."""
    from lifelines import CoxPHFitter
    import pandas as pd

    t = [10, 20, 30, 40, 50, 60, 15, 25, 35, 45, 55, 65]
    cnsr = [0, 2, 0, 3, 0, 1, 0, 0, 2, 0, 0, 1]
    arms = ["Drug X"] * 6 + ["Standard of care"] * 6
    summary, comparison = time_to_event(_adtte(t, cnsr, arms))
    assert _one(summary, arm="Drug X")["events"] == 3
    assert _one(summary, arm="Standard of care")["events"] == 4
    c = _one(comparison, arm="Drug X")
    assert c["control_arm"] == "Standard of care"
    df = pd.DataFrame({"time": t, "event": [int(x == 0) for x in cnsr],
                       "treated": [1] * 6 + [0] * 6})
    assert c["hazard_ratio"] == pytest.approx(
        CoxPHFitter().fit(df, "time", "event").summary.loc["treated", "exp(coef)"])
    assert control_arm(["Vehicle", "Active"]) == "Vehicle"
    assert control_arm(["Drug A", "Drug B"]) == "Drug A"


def test_exposure_adjusted_incidence_counts_time_at_risk_to_the_first_event():
    """EAIR = subjects with a first event per 100 patient-years at risk: each safety subject
    from the first dose to their first such event, else to the last dose + 30 days."""
    adsl = _adsl(["Drug", "Drug", "Placebo"],
                 trtsdt=["2024-01-01"] * 3, trtedt=["2024-01-31", "2024-03-01", "2024-01-10"])
    adae = pl.DataFrame(
        [("S-1", "NERV", "HEADACHE", "MILD", "N", "Y", "2024-01-11"),   # day 11
         ("S-1", "NERV", "HEADACHE", "MILD", "Y", "Y", "2024-01-20"),   # again, serious
         ("S-2", "GI", "NAUSEA", "MILD", "N", "Y", "2024-02-01")],      # day 32
        schema=["usubjid", "aebodsys", "aedecod", "aesev", "aeser", "trtemfl", "astdt"],
        orient="row").with_columns(studyid=pl.lit("S"))
    inc = ae_incidence(adae, adsl)
    windows = {"S-1": 31 + 30, "S-2": 61 + 30, "S-3": 10 + 30}   # days of the TEAE window
    h = _one(inc, arm="Drug", level="pt", aedecod="HEADACHE", stratum="all")
    assert h["person_years"] == pytest.approx((11 + windows["S-2"]) / 365.25)
    assert h["eair"] == pytest.approx(100 * 1 / ((11 + windows["S-2"]) / 365.25))
    a = _one(inc, arm="Drug", level="any", stratum="all")
    assert (a["n_subjects"], a["person_years"]) == (2, pytest.approx((11 + 32) / 365.25))
    serious = _one(inc, arm="Drug", level="pt", aedecod="HEADACHE", stratum="serious")
    assert serious["person_years"] == pytest.approx((20 + windows["S-2"]) / 365.25)
    p = _one(inc, arm="Placebo", level="pt", aedecod="HEADACHE", stratum="all")
    assert (p["n_subjects"], p["eair"], p["person_years"]) == (0, 0.0, pytest.approx(40 / 365.25))
    assert _one(inc, arm="Drug", level="pt", aedecod="HEADACHE", stratum="MILD")["eair"] is None
