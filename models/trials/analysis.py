"""Per study: which analysis data to use, and every statistic of the trial marts.

A sponsor may send ADaM, SDTM or both. Per study and per analysis dataset, what the sponsor
sent wins (ADSL, ADAE, ADTTE, BDS: ``adam.normalize_*``); what it did not send is derived
from its SDTM domains the way ADaM does (``adam.derive_*``). A study with ADaM ADSL but
SDTM AE gets its ADAE derived against the sent ADSL, and so on.

The statistics then run on every study at once (the functions of ``stats`` group by
``studyid``): every BDS parameter with a post-baseline value gets its change from
baseline per visit and an ANCOVA at its last scheduled visit; every ADTTE parameter its
Kaplan–Meier summary and, with two or more arms, the log-rank test and Cox hazard ratio.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import polars as pl

from models.trials import adam, stats

TABLES = ("adsl", "adae", "adtte", "bds")


def _studies(tables: dict[str, pl.DataFrame]) -> list[str]:
    ids: set[str] = set()
    for name in ("trial_dm", "trial_adsl"):
        df = tables.get(name)
        if df is not None and df.height:
            ids |= set(df["studyid"].drop_nulls().to_list())
    return sorted(ids)


def _of(df: pl.DataFrame | None, study: str) -> pl.DataFrame:
    if df is None:
        return pl.DataFrame()
    return df.filter(pl.col("studyid") == study) if df.height else df


def _sent_or_derived(sent: pl.DataFrame, normalize: Callable, derive: Callable) -> pl.DataFrame:
    return normalize(sent) if sent.height else derive()


def study_analysis_data(tables: dict[str, pl.DataFrame], study: str) -> dict[str, pl.DataFrame]:
    """ADSL, ADAE, ADTTE and BDS of one study (module doc)."""
    t = {name: _of(df, study) for name, df in tables.items()}
    dm, ex, ds, ae = (t.get(n, pl.DataFrame()) for n in ("trial_dm", "trial_ex", "trial_ds", "trial_ae"))
    adsl = _sent_or_derived(t.get("trial_adsl", pl.DataFrame()), adam.normalize_adsl,
                            lambda: adam.derive_adsl(dm, ex, ds, ae))
    adae = _sent_or_derived(t.get("trial_adae", pl.DataFrame()), adam.normalize_adae,
                            lambda: adam.derive_adae(ae, adsl))
    adtte = _sent_or_derived(t.get("trial_adtte", pl.DataFrame()), adam.normalize_adtte,
                             lambda: adam.derive_adtte(adsl, ds, adae))
    bds = _sent_or_derived(t.get("trial_adbds", pl.DataFrame()), adam.normalize_bds,
                           lambda: adam.derive_bds(t.get("trial_findings", pl.DataFrame()), adsl))
    return {"adsl": adsl, "adae": adae, "adtte": adtte, "bds": bds}


def empty_analysis_data() -> dict[str, pl.DataFrame]:
    return {"adsl": pl.DataFrame(schema=adam.ADSL_SCHEMA), "adae": pl.DataFrame(schema=adam.ADAE_SCHEMA),
            "adtte": pl.DataFrame(schema=adam.ADTTE_SCHEMA), "bds": pl.DataFrame(schema=adam.BDS_SCHEMA)}


def analysis_data(tables: dict[str, pl.DataFrame], failures: dict[str, str] | None = None
                  ) -> dict[str, pl.DataFrame]:
    """Every study's ADSL, ADAE, ADTTE and BDS, stacked (typed and empty without studies).
    A study whose data cannot be derived is left out with its error in ``failures``
    (studyid → error): one study's problem never stops the others."""
    out = empty_analysis_data()
    parts = {name: [frame] for name, frame in out.items()}
    for study in _studies(tables):
        try:
            derived = {name: adam.conform(frame, out[name].schema)
                       for name, frame in study_analysis_data(tables, study).items()}
        except Exception as exc:  # noqa: BLE001 - recorded per study, the others go on
            if failures is None:
                raise
            failures[study] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        for name, frame in derived.items():
            parts[name].append(frame)
    return {name: pl.concat(frames, how="vertical") for name, frames in parts.items()}


def efficacy_all(bds: pl.DataFrame, adsl: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(change from baseline per visit, ANCOVA / single-arm change) for every parameter with
    a post-baseline change, each at its last scheduled visit."""
    visits = [pl.DataFrame(schema=stats.CHANGE_SCHEMA)]
    ancova = [pl.DataFrame(schema=stats.ANCOVA_SCHEMA)]
    if bds.height:
        for paramcd in sorted(bds.filter(pl.col("chg").is_not_null())["paramcd"].unique().to_list()):
            v, a = stats.efficacy(bds, adsl, paramcd)
            visits.append(v)
            ancova.append(a)
    return pl.concat(visits, how="vertical"), pl.concat(ancova, how="vertical")


def _study_statistics(data: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    adsl, adae, adtte, bds = (data[n] for n in TABLES)
    visits, ancova = efficacy_all(bds, adsl)
    tte, tests = stats.time_to_event(adtte, adsl)
    return {"demographics": stats.demographics(adsl), "adverse_events": stats.ae_incidence(adae, adsl),
            "efficacy_visits": visits, "efficacy_ancova": ancova,
            "time_to_event": tte, "time_to_event_tests": tests}


def statistics(data: dict[str, pl.DataFrame], failures: dict[str, str] | None = None
               ) -> dict[str, pl.DataFrame]:
    """demographics, adverse_events, efficacy_visits, efficacy_ancova, time_to_event,
    time_to_event_tests for every study in ``data`` (``analysis_data``'s output), study by
    study: a study whose statistics fail is left out with its error in ``failures``."""
    out = empty_statistics()
    parts = {name: [frame] for name, frame in out.items()}
    studies = sorted(data["adsl"]["studyid"].unique().to_list()) if data["adsl"].height else []
    for study in studies:
        try:
            mine = _study_statistics({n: f.filter(pl.col("studyid") == study) for n, f in data.items()})
        except Exception as exc:  # noqa: BLE001 - recorded per study, the others go on
            if failures is None:
                raise
            failures[study] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        for name, frame in mine.items():
            parts[name].append(frame.cast(out[name].schema))
    return {name: stable(pl.concat(frames, how="vertical")) for name, frames in parts.items()}


# Significant digits the statistics are stored with: far beyond what they mean, and short
# of the last bits, which depend on the order float sums see their rows in (a join's
# output order is not fixed), so a refresh with nothing new writes the same values.
STORED_DIGITS = 12


def stable(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every float rounded to ``STORED_DIGITS`` significant digits."""
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).round_sig_figs(STORED_DIGITS)) if floats else frame


def empty_statistics() -> dict[str, pl.DataFrame]:
    return _study_statistics(empty_analysis_data())


# --- predictions ------------------------------------------------------------------------

RISK_SCHEMA = {"studyid": pl.String, "outcome": pl.String, "population": pl.String,
               "estimable": pl.Boolean, "n": pl.Int64, "events": pl.Int64,
               "auc": pl.Float64, "auc_lo": pl.Float64, "auc_hi": pl.Float64,
               "auc_cv_mean": pl.Float64, "auc_cv_lo": pl.Float64, "auc_cv_hi": pl.Float64,
               "calibration_intercept": pl.Float64, "calibration_intercept_lo": pl.Float64,
               "calibration_intercept_hi": pl.Float64, "calibration_slope": pl.Float64,
               "calibration_slope_lo": pl.Float64, "calibration_slope_hi": pl.Float64,
               "brier": pl.Float64, "features": pl.String, "odds_ratios_per_sd": pl.String,
               "note": pl.String}
SUBGROUP_SCHEMA = {"studyid": pl.String, "paramcd": pl.String, "target_gene": pl.String,
                   "statistic": pl.String, "arm": pl.String, "trt01p": pl.String,
                   "lof_carrier": pl.Int8, "n": pl.Int64, "estimate": pl.Float64, "sd": pl.Float64,
                   "lo": pl.Float64, "hi": pl.Float64, "p": pl.Float64, "caveat": pl.String}
# A responder: the primary parameter fell by at least this share of its baseline at the
# analysis visit (a disease biomarker, lower is better, as the simulated trials' are).
RESPONSE_DROP = 0.30


def primary_parameter(bds: pl.DataFrame, outcome_measure: str | None) -> str | None:
    """The study's primary efficacy parameter: the BDS parameter whose name (PARAM) or code
    the trial summary's primary outcome measure (TS OUTMSPRI) mentions; else the parameter
    with a change from baseline in the most subjects (ties: by code)."""
    with_chg = bds.filter(pl.col("chg").is_not_null())
    if with_chg.is_empty():
        return None
    params = with_chg.group_by("paramcd", "param").agg(pl.col("usubjid").n_unique().alias("n"))
    text = (outcome_measure or "").lower()

    def named_in_text(name: str | None, whole_word: bool) -> bool:
        # a code (ALT, HR) only as a whole word, so it never matches inside another word
        if not name:
            return False
        name = name.lower()
        return bool(re.search(rf"\b{re.escape(name)}\b", text)) if whole_word else name in text

    named = params.filter(
        pl.col("param").map_elements(lambda p: named_in_text(p, False), return_dtype=pl.Boolean)
        | pl.col("paramcd").map_elements(lambda p: named_in_text(p, True), return_dtype=pl.Boolean))
    pick = named if named.height else params
    return pick.sort(["n", "paramcd"], descending=[True, False])["paramcd"][0]


def _analysis_visit(rows: pl.DataFrame) -> pl.DataFrame:
    """Each subject's change at the analysis visit (stats: the last scheduled visit)."""
    vn = stats.last_scheduled(rows)
    at = rows.filter(pl.col("avisitn") == vn) if vn is not None else rows.clear()
    if "anl01fl" in at.columns and at["anl01fl"].drop_nulls().len():
        at = at.filter(pl.col("anl01fl") == "Y")
    return at.filter(pl.col("chg").is_not_null()).unique("usubjid", keep="first", maintain_order=True)


def _risk_row(study: str, outcome: str, population: str, result: dict) -> dict:
    import json

    row = {"studyid": study, "outcome": outcome, "population": population,
           "estimable": bool(result.get("estimable")), "n": result.get("n"),
           "events": result.get("events")}
    if not result.get("estimable"):
        return row | {"note": f"not estimable: {result.get('reason', '')}"}
    auc, pooled, cal = result["auc"], result["auc_pooled"], result["calibration"]
    note = result.get("caveat")
    if pooled["lo"] <= 0.5:
        # with no signal, cross-validated AUCs fall below 0.5 (each held-out fold is ranked
        # by a model fitted on its complement): not a reversed risk, and the bootstrap
        # interval, which treats the out-of-fold predictions as fixed, is too narrow
        note = ("no evidence the model ranks better than chance (its AUC interval does not lie above 0.5"
                + (", and an out-of-fold AUC below 0.5 is what cross-validation gives without "
                   "a signal" if pooled["value"] < 0.5 else "") + f"); {note}")
    return row | {
        "auc": pooled["value"], "auc_lo": pooled["lo"], "auc_hi": pooled["hi"],
        "auc_cv_mean": auc["mean"], "auc_cv_lo": auc["lo"], "auc_cv_hi": auc["hi"],
        **{f"calibration_{k}{s}": cal[k].get(v) for k in ("intercept", "slope")
           for s, v in (("", "value"), ("_lo", "lo"), ("_hi", "hi"))},
        "brier": result["brier"], "features": ", ".join(result["features"]),
        "odds_ratios_per_sd": json.dumps({c["feature"]: round(c["odds_ratio_per_sd"], 3)
                                          for c in result["coefficients"]}),
        "note": note}


def study_predictions(adsl: pl.DataFrame, adae: pl.DataFrame, bds: pl.DataFrame,
                      genotype: pl.DataFrame, outcome_measure: str | None, target_gene: str | None
                      ) -> tuple[list[dict], pl.DataFrame]:
    """One study's risk/response model rows and its genotype-subgroup efficacy."""
    from models.trials import prediction as pr

    study = adsl["studyid"][0]
    geno = genotype.select("usubjid", "lof_carrier")
    paramcd = primary_parameter(bds, outcome_measure)
    chg = _analysis_visit(bds.filter(pl.col("paramcd") == paramcd)) if paramcd else bds.clear()
    serious = adae.filter((pl.col("trtemfl") == "Y")
                          & ((pl.col("aeser") == "Y") | (pl.col("aesev") == "SEVERE")))
    outcomes = {
        "discontinued": ("ittfl", pr.discontinuation_outcome(adsl)),
        "serious_or_severe_teae": ("saffl", adsl.select(
            "usubjid", pl.col("usubjid").is_in(serious["usubjid"].unique().to_list()).cast(pl.Int8)
            .alias("serious_or_severe_teae"))),
    }
    if chg.height:
        outcomes[f"response_{paramcd}"] = ("ittfl", pr.response_outcome(
            chg.select("usubjid", "base", "chg"), threshold=RESPONSE_DROP, direction="decrease")
            .select("usubjid", pl.col("response").alias(f"response_{paramcd}")))
    rows = []
    for name, (population, outcome) in outcomes.items():
        if adsl.filter(pl.col(population) == "Y").is_empty():
            rows.append(_risk_row(study, name, population, {
                "estimable": False, "reason": f"no subject of the study is in the population ({population} = Y)"}))
            continue
        try:
            frame = pr.build_frame(adsl, outcome, geno, population=population)
            result = pr.evaluate_risk_model(frame, name)
        except ValueError as exc:          # e.g. no control arm recognisable: said, not raised
            result = {"estimable": False, "reason": str(exc)}
        rows.append(_risk_row(study, name, population, result))
    subgroups = pl.DataFrame(schema=SUBGROUP_SCHEMA)
    if chg.height and geno.height:
        try:
            frame = pr.build_frame(adsl, chg.select("usubjid", "base", "chg"), geno, population="ittfl")
            subgroups = pr.subgroup_efficacy(frame, "chg").with_columns(
                pl.lit(study).alias("studyid"), pl.lit(paramcd).alias("paramcd"),
                pl.lit(target_gene).alias("target_gene")).select(list(SUBGROUP_SCHEMA)).cast(SUBGROUP_SCHEMA)
        except ValueError as exc:
            subgroups = pl.DataFrame([{"studyid": study, "paramcd": paramcd, "target_gene": target_gene,
                                       "statistic": "interaction", "caveat": f"not estimable: {exc}"}],
                                     schema=SUBGROUP_SCHEMA)
    return rows, subgroups


def predictions(adsl: pl.DataFrame, adae: pl.DataFrame, bds: pl.DataFrame, genotype: pl.DataFrame,
                outcome_measures: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(risk models, genotype subgroups) of every study: discontinuation (ITT), a serious or
    severe TEAE (safety population) and response on the primary parameter (ITT), each from
    age, sex, baseline, LoF carrier status and arm (models/trials/prediction.py); efficacy by
    LoF carrier status in the study's target gene for the subjects who are lake patients."""
    rows, parts = [], [pl.DataFrame(schema=SUBGROUP_SCHEMA)]
    for study in sorted(adsl["studyid"].unique().to_list()) if adsl.height else []:
        mine = [f.filter(pl.col("studyid") == study) for f in (adsl, adae, bds, genotype)]
        gene = mine[3]["target_gene"][0] if mine[3].height else None
        try:
            r, s = study_predictions(*mine, outcome_measures.get(study), gene)
        except Exception as exc:  # noqa: BLE001 - said in the study's row, the others go on
            r, s = [{"studyid": study, "outcome": "all", "estimable": False,
                     "note": f"not estimable: the models failed ({type(exc).__name__}: {exc})"[:500]}], None
        rows += r
        if s is not None:
            parts.append(s)
    return (stable(pl.DataFrame(rows, schema=RISK_SCHEMA) if rows else pl.DataFrame(schema=RISK_SCHEMA)),
            stable(pl.concat(parts, how="vertical")))
