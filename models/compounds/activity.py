"""Activity models: predicted pIC50 per compound from screening potency labels, chosen by scaffold CV.

Three regression families compete on the same scaffold folds (``scaffold_split``, 3 folds by
default): XGBoost (hist trees, squared error), the PyTorch MLP (``mlp``, regression task) on
Morgan counts + descriptors (``features``, ``FINGERPRINT``), and a Chemprop 2 D-MPNN
(``chemprop_model``) on the SMILES graph.
Every family learns pIC50 (``labels``: the one documented scale). Censored labels ("no more
potent than the floor of the measurable range") are handled per family: Chemprop uses a
bounded MSE (no loss for a prediction below a censored floor); XGBoost and the MLP train on
the floor value itself (the clipped pIC50), which pulls inert compounds to the floor too.

Each family is scored on held-out scaffolds, per fold (mean ± sd) and pooled: RMSE (for a
censored label, a prediction below its floor counts as exact), Spearman, and for potent
actives (pIC50 ≥ ``ACTIVE_PIC50`` = 5, i.e. IC50 ≤ 10 µM) ROC-AUC, PR-AUC (average
precision), EF1% and EF5% with the predicted pIC50 as the score. The family with the highest
mean per-fold PR-AUC of potent actives wins (tie → mean Spearman, then the first of
``families``): what a chemist needs is potent actives at the top of the list from chemotypes
the model has not seen.

Once scaffold CV has chosen the family, that family is refit on every labelled row (same
settings, seed) and the refit scores: it sees a third more compounds, and the potent
chemotypes of every fold, than any fold model, which raised untested-compound enrichment
on the simulator's hidden truth (BENCHMARKS §11). The CV figures are therefore slightly
conservative for the shipped model. The fold models stay in the artifact for the
uncertainty: ``predict`` returns the refit's predicted pIC50 and the sd across the fold
models, and the uncertainty in pIC50 units is sqrt(that sd² + OOF residual SD²), the
disagreement of models that left out different scaffolds combined with the error the chosen
family made on held-out scaffolds (its pooled OOF RMSE). ``p_active`` = P(pIC50 ≥ 5) under
normal(prediction, uncertainty).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
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
from scipy.stats import norm  # noqa: E402

from models.compounds.chemprop_model import ChempropConfig, ChempropRegressor, predict_ensemble  # noqa: E402
from models.compounds.features import DESCRIPTORS, FeatureSpec, fit_feature_spec  # noqa: E402
from models.compounds.labels import ACTIVE_PIC50  # noqa: E402
from models.compounds.metrics import enrichment_factor, pr_auc, roc_auc, spearman  # noqa: E402
from models.compounds.mlp import MLP, MLPConfig  # noqa: E402
from models.compounds.scaffold_split import scaffold_folds, scaffold_groups  # noqa: E402

__all__ = ["NotEnoughLabels", "ActivityArtifact", "FAMILIES", "train_activity", "fingerprint",
           "reuse", "predict", "predict_potency", "p_active", "score_batches", "save", "load",
           "MIN_POSITIVES", "MIN_POSITIVE_SCAFFOLDS", "ACTIVE_PIC50", "METRIC_KEYS", "N_FOLDS"]

FAMILIES = ("xgboost", "mlp", "chemprop")
N_FOLDS = 3
MIN_POSITIVES = 5
MIN_POSITIVE_SCAFFOLDS = 2
XGB_PARAMS: dict = {
    "objective": "reg:squarederror",
    "eval_metric": "rmse",
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
# The fingerprint encoding of the XGBoost and MLP families: counts beat bits on scaffold CV
# (features module doc); the solubility model keeps bits.
FINGERPRINT = "counts"
FORMAT_VERSION = 3
# Bumped whenever the training code changes what a fit produces, so a saved model made by the
# old code is not reused (its fingerprint no longer matches).
RECIPE = "4"
# Libraries whose version changes a fit: the trees, the MLP, Chemprop, numpy's seeded folds.
RESULT_LIBRARIES = ("xgboost", "torch", "numpy", "chemprop", "lightning", "rdkit")
META_FILE = "activity_meta.json"
OOF_FILE = "activity_oof.parquet"
METRIC_KEYS = ("rmse", "spearman", "roc_auc", "pr_auc", "ef1", "ef5")
SELECTION_RULE = ("highest mean per-fold PR-AUC of potent actives (pIC50 >= 5) ranked by predicted "
                  "pIC50 on held-out scaffolds; tie -> mean per-fold Spearman")
UNCERTAINTY = ("sqrt(sd of predicted pIC50 across the chosen family's fold models^2 + its pooled "
               "out-of-fold RMSE^2), in pIC50 units")


class NotEnoughLabels(ValueError):
    """Too few potent actives (or too few scaffolds with them) to train and evaluate an activity model."""


@dataclass
class ActivityArtifact:
    """The chosen family's refit and fold models plus everything needed to score, trust and
    reproduce them."""

    family: str  # "xgboost" | "mlp" | "chemprop"
    models: list  # xgb.Booster, MLP or ChempropRegressor, one per scaffold fold (the uncertainty)
    final: object  # the same family refit on every labelled row (the prediction)
    spec: FeatureSpec
    metrics: dict
    oof: pl.DataFrame  # inchikey, fold, family, pred: out-of-fold predicted pIC50 of every family
    trained_at: str
    seed: int
    n_folds: int
    xgb_params: dict = field(default_factory=dict)
    xgb_rounds: int = XGB_ROUNDS
    mlp_config: dict = field(default_factory=dict)
    chemprop_config: dict = field(default_factory=dict)
    content_hash: str = ""
    fingerprint: str = ""
    target: str = ""  # the readable name of what it models (its folder name is a safe slug)

    @property
    def model_version(self) -> str:
        """``<family>-<first 12 hex of the training fingerprint>``: the same labels,
        features, settings and libraries always give the same version, whenever trained."""
        return f"{self.family}-{self.fingerprint[:VERSION_CHARS]}"

    @property
    def residual_sd(self) -> float:
        """The chosen family's pooled out-of-fold RMSE (pIC50 units)."""
        return float(self.metrics["residual_sd"])


def fingerprint(
    props: pl.DataFrame, labels: pl.DataFrame, seed: int = 0, n_folds: int = N_FOLDS,
    families: Sequence[str] = FAMILIES, mlp_config: MLPConfig | None = None, xgb_rounds: int = XGB_ROUNDS,
    chemprop_config: ChempropConfig | None = None,
) -> str:
    """The content address of ``train_activity`` with the same arguments: the joined
    training rows (the columns a fit reads, by inchikey), every setting, the recipe and the
    result-changing library versions."""
    return _fingerprint(_join(props, labels), seed, n_folds, families, mlp_config or MLPConfig(),
                        xgb_rounds, chemprop_config or ChempropConfig())


def _fingerprint(data: pl.DataFrame, seed: int, n_folds: int, families: Sequence[str],
                 cfg: MLPConfig, xgb_rounds: int, cp: ChempropConfig) -> str:
    used = [c for c in ("inchikey", "pic50", "censored", "weight", "scaffold", "smiles", "morgan_fp",
                        *DESCRIPTORS) if c in data.columns]
    return _digest(
        recipe=RECIPE, format_version=FORMAT_VERSION, data=frame_digest(data.select(used), ["inchikey"]),
        seed=seed, n_folds=n_folds, families=list(families), mlp_config=cfg.__dict__,
        chemprop_config=cp.__dict__ if "chemprop" in families else None,
        xgb_params=XGB_PARAMS, xgb_rounds=xgb_rounds, feature_fingerprint=FINGERPRINT,
        min_positives=MIN_POSITIVES,
        active_pic50=ACTIVE_PIC50, min_positive_scaffolds=MIN_POSITIVE_SCAFFOLDS,
        libraries=library_versions(*RESULT_LIBRARIES))


def reuse(directory: Path, expected: str) -> ActivityArtifact | None:
    """The saved model when trained on what ``expected`` fingerprints (``reuse_saved``)."""
    return reuse_saved(directory, META_FILE, expected, load, (RuntimeError, xgb.core.XGBoostError))


def train_activity(
    props: pl.DataFrame, labels: pl.DataFrame, seed: int = 0, n_folds: int = N_FOLDS,
    families: Sequence[str] = FAMILIES, mlp_config: MLPConfig | None = None, xgb_rounds: int = XGB_ROUNDS,
    chemprop_config: ChempropConfig | None = None,
) -> ActivityArtifact:
    """Train every family on scaffold folds, pick one by held-out PR-AUC of potent actives,
    return its refit on all rows with the fold models (for the uncertainty).

    ``props``: contract property frame (inchikey, smiles, descriptors, scaffold, morgan_fp, ...;
    ``smiles`` is required for the chemprop family). ``labels``: inchikey, pic50, optional
    censored (bool: pIC50 only known to be ≤ this value) and weight (sample weight, default
    1). Rows are inner-joined on inchikey; an inchikey labelled twice keeps its most potent
    value. Null pic50 is dropped. Folds are balanced scaffold folds with potent actives spread
    over all folds; when fewer scaffolds than ``n_folds`` carry them, the fold count drops to
    that number (``metrics['n_folds']``). Raises ``NotEnoughLabels`` below ``MIN_POSITIVES``
    potent actives or ``MIN_POSITIVE_SCAFFOLDS`` scaffold groups with them, or without
    inactive compounds.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got {list(families)}")
    data = _join(props, labels)
    if "chemprop" in families and "smiles" not in data.columns:
        raise ValueError("the chemprop family needs a smiles column in the property frame")
    cfg = mlp_config or MLPConfig()
    cp_cfg = chemprop_config or ChempropConfig()
    content = _fingerprint(data, seed, n_folds, families, cfg, xgb_rounds, cp_cfg)
    y = data["pic50"].to_numpy().astype(np.float64)
    cens = data["censored"].to_numpy().astype(bool)
    w = data["weight"].to_numpy().astype(np.float32)
    active = (y >= ACTIVE_PIC50) & ~cens
    scaffolds = data["scaffold"].to_list()
    keys = data["smiles"].to_list() if "smiles" in data.columns else data["inchikey"].to_list()
    groups = scaffold_groups(scaffolds, keys)
    n_pos = int(active.sum())
    n_pos_groups = int(np.unique(groups[active]).size)
    if n_pos < MIN_POSITIVES or n_pos_groups < MIN_POSITIVE_SCAFFOLDS or n_pos == y.size:
        raise NotEnoughLabels(
            f"{n_pos} potent actives (pIC50 >= {ACTIVE_PIC50:g}) in {n_pos_groups} scaffold groups among "
            f"{y.size} labelled compounds with properties; need >= {MIN_POSITIVES} in >= "
            f"{MIN_POSITIVE_SCAFFOLDS} scaffolds and some inactive compounds")
    k = min(n_folds, n_pos_groups)
    folds = scaffold_folds(scaffolds, n_folds=k, seed=seed, labels=active.astype(np.float32), keys=keys)

    spec_all = fit_feature_spec(data, fingerprint=FINGERPRINT)
    params = {**XGB_PARAMS, "seed": seed, "num_boost_round": xgb_rounds}
    mols = _mols(data["smiles"].to_list()) if "chemprop" in families else None
    results: dict[str, dict] = {}
    fold_models: dict[str, list] = {}
    oof_parts = []
    for family in families:
        oof = np.empty(y.size, dtype=np.float64)
        models = []
        started = time.perf_counter()
        for f in range(k):
            tr, te = folds != f, folds == f
            model = _fit(family, data, tr, y, cens, w, params, cfg, cp_cfg, seed + f, mols)
            oof[te] = _predict_rows(family, model, data.filter(pl.Series(te)), spec_all,
                                    None if mols is None else [m for m, t in zip(mols, te) if t])
            models.append(model)
        seconds = time.perf_counter() - started
        fold_models[family] = models
        results[family] = _evaluate(y, cens, active, oof, folds, k)
        results[family]["train_seconds"] = seconds
        results[family]["train_seconds_per_1k"] = seconds / (y.size * (k - 1) / k) * 1000.0
        oof_parts.append(pl.DataFrame({
            "inchikey": data["inchikey"], "fold": pl.Series(folds, dtype=pl.Int32),
            "family": pl.Series([family] * y.size, dtype=pl.String),
            "pred": pl.Series(oof, dtype=pl.Float64),
        }))

    chosen = max(families, key=lambda fam: (_nan_low(results[fam]["mean"]["pr_auc"]),
                                             _nan_low(results[fam]["mean"]["spearman"])))
    started = time.perf_counter()
    final = _fit(chosen, data, np.ones(y.size, dtype=bool), y, cens, w, params, cfg, cp_cfg, seed, mols)
    refit_seconds = time.perf_counter() - started
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    metrics = {
        "n_compounds": int(y.size), "n_positives": n_pos, "base_rate": n_pos / y.size,
        "n_censored": int(cens.sum()), "pic50_mean": float(y.mean()), "pic50_sd": float(y.std()),
        "active_pic50": ACTIVE_PIC50,
        "n_scaffold_groups": int(np.unique(groups).size), "n_positive_scaffold_groups": n_pos_groups,
        "n_folds": k, "n_folds_requested": n_folds,
        "fold_sizes": np.bincount(folds, minlength=k).tolist(),
        "fold_positives": np.bincount(folds, weights=active, minlength=k).astype(int).tolist(),
        "families": results, "chosen": chosen, "final_model": "refit on all labelled rows",
        "refit_seconds": refit_seconds,
        "residual_sd": float(results[chosen]["pooled"]["rmse"]),
        "selection_rule": SELECTION_RULE,
        "evaluation": "scaffold-split cross-validation (Bemis-Murcko groups never span folds); "
                      "pooled = metrics on all out-of-fold predictions together; potent active = "
                      f"measured pIC50 >= {ACTIVE_PIC50:g} (not censored)",
        "censored_labels": "chemprop: bounded MSE (no loss below a censored floor); xgboost, mlp: "
                           "trained on the floor value",
        "uncertainty": UNCERTAINTY,
    }
    artifact = ActivityArtifact(
        family=chosen, models=fold_models[chosen], final=final, spec=spec_all, metrics=_round(metrics),
        oof=pl.concat(oof_parts), trained_at=trained_at, seed=seed, n_folds=k, xgb_params=params,
        xgb_rounds=xgb_rounds, mlp_config={**cfg.__dict__, "hidden": list(cfg.hidden)},
        chemprop_config=dict(cp_cfg.__dict__), fingerprint=content,
    )
    artifact.content_hash = _content_hash(artifact)
    return artifact


def predict(artifact: ActivityArtifact, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(the refit's predicted pIC50, sd across the fold models) per row of a property frame."""
    if frame.height == 0:
        return np.empty(0), np.empty(0)
    models = [artifact.final, *artifact.models]
    if artifact.family == "chemprop":  # parsed and featurized once for every model
        preds = predict_ensemble(models, _mols(frame["smiles"].to_list()))
    else:
        preds = np.vstack([_predict_rows(artifact.family, m, frame, artifact.spec, None) for m in models])
    bad = np.isnan(preds).any(axis=0)  # a structure Chemprop cannot read: the training mean
    preds[:, bad] = float(artifact.metrics["pic50_mean"])
    std = preds[1:].std(axis=0)
    std[bad] = float(artifact.metrics["pic50_sd"])
    return preds[0], std


def p_active(pred: np.ndarray, uncertainty: np.ndarray, cut: float = ACTIVE_PIC50) -> np.ndarray:
    """P(pIC50 >= cut) under normal(pred, uncertainty)."""
    unc = np.maximum(np.asarray(uncertainty, dtype=np.float64), 1e-6)
    return norm.sf((cut - np.asarray(pred, dtype=np.float64)) / unc)


def predict_potency(artifact: ActivityArtifact, frame: pl.DataFrame
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted pIC50, uncertainty in pIC50 units, P(pIC50 >= 5)) per row (see module doc)."""
    mean, spread = predict(artifact, frame)
    unc = np.sqrt(spread ** 2 + artifact.residual_sd ** 2)
    return mean, unc, p_active(mean, unc)


def score_batches(artifact: ActivityArtifact, batches: Iterable[pl.DataFrame | pa.RecordBatch | pa.Table]
                  ) -> Iterator[pl.DataFrame]:
    """Score property frames one batch at a time: yields inchikey, predicted_pic50,
    pic50_uncertainty, p_active per batch.

    Only one batch's features live in memory at once, so scoring a library streamed from
    Parquet (e.g. ``ParquetFile.iter_batches``) keeps memory flat whatever its size.
    """
    for batch in batches:
        frame = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
        pred, unc, p = predict_potency(artifact, frame)
        yield pl.DataFrame({"inchikey": frame["inchikey"].cast(pl.String),
                            "predicted_pic50": pl.Series(pred, dtype=pl.Float64),
                            "pic50_uncertainty": pl.Series(unc, dtype=pl.Float64),
                            "p_active": pl.Series(p, dtype=pl.Float64)})


_SUFFIX = {"xgboost": "ubj", "mlp": "pt", "chemprop": "chemprop.pt"}


def save(artifact: ActivityArtifact, directory: Path) -> Path:
    """Write the refit (``final.ubj``, ``.pt`` or ``.chemprop.pt``: state_dict bytes), the fold
    models (``fold_<k>.*``), the OOF table and ``activity_meta.json`` (last, with each model
    file's sha256; the refit is the first entry of ``model_files``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i, raw in enumerate(_model_bytes(artifact)):
        name = f"{'final' if i == 0 else f'fold_{i - 1}'}.{_SUFFIX[artifact.family]}"
        atomic_write(directory / name, raw)
        files.append({"file": name, "sha256": hashlib.sha256(raw).hexdigest()})
    for old in [*directory.glob("fold_*"), *directory.glob("final.*")]:  # another family or more folds
        if old.name not in {f["file"] for f in files}:
            old.unlink()
    tmp = directory / f".{OOF_FILE}.tmp"
    artifact.oof.write_parquet(tmp)
    os.replace(tmp, directory / OOF_FILE)
    meta = {
        "format_version": FORMAT_VERSION, "family": artifact.family, "model_files": files,
        "feature_spec": json.loads(artifact.spec.to_json()), "metrics": json_safe(artifact.metrics),
        "trained_at": artifact.trained_at, "seed": artifact.seed, "n_folds": artifact.n_folds,
        "xgb_params": artifact.xgb_params, "xgb_rounds": artifact.xgb_rounds,
        "mlp_config": artifact.mlp_config, "chemprop_config": artifact.chemprop_config,
        "content_hash": artifact.content_hash,
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
        elif meta["family"] == "chemprop":
            models.append(ChempropRegressor.from_bytes(raw))
        else:
            models.append(MLP.from_bytes(raw))
    return ActivityArtifact(
        family=meta["family"], models=models[1:], final=models[0], spec=FeatureSpec.from_json(json.dumps(meta["feature_spec"])),
        metrics=meta["metrics"], oof=pl.read_parquet(directory / OOF_FILE), trained_at=meta["trained_at"],
        seed=int(meta["seed"]), n_folds=int(meta["n_folds"]), xgb_params=meta["xgb_params"],
        xgb_rounds=int(meta["xgb_rounds"]), mlp_config=meta["mlp_config"],
        chemprop_config=meta.get("chemprop_config", {}), content_hash=meta["content_hash"],
        fingerprint=meta.get("fingerprint", ""), target=meta.get("target", ""),
    )


def _join(props: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    for col in ("inchikey", "pic50"):
        if col not in labels.columns:
            raise ValueError(f"labels lack column {col!r}")
    lab = labels.select(
        pl.col("inchikey").cast(pl.String),
        pl.col("pic50").cast(pl.Float64).fill_nan(None),
        (pl.col("censored").cast(pl.Boolean).fill_null(False) if "censored" in labels.columns
         else pl.lit(False)).alias("censored"),
        (pl.col("weight").cast(pl.Float64) if "weight" in labels.columns else pl.lit(1.0)).alias("weight"),
    ).drop_nulls("pic50")
    # one structure labelled twice: its most potent measurement (and whether that one is censored)
    lab = lab.group_by("inchikey").agg(
        pl.col("censored").sort_by(["pic50", "censored"], descending=[True, False]).first(),
        pl.col("pic50").max(), pl.col("weight").fill_null(1.0).max())
    p = props.unique("inchikey", keep="first", maintain_order=True)
    # sorted by inchikey so folds and models do not depend on input row order
    return p.join(lab, on="inchikey", how="inner").sort("inchikey")


def _mols(smiles: list) -> list:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return [Chem.MolFromSmiles(s) if s else None for s in smiles]


def _fit(family: str, data: pl.DataFrame, tr: np.ndarray, y: np.ndarray, cens: np.ndarray, w: np.ndarray,
         params: dict, cfg: MLPConfig, cp: ChempropConfig, seed: int, mols: list | None):
    if family == "chemprop":
        keep = [i for i in np.nonzero(tr)[0] if mols[i] is not None]
        return ChempropRegressor(config=cp, seed=seed).fit(
            [mols[i] for i in keep], y[keep], cens[keep], w[keep])
    # medians from the training rows only, as when scoring a new library
    rows = data.filter(pl.Series(tr))
    x = fit_feature_spec(rows, fingerprint=FINGERPRINT).transform(rows)
    if family == "xgboost":
        p = {k: v for k, v in params.items() if k != "num_boost_round"}
        p.update(seed=seed)
        dm = xgb.DMatrix(x, label=y[tr], weight=w[tr], nthread=2)
        return xgb.train(p, dm, num_boost_round=params["num_boost_round"])
    return MLP(task="regression", config=cfg, seed=seed).fit(x, y[tr], sample_weight=w[tr])


def _predict_rows(family: str, model, frame: pl.DataFrame, spec: FeatureSpec, mols: list | None) -> np.ndarray:
    if family == "chemprop":
        return model.predict(mols if mols is not None else frame["smiles"].to_list())
    x = spec.transform(frame)
    if family == "xgboost":
        # inplace_predict skips building a DMatrix: ~3x faster on 5k x 2k rows, same output
        return model.inplace_predict(x).astype(np.float64)
    return model.predict(x)


def _metrics(y: np.ndarray, cens: np.ndarray, active: np.ndarray, pred: np.ndarray) -> dict:
    pred = np.where(np.isnan(pred), np.nanmean(pred) if np.isfinite(pred).any() else 0.0, pred)
    resid = pred - y
    resid = np.where(cens, np.maximum(resid, 0.0), resid)  # below a censored floor is right
    return {"rmse": float(np.sqrt((resid ** 2).mean())) if y.size else math.nan,
            "spearman": spearman(y, pred),
            "roc_auc": roc_auc(active, pred), "pr_auc": pr_auc(active, pred),
            "ef1": enrichment_factor(active, pred, 0.01), "ef5": enrichment_factor(active, pred, 0.05)}


def _evaluate(y: np.ndarray, cens: np.ndarray, active: np.ndarray, oof: np.ndarray, folds: np.ndarray,
              k: int) -> dict:
    per_fold = []
    for f in range(k):
        m = folds == f
        per_fold.append({"fold": f, "n": int(m.sum()), "n_positives": int(active[m].sum()),
                         **_metrics(y[m], cens[m], active[m], oof[m])})
    mean, std = {}, {}
    for key in METRIC_KEYS:
        vals = np.array([r[key] for r in per_fold], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        mean[key] = float(vals.mean()) if vals.size else math.nan
        std[key] = float(vals.std(ddof=1)) if vals.size > 1 else math.nan
    return {"pooled": _metrics(y, cens, active, oof), "mean": mean, "std": std, "per_fold": per_fold}


def _round(obj, digits: int = 3):
    """Every float in a metrics tree rounded to ``digits`` decimals (NaN kept)."""
    if isinstance(obj, float):
        return obj if math.isnan(obj) or math.isinf(obj) else round(obj, digits)
    if isinstance(obj, dict):
        return {k: _round(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v, digits) for v in obj]
    return obj


def _nan_low(v: float) -> float:
    return -math.inf if v is None or math.isnan(v) else v


def _model_bytes(artifact: ActivityArtifact) -> list[bytes]:
    """The refit's bytes, then each fold model's."""
    models = [artifact.final, *artifact.models]
    if artifact.family == "xgboost":
        return [bytes(m.save_raw(raw_format="ubj")) for m in models]
    return [m.to_bytes() for m in models]


def _content_hash(artifact: ActivityArtifact) -> str:
    h = hashlib.sha256()
    for raw in _model_bytes(artifact):
        h.update(hashlib.sha256(raw).digest())
    h.update(artifact.spec.to_json().encode())
    return h.hexdigest()
