"""Compound models: aqueous solubility (real Huuskonen data), activity per screened
target, and the scored, ranked library."""

import hashlib
import json
import os
import shutil

import dagster as dg
import polars as pl

from models.artifact_io import json_safe
from models.compounds import activity, ranking, solubility
from models.compounds.chemprop_model import ChempropConfig
from models.fingerprint import UNCHANGED
from orchestration.assets.features import feature_key
from orchestration.assets.isolation import isolated
from orchestration.feature_store.store import feature_store
from orchestration.feature_store.training import (activity_training_frame, present,
                                                  property_batches)
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.lake.safe_paths import lake_file
from orchestration.metadata import cv_key, metrics_table, rounded
from orchestration.resources import LakeResource
from orchestration.settings import Evidence, evidence_relpath
from orchestration.truth_eval import truth_metrics

SOLUBILITY_DIR = "solubility"
ACTIVITY_DIR = "compound_activity"
SCORE_BATCH = 5_000
# Chemprop's budget in a refresh (2 cores): the scaffold folds of the other families (3),
# a small D-MPNN and at most this many epochs with early stopping (patience 3). The full
# comparison (more epochs, the default network) is bench/bench_activity.py. A lake may set
# ORPHANLAKE_CHEMPROP_EPOCHS (1-200); it is part of the model's fingerprint.
CHEMPROP_EPOCHS = 10
LABEL_COLUMNS = {"pic50": pl.Float64, "pic50_source": pl.String, "censored": pl.Boolean,
                 "label": pl.Int64, "source": pl.String, "evidence": pl.String}
# what compound_predictions carries from the primary screen (int_hts_compound_calls)
HIT_CLASS_ORDER = {"hit": 0, "weak": 1, "inconclusive": 2, "inactive": 3}


def chemprop_config() -> ChempropConfig:
    """The refresh's Chemprop settings (see CHEMPROP_EPOCHS)."""
    raw = os.environ.get("ORPHANLAKE_CHEMPROP_EPOCHS", "")
    epochs = CHEMPROP_EPOCHS
    if raw.strip():
        try:
            epochs = int(raw)
        except ValueError:
            raise ValueError(f"ORPHANLAKE_CHEMPROP_EPOCHS must be an integer, got {raw!r}") from None
        if not 1 <= epochs <= 200:
            raise ValueError(f"ORPHANLAKE_CHEMPROP_EPOCHS must be in 1..200, got {epochs}")
    return ChempropConfig(hidden=128, ffn_hidden=128, batch_size=128, max_epochs=epochs, patience=3)


def _with_label_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """A label frame with every label column (null where a history predates it)."""
    return frame.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in LABEL_COLUMNS.items()
                               if c not in frame.columns])


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
        "test_rmse": rounded(float(m["test"]["rmse"])),
        "test_r2": rounded(float(m["test"]["r2"])),
        "test_mae": rounded(float(m["test"]["mae"])),
        "n_train": int(m["n_train"]),
        "n_test": int(m["test"]["n"]),
        "published": dg.MetadataValue.json(rounded(m.get("published", {}))),
        "metrics": dg.MetadataValue.json(rounded(json.loads(json.dumps(m, default=str)))),
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


def compound_properties(paths) -> pl.DataFrame:
    """The lake's ``compound_properties`` evidence (empty, without columns, before any)."""
    path = paths.evidence_file(Evidence.COMPOUND_PROPERTIES)
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


@dg.asset(group_name="compound_models", kinds={"xgboost", "pytorch", "feast"},
          deps=[feature_key("compound_properties"), feature_key("compound_activity_labels")])
@isolated("screening", [evidence_relpath(Evidence.COMPOUND_ACTIVITY_LABELS)])
def compound_activity_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Per screened target: predicted pIC50 (the labels' one potency scale: dose-response
    IC50 where a curve exists, else the documented single-point mapping) from three
    families side by side: XGBoost and a PyTorch MLP on Morgan fingerprints + descriptors,
    and a Chemprop 2 D-MPNN on the structure (feature service compound_activity_v1,
    point-in-time as of each label). All are evaluated by scaffold-split cross-validation
    (RMSE, Spearman, and ROC-AUC / PR-AUC / EF1% / EF5% of potent actives, pIC50 >= 5, on
    held-out scaffolds); the family with the best mean per-fold PR-AUC of potent actives
    is chosen and refit on every label (its fold models give the uncertainty). An apparent
    potent active that the screen flags as a frequent hitter (active in unrelated assays or
    the counter screen) is not trained on. Where the simulator's hidden truth exists, the
    untested compounds are also scored against it (evaluation only: it never reaches
    training). A target whose training rows, settings and libraries fingerprint as its
    saved model did keeps that model (not retrained). Each model lives in a folder named
    by ``safe_name(target)`` (target names come from landing run files); the name itself
    is in its metadata."""
    paths = lake.paths
    cp_config = chemprop_config()
    training = activity_training_frame(paths, feature_store(paths))
    if training.is_empty():
        training = pl.DataFrame(schema={"gene_symbol": pl.String, "inchikey": pl.String,
                                        **LABEL_COLUMNS})
    # every current label, trainable or not: compound_predictions marks these tested
    every = present(paths, "compound_activity_labels", ["gene_symbol", "inchikey"])
    every = _with_label_columns(every if every.height else training)
    labels = training.select(pl.col("gene_symbol").alias("target_gene"), "inchikey", *LABEL_COLUMNS)
    props = compound_properties(paths)  # every structure: the untested ones are scored against truth only
    hits = screen_evidence(paths)
    summary: dict[str, dict] = {}
    kept: set[str] = set()
    for target in sorted(labels["target_gene"].unique().to_list()) if labels.height else []:
        target_rows = training.filter(pl.col("gene_symbol") == target).drop(
            "gene_symbol", *LABEL_COLUMNS, "event_timestamp", strict=False)
        target_labels = labels.filter(pl.col("target_gene") == target)
        potency, n_suspect = trainable_potency(target_labels, hits.filter(pl.col("target_gene") == target))
        try:
            artifact, status = _train_or_reuse(paths, target, target_rows, potency, cp_config)
        except activity.NotEnoughLabels as exc:
            context.log.warning("no activity model for %s: %s", target, exc)
            summary[target] = {"status": f"not trained: {exc}"}
            continue  # its old folder, if any, is removed below
        kept.add(activity_folder(paths, target).name)
        summary[target] = _target_summary(
            artifact, status, n_suspect, truth_metrics(paths, target, artifact, props, target_labels))
    _remove_stale_models(context, paths.models / ACTIVITY_DIR, kept)
    # written last: a step that fails on the way leaves the labels of its last good run
    write_parquet_atomic(every.select(pl.col("gene_symbol").alias("target_gene"), "inchikey",
                                      *LABEL_COLUMNS),
                         paths.evidence_file(Evidence.COMPOUND_ACTIVITY_LABELS))
    return dg.MaterializeResult(metadata={
        "targets": len(summary),
        "trained": sum(s["status"] == "trained" for s in summary.values()),
        "retrained": sum(s.get("training") == "trained" for s in summary.values()),
        "training": (UNCHANGED if summary and all(s.get("training") == UNCHANGED
                                                  for s in summary.values()) else "trained"),
        "labelled_compounds": every.height,
        "labels_without_features_at_label_time": every.height - labels.height,
        "feature_service": "compound_activity_v1",
        "potency_scale": "pIC50 (models/compounds/labels.py); potent active = pIC50 >= 5",
        "chemprop_max_epochs": cp_config.max_epochs,
        **activity_metadata(summary),
    })


def trainable_potency(target_labels: pl.DataFrame, target_hits: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """(inchikey, pic50, censored) to train one target's model on, and how many labels were
    left out. An apparent potent active that the screen also saw active in unrelated assays
    or the counter screen (frequent_hitter) owes its reading to the assay, not the target:
    its potency is not trained on (it stays a tested compound). Inactive frequent hitters
    are kept: they teach the model that those chemotypes are not potent."""
    suspect = target_hits.filter(pl.col("frequent_hitter")).select("inchikey", "frequent_hitter")
    potency = (target_labels.join(suspect, on="inchikey", how="left")
               .filter(~(pl.col("frequent_hitter").fill_null(False)
                         & (pl.col("pic50") >= activity.ACTIVE_PIC50).fill_null(False)))
               .select("inchikey", "pic50", "censored"))
    return potency, target_labels.height - potency.height


def _train_or_reuse(paths, target: str, target_rows: pl.DataFrame, potency: pl.DataFrame,
                    cp_config: ChempropConfig) -> tuple[activity.ActivityArtifact, str]:
    """The target's saved model when its fingerprint still matches, else a new one, saved.
    Raises ``activity.NotEnoughLabels``."""
    folder = activity_folder(paths, target)
    content = activity.fingerprint(target_rows, potency, chemprop_config=cp_config)
    artifact = activity.reuse(folder, content)
    if artifact is not None:
        return artifact, UNCHANGED
    artifact = activity.train_activity(target_rows, potency, chemprop_config=cp_config)
    artifact.target = target
    artifact.metrics = json_safe(artifact.metrics)  # as saved (NaN → None): fresh and reused report alike
    activity.save(artifact, folder)
    return artifact, "trained"


def _target_summary(artifact: activity.ActivityArtifact, status: str, n_suspect: int,
                    truth: dict | None) -> dict:
    m = artifact.metrics
    return {
        "status": "trained", "training": status,
        "fingerprint": artifact.fingerprint, "model_version": artifact.model_version,
        "family": artifact.family, "selection_rule": m["selection_rule"],
        "n_labelled": m["n_compounds"], "n_potent_actives": m["n_positives"],
        "n_censored": m.get("n_censored"), "n_folds": m["n_folds"],
        "left_out_frequent_hitters": n_suspect,
        "uncertainty": m["uncertainty"], "residual_sd": m["residual_sd"],
        # all families side by side: held-out scaffolds, mean ± sd over folds and pooled
        "families": {f: {"pooled": r["pooled"], "fold_mean": r["mean"], "fold_sd": r["std"],
                         "train_seconds": r.get("train_seconds")}
                     for f, r in m["families"].items()},
        "untested_vs_truth": truth,
    }


def _remove_stale_models(context, root, kept: set[str]) -> None:
    """Never score with a model the current labels no longer support (or one saved under a
    folder name this code no longer uses)."""
    for stale in sorted(root.iterdir()) if root.is_dir() else []:
        if stale.name not in kept:
            context.log.info("removing activity model folder %s: no current model", stale.name)
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()


def activity_metadata(summary: dict[str, dict]) -> dict:
    """Flat keys per trained target (metadata naming rules, orchestration/metadata.py):
    ``<target>_chosen_family``, ``<target>_cv_<metric>`` (the chosen family, pooled over the
    held-out scaffold folds), ``<target>_<family>_cv_<metric>`` (every family),
    ``<target>_untested_truth_<metric>``; a markdown table of every family's pooled CV
    figures (``summary_table``) and the whole summary rounded (``summary``)."""
    flat: dict = {}
    table: dict[str, dict] = {}
    for target, s in summary.items():
        if s["status"] != "trained":
            continue
        flat[f"{target}_chosen_family"] = s["family"]
        flat[f"{target}_left_out_frequent_hitters"] = s["left_out_frequent_hitters"]
        for family, r in s["families"].items():
            chosen = family == s["family"]
            table[f"{target} / {family}" + (" (chosen)" if chosen else "")] = r["pooled"]
            for k in activity.METRIC_KEYS:
                if r["pooled"].get(k) is not None:
                    flat[f"{target}_{family}_{cv_key(k)}"] = rounded(float(r["pooled"][k]))
                    if chosen:
                        flat[f"{target}_{cv_key(k)}"] = rounded(float(r["pooled"][k]))
        truth = s["untested_vs_truth"] or {}
        for k in ("roc_auc", "ef1", "ef5", "spearman"):
            if truth.get(k) is not None:
                flat[f"{target}_untested_truth_{k}"] = rounded(float(truth[k]))
    if table:
        flat["summary_table"] = dg.MetadataValue.md(metrics_table(
            table, columns=list(activity.METRIC_KEYS), index="target / family (scaffold CV, pooled)"))
    flat["summary"] = dg.MetadataValue.json(rounded(json.loads(json.dumps(summary, default=str))))
    return flat


def screen_evidence(paths) -> pl.DataFrame:
    """target_gene, inchikey → the best hit_class over that target's primary runs (hit >
    weak > inconclusive > inactive), n_valid_replicates (of the run with that class),
    needs_retest (that run's), likely_interferer and frequent_hitter (any run): from
    int_hts_compound_calls,
    the per-run calls behind the hts_compound_calls mart. Empty (typed) before a screen or
    with calls from before hit classes."""
    schema = {"target_gene": pl.String, "inchikey": pl.String, "hit_class": pl.String,
              "n_valid_replicates": pl.Int64, "needs_retest": pl.Boolean,
              "likely_interferer": pl.Boolean, "frequent_hitter": pl.Boolean}
    try:
        calls = read_model(paths, "int_hts_compound_calls")
    except Exception:  # noqa: BLE001 - no screen in this lake yet
        return pl.DataFrame(schema=schema)
    need = {"target_gene", "inchikey", "hit_class", "n_valid_replicates", "needs_retest",
            "likely_interferer", "frequent_hitter"}
    if calls.is_empty() or not need <= set(calls.columns):
        return pl.DataFrame(schema=schema)
    order = pl.col("hit_class").replace_strict(HIT_CLASS_ORDER, default=len(HIT_CLASS_ORDER),
                                               return_dtype=pl.Int64)
    return (calls.filter(pl.col("inchikey").is_not_null())
            .with_columns(order.alias("_order"))
            .group_by("target_gene", "inchikey")
            .agg(pl.col("hit_class").sort_by(["_order", "n_valid_replicates", "run_id"],
                                             descending=[False, True, False]).first(),
                 pl.col("n_valid_replicates").sort_by(["_order", "n_valid_replicates", "run_id"],
                                                      descending=[False, True, False]).first()
                 .cast(pl.Int64),
                 pl.col("needs_retest").sort_by(["_order", "n_valid_replicates", "run_id"],
                                                descending=[False, True, False]).first()
                 .cast(pl.Boolean),
                 pl.col("likely_interferer").cast(pl.Boolean).fill_null(False).any(),
                 pl.col("frequent_hitter").cast(pl.Boolean).fill_null(False).any()))


def admet_evidence(paths) -> pl.DataFrame:
    """inchikey → the ADMET-AI safety columns (models.compounds.admet.SAFETY_COLUMNS) from
    the compound_admet_predictions evidence; empty when the lake has none."""
    try:
        from models.compounds.admet import SAFETY_COLUMNS
    except ImportError:  # noqa: BLE001
        return pl.DataFrame(schema={"inchikey": pl.String})
    path = paths.evidence_file(Evidence.COMPOUND_ADMET_PREDICTIONS)
    if not path.exists():
        return pl.DataFrame(schema={"inchikey": pl.String})
    frame = pl.read_parquet(path)
    cols = [c for c in SAFETY_COLUMNS if c in frame.columns]
    return frame.select("inchikey", *cols).unique("inchikey", keep="first")


PREDICTION_SCHEMA = {
    "inchikey": pl.String, "target_gene": pl.String, "score": pl.Float64,
    "priority": pl.Float64, "rank": pl.Int64, "predicted_pic50": pl.Float64,
    "pic50_uncertainty": pl.Float64, "p_active": pl.Float64, "uncertainty": pl.Float64,
    "tested": pl.Boolean, "observed_active": pl.Boolean, "observed_pic50": pl.Float64,
    "hit_class": pl.String, "n_valid_replicates": pl.Int64, "needs_retest": pl.Boolean,
    "likely_interferer": pl.Boolean, "predicted_logS": pl.Float64,
    "developability": pl.Float64, "model_version": pl.String}
# screen columns a table from before hit classes lacks: added as nulls
SCREEN_COLUMNS = {"hit_class": pl.String, "n_valid_replicates": pl.Int64,
                  "needs_retest": pl.Boolean, "likely_interferer": pl.Boolean}


@dg.asset(group_name="compound_models", kinds={"python", "parquet", "feast"},
          deps=["compound_activity_model", "solubility_model", "int_compounds",
                "int_hts_compound_calls", "compound_admet_predictions",
                feature_key("compound_properties")])
@isolated("compounds", [evidence_relpath(Evidence.COMPOUND_PREDICTIONS)])
def compound_predictions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every library structure, screened or not, scored for every modelled target in
    streamed batches of feature service compound_activity_v1 (current values):
    predicted_pic50, pic50_uncertainty (pIC50 units) and p_active = P(pIC50 >= 5), the
    primary screen's best hit class per target (with replicate count, retest and
    interference flags), predicted logS, developability, ADMET-AI safety flags and the
    priority score (x safety_factor, x 0.5 for a likely interferer) and rank for the next
    plate."""
    paths = lake.paths
    compounds = read_model(paths, "int_compounds").select(
        "inchikey", "qed", "n_pains", "n_brenk", "lipinski_pass", "scaffold")
    labels_path = paths.evidence_file(Evidence.COMPOUND_ACTIVITY_LABELS)
    labels = pl.read_parquet(labels_path) if labels_path.exists() else pl.DataFrame()
    folders = activity_models(paths)
    # a target whose labels vanished (its runs were removed) keeps no stale model
    labelled = set(labels["target_gene"].to_list()) if labels.height else set()
    artifacts = {t: activity.load(folders[t]) for t in sorted(t for t in folders if t in labelled)}
    logs, predicted = _score_library(paths, compounds["inchikey"].to_list(), artifacts)
    hits, admet = screen_evidence(paths), admet_evidence(paths)
    parts = [_rank_target(target, artifact, predicted[target], compounds, logs, labels, hits, admet)
             for target, artifact in artifacts.items()]
    out = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema=PREDICTION_SCHEMA)
    out = out.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in SCREEN_COLUMNS.items()
                            if c not in out.columns])
    write_parquet_atomic(out, paths.evidence_file(Evidence.COMPOUND_PREDICTIONS))
    top = out.filter(pl.col("rank") <= 10).sort("target_gene", "rank") if out.height else out
    return dg.MaterializeResult(metadata={
        "rows": out.height,
        "targets": dg.MetadataValue.json(list(artifacts)),
        "untested_scored": int((~out["tested"]).sum()) if out.height else 0,
        "with_admet": "safety_factor" in out.columns,
        "top": dg.MetadataValue.md(markdown_preview(top.select(
            "target_gene", "rank", "inchikey", "score", "predicted_pic50", "pic50_uncertainty",
            "p_active", "hit_class", "tested"), n=20)
            if out.height else "no modelled target"),
    })


def _score_library(paths, inchikeys: list[str], artifacts: dict[str, activity.ActivityArtifact]
                   ) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """(inchikey → predicted_logS, target → predicted potency frame) in one streamed pass
    over the library: each batch of features is fetched once and scored by every model."""
    if not artifacts:
        return pl.DataFrame(schema={"inchikey": pl.String, "predicted_logS": pl.Float64}), {}
    sol = solubility.load(paths.models / SOLUBILITY_DIR)
    logs, predicted = [], {t: [] for t in artifacts}
    for frame in property_batches(feature_store(paths), inchikeys, SCORE_BATCH):
        logs.append(pl.DataFrame({"inchikey": frame["inchikey"],
                                  "predicted_logS": solubility.predict_logS(sol, frame)}))
        for target, artifact in artifacts.items():
            predicted[target].extend(activity.score_batches(artifact, [frame]))
    return pl.concat(logs), {t: pl.concat(parts) for t, parts in predicted.items()}


def _rank_target(target: str, artifact: activity.ActivityArtifact, scored: pl.DataFrame,
                 compounds: pl.DataFrame, logs: pl.DataFrame, labels: pl.DataFrame,
                 hits: pl.DataFrame, admet: pl.DataFrame) -> pl.DataFrame:
    """One target's scored library with what was observed for it (tested, observed pIC50,
    the screen's hit class and flags), ADMET flags, then ranked (models.compounds.ranking)."""
    tl = _with_label_columns(labels.filter(pl.col("target_gene") == target)).select(
        "inchikey", pl.lit(True).alias("tested"), (pl.col("label") == 1).alias("observed_active"),
        pl.col("pic50").alias("observed_pic50"))
    frame = (scored.with_columns(pl.col("pic50_uncertainty").alias("uncertainty"))
             .join(compounds, on="inchikey", how="left")
             .join(logs, on="inchikey", how="left")
             .join(tl, on="inchikey", how="left")
             .join(hits.filter(pl.col("target_gene") == target).drop("target_gene", "frequent_hitter"),
                   on="inchikey", how="left")
             .join(admet, on="inchikey", how="left")
             .with_columns(pl.col("tested").fill_null(False)))
    return ranking.rank_compounds(frame).with_columns(
        pl.lit(target).alias("target_gene"), pl.lit(artifact.model_version).alias("model_version"))
