"""Compound models: aqueous solubility (real Huuskonen data), activity per screened
target, and the scored, ranked library."""

import hashlib
import json
import shutil

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from models.compounds import activity, ranking, solubility
from models.compounds.labels import activity_labels
from orchestration.truth_eval import truth_metrics
from orchestration.assets.compounds import PROPERTIES_FILE
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.resources import LakeResource

SOLUBILITY_DIR = "solubility"
ACTIVITY_DIR = "compound_activity"
SCORE_BATCH = 5_000
# Bumped when the solubility training recipe changes, so a cached model is retrained.
SOLUBILITY_RECIPE = "1"


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
def solubility_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Aqueous solubility (logS) trained on the real Huuskonen training split (1,025
    compounds); the family (XGBoost or an MLP) is chosen by scaffold CV on the training
    split only and reported once on the untouched 257-compound test split, next to the
    published figures for this data set. Retrained only when the data or recipe change."""
    from orchestration.chem.reference_data import REFERENCE_DATA_DIR

    paths = lake.paths
    target = paths.models / SOLUBILITY_DIR
    h = hashlib.sha256(SOLUBILITY_RECIPE.encode())
    for name in ("solubility.train.sdf", "solubility.test.sdf"):
        h.update((REFERENCE_DATA_DIR / name).read_bytes())
    stamp = h.hexdigest()
    stamp_file = target / "source.sha256"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        artifact = solubility.load(target)
        context.log.info("solubility model unchanged (%s)", artifact.model_version)
    else:
        data = _solubility_set()
        write_parquet_atomic(data.select("compound_id", "name", "inchikey", "logS", "split"),
                             paths.reference / "solubility.parquet")
        artifact = solubility.train_solubility(data.filter(pl.col("split") == "train"),
                                               data.filter(pl.col("split") == "test"))
        solubility.save(artifact, target)
        stamp_file.write_text(stamp)
    m = artifact.metrics
    return dg.MaterializeResult(metadata={
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


def _props(paths) -> pl.DataFrame:
    path = paths.evidence / PROPERTIES_FILE
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


def _labels(paths) -> pl.DataFrame:
    fits_path = paths.evidence / "dose_response_fits.parquet"
    return activity_labels(read_model(paths, "int_hts_compound_calls"),
                           pl.read_parquet(fits_path) if fits_path.exists() else pl.DataFrame(),
                           read_model(paths, "stg_plate_runs"), read_model(paths, "int_compound_ids"))


@dg.asset(group_name="compound_models", kinds={"xgboost", "pytorch"},
          deps=["int_hts_compound_calls", "dose_response_fits", "int_compound_ids",
                "compound_properties", "stg_plate_runs"])
def compound_activity_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Per screened target: XGBoost and a PyTorch MLP on Morgan fingerprints + descriptors,
    labelled by primary-screen hit calls overridden by dose-response confirmation. Both are
    evaluated by scaffold-split cross-validation (ROC-AUC, PR-AUC, EF1%, EF5% on held-out
    scaffolds); the better family's fold models form the ensemble whose spread is the
    uncertainty. Where the simulator's hidden truth exists, the untested compounds are
    also scored against it (evaluation only: it never reaches training)."""
    paths = lake.paths
    labels, props = _labels(paths), _props(paths)
    write_parquet_atomic(labels, paths.evidence / "compound_activity_labels.parquet")
    summary: dict[str, dict] = {}
    for target in sorted(labels["target_gene"].unique().to_list()) if labels.height else []:
        target_labels = labels.filter(pl.col("target_gene") == target)
        try:
            artifact = activity.train_activity(props, target_labels.select("inchikey", "label"))
        except activity.NotEnoughLabels as exc:
            context.log.warning("no activity model for %s: %s", target, exc)
            # never score with a model the current labels no longer support
            shutil.rmtree(paths.models / ACTIVITY_DIR / target, ignore_errors=True)
            summary[target] = {"status": f"not trained: {exc}"}
            continue
        activity.save(artifact, paths.models / ACTIVITY_DIR / target)
        chosen = artifact.metrics["families"][artifact.family]
        summary[target] = {
            "status": "trained", "model_version": artifact.model_version,
            "family": artifact.family, "n_labelled": artifact.metrics["n_compounds"],
            "n_actives": artifact.metrics["n_positives"],
            "heldout_scaffolds": chosen,
            "other_family": {f: artifact.metrics["families"][f]
                             for f in artifact.metrics["families"] if f != artifact.family},
            "untested_vs_truth": truth_metrics(paths, target, artifact, props, target_labels),
        }
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
        "labelled_compounds": labels.height,
        **flat,
        "summary": dg.MetadataValue.json(json.loads(json.dumps(summary, default=str))),
    })


def _prediction_batches(paths, compounds: pl.DataFrame):
    """Property rows of the library's structures, SCORE_BATCH at a time."""
    path = paths.evidence / PROPERTIES_FILE
    wanted = set(compounds["inchikey"].to_list())
    for batch in pq.ParquetFile(path).iter_batches(batch_size=SCORE_BATCH):
        frame = pl.from_arrow(pa.Table.from_batches([batch]))
        frame = frame.filter(pl.col("inchikey").is_in(list(wanted)))
        if frame.height:
            yield frame


@dg.asset(group_name="compound_models", kinds={"python", "parquet"},
          deps=["compound_activity_model", "solubility_model", "int_compounds"])
def compound_predictions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every library structure, screened or not, scored for every modelled target in
    streamed batches: P(active) and its uncertainty, predicted logS, developability, and
    the priority score and rank for the next plate."""
    paths = lake.paths
    compounds = read_model(paths, "int_compounds").select(
        "inchikey", "qed", "n_pains", "n_brenk", "lipinski_pass", "scaffold")
    labels_path = paths.evidence / "compound_activity_labels.parquet"
    labels = pl.read_parquet(labels_path) if labels_path.exists() else pl.DataFrame()
    sol = solubility.load(paths.models / SOLUBILITY_DIR)
    model_root = paths.models / ACTIVITY_DIR
    targets = sorted(p.name for p in model_root.iterdir() if p.is_dir()) if model_root.exists() else []
    # a target whose labels vanished (its runs were removed) keeps no stale model
    if labels.height:
        targets = [t for t in targets if t in set(labels["target_gene"].to_list())]
    else:
        targets = []
    logs = pl.DataFrame(schema={"inchikey": pl.String, "predicted_logS": pl.Float64})
    if targets:
        logs = pl.concat([logs] + [
            pl.DataFrame({"inchikey": frame["inchikey"],
                          "predicted_logS": solubility.predict_logS(sol, frame)})
            for frame in _prediction_batches(paths, compounds)])
    parts = []
    for target in targets:
        artifact = activity.load(model_root / target)
        scored = pl.concat(list(activity.score_batches(artifact, _prediction_batches(paths, compounds))))
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
