"""Activity models: P(active) per compound from screening labels, chosen by scaffold cross-validation.

Two model families compete on the same scaffold folds (``scaffold_split``): an XGBoost
classifier (hist trees, modest depth, ``scale_pos_weight`` = n_neg/n_pos) and the PyTorch MLP
(``mlp``). Each is scored on the pooled out-of-fold predictions (ROC-AUC, PR-AUC, EF1%, EF5%)
and per fold (mean ± sd). The family with the higher mean per-fold PR-AUC wins (a tie → higher
mean ROC-AUC, then the first of ``families``); PR-AUC leads because actives are rare and the
top of the list is what gets tested.

The final model is the chosen family's fold models as an ensemble: ``predict`` returns the mean
P(active) over them and their standard deviation as the uncertainty (each fold model left out
different scaffolds, so they disagree most where the chemistry is least covered). There is no
separate refit on all rows, so the reported CV numbers describe models of the same kind and
size as the ones that score.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# see models/ranker.py: OpenMP busy-waiting slows XGBoost badly on a shared 2-core box
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from models.artifact_io import atomic_write, json_safe, member, read_meta, reuse_saved
from models.fingerprint import VERSION_CHARS, frame_digest, library_versions
from models.fingerprint import fingerprint as _digest
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import xgboost as xgb  # noqa: E402

from models.compounds.features import DESCRIPTORS, FeatureSpec, fit_feature_spec  # noqa: E402
from models.compounds.metrics import enrichment_factor, pr_auc, roc_auc  # noqa: E402
from models.compounds.mlp import MLP, MLPConfig  # noqa: E402
from models.compounds.scaffold_split import scaffold_folds, scaffold_groups  # noqa: E402

__all__ = ["NotEnoughLabels", "ActivityArtifact", "FAMILIES", "train_activity", "fingerprint",
           "reuse", "predict", "score_batches", "save", "load", "MIN_POSITIVES",
           "MIN_POSITIVE_SCAFFOLDS"]

FAMILIES = ("xgboost", "mlp")
MIN_POSITIVES = 5
MIN_POSITIVE_SCAFFOLDS = 2
XGB_PARAMS: dict = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "eta": 0.1,
    "max_depth": 5,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "lambda": 1.0,
    "nthread": 2,
}
XGB_ROUNDS = 200
FORMAT_VERSION = 1
# Bumped whenever the training code changes what a fit produces, so a saved model made by the
# old code is not reused (its fingerprint no longer matches).
RECIPE = "1"
# Libraries whose version changes a fit: the trees, the MLP, numpy's seeded folds.
RESULT_LIBRARIES = ("xgboost", "torch", "numpy")
META_FILE = "activity_meta.json"
OOF_FILE = "activity_oof.parquet"
METRIC_KEYS = ("roc_auc", "pr_auc", "ef1", "ef5")


class NotEnoughLabels(ValueError):
    """Too few actives (or too few scaffolds with actives) to train and evaluate an activity model."""


@dataclass
class ActivityArtifact:
    """The chosen family's fold models plus everything needed to score, trust and reproduce them."""

    family: str  # "xgboost" | "mlp"
    models: list  # xgb.Booster or MLP, one per scaffold fold
    spec: FeatureSpec
    metrics: dict
    oof: pl.DataFrame  # inchikey, fold, family, p: out-of-fold predictions of every family
    trained_at: str
    seed: int
    n_folds: int
    xgb_params: dict = field(default_factory=dict)
    xgb_rounds: int = XGB_ROUNDS
    mlp_config: dict = field(default_factory=dict)
    content_hash: str = ""
    fingerprint: str = ""
    target: str = ""  # the readable name of what it models (its folder name is a safe slug)

    @property
    def model_version(self) -> str:
        """``<family>-<first 12 hex of the training fingerprint>``: the same labels,
        features, settings and libraries always give the same version, whenever trained."""
        return f"{self.family}-{self.fingerprint[:VERSION_CHARS]}"


def fingerprint(
    props: pl.DataFrame, labels: pl.DataFrame, seed: int = 0, n_folds: int = 5,
    families: Sequence[str] = FAMILIES, mlp_config: MLPConfig | None = None, xgb_rounds: int = XGB_ROUNDS,
) -> str:
    """The content address of ``train_activity`` with the same arguments: the joined
    training rows (the columns a fit reads, by inchikey), every setting, the recipe and the
    result-changing library versions."""
    return _fingerprint(_join(props, labels), seed, n_folds, families, mlp_config or MLPConfig(),
                        xgb_rounds)


def _fingerprint(data: pl.DataFrame, seed: int, n_folds: int, families: Sequence[str],
                 cfg: MLPConfig, xgb_rounds: int) -> str:
    used = [c for c in ("inchikey", "label", "weight", "scaffold", "smiles", "morgan_fp", *DESCRIPTORS)
            if c in data.columns]
    return _digest(
        recipe=RECIPE, format_version=FORMAT_VERSION, data=frame_digest(data.select(used), ["inchikey"]),
        seed=seed, n_folds=n_folds, families=list(families), mlp_config=cfg.__dict__,
        xgb_params=XGB_PARAMS, xgb_rounds=xgb_rounds, min_positives=MIN_POSITIVES,
        min_positive_scaffolds=MIN_POSITIVE_SCAFFOLDS, libraries=library_versions(*RESULT_LIBRARIES))


def reuse(directory: Path, expected: str) -> ActivityArtifact | None:
    """The saved model when trained on what ``expected`` fingerprints (``reuse_saved``)."""
    return reuse_saved(directory, META_FILE, expected, load, (RuntimeError, xgb.core.XGBoostError))


def train_activity(
    props: pl.DataFrame, labels: pl.DataFrame, seed: int = 0, n_folds: int = 5,
    families: Sequence[str] = FAMILIES, mlp_config: MLPConfig | None = None, xgb_rounds: int = XGB_ROUNDS,
) -> ActivityArtifact:
    """Train both families on scaffold folds, pick one by out-of-fold PR-AUC, return its fold ensemble.

    ``props``: contract property frame (inchikey, descriptors, scaffold, morgan_fp, ...).
    ``labels``: inchikey, label (0/1 or bool), optional weight (sample weight, default 1). Rows
    are inner-joined on inchikey; an inchikey labelled twice counts as active if any label is 1
    and keeps its largest weight. Null labels are dropped. Folds are balanced scaffold folds with
    positives spread over all folds; when fewer scaffolds than ``n_folds`` carry actives, the
    fold count drops to that number so every fold can be evaluated (``metrics['n_folds']``).
    Raises ``NotEnoughLabels`` below ``MIN_POSITIVES`` actives or ``MIN_POSITIVE_SCAFFOLDS``
    scaffold groups with actives (acyclic actives count one group each), or without inactives.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got {list(families)}")
    data = _join(props, labels)
    cfg = mlp_config or MLPConfig()
    content = _fingerprint(data, seed, n_folds, families, cfg, xgb_rounds)
    y = data["label"].to_numpy().astype(np.float32)
    w = data["weight"].to_numpy().astype(np.float32)
    scaffolds = data["scaffold"].to_list()
    keys = data["smiles"].to_list() if "smiles" in data.columns else data["inchikey"].to_list()
    groups = scaffold_groups(scaffolds, keys)
    n_pos = int(y.sum())
    n_pos_groups = int(np.unique(groups[y == 1]).size)
    if n_pos < MIN_POSITIVES or n_pos_groups < MIN_POSITIVE_SCAFFOLDS or n_pos == y.size:
        raise NotEnoughLabels(
            f"{n_pos} actives in {n_pos_groups} scaffold groups among {y.size} labelled compounds with "
            f"properties; need >= {MIN_POSITIVES} actives in >= {MIN_POSITIVE_SCAFFOLDS} scaffolds and some inactives")
    k = min(n_folds, n_pos_groups)
    folds = scaffold_folds(scaffolds, n_folds=k, seed=seed, labels=y, keys=keys)

    spec_all = fit_feature_spec(data)
    params = {**XGB_PARAMS, "seed": seed, "num_boost_round": xgb_rounds}
    results: dict[str, dict] = {}
    fold_models: dict[str, list] = {}
    oof_parts = []
    for family in families:
        oof = np.empty(y.size, dtype=np.float64)
        models = []
        for f in range(k):
            tr, te = folds != f, folds == f
            # medians from the training rows only, as when scoring a new library
            spec = fit_feature_spec(data.filter(pl.Series(tr)))
            x_tr = spec.transform(data.filter(pl.Series(tr)))
            x_te = spec.transform(data.filter(pl.Series(te)))
            model = _fit(family, x_tr, y[tr], w[tr], params, cfg, seed + f)
            oof[te] = _predict_one(family, model, x_te)
            models.append((model, spec))
        fold_models[family] = models
        results[family] = _evaluate(y, oof, folds, k)
        oof_parts.append(pl.DataFrame({
            "inchikey": data["inchikey"], "fold": pl.Series(folds, dtype=pl.Int32),
            "family": pl.Series([family] * y.size, dtype=pl.String), "p": pl.Series(oof, dtype=pl.Float64),
        }))

    chosen = max(families, key=lambda fam: (_nan_low(results[fam]["mean"]["pr_auc"]),
                                             _nan_low(results[fam]["mean"]["roc_auc"])))
    # One feature spec for the ensemble: each fold model saw its own training medians, but at
    # scoring time a single fill value per descriptor is needed; the all-rows median differs
    # from the fold medians only slightly and only matters for rows with missing descriptors.
    models = [m for m, _ in fold_models[chosen]]
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    metrics = {
        "n_compounds": int(y.size), "n_positives": n_pos, "base_rate": n_pos / y.size,
        "n_scaffold_groups": int(np.unique(groups).size), "n_positive_scaffold_groups": n_pos_groups,
        "n_folds": k, "n_folds_requested": n_folds,
        "fold_sizes": np.bincount(folds, minlength=k).tolist(),
        "fold_positives": np.bincount(folds, weights=y, minlength=k).astype(int).tolist(),
        "families": results, "chosen": chosen,
        "selection_rule": "highest mean per-fold PR-AUC on scaffold CV; tie -> mean ROC-AUC",
        "evaluation": "scaffold-split cross-validation (Bemis-Murcko groups never span folds); "
                      "pooled = metrics on all out-of-fold predictions together",
        "uncertainty": "std of P(active) across the fold models of the chosen family",
    }
    artifact = ActivityArtifact(
        family=chosen, models=models, spec=spec_all, metrics=metrics, oof=pl.concat(oof_parts),
        trained_at=trained_at, seed=seed, n_folds=k, xgb_params=params, xgb_rounds=xgb_rounds,
        mlp_config={**cfg.__dict__, "hidden": list(cfg.hidden)}, fingerprint=content,
    )
    artifact.content_hash = _content_hash(artifact)
    return artifact


def predict(artifact: ActivityArtifact, x: np.ndarray | pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(mean P(active), std across fold models) per row; ``x`` is a feature matrix or a property frame."""
    if isinstance(x, pl.DataFrame):
        x = artifact.spec.transform(x)
    if x.shape[0] == 0:
        return np.empty(0), np.empty(0)
    preds = np.vstack([_predict_one(artifact.family, m, x) for m in artifact.models])
    return preds.mean(axis=0), preds.std(axis=0)


def score_batches(artifact: ActivityArtifact, batches: Iterable[pl.DataFrame | pa.RecordBatch | pa.Table]
                  ) -> Iterator[pl.DataFrame]:
    """Score property frames one batch at a time: yields inchikey, p_active, uncertainty per batch.

    Only one batch's features live in memory at once, so scoring a library streamed from
    Parquet (e.g. ``ParquetFile.iter_batches``) keeps memory flat whatever its size.
    """
    for batch in batches:
        frame = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
        mean, std = predict(artifact, frame)
        yield pl.DataFrame({"inchikey": frame["inchikey"].cast(pl.String),
                            "p_active": pl.Series(mean, dtype=pl.Float64),
                            "uncertainty": pl.Series(std, dtype=pl.Float64)})


def save(artifact: ActivityArtifact, directory: Path) -> Path:
    """Write fold models (``fold_<k>.ubj`` or ``.pt``), the OOF table and ``activity_meta.json`` (last)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i, raw in enumerate(_model_bytes(artifact)):
        name = f"fold_{i}.{'ubj' if artifact.family == 'xgboost' else 'pt'}"
        atomic_write(directory / name, raw)
        files.append({"file": name, "sha256": hashlib.sha256(raw).hexdigest()})
    tmp = directory / f".{OOF_FILE}.tmp"
    artifact.oof.write_parquet(tmp)
    os.replace(tmp, directory / OOF_FILE)
    meta = {
        "format_version": FORMAT_VERSION, "family": artifact.family, "model_files": files,
        "feature_spec": json.loads(artifact.spec.to_json()), "metrics": json_safe(artifact.metrics),
        "trained_at": artifact.trained_at, "seed": artifact.seed, "n_folds": artifact.n_folds,
        "xgb_params": artifact.xgb_params, "xgb_rounds": artifact.xgb_rounds,
        "mlp_config": artifact.mlp_config, "content_hash": artifact.content_hash,
        "fingerprint": artifact.fingerprint, "target": artifact.target,
        "model_version": artifact.model_version, "xgboost_version": xgb.__version__,
    }
    atomic_write(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=True).encode())
    return directory


def load(directory: Path) -> ActivityArtifact:
    """Read an artifact written by ``save``; raises ValueError if a model file is missing or altered."""
    directory = Path(directory)
    meta = read_meta(directory, META_FILE, FORMAT_VERSION, "activity model")
    models = []
    for entry in meta["model_files"]:
        path = member(directory, entry["file"])
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise ValueError(f"{path}: checksum does not match its metadata")
        if meta["family"] == "xgboost":
            booster = xgb.Booster(params={"nthread": 2})
            booster.load_model(bytearray(raw))
            models.append(booster)
        else:
            models.append(MLP.from_bytes(raw))
    return ActivityArtifact(
        family=meta["family"], models=models, spec=FeatureSpec.from_json(json.dumps(meta["feature_spec"])),
        metrics=meta["metrics"], oof=pl.read_parquet(directory / OOF_FILE), trained_at=meta["trained_at"],
        seed=int(meta["seed"]), n_folds=int(meta["n_folds"]), xgb_params=meta["xgb_params"],
        xgb_rounds=int(meta["xgb_rounds"]), mlp_config=meta["mlp_config"], content_hash=meta["content_hash"],
        fingerprint=meta.get("fingerprint", ""), target=meta.get("target", ""),
    )


def _join(props: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    for col in ("inchikey", "label"):
        if col not in labels.columns:
            raise ValueError(f"labels lack column {col!r}")
    lab = labels.select(
        pl.col("inchikey").cast(pl.String),
        pl.col("label").cast(pl.Float64),
        (pl.col("weight").cast(pl.Float64) if "weight" in labels.columns else pl.lit(1.0)).alias("weight"),
    ).drop_nulls("label")
    bad = lab.filter(~pl.col("label").is_in([0.0, 1.0]))
    if bad.height:
        raise ValueError(f"labels must be 0/1; got e.g. {bad['label'][0]} for {bad['inchikey'][0]}")
    lab = lab.group_by("inchikey").agg(pl.col("label").max(), pl.col("weight").fill_null(1.0).max())
    p = props.unique("inchikey", keep="first", maintain_order=True)
    # sorted by inchikey so folds and models do not depend on input row order
    return p.join(lab, on="inchikey", how="inner").sort("inchikey")


def _fit(family: str, x: np.ndarray, y: np.ndarray, w: np.ndarray, params: dict, cfg: MLPConfig, seed: int):
    if family == "xgboost":
        n_pos = float(y.sum())
        p = {k: v for k, v in params.items() if k != "num_boost_round"}
        p.update(seed=seed, scale_pos_weight=(y.size - n_pos) / max(n_pos, 1.0))
        dm = xgb.DMatrix(x, label=y, weight=w, nthread=2)
        return xgb.train(p, dm, num_boost_round=params["num_boost_round"])
    return MLP(task="classification", config=cfg, seed=seed).fit(x, y, sample_weight=w)


def _predict_one(family: str, model, x: np.ndarray) -> np.ndarray:
    if family == "xgboost":
        # inplace_predict skips building a DMatrix: ~3x faster on 5k x 2k rows, same output
        return model.inplace_predict(x).astype(np.float64)
    return model.predict_proba(x)


def _metrics(y: np.ndarray, s: np.ndarray) -> dict:
    return {"roc_auc": roc_auc(y, s), "pr_auc": pr_auc(y, s),
            "ef1": enrichment_factor(y, s, 0.01), "ef5": enrichment_factor(y, s, 0.05)}


def _evaluate(y: np.ndarray, oof: np.ndarray, folds: np.ndarray, k: int) -> dict:
    per_fold = []
    for f in range(k):
        m = folds == f
        per_fold.append({"fold": f, "n": int(m.sum()), "n_positives": int(y[m].sum()), **_metrics(y[m], oof[m])})
    mean, std = {}, {}
    for key in METRIC_KEYS:
        vals = np.array([r[key] for r in per_fold], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        mean[key] = float(vals.mean()) if vals.size else math.nan
        std[key] = float(vals.std(ddof=1)) if vals.size > 1 else math.nan
    return {"pooled": _metrics(y, oof), "mean": mean, "std": std, "per_fold": per_fold}


def _nan_low(v: float) -> float:
    return -math.inf if v is None or math.isnan(v) else v


def _model_bytes(artifact: ActivityArtifact) -> list[bytes]:
    if artifact.family == "xgboost":
        return [bytes(m.save_raw(raw_format="ubj")) for m in artifact.models]
    return [m.to_bytes() for m in artifact.models]


def _content_hash(artifact: ActivityArtifact) -> str:
    h = hashlib.sha256()
    for raw in _model_bytes(artifact):
        h.update(hashlib.sha256(raw).digest())
    h.update(artifact.spec.to_json().encode())
    return h.hexdigest()



