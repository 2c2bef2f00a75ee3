"""Phenotype evidence, the gene-ranking model and its scores."""

import json

import dagster as dg
import polars as pl

from models import phenotype, ranker
from models.hpo_index import INDEX_FILENAME
from models.explain import add_explanations
from models.fingerprint import UNCHANGED
from models.ranker_eval import headline_recall
from orchestration.assets.features import feature_key
from orchestration.assets.isolation import isolated
from orchestration.feature_store.store import feature_store
from orchestration.feature_store.training import ranker_scoring_frame, ranker_training_frame
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.resources import LakeResource

RANKER_DIR = "gene_ranker"


@dg.multi_asset(
    group_name="models",
    specs=[
        dg.AssetSpec("phenotype_evidence", kinds={"python", "parquet"},
                     deps=["stg_phenotypes", "phenotype_index"],
                     description="Per patient × gene HPO similarity (Resnik best-match "
                                 "average against the gene and its best disease), with "
                                 "excluded terms counting against."),
        dg.AssetSpec("patient_disease_matches", kinds={"python", "parquet"},
                     deps=["stg_phenotypes", "phenotype_index"],
                     description="The diseases whose HPO profiles best match each "
                                 "patient: the phenotype clusters behind cohorts."),
    ],
)
@isolated("clinical", ["evidence/phenotype_evidence.parquet",
                       "evidence/patient_disease_matches.parquet"])
def phenotype_scoring(context: dg.AssetExecutionContext, lake: LakeResource):
    """Score every patient's HPO terms against every gene and disease of the release."""
    paths = lake.paths
    index = phenotype.PhenotypeIndex.load(paths.reference / INDEX_FILENAME)
    terms = read_model(paths, "stg_phenotypes").select("patient_id", "hpo_id", "excluded")
    evidence, match_df = phenotype.score_patients_with_matches(index, terms, k=5)
    write_parquet_atomic(evidence, paths.evidence / "phenotype_evidence.parquet")
    write_parquet_atomic(match_df, paths.evidence / "patient_disease_matches.parquet")

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
    """XGBoost gene ranker trained on solved patients, with the features of feature service
    target_ranking_v1 as of the time each diagnosis reached the lake (Feast point-in-time
    join). Top-1/5/10 recall of the causal gene comes from 5-fold cross-validation by
    patient, so each solved patient is ranked by a model that never saw them;
    phenotype-only, variant-only and Exomiser-default baselines are measured on the same
    patients. Falls back to Exomiser's logistic weights when too few patients are solved.
    Content-addressed: when the training frame, settings and libraries fingerprint as the
    saved model did, that model is loaded, not retrained."""
    paths = lake.paths
    features, unusable = ranker_training_frame(paths, feature_store(paths))
    if unusable:
        context.log.warning("%d solved patient(s) had no candidate evidence when their diagnosis "
                            "reached the lake and are not trained on: %s", len(unusable),
                            ", ".join(unusable[:10]))
    if features.is_empty():
        # no trainable solved patient: the default-weights fallback needs the columns only
        features = read_model(paths, "int_patient_gene_features").clear()
    content = ranker.fingerprint(features)
    artifact = ranker.reuse(paths.models / RANKER_DIR, content)
    training = UNCHANGED if artifact is not None else "trained"
    if artifact is None:
        artifact = ranker.train(features)
        ranker.save(artifact, paths.models / RANKER_DIR)
    metrics = artifact.metrics
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}
    context.log.info("gene ranker %s (%s): %s", artifact.model_version, training,
                     json.dumps(flat, default=str))
    _, recall = headline_recall(metrics)
    headline = {f"heldout_top{k}" if method == artifact.mode else
                f"heldout_top{k}_{method}": float(scores[f"recall_at_{k}"])
                for method, scores in recall.items() for k in (1, 5, 10)
                if scores.get(f"recall_at_{k}") is not None}
    headline["heldout_patients"] = next(iter(recall.values()), {}).get("n_patients", 0)
    return dg.MaterializeResult(metadata={
        "mode": artifact.mode,
        "training": training,
        "fingerprint": artifact.fingerprint,
        "model_version": artifact.model_version,
        "trained_at": artifact.trained_at,
        "n_train_patients": artifact.n_train_patients,
        "n_solved_without_features_at_diagnosis": len(unusable),
        "feature_service": "target_ranking_v1",
        **headline,
        **flat,
        "metrics": dg.MetadataValue.json(json.loads(json.dumps(metrics, default=str))),
    })


@dg.asset(group_name="models", kinds={"python", "parquet", "feast"},
          deps=["gene_ranking_model", "int_patient_gene_features", feature_key("patient_gene_evidence")])
@isolated("patients", ["evidence/gene_scores.parquet"])
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
    write_parquet_atomic(scored, paths.evidence / "gene_scores.parquet")
    top = scored.filter((pl.col("rank") == 1) & ~pl.col("is_training"))
    return dg.MaterializeResult(metadata={
        "rows": scored.height,
        "candidates_without_features": unserved,
        "patients": scored["patient_id"].n_unique(),
        "ranking_method": artifact.mode,
        "top_genes_unsolved": dg.MetadataValue.md(markdown_preview(
            top.select("patient_id", "gene_symbol", "score", "top_reasons"))),
    })
