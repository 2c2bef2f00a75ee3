"""Trial statistics on ADaM frames (``models.trials.adam``): demographics, adverse-event
incidence, change from baseline with ANCOVA, and time to event, estimated with the
field's libraries (lifelines for Kaplan–Meier / log-rank / Cox, statsmodels for OLS and
proportion confidence intervals, scipy for t intervals).

Conventions shared by every function:

- Results are per ``studyid`` (one study or many in one frame).
- Arms: demographics and efficacy use the planned arm (ADSL.TRT01P, ITT population);
  adverse events use the actual arm (TRT01A, safety population); time to event uses
  ADTTE.TRTP (falling back to ADSL.TRT01P).
- The control arm (``control_arm``) is an arm whose name says placebo, control, vehicle,
  sham, standard of care or untreated (``CONTROL_PATTERN``, case-insensitive; the first
  alphabetically if several), else the first arm alphabetically. Comparisons are each
  other arm minus (or versus) the control.
- An empty input gives an empty frame with the output columns, never an error; an
  estimate that the data cannot support is null with the reason in ``note``.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import polars as pl

from models.trials.adam import (ADAE_SCHEMA, ADSL_SCHEMA, ADTTE_SCHEMA, KEY, conform,
                                normalize_adae, normalize_adsl, normalize_adtte)

S, F, I = pl.String, pl.Float64, pl.Int64
TOTAL = "Total"
ALPHA = 0.05
LANDMARK_DAYS = (90, 180, 365)
SEVERITIES = ("MILD", "MODERATE", "SEVERE")
CONTINUOUS = ("age",)
CATEGORICAL = ("agegr1", "sex", "race")
MISSING = "Missing"
MIN_EVENTS_PER_ARM_COX = 2

DEMOGRAPHICS_SCHEMA = pl.Schema({
    "studyid": S, "arm": S, "variable": S, "kind": S, "category": S, "n": I, "mean": F,
    "sd": F, "median": F, "min": F, "max": F, "count": I, "pct": F, "text": S})
AE_INCIDENCE_SCHEMA = pl.Schema({
    "studyid": S, "arm": S, "level": S, "aebodsys": S, "aedecod": S, "stratum": S,
    "n_subjects": I, "n_events": I, "pct": F, "n_safety": I, "exposure_years": F,
    "person_years": F, "eair": F,
    "control_arm": S, "rd": F, "rd_lo": F, "rd_hi": F, "note": S})
CHANGE_SCHEMA = pl.Schema({
    "studyid": S, "paramcd": S, "avisit": S, "avisitn": F, "arm": S, "n": I, "mean_aval": F,
    "mean_chg": F, "sd_chg": F, "se_chg": F})
ANCOVA_SCHEMA = pl.Schema({
    "studyid": S, "paramcd": S, "avisit": S, "avisitn": F, "kind": S, "arm": S,
    "comparator": S, "n": I, "lsmean": F, "lsmean_se": F, "lsmean_lo": F, "lsmean_hi": F,
    "estimate": F, "se": F, "lo": F, "hi": F, "p_value": F, "note": S})
KM_SUMMARY_SCHEMA = pl.Schema({
    "studyid": S, "paramcd": S, "arm": S, "n": I, "events": I, "median": F, "median_lo": F,
    "median_hi": F,
    **{f"km_{d}{s}": F for d in LANDMARK_DAYS for s in ("", "_lo", "_hi")}, "note": S})
TTE_COMPARISON_SCHEMA = pl.Schema({
    "studyid": S, "paramcd": S, "arm": S, "control_arm": S, "n": I, "events": I,
    "logrank_p": F, "hazard_ratio": F, "hr_lo": F, "hr_hi": F, "cox_p": F, "note": S})
KM_CURVE_SCHEMA = pl.Schema({
    "studyid": S, "arm": S, "time": F, "survival": F, "lo": F, "hi": F, "at_risk": I})


def _frame(rows: list[dict], schema: pl.Schema) -> pl.DataFrame:
    """Rows (dicts, possibly missing keys) as a frame with exactly ``schema``."""
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema,
                        orient="row") if rows else pl.DataFrame(schema=schema)


def _num(x) -> float | None:
    """A finite float, else None (numpy nan / inf → not estimable)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# An arm read as the control arm (the one definition: predictions use it too).
CONTROL_PATTERN = re.compile(
    r"placebo|control|vehicle|sham|standard of care|\bsoc\b|untreated|no treatment|\bpbo\b",
    re.IGNORECASE)


def control_arm(arms) -> str | None:
    """The control arm of ``arms`` (see the module docstring); None when there are none."""
    arms = sorted({a for a in arms if a is not None})
    named = [a for a in arms if CONTROL_PATTERN.search(a)]
    return (named or arms or [None])[0]


def _adsl(adsl: pl.DataFrame) -> pl.DataFrame:
    """ADSL with every column the statistics use (derived or sent)."""
    return adsl if set(ADSL_SCHEMA).issubset(adsl.columns) else normalize_adsl(adsl)


# ---- demographics ----------------------------------------------------------------------

def _fmt(x: float | None, digits: int = 1) -> str:
    return "NE" if x is None else f"{x:.{digits}f}"


def demographics(adsl: pl.DataFrame) -> pl.DataFrame:
    """The demographics table (14.1.x) in long form per studyid × arm, plus a "Total" arm,
    on the ITT population: continuous variables (``CONTINUOUS``) with n, mean, sd (n − 1),
    median, min, max and text "mean (sd)"; categorical ones (``CATEGORICAL``, a null value
    is category "Missing") with count, pct = 100 × count / N (the arm's ITT subjects, in
    ``n``) and text "count (pct%)"."""
    if not adsl.height:
        return pl.DataFrame(schema=DEMOGRAPHICS_SCHEMA)
    itt = _adsl(adsl).filter(pl.col("ittfl") == "Y").with_columns(arm=pl.col("trt01p"))
    both = pl.concat([itt, itt.with_columns(arm=pl.lit(TOTAL))])
    parts = []
    for var in CONTINUOUS:
        v = pl.col(var).cast(F)
        parts.append(both.group_by("studyid", "arm").agg(
            pl.lit(var).alias("variable"), pl.lit("continuous").alias("kind"),
            v.count().cast(I).alias("n"), v.mean().alias("mean"), v.std().alias("sd"),
            v.median().alias("median"), v.min().alias("min"), v.max().alias("max")))
    for var in CATEGORICAL:
        counts = (both.with_columns(category=pl.col(var).cast(S).fill_null(MISSING))
                  .group_by("studyid", "arm", "category").agg(pl.len().cast(I).alias("count")))
        big_n = both.group_by("studyid", "arm").agg(pl.len().cast(I).alias("n"))
        parts.append(counts.join(big_n, on=["studyid", "arm"]).with_columns(
            variable=pl.lit(var), kind=pl.lit("categorical"),
            pct=100.0 * pl.col("count") / pl.col("n")))
    out = pl.concat([p.select([pl.col(c) if c in p.columns else pl.lit(None).cast(t).alias(c)
                               for c, t in DEMOGRAPHICS_SCHEMA.items()]) for p in parts])
    text = [(f"{_fmt(r['mean'])} ({_fmt(r['sd'])})" if r["kind"] == "continuous"
             else f"{r['count']} ({_fmt(r['pct'])}%)") for r in out.iter_rows(named=True)]
    order = {v: i for i, v in enumerate(CONTINUOUS + CATEGORICAL)}
    return (out.with_columns(text=pl.Series(text, dtype=S))
            .with_columns(_v=pl.col("variable").replace_strict(order, return_dtype=I),
                          _t=pl.col("arm") == TOTAL)
            .sort("studyid", "_v", "category", "_t", "arm", nulls_last=False)
            .drop("_v", "_t"))


# ---- adverse events ----------------------------------------------------------------------

# The treatment-emergent window after the last dose (ADAE's TRTEMFL uses the same).
TEAE_WINDOW_DAYS = 30


def _safety(adsl: pl.DataFrame) -> pl.DataFrame:
    """Safety subjects with their actual arm, exposure (years) and their treatment-emergent
    window in years (first dose to last dose + ``TEAE_WINDOW_DAYS``)."""
    a = _adsl(adsl).filter(pl.col("saffl") == "Y")
    # whole days (integers), so sums do not depend on the order rows are added in
    window = ((pl.col("trtedt") - pl.col("trtsdt")).dt.total_days() + 1 + TEAE_WINDOW_DAYS)
    return a.select(*KEY, pl.coalesce("trt01a", "trt01p").alias("arm"), "trtsdt",
                    (pl.col("trtdurd").cast(F) / 365.25).alias("_years"),
                    window.cast(I).alias("_window"))


def _person_years(te: pl.DataFrame, saf: pl.DataFrame, group: list[str], stratum: str
                  ) -> pl.DataFrame:
    """Per study × arm × ``group`` (the level's SOC / PT columns): the person-years at risk
    of a first such event — each safety subject's treatment-emergent window, cut at their
    first event's onset (a subject is no longer at risk of a first event once they had it)."""
    first = (te.filter(pl.col("astdt").is_not_null())
             .group_by([*KEY, *group]).agg(pl.col("astdt").min().alias("_first")))
    windows = saf.group_by("studyid", "arm").agg(pl.col("_window").sum().alias("_total"))
    at_risk = (pl.col("_first") - pl.col("trtsdt")).dt.total_days() + 1      # days, to the event
    lost = (first.join(saf, on=KEY, how="inner")
            .with_columns((pl.col("_window") - at_risk).clip(lower_bound=0).cast(I).alias("_lost"))
            .group_by(["studyid", "arm", *group]).agg(pl.col("_lost").sum()))
    return (lost.join(windows, on=["studyid", "arm"], how="left")
            .select("studyid", "arm", *group,
                    ((pl.col("_total") - pl.col("_lost")).cast(F) / 365.25).alias("person_years"),
                    pl.lit(stratum).alias("stratum")))


def _rd_rows(df: pl.DataFrame) -> pl.DataFrame:
    """Risk difference (active − control, in percentage points) with the Newcombe hybrid
    score 95% CI (statsmodels ``confint_proportions_2indep(method="newcomb")``), on the
    "pt" rows of studies with two or more arms."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    key = ["studyid", "level", "aebodsys", "aedecod", "stratum"]
    pt = df.filter((pl.col("level") == "pt") & (pl.col("arm") != pl.col("control_arm")))
    ref = df.filter(pl.col("arm") == pl.col("control_arm")).select(
        *key, pl.col("n_subjects").alias("_c1"), pl.col("n_safety").alias("_n1"))
    pt = pt.join(ref, on=key, how="inner", nulls_equal=True)
    rows = []
    for r in pt.iter_rows(named=True):
        out = {**{k: r[k] for k in key}, "arm": r["arm"]}
        if not r["n_safety"] or not r["_n1"]:
            rows.append({**out, "note": "risk difference not estimable: "
                                        "an arm has no safety subjects"})
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo, hi = confint_proportions_2indep(r["n_subjects"], r["n_safety"], r["_c1"], r["_n1"],
                                                method="newcomb", compare="diff", alpha=ALPHA)
        rows.append({**out, "rd": 100.0 * (r["n_subjects"] / r["n_safety"] - r["_c1"] / r["_n1"]),
                     "rd_lo": _num(100.0 * lo), "rd_hi": _num(100.0 * hi), "note": None})
    return pl.DataFrame(rows, schema={**{k: S for k in key}, "arm": S, "rd": F, "rd_lo": F,
                                      "rd_hi": F, "note": S}, orient="row") if rows else None


def ae_incidence(adae: pl.DataFrame, adsl: pl.DataFrame) -> pl.DataFrame:
    """Treatment-emergent AE incidence per studyid × actual arm on the safety population:
    ``level`` "any" / "soc" (per AEBODSYS) / "pt" (per AEBODSYS × AEDECOD); ``stratum``
    "all", a severity (a subject counted once, at their most severe event of that level,
    so the severity rows add up to "all") or "serious" (AESER = "Y").
    ``n_subjects`` counts each subject once however many events; ``n_events`` counts
    records; ``pct`` = 100 × n_subjects / n_safety (the arm's safety subjects).
    ``exposure_years`` = the arm's total treatment exposure (sum of TRTDURD / 365.25 over
    its safety subjects). ``eair`` (strata "all" and "serious") = 100 × n_subjects /
    ``person_years``, the exposure-adjusted incidence rate: subjects with a first such
    event per 100 patient-years at risk, each subject at risk from the first dose to their
    first such event, else to the end of the treatment-emergent window (last dose +
    ``TEAE_WINDOW_DAYS``); severity strata have none (a worst severity has no first onset).
    On "pt" rows of non-control arms: ``rd`` the
    risk difference versus ``control_arm`` in percentage points with a Newcombe (hybrid
    score) 95% CI ``rd_lo``, ``rd_hi``. Zero-count rows are present for every arm."""
    if not adsl.height:
        return pl.DataFrame(schema=AE_INCIDENCE_SCHEMA)
    if not set(ADAE_SCHEMA).issubset(adae.columns):
        adae = normalize_adae(adae)
    saf = _safety(adsl)
    arms = (saf.group_by("studyid", "arm")
            .agg(pl.len().cast(I).alias("n_safety"),
                 pl.col("_years").sum().alias("exposure_years"),
                 (pl.col("_window").sum().cast(F) / 365.25).alias("_window_total")))
    controls = arms.group_by("studyid").agg(pl.col("arm").unique()).with_columns(
        control_arm=pl.col("arm").map_elements(lambda a: control_arm(a.to_list()), return_dtype=S)
    ).drop("arm")
    sev_rank = {s: i for i, s in enumerate(SEVERITIES)}
    te = (adae.filter(pl.col("trtemfl") == "Y")
          .select(*KEY, "aebodsys", "aedecod", "aesev", "aeser", "astdt")
          .join(saf.select(*KEY, "arm"), on=KEY, how="inner")
          .with_columns(_sev=pl.col("aesev").str.to_uppercase().replace_strict(
              sev_rank, default=None, return_dtype=I)))
    levels = {"any": [], "soc": ["aebodsys"], "pt": ["aebodsys", "aedecod"]}
    parts, at_risk = [], []
    for level, cols in levels.items():
        lv = te.with_columns([pl.lit(None, S).alias(c) for c in ("aebodsys", "aedecod")
                              if c not in cols])
        for stratum, rows in (("all", lv), ("serious", lv.filter(pl.col("aeser") == "Y"))):
            at_risk.append(_person_years(rows, saf, ["aebodsys", "aedecod"], stratum)
                           .with_columns(level=pl.lit(level)))
        g_full = ["studyid", "arm", "aebodsys", "aedecod"]
        parts.append(lv.group_by(g_full).agg(pl.col("usubjid").n_unique().alias("n_subjects"),
                                             pl.len().alias("n_events"))
                     .with_columns(level=pl.lit(level), stratum=pl.lit("all")))
        # a subject's worst severity at this level; their events of that severity counted
        worst = lv.with_columns(_w=pl.col("_sev").max().over([*g_full, "usubjid"]))
        sev = (worst.filter(pl.col("_w").is_not_null())
               .group_by([*g_full, "_w"])
               .agg(pl.col("usubjid").n_unique().alias("n_subjects"),
                    (pl.col("_sev") == pl.col("_w")).sum().alias("n_events"))
               .with_columns(stratum=pl.col("_w").replace_strict(
                   {i: s for s, i in sev_rank.items()}, return_dtype=S), level=pl.lit(level))
               .drop("_w"))
        parts.append(sev)
        parts.append(lv.filter(pl.col("aeser") == "Y").group_by(g_full)
                     .agg(pl.col("usubjid").n_unique().alias("n_subjects"),
                          pl.len().alias("n_events"))
                     .with_columns(level=pl.lit(level), stratum=pl.lit("serious")))
    counts = pl.concat([p.select("studyid", "arm", "level", "aebodsys", "aedecod", "stratum",
                                 pl.col("n_subjects").cast(I), pl.col("n_events").cast(I))
                        for p in parts])
    # every row for every arm of its study (zeros included), and "any"/"all" always
    cells = pl.concat([counts.select("studyid", "level", "aebodsys", "aedecod", "stratum"),
                       arms.select("studyid").unique().with_columns(
                           level=pl.lit("any"), aebodsys=pl.lit(None, S), aedecod=pl.lit(None, S),
                           stratum=pl.lit("all"))]).unique()
    grid = cells.join(arms, on="studyid", how="inner")
    out = (grid.join(counts, on=["studyid", "arm", "level", "aebodsys", "aedecod", "stratum"],
                     how="left", nulls_equal=True)
           .join(controls, on="studyid", how="left")
           .join(pl.concat(at_risk), on=["studyid", "arm", "level", "aebodsys", "aedecod", "stratum"],
                 how="left", nulls_equal=True)
           .join(arms.select("studyid", "arm", "_window_total"), on=["studyid", "arm"], how="left")
           .with_columns(pl.col("n_subjects").fill_null(0), pl.col("n_events").fill_null(0),
                         # no subject had it: everyone's whole window is at risk
                         person_years=pl.when(pl.col("stratum").is_in(["all", "serious"]))
                         .then(pl.coalesce("person_years", "_window_total")))
           .with_columns(
               pct=pl.when(pl.col("n_safety") > 0)
               .then(100.0 * pl.col("n_subjects") / pl.col("n_safety")),
               eair=pl.when(pl.col("person_years") > 0)
               .then(100.0 * pl.col("n_subjects") / pl.col("person_years")),
               note=pl.when(pl.col("stratum").is_in(["all", "serious"]) & ~(pl.col("person_years") > 0))
               .then(pl.lit("eair not estimable: no time at risk (no dated treatment exposure)"))
               .otherwise(None)))
    rd = _rd_rows(out)
    key = ["studyid", "arm", "level", "aebodsys", "aedecod", "stratum"]
    if rd is not None:
        out = (out.join(rd.rename({"note": "_rdnote"}), on=key, how="left", nulls_equal=True)
               .with_columns(note=pl.coalesce("note", "_rdnote")))
    lvl = {"any": 0, "soc": 1, "pt": 2}
    strat = {"all": 0, **{s: i + 1 for i, s in enumerate(SEVERITIES)}, "serious": 9}
    out = out.with_columns(_l=pl.col("level").replace_strict(lvl, return_dtype=I),
                           _s=pl.col("stratum").replace_strict(strat, return_dtype=I))
    return conform(out.sort("studyid", "_l", "aebodsys", "aedecod", "_s", "arm",
                             nulls_last=False), AE_INCIDENCE_SCHEMA)


# ---- efficacy ----------------------------------------------------------------------------

def _itt_values(bds: pl.DataFrame, adsl: pl.DataFrame, paramcd: str) -> pl.DataFrame:
    """The paramcd's analysis records (anl01fl = "Y" where the flag is used) of ITT
    subjects with a value, with their planned arm."""
    df = bds.filter((pl.col("paramcd") == paramcd) & pl.col("aval").is_not_null())
    if "anl01fl" in df.columns and df["anl01fl"].is_not_null().any():
        df = df.filter(pl.col("anl01fl") == "Y")
    # one record per subject and visit even where no flag says which (a retest): the
    # latest, so a subject never counts twice in a mean or the ANCOVA
    order = [c for c in ("adt", "ady") if c in df.columns]
    df = (df.sort([*KEY, "avisitn", *order], nulls_last=False)
          .unique([*KEY, "avisitn", "avisit"], keep="last", maintain_order=True))
    itt = _adsl(adsl).filter(pl.col("ittfl") == "Y").select(*KEY, pl.col("trt01p").alias("arm"))
    return df.drop([c for c in ("arm",) if c in df.columns]).join(itt, on=KEY, how="inner")


def last_scheduled(df: pl.DataFrame) -> float | None:
    """The last scheduled post-baseline visit number: an integral AVISITN, the visit name
    not saying "unscheduled", with a change from baseline."""
    sched = df.filter(pl.col("chg").is_not_null() & (pl.col("avisitn") == pl.col("avisitn").round())
                      & ~pl.col("avisit").fill_null("").str.to_lowercase().str.contains("unsch"))
    return sched["avisitn"].max() if sched.height else None


def change_from_baseline(df: pl.DataFrame) -> pl.DataFrame:
    """Per studyid × paramcd × visit × arm: n (subjects with a value), mean_aval, and the
    change from baseline's mean, sd (n − 1) and se = sd / √(n with a change)."""
    return (df.group_by("studyid", "paramcd", "avisit", "avisitn", "arm")
            .agg(pl.col("aval").count().cast(I).alias("n"),
                 pl.col("aval").mean().alias("mean_aval"),
                 pl.col("chg").mean().alias("mean_chg"), pl.col("chg").std().alias("sd_chg"),
                 (pl.col("chg").std() / pl.col("chg").count().sqrt()).alias("se_chg"))
            .sort("studyid", "paramcd", "avisitn", "arm", nulls_last=False)
            .select([pl.col(c).cast(t) for c, t in CHANGE_SCHEMA.items()]))


def _single_arm(df: pl.DataFrame, base: dict) -> list[dict]:
    """Mean change with a 95% t CI and the one-sample t-test p-value (statsmodels)."""
    from statsmodels.stats.weightstats import DescrStatsW

    chg = df["chg"].to_numpy()
    row = {**base, "kind": "single_arm_change", "arm": df["arm"][0], "n": len(chg)}
    if len(chg) < 2:
        return [{**row, "estimate": _num(chg.mean()) if len(chg) else None,
                 "note": "not estimable: fewer than 2 subjects with a change"}]
    d = DescrStatsW(chg)
    lo, hi = d.tconfint_mean(alpha=ALPHA)
    return [{**row, "estimate": _num(d.mean), "se": _num(d.std_mean), "lo": _num(lo),
             "hi": _num(hi), "p_value": _num(d.ttest_mean(0)[1])}]


def _ancova(df: pl.DataFrame, base: dict) -> list[dict]:
    """chg ~ C(arm) + base by OLS (statsmodels): LS means per arm at the mean baseline and
    each arm minus the control."""
    import pandas as pd
    import statsmodels.formula.api as smf

    arms = sorted(df["arm"].unique().to_list())
    ctl = control_arm(arms)
    pdf = df.select("chg", "base", "arm").to_pandas()
    pdf["arm"] = pd.Categorical(pdf["arm"], categories=[ctl] + [a for a in arms if a != ctl])
    n_by_arm = df.group_by("arm").len().to_dict(as_series=False)
    n_by_arm = dict(zip(n_by_arm["arm"], n_by_arm["len"]))
    if len(pdf) <= len(arms) + 1:
        return [{**base, "kind": "lsmean", "arm": a, "n": n_by_arm[a],
                 "note": "not estimable: no residual degrees of freedom"} for a in arms]
    fit = smf.ols("chg ~ C(arm) + base", data=pdf).fit()
    grid = pd.DataFrame({"arm": pd.Categorical(arms, categories=pdf["arm"].cat.categories),
                         "base": pdf["base"].mean()})
    pred = fit.get_prediction(grid).summary_frame(alpha=ALPHA)
    rows = [{**base, "kind": "lsmean", "arm": a, "n": n_by_arm[a],
             "lsmean": _num(p["mean"]), "lsmean_se": _num(p["mean_se"]),
             "lsmean_lo": _num(p["mean_ci_lower"]), "lsmean_hi": _num(p["mean_ci_upper"])}
            for a, (_, p) in zip(arms, pred.iterrows())]
    ci = fit.conf_int(alpha=ALPHA)
    for a in arms:
        if a == ctl:
            continue
        term = f"C(arm)[T.{a}]"
        rows.append({**base, "kind": "difference", "arm": a, "comparator": ctl,
                     "n": n_by_arm[a] + n_by_arm[ctl], "estimate": _num(fit.params[term]),
                     "se": _num(fit.bse[term]), "lo": _num(ci.loc[term, 0]),
                     "hi": _num(ci.loc[term, 1]), "p_value": _num(fit.pvalues[term])})
    return rows


def efficacy(bds: pl.DataFrame, adsl: pl.DataFrame, paramcd: str,
             visit: str | float | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(change from baseline per visit × arm (``change_from_baseline``), the analysis at
    ``visit``) for ``paramcd`` on the ITT population. ``visit``: an AVISIT name or AVISITN;
    default the last scheduled visit (``last_scheduled``) of each study.

    The analysis, on ITT subjects with a change and a baseline at that visit: ANCOVA
    chg ~ C(arm) + base (statsmodels OLS), rows ``kind`` "lsmean" per arm (LS mean at the
    overall mean baseline, its se and 95% CI) and "difference" per non-control arm (arm −
    ``comparator``, the control arm: estimate, se, 95% CI, p-value, n of both arms). A
    single-arm study gets one ``kind`` "single_arm_change" row: mean change, se, 95% t CI
    and the one-sample t-test p-value."""
    empty = pl.DataFrame(schema=CHANGE_SCHEMA), pl.DataFrame(schema=ANCOVA_SCHEMA)
    if not bds.height or not adsl.height:
        return empty
    df = _itt_values(bds, adsl, paramcd)
    if not df.height:
        return empty
    rows = []
    for (study,), sdf in df.group_by("studyid", maintain_order=True):
        if visit is None:
            vn = last_scheduled(sdf)
            at = sdf.filter(pl.col("avisitn") == vn) if vn is not None else sdf.clear()
        elif isinstance(visit, str):
            at = sdf.filter(pl.col("avisit") == visit)
        else:
            at = sdf.filter(pl.col("avisitn") == float(visit))
        at = at.filter(pl.col("chg").is_not_null() & pl.col("base").is_not_null())
        named, numbered = isinstance(visit, str), visit is not None and not isinstance(visit, str)
        base = {"studyid": study, "paramcd": paramcd,
                "avisit": at["avisit"][0] if at.height else (visit if named else None),
                "avisitn": at["avisitn"][0] if at.height else (float(visit) if numbered else None)}
        if not at.height:
            rows.append({**base, "kind": "lsmean",
                         "note": "not estimable: no change from baseline at the visit"})
        elif sdf["arm"].n_unique() == 1:
            rows += _single_arm(at, base)
        else:
            rows += _ancova(at, base)
    return change_from_baseline(df), _frame(rows, ANCOVA_SCHEMA)


# ---- time to event -----------------------------------------------------------------------

def tte_frame(adtte: pl.DataFrame, adsl: pl.DataFrame | None = None) -> pl.DataFrame:
    """ADTTE with ``arm`` (TRTP, else ADSL.TRT01P), ``time`` and ``event`` (CNSR = 0: ADaM
    codes an event 0 and each censoring reason 1, 2, 3 …)."""
    if not set(ADTTE_SCHEMA).issubset(adtte.columns):
        adtte = normalize_adtte(adtte)
    df = adtte.with_columns(arm=pl.col("trtp"))
    if adsl is not None and adsl.height:
        a = _adsl(adsl).select(*KEY, pl.col("trt01p").alias("_p"))
        df = df.join(a, on=KEY, how="left").with_columns(arm=pl.coalesce("arm", "_p")).drop("_p")
    return df.filter(pl.col("aval").is_not_null() & pl.col("cnsr").is_not_null()
                     & pl.col("arm").is_not_null()).with_columns(
        time=pl.col("aval").cast(F), event=(pl.col("cnsr").cast(I) == 0).cast(I))


def kaplan_meier(time, event, label: str):
    """A lifelines KaplanMeierFitter fitted at 95% (log(−log) CI)."""
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=ALPHA).fit(time, event, label=label)


def _step(index: np.ndarray, values: np.ndarray, t: float) -> float | None:
    """The value of a right-continuous step function (lifelines' estimate) at ``t``."""
    i = np.searchsorted(index, t, side="right") - 1
    return _num(values[i]) if i >= 0 else None


def _km_summary(sdf: pl.DataFrame, base: dict) -> dict:
    from lifelines.utils import median_survival_times

    t, e = sdf["time"].to_numpy(), sdf["event"].to_numpy()
    row = {**base, "n": len(t), "events": int(e.sum())}
    if not len(t):
        return {**row, "note": "no subjects"}
    k = kaplan_meier(t, e, "km")
    med = _num(k.median_survival_time_)
    ci = median_survival_times(k.confidence_interval_)
    row.update(median=med, median_lo=_num(ci.iloc[0, 0]), median_hi=_num(ci.iloc[0, 1]))
    idx = k.survival_function_.index.to_numpy()
    sf = k.survival_function_.iloc[:, 0].to_numpy()
    lo, hi = (k.confidence_interval_.iloc[:, j].to_numpy() for j in (0, 1))
    for d in LANDMARK_DAYS:
        if d <= t.max():  # only within follow-up
            row.update({f"km_{d}": _step(idx, sf, d), f"km_{d}_lo": _step(idx, lo, d),
                        f"km_{d}_hi": _step(idx, hi, d)})
    notes = []
    if med is None:
        notes.append("median not reached")
    if not row["events"]:
        notes.append("no events")
    row["note"] = "; ".join(notes) or None
    return row


def _compare(sdf: pl.DataFrame, base: dict) -> list[dict]:
    """Log-rank test over all arms, and per non-control arm the Cox hazard ratio versus
    the control (lifelines CoxPHFitter on the arm indicator, fitted on those two arms)."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    arms = sorted(sdf["arm"].unique().to_list())
    ctl = control_arm(arms)
    t, e, g = sdf["time"].to_numpy(), sdf["event"].to_numpy(), sdf["arm"].to_numpy()
    p_lr, lr_note = None, None
    if e.sum() == 0:
        lr_note = "log-rank not estimable: no events"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len(arms) == 2:
                a, c = g == arms[0], g == arms[1]
                p_lr = _num(logrank_test(t[a], t[c], e[a], e[c]).p_value)
            else:
                p_lr = _num(multivariate_logrank_test(t, g, e).p_value)
    rows = []
    for arm in arms:
        if arm == ctl:
            continue
        two = sdf.filter(pl.col("arm").is_in([arm, ctl]))
        ev = {a: int(two.filter(pl.col("arm") == a)["event"].sum()) for a in (arm, ctl)}
        row = {**base, "arm": arm, "control_arm": ctl, "n": two.height,
               "events": sum(ev.values()), "logrank_p": p_lr}
        notes = [lr_note] if lr_note else []
        if min(ev.values()) < MIN_EVENTS_PER_ARM_COX:
            notes.append(f"hazard ratio not estimable: fewer than {MIN_EVENTS_PER_ARM_COX} "
                         "events in an arm")
        else:
            data = two.select("time", "event",
                              (pl.col("arm") == arm).cast(I).alias("treated")).to_pandas()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cph = CoxPHFitter(alpha=ALPHA).fit(data, "time", "event")
                s = cph.summary.loc["treated"]
                row.update(hazard_ratio=_num(s["exp(coef)"]),
                           hr_lo=_num(s[f"exp(coef) lower {100 * (1 - ALPHA):.0f}%"]),
                           hr_hi=_num(s[f"exp(coef) upper {100 * (1 - ALPHA):.0f}%"]),
                           cox_p=_num(s["p"]))
            except Exception as exc:  # noqa: BLE001 - a non-converging fit is "not estimable"
                notes.append(f"hazard ratio not estimable: {type(exc).__name__}")
        row["note"] = "; ".join(notes) or None
        rows.append(row)
    return rows


def time_to_event(adtte: pl.DataFrame, adsl: pl.DataFrame | None = None
                  ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(Kaplan–Meier summary per studyid × paramcd × arm, comparisons per studyid ×
    paramcd × non-control arm).

    Summary (lifelines KaplanMeierFitter, 95% CI on the log(−log) scale): n, events,
    median and its CI from ``median_survival_times`` on the CI bands (null where not
    reached), and KM survival with CI at ``LANDMARK_DAYS`` (``km_<d>``, ``_lo``, ``_hi``;
    null beyond the arm's longest follow-up). Comparisons (two or more arms):
    ``logrank_p`` over all arms of the paramcd (``logrank_test`` for two,
    ``multivariate_logrank_test`` for more), and the Cox proportional-hazards hazard ratio
    of the arm versus ``control_arm`` (CoxPHFitter on a treated indicator) with 95% CI and
    Wald p, not estimable with fewer than ``MIN_EVENTS_PER_ARM_COX`` events in an arm."""
    empty = pl.DataFrame(schema=KM_SUMMARY_SCHEMA), pl.DataFrame(schema=TTE_COMPARISON_SCHEMA)
    if not adtte.height:
        return empty
    df = tte_frame(adtte, adsl)
    summary, comparison = [], []
    for (study, paramcd), pdf in df.group_by("studyid", "paramcd", maintain_order=True):
        base = {"studyid": study, "paramcd": paramcd}
        for (arm,), adf in pdf.group_by("arm", maintain_order=True):
            summary.append(_km_summary(adf, {**base, "arm": arm}))
        if pdf["arm"].n_unique() >= 2:
            comparison += _compare(pdf, base)
    out = (_frame(summary, KM_SUMMARY_SCHEMA).sort("studyid", "paramcd", "arm"),
           _frame(comparison, TTE_COMPARISON_SCHEMA))
    return out[0], out[1].sort("studyid", "paramcd", "arm") if out[1].height else out[1]


def km_curve(adtte: pl.DataFrame, paramcd: str, adsl: pl.DataFrame | None = None
             ) -> pl.DataFrame:
    """The Kaplan–Meier curve of ``paramcd`` per studyid × arm for plotting: every event
    or censoring time (from 0) with survival, its 95% CI (lo, hi) and the number at risk
    just before that time (lifelines' survival_function_, confidence_interval_ and
    event_table)."""
    if not adtte.height:
        return pl.DataFrame(schema=KM_CURVE_SCHEMA)
    df = tte_frame(adtte.filter(pl.col("paramcd") == paramcd), adsl)
    parts = []
    for (study, arm), adf in df.group_by("studyid", "arm", maintain_order=True):
        k = kaplan_meier(adf["time"].to_numpy(), adf["event"].to_numpy(), "km")
        parts.append(pl.DataFrame({
            "studyid": study, "arm": arm, "time": k.survival_function_.index.to_numpy(),
            "survival": k.survival_function_.iloc[:, 0].to_numpy(),
            "lo": k.confidence_interval_.iloc[:, 0].to_numpy(),
            "hi": k.confidence_interval_.iloc[:, 1].to_numpy(),
            "at_risk": k.event_table["at_risk"].reindex(k.survival_function_.index).to_numpy()}))
    if not parts:
        return pl.DataFrame(schema=KM_CURVE_SCHEMA)
    return (pl.concat(parts, how="vertical_relaxed")
            .select([pl.col(c).cast(t) for c, t in KM_CURVE_SCHEMA.items()])
            .sort("studyid", "arm", "time"))
