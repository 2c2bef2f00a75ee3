"""Phenotype evidence, the gene-ranking model and its scores."""

import json

import dagster as dg
import polars as pl

from models import phenotype, ranker
from models.hpo_index import INDEX_FILENAME
from models.exomiser_style import exomiser_phenotype
from models.explain import add_explanations
from models.fingerprint import UNCHANGED
from models.ranker_data import RANKER_SERVICE
from orchestration.assets.features import feature_key
from orchestration.assets.isolation import isolated
from orchestration.feature_store.store import feature_store
from orchestration.feature_store.training import ranker_scoring_frame, ranker_training_frame
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.metadata import cv_key, interval, metrics_table, rounded
from orchestration.resources import LakeResource
from orchestration.settings import Evidence, evidence_relpath

RANKER_DIR = "gene_ranker"


@dg.multi_asset(
    group_name="clinical",   # phenotype evidence: the clinical domain (orchestration/groups.py)
    specs=[
        dg.AssetSpec("phenotype_evidence", kinds={"python", "parquet"},
                     deps=["stg_phenotypes", "phenotype_index"],
                     description="Per patient × gene HPO similarity (Resnik best-match "
                                 "average against the gene and its best disease; the "
                                 "share of excluded terms that disease has), and a "
                                 "LIRICAL-style likelihood ratio of the observed and "
                                 "excluded terms for the gene's best disease "
                                 "(pheno_lr_log10, pheno_lr_disease_id, pheno_lr_post), "
                                 "and Exomiser's human-disease (PhenoDigm) score with "
                                 "Resnik similarity (pheno_phenodigm)."),
        dg.AssetSpec("patient_disease_matches", kinds={"python", "parquet"},
                     deps=["stg_phenotypes", "phenotype_index"],
                     description="The diseases whose HPO profiles best match each "
                                 "patient: the phenotype clusters behind cohorts."),
    ],
)
@isolated("clinical", [evidence_relpath(Evidence.PHENOTYPE_EVIDENCE),
                       evidence_relpath(Evidence.PATIENT_DISEASE_MATCHES)])
def phenotype_scoring(context: dg.AssetExecutionContext, lake: LakeResource):
    """Score every patient's HPO terms against every gene and disease of the release."""
    paths = lake.paths
    index = phenotype.PhenotypeIndex.load(paths.reference / INDEX_FILENAME)
    terms = read_model(paths, "stg_phenotypes").select("patient_id", "hpo_id", "excluded")
    evidence, match_df = phenotype.score_patients_with_matches(index, terms, k=5)
    # Exomiser's phenotype score, a separate scorer of the same terms: on published cases it
    # ranks the causal gene first more often than the Resnik set similarities alone
    phenodigm = exomiser_phenotype(index, terms).rename({"exomiser_pheno": "pheno_phenodigm"})
    evidence = evidence.join(phenodigm.with_columns(pl.col("patient_id").cast(
        evidence.schema["patient_id"])), on=["patient_id", "gene_symbol"], how="left")
    write_parquet_atomic(evidence, paths.evidence_file(Evidence.PHENOTYPE_EVIDENCE))
    write_parquet_atomic(match_df, paths.evidence_file(Evidence.PATIENT_DISEASE_MATCHES))

    yield dg.MaterializeResult(asset_key="phenotype_evidence", metadata={
        "patients": evidence["patient_id"].n_unique(), "rows": evidence.height})
    yield dg.MaterializeResult(asset_key="patient_disease_matches", metadata={
        "patients": match_df["patient_id"].n_unique(),
        "preview": dg.MetadataValue.md(markdown_preview(match_df.filter(
            pl.col("match_rank") == 1)))})


@dg.asset(group_name="models", kinds={"xgboost", "feast"},
          deps=[feature_key("patient_gene_evidence"), feature_key("gene_ranker_labels")])
@isolated("patients", [f"models/{RANKER_DIR}/{ranker.META_FILE}"])
def gene_ranking_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """The gene ranker this lake uses: the shipped model (XGBoost, trained on thousands of
    replayed published cases and simulated patients, measured by gene-grouped
    cross-validation, scores calibrated to the probability that a gene is the patient's causal
    gene), refined on this lake's own solved patients only when that ranks the lake's
    held-out solved patients better. The metadata says which model is used and why, with its
    held-out figures. Training rows come from feature service target_ranking_v1 as of the
    time each diagnosis reached the lake (Feast point-in-time join). Content-addressed: the
    same training frame and shipped model reuse the saved decision instead of refitting."""
    from orchestration.ranker_training import SHIPPED_DIR

    paths = lake.paths
    shipped = ranker.load(SHIPPED_DIR)
    features, unusable = ranker_training_frame(paths, feature_store(paths))
    if unusable:
        context.log.warning("%d solved patient(s) had no candidate evidence when their diagnosis "
                            "reached the lake and are not trained on: %s", len(unusable),
                            ", ".join(unusable[:10]))
    if features.is_empty():
        features = read_model(paths, "int_patient_gene_features").clear()
    content = ranker.fingerprint(features, base=shipped.fingerprint)
    artifact = ranker.reuse(paths.models / RANKER_DIR, content)
    training = UNCHANGED if artifact is not None else "decided"
    if artifact is None:
        artifact, decision = ranker.refine(shipped, features)
        artifact.metrics = {**shipped.metrics, "lake": decision}
        artifact.fingerprint = content
        ranker.save(artifact, paths.models / RANKER_DIR)
    metrics = artifact.metrics
    decision = metrics.get("lake", {})
    context.log.info("gene ranker %s (%s): %s model — %s", artifact.model_version, training,
                     decision.get("model"), decision.get("why"))
    return dg.MaterializeResult(metadata={
        "model": decision.get("model", artifact.origin),
        "why": decision.get("why", ""),
        "training": training,
        "model_version": artifact.model_version,
        "ranking_method": artifact.ranking_method,
        "n_train_patients": artifact.n_train_patients,
        "n_solved_without_features_at_diagnosis": len(unusable),
        "feature_service": RANKER_SERVICE,
        # cv_* figures, summary and lake_cv tables, rounded metrics (orchestration/metadata.py)
        **ranker_metadata(json.loads(json.dumps(metrics, default=str)), decision),
    })


@dg.asset(group_name="models", kinds={"python", "parquet", "feast"},
          deps=["gene_ranking_model", "int_patient_gene_features", feature_key("patient_gene_evidence")])
@isolated("patients", [evidence_relpath(Evidence.GENE_SCORES)])
def gene_scores(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every candidate gene of every patient scored and ranked by the trained model on the
    current values of feature service target_ranking_v1, with each feature's contribution
    to the score and the top reasons in words."""
    paths = lake.paths
    artifact = ranker.load(paths.models / RANKER_DIR)
    candidates = read_model(paths, "int_patient_gene_features")
    unserved = 0
    if candidates.height:
        candidates = ranker_scoring_frame(feature_store(paths), candidates)
        unserved = candidates.filter(pl.all_horizontal(pl.col(ranker.FEATURES).is_null())).height
        if unserved:
            context.log.warning("%d candidate(s) have no features in target_ranking_v1 (feature "
                                "tables behind the marts?); they score as no evidence", unserved)
    scored = add_explanations(ranker.score(artifact, candidates))
    write_parquet_atomic(scored, paths.evidence_file(Evidence.GENE_SCORES))
    top = scored.filter((pl.col("rank") == 1) & ~pl.col("is_training"))
    return dg.MaterializeResult(metadata={
        "rows": scored.height,
        "candidates_without_features": unserved,
        "patients": scored["patient_id"].n_unique(),
        "ranking_method": artifact.mode,
        "top_genes_unsolved": dg.MetadataValue.md(markdown_preview(
            top.select("patient_id", "gene_symbol", "score", "top_reasons"))),
    })


# the gene ranker's figures, as gene_ranking_model reports them
_KS = (1, 5, 10)


def ranker_metadata(metrics: dict, decision: dict | None = None) -> dict:
    """The gene ranker's figures as asset metadata, named by the rules of
    orchestration/metadata.py: the shipped
    model's gene-grouped cross-validation as ``cv_top<k>`` (ranker), ``cv_top<k>_ci95``,
    ``cv_top<k>_<baseline>``, ``cv_patients``, ``cv_genes``, ``cv_scope``; calibration
    as ``calibration_<set>_<brier|ece>``; a ``summary`` table (one row per method); the
    lake's own refinement check (k-fold cross-validation on its solved patients) as the
    ``lake_cv`` table; and ``metrics``, the whole record rounded."""
    out: dict = {"cv_scope": metrics.get("evaluation_scope", "")}
    table: dict[str, dict] = {}
    by_method = metrics.get("recall_gene_cv") or {}
    for method in sorted(by_method, key=lambda m: (m != "ranker", m)):
        r = by_method[method]
        name = None if method == "ranker" else method
        row: dict = {}
        for k in _KS:
            cell = r.get(f"top{k}") or {}
            if cell.get("value") is None:
                continue
            out[cv_key(f"top{k}", name)] = rounded(cell["value"])
            ci = interval(cell.get("lo"), cell.get("hi"))
            if method == "ranker" and ci:
                out[cv_key(f"top{k}_ci95")] = ci
            row[f"top-{k}"] = rounded(cell["value"])
            row[f"top-{k} 95% CI"] = ci
        row["patients"], row["genes"] = r.get("n_patients"), r.get("n_genes")
        table[method] = row
        if method == "ranker":
            out[cv_key("patients")] = r.get("n_patients", 0)
            out[cv_key("genes")] = r.get("n_genes", 0)
    if table:
        out["summary"] = dg.MetadataValue.md(
            f"{metrics.get('evaluation_scope', 'cross-validation')}\n\n" + metrics_table(table))
    for which in ("top1", "all_candidates"):
        cal = (metrics.get("calibration") or {}).get(which) or {}
        label = "top1" if which == "top1" else "all"
        if cal.get("brier") is not None:
            out[f"calibration_{label}_brier"] = rounded(cal["brier"])
            out[f"calibration_{label}_ece"] = rounded(cal.get("ece"))
        if which == "top1" and cal.get("bins"):
            bins = {b.get("bin", str(i)): {k: v for k, v in b.items() if k != "bin"}
                    for i, b in enumerate(cal["bins"])}
            out["reliability_top1"] = dg.MetadataValue.md(metrics_table(bins, index="bin"))
    lake = (decision or {}).get("heldout_recall")  # the saved name; it is k-fold CV
    if lake:
        rows = {model: {f"top-{k}": r.get(f"recall_at_{k}") for k in _KS}
                | {"patients": r.get("n_patients"),
                   "causal gene not a candidate": r.get("n_causal_not_candidate")}
                for model, r in lake.items()}
        out["lake_cv"] = dg.MetadataValue.md(metrics_table(rows, index="model"))
    out["metrics"] = dg.MetadataValue.json(rounded(metrics))
    return out
