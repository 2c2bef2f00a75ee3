"""Risk and response prediction from baseline characteristics and genotype, and efficacy by
genotype subgroup, for the small trials of rare diseases (20-200 subjects).

Two things come out of a trial:

* a cross-validated penalized logistic model of a binary outcome (an adverse event of
  interest, discontinuation, or response) on the baseline predictors ``FEATURES``, judged by
  repeated stratified K-fold cross-validation (AUC, calibration intercept and slope, Brier
  score) with intervals, or ``{"estimable": False, "reason": ...}`` when the trial has too
  few events for any number to mean something;
* the efficacy (change from baseline) by arm x loss-of-function carrier status for the trial
  subjects who are lake patients with a known genotype, with the treatment x carrier
  interaction and a caveat that states the small numbers concretely.

Missing values (``build_frame``): ``lof_carrier`` is null for a subject who is not a lake
patient or whose genotype is unknown, and ``genotype_known`` (1/0, never null) says which,
so the model can tell "not a carrier" from "not known". Every other missing predictor is
left null in the frame and imputed by the median *of the training folds only* (the imputer,
scaler and model are one sklearn Pipeline fitted per training fold), so a held-out subject's
values never shape the model that scores it. A predictor that is null or constant for every
subject of the analysis (no baseline value collected; a single-arm trial's arm indicator) is
dropped and named in the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import statsmodels.api as sm
from scipy.stats import mannwhitneyu
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.weightstats import DescrStatsW

# trt01p values read as the control arm when no ``control`` is given: the statistics' rule
from models.trials.stats import CONTROL_PATTERN

# The baseline predictors of the risk / response models, in this order everywhere.
#   age: years (ADSL AGE); male: sex M=1, F=0, anything else null; base: baseline value of
#   the efficacy parameter (ADaM BASE); lof_carrier: 1/0, null when not a lake patient or
#   genotype unknown; genotype_known: 1/0; treated: 1 = an active arm, 0 = control.
FEATURES = ("age", "male", "base", "lof_carrier", "genotype_known", "treated")

# Fewer events (or non-events) than this and no AUC or calibration is reported: with under
# ten of the rarer class the out-of-fold AUC's interval spans most of [0.5, 1] and the
# calibration slope is not identified (the usual events-per-variable floor).
MIN_EVENTS = 10
# Each held-out fold must hold at least this many of the rarer class, so that every fold
# sees both classes; folds are reduced to floor(minority / MIN_PER_FOLD) when needed.
MIN_PER_FOLD = 2
# L2 strength on standardized inputs (sklearn's C, inverse of the penalty): the default,
# mild shrinkage, which is what small trials need against separation.
C = 1.0
BOOTSTRAP = 2000




# --- outcomes ----------------------------------------------------------------------------


def response_outcome(bds_or_chg: pl.DataFrame, threshold: float = 0.30,
                     direction: str = "decrease", relative: bool = True,
                     paramcd: str | None = None, avisit: str | None = None) -> pl.DataFrame:
    """usubjid, base, chg, response (1/0, null when not evaluable) from an ADaM BDS dataset
    or a frame with one row per subject (usubjid, chg, and base when ``relative``).

    Default: a responder has decreased by at least 30 % from baseline (a biomarker where lower
    is better): ``relative`` compares chg / base with ``threshold``, otherwise chg itself;
    ``direction`` "decrease" wants change <= -threshold, "increase" change >= threshold.
    ``paramcd`` and ``avisit`` select the parameter and the analysis visit; baseline records
    (ablfl "Y") are dropped; after that one row per subject must remain (else name the visit).
    A null chg, or a null / zero base when relative, gives a null response, not a 0.
    """
    if direction not in ("decrease", "increase"):
        raise ValueError(f"response_outcome: direction must be 'decrease' or 'increase', "
                         f"got {direction!r}")
    if threshold < 0:
        raise ValueError(f"response_outcome: threshold is a magnitude (>= 0), got {threshold}")
    need = ["usubjid", "chg"] + (["base"] if relative else [])
    missing = [c for c in need if c not in bds_or_chg.columns]
    if missing:
        raise ValueError(f"response_outcome: the frame lacks {missing}")
    d = bds_or_chg
    for col, val in (("paramcd", paramcd), ("avisit", avisit)):
        if val is not None:
            if col not in d.columns:
                raise ValueError(f"response_outcome: {col}={val!r} asked but the frame has "
                                 f"no {col}")
            d = d.filter(pl.col(col) == val)
    if "paramcd" in d.columns and d["paramcd"].n_unique() > 1:
        params = sorted(d["paramcd"].unique().drop_nulls())
        raise ValueError(f"response_outcome: several parameters {params}; pass paramcd")
    if "ablfl" in d.columns:
        d = d.filter(pl.col("ablfl").fill_null("N") != "Y")
    dup = d.group_by("usubjid").len().filter(pl.col("len") > 1)
    if dup.height:
        raise ValueError(f"response_outcome: {dup.height} subjects have several post-baseline "
                         f"records (e.g. {dup['usubjid'][0]}); pass avisit (the analysis visit)")
    base = pl.col("base").cast(pl.Float64) if "base" in d.columns else pl.lit(None, pl.Float64)
    chg = pl.col("chg").cast(pl.Float64)
    change = pl.when(base != 0).then(chg / base) if relative else chg
    hit = change <= -threshold if direction == "decrease" else change >= threshold
    return d.select("usubjid", base.alias("base"), chg.alias("chg"),
                    hit.cast(pl.Int8).alias("response"))


def ae_outcome(adsl: pl.DataFrame, adae: pl.DataFrame, terms: Sequence[str],
               name: str = "ae") -> pl.DataFrame:
    """usubjid, <name> (1/0): whether each ADSL subject had an adverse event whose aedecod is
    one of ``terms`` (case-insensitive), treatment-emergent only when ADAE carries trtemfl."""
    wanted = {t.lower() for t in terms}
    ae = adae.filter(pl.col("aedecod").str.to_lowercase().is_in(list(wanted)))
    if "trtemfl" in ae.columns:
        ae = ae.filter(pl.col("trtemfl") == "Y")
    hit = set(ae["usubjid"].to_list())
    return adsl.select("usubjid", pl.col("usubjid").is_in(list(hit)).cast(pl.Int8).alias(name))


def discontinuation_outcome(adsl: pl.DataFrame, name: str = "discontinued") -> pl.DataFrame:
    """usubjid, <name>: 1 when eosstt is DISCONTINUED, 0 when COMPLETED, null otherwise
    (ongoing or unknown: not a non-event)."""
    s = pl.col("eosstt").str.to_uppercase()
    return adsl.select("usubjid", pl.when(s == "DISCONTINUED").then(1).when(s == "COMPLETED")
                       .then(0).otherwise(None).cast(pl.Int8).alias(name))


# --- the analysis frame ------------------------------------------------------------------


def _unique_ids(df: pl.DataFrame, what: str) -> None:
    if "usubjid" not in df.columns:
        raise ValueError(f"{what}: no usubjid column")
    dup = df.group_by("usubjid").len().filter(pl.col("len") > 1)
    if dup.height:
        raise ValueError(f"{what}: usubjid {dup['usubjid'][0]!r} appears {dup['len'][0]} times "
                         f"({dup.height} duplicated subjects); one row per subject expected")


def _treated(arms: list[str], control: str | Sequence[str] | None) -> dict[str, int]:
    """trt01p value → 1 (active) / 0 (control). Several active arms (doses) are pooled."""
    if len(arms) == 1 and control is None:
        return {arms[0]: 1}  # single-arm trial: the indicator is constant and dropped
    if control is not None:
        ctl = {control} if isinstance(control, str) else set(control)
        unknown = ctl - set(arms)
        if unknown:
            raise ValueError(f"adsl: control arm(s) {sorted(unknown)} not among trt01p {arms}")
    else:
        ctl = {a for a in arms if CONTROL_PATTERN.search(a)}
        if not ctl:
            raise ValueError(f"adsl: cannot tell the control arm among trt01p {arms}; "
                             f"pass control=")
    if ctl >= set(arms):
        raise ValueError(f"adsl: every trt01p value {arms} is a control arm")
    return {a: int(a not in ctl) for a in arms}


def build_frame(adsl: pl.DataFrame, outcomes: pl.DataFrame, genotype: pl.DataFrame,
                population: str | None = None,
                control: str | Sequence[str] | None = None) -> pl.DataFrame:
    """One row per ADSL subject: usubjid, trt01p, the ``FEATURES`` and the outcome columns.

    ``adsl``: usubjid, trt01p, age, sex (+ saffl / ittfl / efffl); ``outcomes``: usubjid and
    outcome columns (0/1, or chg / base for efficacy), subjects absent get nulls; a ``base``
    column there becomes the ``base`` predictor. ``genotype``: usubjid, lof_carrier (bool or
    1/0 or null) for the trial subjects who are lake patients; anyone absent is "unknown"
    (lof_carrier null, genotype_known 0); genotype rows of non-ADSL subjects are ignored,
    outcome rows of non-ADSL subjects are an error. ``population`` keeps only subjects whose
    flag (e.g. "saffl" for safety outcomes, "ittfl" for response) is "Y". ``control`` names
    the control arm(s); by default an arm whose name matches ``CONTROL_PATTERN`` (placebo,
    control, vehicle, sham, standard of care) is control, several active arms are pooled as
    treated, and a single-arm trial has treated = 1 for everyone. Nulls are left for the
    model's per-fold imputation (module docstring).
    """
    for col in ("usubjid", "trt01p"):
        if col not in adsl.columns:
            raise ValueError(f"adsl: no {col} column")
    _unique_ids(adsl, "adsl")
    _unique_ids(outcomes, "outcomes")
    _unique_ids(genotype, "genotype")
    if "lof_carrier" not in genotype.columns:
        raise ValueError("genotype: no lof_carrier column")
    stray = outcomes.join(adsl.select("usubjid"), on="usubjid", how="anti")
    if stray.height:
        raise ValueError(f"outcomes: usubjid {stray['usubjid'][0]!r} is not in adsl "
                         f"({stray.height} subjects)")
    if population is not None:
        if population not in adsl.columns:
            raise ValueError(f"adsl: population flag {population!r} is not a column")
        adsl = adsl.filter(pl.col(population) == "Y")
    no_arm = adsl.filter(pl.col("trt01p").is_null())
    if no_arm.height:
        raise ValueError(f"adsl: usubjid {no_arm['usubjid'][0]!r} has no trt01p "
                         f"({no_arm.height} subjects)")
    arm_map = _treated(sorted(adsl["trt01p"].unique().to_list()), control)

    carrier = genotype["lof_carrier"]
    if carrier.dtype == pl.Boolean:
        carrier = carrier.cast(pl.Int8)
    elif carrier.dtype == pl.String:
        raise ValueError("genotype: lof_carrier must be bool or 1/0, got text")
    bad = carrier.drop_nulls().filter(~carrier.drop_nulls().is_in([0, 1]))
    if bad.len():
        raise ValueError(f"genotype: lof_carrier must be 1/0/null, got {bad[0]!r}")
    geno = genotype.select("usubjid").with_columns(carrier.cast(pl.Float64).alias("lof_carrier"))

    def num(col: str) -> pl.Expr:
        return (pl.col(col).cast(pl.Float64) if col in adsl.columns
                else pl.lit(None, pl.Float64)).alias(col)

    sex = pl.col("sex").str.to_uppercase() if "sex" in adsl.columns else pl.lit(None, pl.String)
    out = adsl.select(
        "usubjid", "trt01p",
        pl.col("trt01p").replace_strict(arm_map, return_dtype=pl.Float64).alias("treated"),
        num("age"),
        pl.when(sex == "M").then(1.0).when(sex == "F").then(0.0).otherwise(None).alias("male"),
    ).join(geno, on="usubjid", how="left")
    out = out.with_columns(pl.col("lof_carrier").is_not_null().cast(pl.Float64)
                           .alias("genotype_known"))
    out = out.join(outcomes, on="usubjid", how="left")
    if "base" not in out.columns:
        out = out.with_columns(pl.lit(None, pl.Float64).alias("base"))
    out = out.with_columns(pl.col("base").cast(pl.Float64))
    rest = [c for c in out.columns if c not in ("usubjid", "trt01p", *FEATURES)]
    return out.select("usubjid", "trt01p", *FEATURES, *rest).sort("usubjid")


# --- the risk / response model -----------------------------------------------------------


def make_model() -> Pipeline:
    """The model, as one Pipeline so that imputation and scaling are fitted on the training
    folds only: median imputation → standardization → L2-penalized logistic regression."""
    return Pipeline([
        # keep_empty_features: a predictor null throughout one training fold stays a column
        # (imputed 0) so every fold's model has the same inputs.
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        # newton-cholesky: exact Newton steps, the fastest solver for few predictors and
        # small n (hundreds of refits per evaluation)
        ("logistic", LogisticRegression(C=C, l1_ratio=0.0, solver="newton-cholesky",
                                        max_iter=1000)),
    ])


def _design(frame: pl.DataFrame, outcome: str
            ) -> tuple[np.ndarray, np.ndarray, list[str], list[str], dict]:
    """(X, y, ids, features used, {dropped feature: why}, ...) for the subjects with an outcome."""
    if outcome not in frame.columns:
        raise ValueError(f"frame: no outcome column {outcome!r} (columns: {frame.columns})")
    missing = [f for f in FEATURES if f not in frame.columns]
    if missing:
        raise ValueError(f"frame: lacks the predictors {missing}; build it with build_frame")
    d = frame.filter(pl.col(outcome).is_not_null()).sort("usubjid")
    y = d[outcome].cast(pl.Float64).to_numpy()
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"frame: outcome {outcome!r} must be 0/1 (or bool), got "
                         f"{sorted(set(y.tolist()) - {0.0, 1.0})[:3]}")
    used, dropped = [], {}
    for f in FEATURES:
        vals = d[f].drop_nulls()
        if vals.len() == 0:
            dropped[f] = "null for every subject"
        elif vals.n_unique() == 1:
            dropped[f] = "the same for every subject"
        else:
            used.append(f)
    X = d.select(pl.col(used).cast(pl.Float64)).to_numpy() if used else np.empty((d.height, 0))
    return X, y.astype(int), d["usubjid"].to_list(), used, dropped


def _folds(minority: int, folds: int) -> int:
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    return max(2, min(folds, minority // MIN_PER_FOLD))


def _not_estimable(y: np.ndarray, used: list[str], outcome: str, frame_n: int) -> dict | None:
    n, events = len(y), int(y.sum())
    base = {"estimable": False, "outcome": outcome, "n": n, "events": events,
            "n_missing_outcome": frame_n - n}
    if events < MIN_EVENTS or n - events < MIN_EVENTS:
        return base | {"reason": f"{events} events and {n - events} non-events among {n} "
                                 f"subjects; at least {MIN_EVENTS} of each are needed"}
    if not used:
        return base | {"reason": "no baseline predictor varies between subjects"}
    return None


def oof_predictions(frame: pl.DataFrame, outcome: str, repeats: int = 20, folds: int = 5,
                    seed: int = 0) -> pl.DataFrame:
    """usubjid, repeat, fold, prob: each subject's out-of-fold predicted probability in each
    repeat of stratified K-fold CV (``make_model`` refitted on the other folds).

    Folds are reduced to floor(minority class / 2) when the rarer class is small, so each
    held-out fold holds at least 2 events and 2 non-events. Raises when the outcome is not
    estimable (see ``evaluate_risk_model``).
    """
    X, y, ids, used, _ = _design(frame, outcome)
    refusal = _not_estimable(y, used, outcome, frame.height)
    if refusal:
        raise ValueError(f"{outcome}: not estimable: {refusal['reason']}")
    k = _folds(int(min(y.sum(), len(y) - y.sum())), folds)
    cv = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    prob = np.empty((repeats, len(y)))
    fold_of = np.empty((repeats, len(y)), dtype=np.int64)
    for i, (train, test) in enumerate(cv.split(X, y)):
        r = i // k
        model = make_model().fit(X[train], y[train])
        prob[r, test] = model.predict_proba(X[test])[:, 1]
        fold_of[r, test] = i % k
    n = len(y)
    return pl.DataFrame({"usubjid": ids * repeats,
                         "repeat": np.repeat(np.arange(repeats), n),
                         "fold": fold_of.ravel(), "prob": prob.ravel()})


def _interval(value: float, lo: float, hi: float) -> dict:
    return {"value": float(value), "lo": float(lo), "hi": float(hi)}


def _bootstrap_auc(y: np.ndarray, p: np.ndarray, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the AUC over subjects resampled within each class
    (stratified, so every resample has both classes; the AUC is the Mann-Whitney U / n1 n0)."""
    rng = np.random.default_rng(seed)
    pos, neg = p[y == 1], p[y == 0]
    bp = rng.choice(pos, size=(BOOTSTRAP, len(pos)), replace=True)
    bn = rng.choice(neg, size=(BOOTSTRAP, len(neg)), replace=True)
    u = mannwhitneyu(bp, bn, axis=1, method="asymptotic").statistic
    lo, hi = np.percentile(u / (len(pos) * len(neg)), [2.5, 97.5])
    return float(lo), float(hi)


def _calibration(y: np.ndarray, p: np.ndarray) -> dict:
    """Calibration intercept (in the large: logit(P(y)) = a + lp, lp as offset) and slope
    (logit(P(y)) = a + b lp) of the out-of-fold linear predictor lp, statsmodels, 95 % CI."""
    lp = np.log(np.clip(p, 1e-8, 1 - 1e-8) / (1 - np.clip(p, 1e-8, 1 - 1e-8)))
    out = {}
    try:
        fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
        ci = fit.conf_int(0.05)[0]
        out["intercept"] = _interval(fit.params[0], ci[0], ci[1])
    except Exception as e:  # noqa: BLE001 — separation etc.: say so rather than invent a number
        out["intercept"] = {"value": None, "reason": f"not estimable: {e}"}
    try:
        fit = sm.Logit(y, sm.add_constant(lp, has_constant="add")).fit(disp=0)
        ci = fit.conf_int(0.05)[1]
        out["slope"] = _interval(fit.params[1], ci[0], ci[1])
    except Exception as e:  # noqa: BLE001
        out["slope"] = {"value": None, "reason": f"not estimable: {e}"}
    return out


def evaluate_risk_model(frame: pl.DataFrame, outcome: str, repeats: int = 20, folds: int = 5,
                        seed: int = 0) -> dict:
    """Cross-validated performance of ``make_model`` predicting ``outcome`` (0/1) from
    ``FEATURES`` (those that vary), as JSON-ready metadata.

    * ``auc``: mean over ``repeats`` of each repeat's AUC of its out-of-fold predictions
      (all subjects, pooled across folds), with the 2.5 / 97.5 percentiles over repeats:
      how much the estimate moves with the fold split alone, not a sampling interval;
    * ``auc_pooled``: AUC of each subject's out-of-fold probability averaged over repeats,
      with a 95 % stratified bootstrap interval over subjects (``BOOTSTRAP`` resamples,
      percentile): the sampling uncertainty, the interval to quote. It treats the
      out-of-fold predictions as fixed, so it leaves out the variance of refitting the model
      and is somewhat too narrow: in simulation (50 trials of 120 subjects, no signal) it
      covered 0.5 in 82 % of trials, and pooled out-of-fold AUCs sit ~0.02 below 0.5 when
      there is no signal (the known pessimism of pooling across folds). Read it as a lower
      bound on the uncertainty;
    * ``calibration``: intercept (ideal 0) and slope (ideal 1; < 1 means overfitting) of the
      averaged out-of-fold predictions, statsmodels, 95 % CI; ``brier``;
    * ``coefficients``: odds ratio per SD of each predictor in the model refitted on all
      subjects (penalized, so shrunk towards 1, and without an interval: for reading only).

    Subjects with a null outcome are left out (``n_missing_outcome``). Fewer than
    ``MIN_EVENTS`` events or non-events, or no varying predictor, gives
    {"estimable": False, "reason", "n", "events", ...} and no numbers. Folds are reduced so
    that each held-out fold holds at least ``MIN_PER_FOLD`` of the rarer class.
    """
    X, y, ids, used, dropped = _design(frame, outcome)
    refusal = _not_estimable(y, used, outcome, frame.height)
    if refusal:
        return refusal
    oof = oof_predictions(frame, outcome, repeats, folds, seed)
    P = oof["prob"].to_numpy().reshape(repeats, len(y))  # repeat-major, subjects by usubjid
    per_repeat = np.array([roc_auc_score(y, P[r]) for r in range(repeats)])
    pooled = P.mean(axis=0)
    lo, hi = _bootstrap_auc(y, pooled, seed)
    model = make_model().fit(X, y)
    coef = model.named_steps["logistic"].coef_[0]
    n, events = len(y), int(y.sum())
    k = _folds(min(events, n - events), folds)
    return {
        "estimable": True, "outcome": outcome, "n": n, "events": events,
        "n_missing_outcome": frame.height - n, "prevalence": events / n,
        "features": used, "features_dropped": dropped,
        "model": f"L2-penalized logistic regression (C={C}) on median-imputed, standardized "
                 f"inputs, fitted per training fold",
        "cv": {"folds": k, "folds_requested": folds, "repeats": repeats, "seed": seed},
        "auc": {"mean": float(per_repeat.mean()),
                "lo": float(np.percentile(per_repeat, 2.5)),
                "hi": float(np.percentile(per_repeat, 97.5)),
                "meaning": "mean and 2.5/97.5 percentiles over CV repeats"},
        "auc_pooled": _interval(roc_auc_score(y, pooled), lo, hi)
        | {"method": f"repeat-averaged out-of-fold probabilities; 95% stratified bootstrap "
                     f"over subjects ({BOOTSTRAP} resamples, percentile)"},
        "calibration": _calibration(y, pooled),
        "brier": float(brier_score_loss(y, pooled)),
        "coefficients": [{"feature": f, "odds_ratio_per_sd": float(np.exp(b))}
                         for f, b in zip(used, coef)],
        "caveat": f"{events} events among {n} subjects: cross-validated estimates from a "
                  f"small trial; quote the pooled AUC with its interval",
    }


# --- efficacy by genotype subgroup -------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def subgroup_efficacy(frame: pl.DataFrame, value: str = "chg") -> pl.DataFrame:
    """Efficacy by arm x LoF carrier status for the subjects who are lake patients with a
    known genotype (genotype_known 1) and a non-null ``value``.

    One row per cell (statistic "mean"): arm ("treated" / "control"), trt01p (the arms
    pooled in it), lof_carrier (1/0), n, estimate (mean), sd, lo / hi (95 % t interval),
    caveat; then one row (statistic "interaction"): the treatment x carrier interaction of
    statsmodels OLS value ~ treated * lof_carrier (+ base when every analysed subject has
    one) with its 95 % CI and p. A cell with fewer than 2 subjects has no sd / interval
    ("not estimable"), and then neither has the interaction; so has a single-arm trial.
    Caveats state the numbers: these subgroups are exploratory, never powered.
    """
    for col in (value, "treated", "lof_carrier", "genotype_known"):
        if col not in frame.columns:
            raise ValueError(f"frame: no {col} column; build it with build_frame")
    total = frame.height
    d = frame.filter((pl.col("genotype_known") == 1) & pl.col(value).is_not_null()
                     & pl.col("lof_carrier").is_not_null())
    if "trt01p" not in d.columns:
        d = d.with_columns(pl.lit(None, pl.String).alias("trt01p"))
    rows = []
    cells = {}
    for treated, arm in ((1.0, "treated"), (0.0, "control")):
        for carrier in (1, 0):
            c = d.filter((pl.col("treated") == treated) & (pl.col("lof_carrier") == carrier))
            x = c[value].cast(pl.Float64).to_numpy()
            cells[(arm, carrier)] = len(x)
            who = f"n={len(x)} {'carriers' if carrier else 'non-carriers'} on {arm}"
            row = {"statistic": "mean", "arm": arm,
                   "trt01p": ", ".join(sorted(c["trt01p"].drop_nulls().unique().to_list())),
                   "lof_carrier": carrier, "n": len(x), "estimate": None, "sd": None,
                   "lo": None, "hi": None, "p": None}
            if len(x) >= 2:
                ds = DescrStatsW(x, ddof=1)
                lo, hi = ds.tconfint_mean(0.05)
                row |= {"estimate": float(ds.mean), "sd": float(ds.std), "lo": float(lo),
                        "hi": float(hi)}
                row["caveat"] = (f"{who}: exploratory, not powered; the 95% CI of the mean "
                                 f"spans {_fmt(lo)} to {_fmt(hi)}")
            else:
                if len(x) == 1:
                    row["estimate"] = float(x[0])
                row["caveat"] = f"not estimable: {who} (fewer than 2 subjects)"
            rows.append(row)
    rows.append(_interaction(d, value, cells, total))
    return pl.DataFrame(rows, schema={
        "statistic": pl.String, "arm": pl.String, "trt01p": pl.String, "lof_carrier": pl.Int8,
        "n": pl.Int64, "estimate": pl.Float64, "sd": pl.Float64, "lo": pl.Float64,
        "hi": pl.Float64, "p": pl.Float64, "caveat": pl.String})


def _interaction(d: pl.DataFrame, value: str, cells: dict, total: int) -> dict:
    row = {"statistic": "interaction", "arm": "treated - control", "trt01p": None,
           "lof_carrier": None, "n": d.height, "estimate": None, "sd": None, "lo": None,
           "hi": None, "p": None}
    counts = ", ".join(f"{n} {'carriers' if c else 'non-carriers'} on {a}"
                       for (a, c), n in cells.items())
    scope = f"{d.height} of {total} subjects are lake patients with a known genotype"
    small = [k for k, n in cells.items() if n < 2]
    if not d.height:
        return row | {"caveat": f"not estimable: no trial subject is a lake patient with a known "
                                f"genotype and a value ({total} subjects)"}
    if small:
        why = ("single-arm trial (no control)" if all(cells[(a, c)] == 0 for a, c in cells
                                                     if a == "control")
               else "a cell has fewer than 2 subjects")
        return row | {"caveat": f"not estimable: {why} ({counts}); {scope}"}
    t = d["treated"].cast(pl.Float64).to_numpy()
    g = d["lof_carrier"].cast(pl.Float64).to_numpy()
    cols, names = [np.ones_like(t), t, g, t * g], ["const", "treated", "lof_carrier", "interaction"]
    adjusted = "base" in d.columns and d["base"].null_count() == 0 and d["base"].n_unique() > 1
    if adjusted:
        cols.append(d["base"].cast(pl.Float64).to_numpy())
        names.append("base")
    X = np.column_stack(cols)
    if X.shape[0] <= X.shape[1]:
        return row | {"caveat": f"not estimable: {d.height} subjects for {X.shape[1]} "
                                f"parameters ({counts}); {scope}"}
    fit = sm.OLS(d[value].cast(pl.Float64).to_numpy(), X).fit()
    lo, hi = fit.conf_int(0.05)[3]
    est, p = float(fit.params[3]), float(fit.pvalues[3])
    reading = ("it includes 0: consistent with no genotype difference in the treatment effect "
               "as well as with a sizeable one of either sign" if lo <= 0 <= hi else
               "it excludes 0, but with these numbers one or two subjects can move it: confirm "
               "in an independent cohort before acting on it")
    return row | {"estimate": est, "lo": float(lo), "hi": float(hi), "p": p,
                  "caveat": f"exploratory, not powered ({counts}); the interaction 95% CI "
                            f"spans {_fmt(lo)} to {_fmt(hi)}: {reading}; {scope}; "
                            f"{'adjusted for base' if adjusted else 'not adjusted for base'}"}
