"""Clinical validation: trial data in, analysis data, efficacy and safety statistics and
risk models out (the ``trials`` group).

``landing/trials/<study>/`` → ``raw_trials`` (each SDTM domain / ADaM dataset conformed to
lake/trial_schemas.py; ingest/trials.py) → dbt staging (``stg_trial_*``) →
``trial_analysis_data`` (the checks across a study's files, then ADaM: derived from SDTM
the way ADaM does when the sponsor sent no ADaM, models/trials/adam.py) →
``trial_statistics`` (demographics, treatment-emergent AE incidence, change from baseline
and ANCOVA, Kaplan–Meier / log-rank / Cox: models/trials/stats.py, lifelines and
statsmodels) and ``trial_predictions`` (risk and response models from baseline and
genotype, efficacy by genotype subgroup: models/trials/prediction.py) → the marts
``trial_subjects``, ``trial_demographics``, ``trial_adverse_events``, ``trial_efficacy``,
``trial_time_to_event``.

A failure here never stops another domain's refresh (``isolated``): the trials keep their
last good outputs and everything else publishes.
"""

import dagster as dg
import polars as pl

from orchestration.assets.ingest import report_ingest
from orchestration.assets.isolation import isolated
from orchestration.ingest import runner
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.resources import LakeResource
from orchestration.settings import TRIAL_TABLES, Evidence, LakePaths, evidence_relpath
from orchestration.trial_figures import trial_figures

TRIAL_STAGING = [f"stg_{t}" for t in TRIAL_TABLES]
ANALYSIS_DATA = (Evidence.TRIAL_ADSL, Evidence.TRIAL_ADAE, Evidence.TRIAL_ADTTE, Evidence.TRIAL_BDS,
                 Evidence.TRIAL_LINKS, Evidence.TRIAL_REFUSALS)
# analysis.statistics() output name → its evidence file
STATISTICS_FILES = {"demographics": Evidence.TRIAL_DEMOGRAPHICS, "adverse_events": Evidence.TRIAL_AE_INCIDENCE,
                    "efficacy_visits": Evidence.TRIAL_EFFICACY_VISITS,
                    "efficacy_ancova": Evidence.TRIAL_EFFICACY_ANCOVA,
                    "time_to_event": Evidence.TRIAL_TTE_SUMMARY, "time_to_event_tests": Evidence.TRIAL_TTE_TESTS}
STATISTICS = tuple(STATISTICS_FILES.values())
PREDICTIONS = (Evidence.TRIAL_RISK_MODELS, Evidence.TRIAL_SUBGROUPS)
PREVIEW = 12


RAW_DESCRIPTIONS = {
    "trial_dm": "SDTM DM: one row per subject (arm, reference dates, demographics).",
    "trial_ae": "SDTM AE: adverse events (MedDRA terms as coded).",
    "trial_ex": "SDTM EX: exposure to the study treatment.",
    "trial_ds": "SDTM DS: disposition events and protocol milestones.",
    "trial_findings": "SDTM findings (LB, VS, QS, EG …), the --prefix dropped.",
    "trial_design": "SDTM trial design domains (TS, TA, TE, TI, TV).",
    "trial_adsl": "ADaM ADSL as the sponsor sent it.",
    "trial_adae": "ADaM ADAE as the sponsor sent it.",
    "trial_adtte": "ADaM ADTTE as the sponsor sent it.",
    "trial_adbds": "ADaM BDS datasets (ADLB, ADQS, ADVS …) as the sponsor sent them.",
    "trial_links": "The study's patient_links.csv: trial subjects who are lake patients.",
}


@dg.multi_asset(
    group_name="trials",
    specs=[dg.AssetSpec(f"raw_{t}", kinds={"sas", "parquet"}, deps=["raw_patients"],
                        description=RAW_DESCRIPTIONS[t]) for t in TRIAL_TABLES],
)
def raw_trials(context: dg.AssetExecutionContext, lake: LakeResource):
    """Clinical-trial datasets from landing/trials/<study>/: SDTM domains and ADaM datasets
    as SAS transport v5 (.xpt), CDISC Dataset-JSON or CSV, and the study's
    patient_links.csv; keys, ISO 8601 dates and direct identifiers checked per file."""
    meta = report_ingest(context, runner.ingest_trials(lake.paths))
    for t in TRIAL_TABLES:
        yield dg.MaterializeResult(asset_key=f"raw_{t}", metadata=meta if t == "trial_dm" else None)


def _write(paths: LakePaths, frames: dict[Evidence, pl.DataFrame]) -> None:
    for name, frame in frames.items():
        write_parquet_atomic(frame, paths.evidence_file(name))


def _analysis_data(paths: LakePaths, empty: bool = False) -> dict[Evidence, pl.DataFrame]:
    from models.trials.analysis import analysis_data
    from orchestration.ingest.trial_checks import check_study_tables, study_failures

    tables = {t: read_model(paths, f"stg_{t}") for t in TRIAL_TABLES}
    patients = read_model(paths, "stg_patients")
    if empty:
        tables = {t: f.clear() for t, f in tables.items()}
    tables, refusals = check_study_tables(tables, set(patients["patient_id"].to_list()))
    failures: dict[str, str] = {}
    data = analysis_data(tables, failures)
    refusals = pl.concat([refusals, study_failures(tables, failures)], how="vertical")
    links = tables["trial_links"].select("studyid", "usubjid", "patient_id")
    return {Evidence.TRIAL_ADSL: data["adsl"], Evidence.TRIAL_ADAE: data["adae"],
            Evidence.TRIAL_ADTTE: data["adtte"], Evidence.TRIAL_BDS: data["bds"],
            Evidence.TRIAL_LINKS: links, Evidence.TRIAL_REFUSALS: refusals}


def _specs(names, kinds: set[str], deps: list[str], what: dict) -> list[dg.AssetSpec]:
    return [dg.AssetSpec(str(n.value), kinds=kinds, deps=deps, description=what[n]) for n in names]


ANALYSIS_WHAT = {
    Evidence.TRIAL_ADSL: "ADSL per study: as sent, or derived from DM, EX and DS (models/trials/adam.py).",
    Evidence.TRIAL_ADAE: "ADAE per study: treatment-emergent flags, analysis dates and days.",
    Evidence.TRIAL_ADTTE: "ADTTE per study: time to progression or death, to discontinuation, to the first TEAE.",
    Evidence.TRIAL_BDS: "BDS per study (ADLB, ADVS, ADQS …): baseline, change from baseline per visit.",
    Evidence.TRIAL_LINKS: "Trial subjects who are lake patients (patient_links.csv, checked).",
    Evidence.TRIAL_REFUSALS: "What the checks across a study's files refused, with the reason.",
}


@dg.multi_asset(group_name="trials",
                specs=_specs(ANALYSIS_DATA, {"python", "parquet"}, [*TRIAL_STAGING, "stg_patients"],
                             ANALYSIS_WHAT))
@isolated("trials", [evidence_relpath(e) for e in ANALYSIS_DATA],
          fallback=lambda paths: _write(paths, _analysis_data(paths, empty=True)))
def trial_analysis_data(context: dg.AssetExecutionContext, lake: LakeResource):
    """Per study, the records that pass the checks across its files (a subject in two arms,
    a record of a subject not in DM, a link to no lake patient: refused with the reason),
    then ADaM: ADSL, ADAE, ADTTE and BDS as the sponsor sent them, or derived from SDTM
    (treatment-emergent flags, analysis days, baselines, censoring; models/trials/adam.py)."""
    paths = lake.paths
    out = _analysis_data(paths)
    _write(paths, out)
    adsl, refusals = out[Evidence.TRIAL_ADSL], out[Evidence.TRIAL_REFUSALS]
    for r in refusals.head(50).iter_rows(named=True):
        context.log.warning("refused %s %s: %s", r["granularity"], r["locator"], r["reason"])
    studies = (adsl.group_by("studyid").agg(pl.len().alias("subjects"),
                                           pl.col("trt01p").n_unique().alias("arms"))
               .sort("studyid") if adsl.height else adsl)
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_ADSL.value, metadata={
        "studies": adsl["studyid"].n_unique() if adsl.height else 0,
        "subjects": adsl.height,
        "per_study": dg.MetadataValue.md(markdown_preview(studies) if adsl.height else "no trials"),
    })
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_ADAE.value,
                               metadata={"adverse_events": out[Evidence.TRIAL_ADAE].height})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_ADTTE.value,
                               metadata={"rows": out[Evidence.TRIAL_ADTTE].height})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_BDS.value,
                               metadata={"rows": out[Evidence.TRIAL_BDS].height})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_LINKS.value,
                               metadata={"linked_patients": out[Evidence.TRIAL_LINKS].height})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_REFUSALS.value, metadata={
        "refused": refusals.height,
        "reasons": dg.MetadataValue.md(markdown_preview(
            refusals.select("granularity", "locator", "reason"), n=30) if refusals.height else "none"),
    })


def _read(paths: LakePaths, names) -> dict[Evidence, pl.DataFrame]:
    return {n: pl.read_parquet(paths.evidence_file(n)) for n in names}


def _statistics(paths: LakePaths) -> tuple[dict[Evidence, pl.DataFrame], dict[str, str]]:
    from models.trials.analysis import statistics

    d = _read(paths, ANALYSIS_DATA)
    data = {"adsl": d[Evidence.TRIAL_ADSL], "adae": d[Evidence.TRIAL_ADAE],
            "adtte": d[Evidence.TRIAL_ADTTE], "bds": d[Evidence.TRIAL_BDS]}
    failures: dict[str, str] = {}
    out = {STATISTICS_FILES[name]: frame for name, frame in statistics(data, failures).items()}
    return out, failures


def _empty_statistics(paths: LakePaths) -> None:
    from models.trials.analysis import empty_statistics

    _write(paths, {STATISTICS_FILES[name]: frame for name, frame in empty_statistics().items()})


STATISTICS_WHAT = {
    Evidence.TRIAL_DEMOGRAPHICS: "The baseline table per study and arm: n, mean (SD), median, min-max, counts.",
    Evidence.TRIAL_AE_INCIDENCE: "Treatment-emergent AE incidence per arm, SOC and PT, by severity and seriousness, exposure-adjusted.",
    Evidence.TRIAL_EFFICACY_VISITS: "Change from baseline per parameter, visit and arm.",
    Evidence.TRIAL_EFFICACY_ANCOVA: "ANCOVA of the change from baseline at the analysis visit: LS means, differences, CIs.",
    Evidence.TRIAL_TTE_SUMMARY: "Kaplan-Meier medians and landmark estimates with CIs per parameter and arm.",
    Evidence.TRIAL_TTE_TESTS: "Log-rank tests and Cox hazard ratios per parameter.",
}


@dg.multi_asset(group_name="trials",
                specs=_specs(STATISTICS, {"lifelines", "statsmodels", "parquet"},
                             [e.value for e in ANALYSIS_DATA], STATISTICS_WHAT))
@isolated("trials", [evidence_relpath(e) for e in STATISTICS], fallback=_empty_statistics)
def trial_statistics(context: dg.AssetExecutionContext, lake: LakeResource):
    """Per study: the baseline table per arm, treatment-emergent AE incidence (arm × SOC ×
    PT, severity, seriousness, exposure-adjusted rates), change from baseline per visit and
    an ANCOVA (LS means, difference and CI), Kaplan–Meier medians, log-rank and Cox hazard
    ratios; Kaplan–Meier curves with numbers at risk and the AE dot plot as pictures."""
    paths = lake.paths
    out, failures = _statistics(paths)
    _write(paths, out)
    for study, error in failures.items():
        context.log.error("trial %s: its statistics failed and are left out: %s", study, error)
    analysis = _read(paths, (Evidence.TRIAL_ADTTE,))
    gallery = trial_figures(paths, analysis[Evidence.TRIAL_ADTTE], out[Evidence.TRIAL_AE_INCIDENCE],
                            context.log)
    tests, ancova = out[Evidence.TRIAL_TTE_TESTS], out[Evidence.TRIAL_EFFICACY_ANCOVA]
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_DEMOGRAPHICS.value, metadata={
        "rows": out[Evidence.TRIAL_DEMOGRAPHICS].height,
        "studies_failed": dg.MetadataValue.md("\n".join(f"- {s}: {e}" for s, e in failures.items())
                                              or "none")})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_AE_INCIDENCE.value, metadata={
        "rows": out[Evidence.TRIAL_AE_INCIDENCE].height,
        "adverse_events_plot": dg.MetadataValue.md(gallery["adverse_events"])})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_EFFICACY_VISITS.value,
                               metadata={"rows": out[Evidence.TRIAL_EFFICACY_VISITS].height})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_EFFICACY_ANCOVA.value, metadata={
        "ancova": dg.MetadataValue.md(markdown_preview(rounded_frame(
            ancova.sort(["p_value", "studyid"], nulls_last=True)), n=PREVIEW)
            if ancova.height else "no efficacy data")})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_TTE_SUMMARY.value, metadata={
        "kaplan_meier": dg.MetadataValue.md(gallery["kaplan_meier"])})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_TTE_TESTS.value, metadata={
        "hazard_ratios": dg.MetadataValue.md(markdown_preview(rounded_frame(
            tests.sort(["logrank_p", "studyid"], nulls_last=True)), n=PREVIEW)
            if tests.height else "no comparison")})


def rounded_frame(df: pl.DataFrame, digits: int = 3) -> pl.DataFrame:
    """Floats rounded for display (the UI shows metadata as people read it)."""
    return df.with_columns(pl.col(pl.Float64).round(digits))


def _predictions(paths: LakePaths) -> dict[Evidence, pl.DataFrame]:
    from models.trials.analysis import predictions
    from orchestration.trial_genotypes import ts_values

    d = _read(paths, ANALYSIS_DATA)
    design = read_model(paths, "stg_trial_design")
    genotype = trial_genotypes(paths, d[Evidence.TRIAL_LINKS], design)
    risk, subgroups = predictions(d[Evidence.TRIAL_ADSL], d[Evidence.TRIAL_ADAE], d[Evidence.TRIAL_BDS],
                                  genotype, ts_values(design, "OUTMSPRI"))
    return {Evidence.TRIAL_RISK_MODELS: risk, Evidence.TRIAL_SUBGROUPS: subgroups}


def trial_genotypes(paths: LakePaths, links: pl.DataFrame, design: pl.DataFrame) -> pl.DataFrame:
    """(studyid, usubjid, patient_id, target_gene, lof_carrier) for the trial subjects who are
    lake patients. The study's target gene: the screened target of the compound its TS
    names as the treatment (TSPARMCD TRT, a lake compound's name or id), else the gene most of its
    linked patients are diagnosed with; ``lof_carrier``: the patient has a loss-of-function
    call in that gene (int_variant_evidence.var_has_lof; 0 when none)."""
    from orchestration.trial_genotypes import genotypes

    return genotypes(links, design, read_model(paths, "int_compounds"),
                     read_model(paths, "int_hts_compound_calls"), read_model(paths, "stg_diagnoses"),
                     read_model(paths, "int_variant_evidence"))


def _empty_predictions(paths: LakePaths) -> None:
    from models.trials.analysis import RISK_SCHEMA, SUBGROUP_SCHEMA

    _write(paths, {Evidence.TRIAL_RISK_MODELS: pl.DataFrame(schema=RISK_SCHEMA),
                   Evidence.TRIAL_SUBGROUPS: pl.DataFrame(schema=SUBGROUP_SCHEMA)})


PREDICTIONS_WHAT = {
    Evidence.TRIAL_RISK_MODELS: "Risk (discontinuation, serious or severe TEAE) and response models per study: repeated CV AUC and calibration with intervals.",
    Evidence.TRIAL_SUBGROUPS: "Efficacy by genotype subgroup (LoF carriers in the study's target gene vs not), with the small-numbers caveats.",
}


@dg.multi_asset(group_name="trials",
                specs=_specs(PREDICTIONS, {"scikitlearn", "parquet"},
                             [e.value for e in ANALYSIS_DATA] + ["int_variant_evidence", "int_compounds",
                                                                 "int_hts_compound_calls",
                                                                 "stg_diagnoses", "stg_trial_design"],
                             PREDICTIONS_WHAT))
@isolated("trials", [evidence_relpath(e) for e in PREDICTIONS], fallback=_empty_predictions)
def trial_predictions(context: dg.AssetExecutionContext, lake: LakeResource):
    """Per study: who discontinues, who has a serious or severe treatment-emergent AE and
    who responds, predicted from baseline and genotype (repeated cross-validated AUC and
    calibration with their intervals; "not estimable" where the trial is too small), and
    the efficacy by genotype subgroup for the subjects who are lake patients."""
    paths = lake.paths
    out = _predictions(paths)
    _write(paths, out)
    risk, subgroups = out[Evidence.TRIAL_RISK_MODELS], out[Evidence.TRIAL_SUBGROUPS]
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_RISK_MODELS.value, metadata={
        "models": dg.MetadataValue.md(markdown_preview(rounded_frame(
            risk.sort(["estimable", "n"], descending=True, nulls_last=True)), n=PREVIEW)
            if risk.height else "no trials")})
    yield dg.MaterializeResult(asset_key=Evidence.TRIAL_SUBGROUPS.value, metadata={
        "genotype_subgroups": dg.MetadataValue.md(markdown_preview(rounded_frame(subgroups), n=PREVIEW)
                                                  if subgroups.height else "no linked lake patients")})
