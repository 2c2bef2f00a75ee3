"""Compound models: aqueous solubility (real Huuskonen data), activity per screened
target, and the scored, ranked library."""

import hashlib
import json
import shutil

import dagster as dg
import polars as pl

from models.artifact_io import json_safe
from models.compounds import activity, ranking, solubility
from models.fingerprint import UNCHANGED
from orchestration.assets.compounds import PROPERTIES_FILE
from orchestration.assets.features import feature_key
from orchestration.assets.isolation import isolated
from orchestration.feature_store.store import feature_store
from orchestration.feature_store.training import (activity_training_frame, present,
                                                  property_batches)
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.lake.safe_paths import lake_file
from orchestration.resources import LakeResource
from orchestration.truth_eval import truth_metrics

SOLUBILITY_DIR = "solubility"
ACTIVITY_DIR = "compound_activity"
SCORE_BATCH = 5_000


def _solubility_set():
    """The shipped Huuskonen set, standardized, with RDKit properties (row order kept)."""
    from orchestration.chem.properties import compute_structures_parallel
    from orchestration.chem.reference_data import load_solubility

    data = load_solubility()
    structures = compute_structures_parallel(data["smiles"].to_list())
    return (pl.concat([data.select("compound_id", "name", "logS", "split"),
                       structures.drop("input_smiles", "standardization", "error")],
                      how="horizontal")
            .filter(pl.col("inchikey").is_not_null()))


@dg.asset(group_name="compound_models", kinds={"xgboost", "pytorch"})
@isolated("compounds", [f"models/{SOLUBILITY_DIR}/{solubility.META_FILE}"])
def solubility_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Aqueous solubility (logS) trained on the real Huuskonen training split (1,025
    compounds); the family (XGBoost or an MLP) is chosen by scaffold CV on the training
    split only and reported once on the untouched 257-compound test split, next to the
    published figures for this data set. Retrained only when its fingerprint (the shipped
    data files, the recipe, settings and library versions) changes."""
    from orchestration.chem.reference_data import REFERENCE_DATA_DIR

    paths = lake.paths
    target = paths.models / SOLUBILITY_DIR
    h = hashlib.sha256()
    for name in ("solubility.train.sdf", "solubility.test.sdf"):
        h.update(hashlib.sha256((REFERENCE_DATA_DIR / name).read_bytes()).digest())
    content = solubility.fingerprint(h.hexdigest())
    artifact = solubility.reuse(target, content)
    training = UNCHANGED if artifact is not None else "trained"
    if artifact is None:
        data = _solubility_set()
        write_parquet_atomic(data.select("compound_id", "name", "inchikey", "logS", "split"),
                             paths.reference / "solubility.parquet")
        artifact = solubility.train_solubility(data.filter(pl.col("split") == "train"),
                                               data.filter(pl.col("split") == "test"),
                                               source_digest=h.hexdigest())
        artifact.metrics = json_safe(artifact.metrics)  # as saved: fresh and reused report alike
        solubility.save(artifact, target)
    # the stamp of the recipe before fingerprints: fingerprint is in the metadata now
    (target / "source.sha256").unlink(missing_ok=True)
    context.log.info("solubility model %s (%s)", artifact.model_version, training)
    m = artifact.metrics
    return dg.MaterializeResult(metadata={
        "training": training,
        "fingerprint": artifact.fingerprint,
        "model_version": artifact.model_version,
        "family": artifact.family,
        "test_rmse": float(m["test"]["rmse"]),
        "test_r2": float(m["test"]["r2"]),
        "test_mae": float(m["test"]["mae"]),
        "n_train": int(m["n_train"]),
        "n_test": int(m["test"]["n"]),
        "published": dg.MetadataValue.json(m.get("published", {})),
        "metrics": dg.MetadataValue.json(json.loads(json.dumps(m, default=str))),
    })


def activity_folder(paths, target: str):
    """The folder of ``target``'s activity model: ``safe_name(target)`` under the models
    folder, since target names come from landing files and could hold "/" or ".."."""
    return lake_file(paths, paths.models / ACTIVITY_DIR, target)


def activity_models(paths) -> dict[str, object]:
    """Target name (from each model's metadata, not its folder name) → model folder, for
    every saved activity model."""
    root = paths.models / ACTIVITY_DIR
    found = {}
    for meta_file in sorted(root.glob(f"*/{activity.META_FILE}")) if root.is_dir() else []:
        target = json.loads(meta_file.read_text()).get("target")
        if target:  # a folder from before names were recorded is retrained, not guessed at
            found[target] = meta_file.parent
    return found


def _props(paths) -> pl.DataFrame:
    path = paths.evidence / PROPERTIES_FILE
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


@dg.asset(group_name="compound_models", kinds={"xgboost", "pytorch", "feast"},
          deps=[feature_key("compound_properties"), feature_key("compound_activity_labels")])
@isolated("screening", ["evidence/compound_activity_labels.parquet"])
def compound_activity_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Per screened target: XGBoost and a PyTorch MLP on Morgan fingerprints + descriptors
    (feature service compound_activity_v1, point-in-time as of each label), labelled by
    primary-screen hit calls overridden by dose-response confirmation. Both are
    evaluated by scaffold-split cross-validation (ROC-AUC, PR-AUC, EF1%, EF5% on held-out
    scaffolds); the better family's fold models form the ensemble whose spread is the
    uncertainty. Where the simulator's hidden truth exists, the untested compounds are
    also scored against it (evaluation only: it never reaches training). A target whose
    training rows, settings and libraries fingerprint as its saved model did keeps that
    model (not retrained). Each model lives in a folder named by ``safe_name(target)``
    (target names come from landing run files); the name itself is in its metadata."""
    paths = lake.paths
    training = activity_training_frame(paths, feature_store(paths))
    if training.is_empty():
        training = pl.DataFrame(schema={"gene_symbol": pl.String, "inchikey": pl.String,
                                        "label": pl.Int64, "source": pl.String, "evidence": pl.String})
    # every current label, trainable or not: compound_predictions marks these tested
    every = present(paths, "compound_activity_labels", ["gene_symbol", "inchikey"])
    every = every if every.height else training
    labels = training.select(pl.col("gene_symbol").alias("target_gene"), "inchikey", "label",
                             "source", "evidence")
    props = _props(paths)  # every structure: the untested ones are scored against truth only
    summary: dict[str, dict] = {}
    kept: set[str] = set()
    for target in sorted(labels["target_gene"].unique().to_list()) if labels.height else []:
        folder = activity_folder(paths, target)
        target_rows = training.filter(pl.col("gene_symbol") == target).drop(
            "gene_symbol", "label", "source", "evidence", "event_timestamp")
        target_labels = labels.filter(pl.col("target_gene") == target)
        content = activity.fingerprint(target_rows, target_labels.select("inchikey", "label"))
        artifact = activity.reuse(folder, content)
        training_status = UNCHANGED if artifact is not None else "trained"
        if artifact is None:
            try:
                artifact = activity.train_activity(target_rows, target_labels.select("inchikey", "label"))
            except activity.NotEnoughLabels as exc:
                context.log.warning("no activity model for %s: %s", target, exc)
                summary[target] = {"status": f"not trained: {exc}"}
                continue  # its old folder, if any, is removed below
            artifact.target = target
            # as saved (NaN → None), so a fresh and a reused model report alike
            artifact.metrics = json_safe(artifact.metrics)
            activity.save(artifact, folder)
        kept.add(folder.name)
        chosen = artifact.metrics["families"][artifact.family]
        summary[target] = {
            "status": "trained", "training": training_status,
            "fingerprint": artifact.fingerprint, "model_version": artifact.model_version,
            "family": artifact.family, "n_labelled": artifact.metrics["n_compounds"],
            "n_actives": artifact.metrics["n_positives"],
            "heldout_scaffolds": chosen,
            "other_family": {f: artifact.metrics["families"][f]
                             for f in artifact.metrics["families"] if f != artifact.family},
            "untested_vs_truth": truth_metrics(paths, target, artifact, props, target_labels),
        }
    # never score with a model the current labels no longer support (or one saved under a
    # folder name this code no longer uses)
    root = paths.models / ACTIVITY_DIR
    for stale in sorted(root.iterdir()) if root.is_dir() else []:
        if stale.name not in kept:
            context.log.info("removing activity model folder %s: no current model", stale.name)
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    # written last: a step that fails on the way leaves the labels of its last good run
    write_parquet_atomic(every.select(pl.col("gene_symbol").alias("target_gene"), "inchikey", "label",
                                      "source", "evidence"),
                         paths.evidence / "compound_activity_labels.parquet")
    flat = {}
    for target, s in summary.items():
        if s["status"] != "trained":
            continue
        pooled = s["heldout_scaffolds"].get("pooled", {})
        for k in activity.METRIC_KEYS:
            if pooled.get(k) is not None:
                flat[f"{target}_heldout_{k}"] = float(pooled[k])
            truth = s["untested_vs_truth"] or {}
            if truth.get(k) is not None:
                flat[f"{target}_untested_truth_{k}"] = float(truth[k])
    return dg.MaterializeResult(metadata={
        "targets": len(summary),
        "trained": sum(s["status"] == "trained" for s in summary.values()),
        "retrained": sum(s.get("training") == "trained" for s in summary.values()),
        "training": (UNCHANGED if summary and all(s.get("training") == UNCHANGED
                                                  for s in summary.values()) else "trained"),
        "labelled_compounds": every.height,
        "labels_without_features_at_label_time": every.height - labels.height,
        "feature_service": "compound_activity_v1",
        **flat,
        "summary": dg.MetadataValue.json(json.loads(json.dumps(summary, default=str))),
    })


@dg.asset(group_name="compound_models", kinds={"python", "parquet", "feast"},
          deps=["compound_activity_model", "solubility_model", "int_compounds",
                feature_key("compound_properties")])
@isolated("compounds", ["evidence/compound_predictions.parquet"])
def compound_predictions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every library structure, screened or not, scored for every modelled target in
    streamed batches of feature service compound_activity_v1 (current values): P(active)
    and its uncertainty, predicted logS, developability, and the priority score and rank
    for the next plate."""
    paths = lake.paths
    compounds = read_model(paths, "int_compounds").select(
        "inchikey", "qed", "n_pains", "n_brenk", "lipinski_pass", "scaffold")
    labels_path = paths.evidence / "compound_activity_labels.parquet"
    labels = pl.read_parquet(labels_path) if labels_path.exists() else pl.DataFrame()
    sol = solubility.load(paths.models / SOLUBILITY_DIR)
    folders = activity_models(paths)
    # a target whose labels vanished (its runs were removed) keeps no stale model
    labelled = set(labels["target_gene"].to_list()) if labels.height else set()
    targets = sorted(t for t in folders if t in labelled)
    artifacts = {t: activity.load(folders[t]) for t in targets}
    logs, predicted = [], {t: [] for t in targets}
    if targets:
        # one pass over the library: each batch is fetched once and scored by every model
        for frame in property_batches(feature_store(paths), compounds["inchikey"].to_list(),
                                      SCORE_BATCH):
            logs.append(pl.DataFrame({"inchikey": frame["inchikey"],
                                      "predicted_logS": solubility.predict_logS(sol, frame)}))
            for target, artifact in artifacts.items():
                predicted[target].extend(activity.score_batches(artifact, [frame]))
    logs = pl.concat(logs) if logs else pl.DataFrame(schema={"inchikey": pl.String,
                                                             "predicted_logS": pl.Float64})
    parts = []
    for target, artifact in artifacts.items():
        scored = pl.concat(predicted[target])
        tl = labels.filter(pl.col("target_gene") == target).select(
            "inchikey", pl.lit(True).alias("tested"), (pl.col("label") == 1).alias("observed_active"))
        frame = (scored.join(compounds, on="inchikey", how="left")
                 .join(logs, on="inchikey", how="left")
                 .join(tl, on="inchikey", how="left")
                 .with_columns(pl.col("tested").fill_null(False)))
        parts.append(ranking.rank_compounds(frame).with_columns(
            pl.lit(target).alias("target_gene"), pl.lit(artifact.model_version).alias("model_version")))
    out = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema={
        "inchikey": pl.String, "target_gene": pl.String, "score": pl.Float64,
        "priority": pl.Float64, "rank": pl.Int64,
        "p_active": pl.Float64, "uncertainty": pl.Float64, "tested": pl.Boolean,
        "observed_active": pl.Boolean, "predicted_logS": pl.Float64, "developability": pl.Float64,
        "model_version": pl.String})
    write_parquet_atomic(out, paths.evidence / "compound_predictions.parquet")
    top = out.filter(pl.col("rank") <= 10).sort("target_gene", "rank") if out.height else out
    return dg.MaterializeResult(metadata={
        "rows": out.height,
        "targets": dg.MetadataValue.json(targets),
        "untested_scored": int((~out["tested"]).sum()) if out.height else 0,
        "top": dg.MetadataValue.md(markdown_preview(top.select(
            "target_gene", "rank", "inchikey", "score", "p_active", "uncertainty", "tested"), n=20)
            if out.height else "no modelled target"),
    })
