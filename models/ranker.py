"""Gene ranking for rare-disease patients: XGBoost learning-to-rank over the candidate-gene evidence.

``train`` fits on solved patients, reports top-k recall on solved patients it did not train on
(next to phenotype-only, variant-only and Exomiser default-weight baselines), then refits on all
solved patients. With too few solved patients it falls back to Exomiser's published logistic
combination (``models.ranker_default``) and every ranking says so. ``score`` ranks every
patient's candidates and explains each score as additive per-feature contributions.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# OpenMP threads busy-wait at barriers by default; on a shared 2-core box that made a 2 s fit
# take up to 23 s (measured). Passive waiting removes that; it only takes effect if no OpenMP
# library is loaded yet, and setdefault leaves an operator's own choice alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from models.artifact_io import atomic_write, json_safe, member, read_meta, reuse_saved
from models.fingerprint import VERSION_CHARS, frame_digest, library_versions
from models.fingerprint import fingerprint as _digest
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import xgboost as xgb  # noqa: E402

from models.ranker_data import FEATURES, KEYS, matrix, prepare, solved_patients, split_patients
from models.ranker_default import EXOMISER_HIPHIVE_WEIGHTS, default_logit_terms, sigmoid
from models.ranker_eval import evaluate_topk, rank_within_patient

__all__ = ["FEATURES", "RankerArtifact", "train", "fingerprint", "reuse", "score", "save", "load",
           "evaluate_topk"]

# binary:logistic (causal vs not) was chosen over rank:pairwise and rank:ndcg (qid = patient):
# on synthetic cohorts of 30-100 solved patients its held-out top-1 recall was equal or higher
# in every setting tried (differences within a few patients), and its margin is log-odds, the
# same unit as the Exomiser default-weights fallback, so contributions read the same in both
# modes. The rank objectives still work by changing OBJECTIVE (rows are grouped by patient).
# Small, shallow trees: real lakes have tens to hundreds of solved patients, not thousands.
OBJECTIVE = "binary:logistic"
XGB_PARAMS: dict = {
    "objective": OBJECTIVE,
    "eta": 0.1,
    "max_depth": 3,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 1.0,
    "tree_method": "hist",
    "nthread": 2,
}
NUM_BOOST_ROUND = 150
KS = (1, 5, 10)
FORMAT_VERSION = 1
# Bumped whenever the training code changes what a fit produces, so a saved model made by the
# old code is not reused (its fingerprint no longer matches).
RECIPE = "1"
# Libraries whose version changes a fit or its evaluation (trees; numpy's seeded splits).
RESULT_LIBRARIES = ("xgboost", "numpy")
MODEL_FILE = "ranker_model.ubj"
META_FILE = "ranker_meta.json"


@dataclass
class RankerArtifact:
    """A trained (or default-weight) ranker plus what is needed to trust and reproduce it."""

    mode: str  # "xgboost" | "default_weights"
    features: list[str]
    booster: xgb.Booster | None
    weights: dict
    metrics: dict
    n_train_patients: int
    trained_at: str
    ranking_method: str
    params: dict = field(default_factory=dict)
    num_boost_round: int = 0
    seed: int = 0
    xgboost_version: str = xgb.__version__
    fingerprint: str = ""

    @property
    def model_version(self) -> str:
        """``<mode>-<first 12 hex of the training fingerprint>``: the same training data,
        settings and libraries always give the same version, whenever it was trained."""
        return f"{self.mode}-{self.fingerprint[:VERSION_CHARS]}"


def fingerprint(
    features: pl.DataFrame, seed: int = 0, min_solved: int = 20, holdout_fraction: float = 0.3,
    cv_folds: int = 5,
) -> str:
    """The content address of ``train(features, ...)`` with the same arguments: the model
    columns (keys, labels, FEATURES) in (patient_id, gene_symbol) order, every setting of the
    fit and its fallback, the recipe and the result-changing library versions."""
    return _fingerprint(prepare(features, FEATURES), seed, min_solved, holdout_fraction, cv_folds)


def _fingerprint(frame: pl.DataFrame, seed: int, min_solved: int, holdout_fraction: float,
                 cv_folds: int) -> str:
    return _digest(
        recipe=RECIPE, format_version=FORMAT_VERSION, data=frame_digest(frame, list(KEYS)),
        features=FEATURES, params=XGB_PARAMS, num_boost_round=NUM_BOOST_ROUND, ks=KS, seed=seed,
        min_solved=min_solved, holdout_fraction=holdout_fraction, cv_folds=cv_folds,
        default_weights=EXOMISER_HIPHIVE_WEIGHTS, libraries=library_versions(*RESULT_LIBRARIES))


def reuse(directory: Path, expected: str) -> RankerArtifact | None:
    """The saved model when trained on what ``expected`` fingerprints (``reuse_saved``)."""
    return reuse_saved(directory, META_FILE, expected, load, (xgb.core.XGBoostError,))


def train(
    features: pl.DataFrame, seed: int = 0, min_solved: int = 20, holdout_fraction: float = 0.3,
    cv_folds: int = 5,
) -> RankerArtifact:
    """Fit the ranker on solved patients, evaluate it on held-out solved patients, refit on all of them.

    Below ``min_solved`` solved patients whose causal gene is a candidate, returns the
    Exomiser default-weights artifact instead (evaluated on all solved patients, none fitted).
    ``metrics`` holds recall@1/5/10 per method on the same evaluation patients, patient counts
    (including solved patients whose causal gene is not a candidate, counted as misses) and
    per-feature gain importances. ``recall_cv`` repeats the comparison with ``cv_folds``-fold
    cross-validation by patient, so every solved patient is ranked by a model that never saw
    them — with tens of solved patients, one held-out split is too small to trust alone.
    """
    if min_solved < 1:
        raise ValueError(f"min_solved must be >= 1, got {min_solved}")
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    frame = prepare(features, FEATURES)
    content = _fingerprint(frame, seed, min_solved, holdout_fraction, cv_folds)
    usable, missed = solved_patients(frame)
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    counts = {
        "n_solved_patients": len(usable) + len(missed),
        "n_usable_solved_patients": len(usable),
        "n_solved_causal_not_candidate": len(missed),
        "solved_causal_not_candidate": missed,
        "n_candidate_rows": frame.height,
        "n_patients": frame["patient_id"].n_unique(),
    }

    if len(usable) < min_solved:
        artifact = _default_artifact(len(usable), trained_at, seed)
        solved = frame.filter(pl.col("is_training"))
        artifact.metrics = {
            **counts,
            "min_solved": min_solved,
            "evaluation_scope": "all solved patients (default weights are not fitted on them)",
            "n_heldout_patients": counts["n_solved_patients"],
            "recall": _baselines(solved, artifact),
        }
        artifact.fingerprint = content
        return artifact

    params = {**XGB_PARAMS, "seed": seed}
    train_ids, held_ids = split_patients(usable + missed, holdout_fraction, seed)
    train_usable = sorted(set(train_ids) & set(usable))
    metrics: dict = {**counts, "min_solved": min_solved, "holdout_fraction": holdout_fraction, "seed": seed}
    if held_ids and train_usable:
        held = frame.filter(pl.col("patient_id").is_in(held_ids))
        fold = _xgb_artifact(_fit(frame, train_usable, params), params, len(train_usable), trained_at, seed)
        metrics["evaluation_scope"] = "held-out solved patients (split by patient, not trained on)"
        metrics["n_heldout_patients"] = len(held_ids)
        metrics["n_fold_train_patients"] = len(train_usable)
        metrics["recall"] = {"xgboost": evaluate_topk(score(fold, held), KS), **_baselines(held, fold)}
    else:
        metrics["evaluation_scope"] = "none (holdout_fraction is 0 or too few solved patients to split)"
        metrics["n_heldout_patients"] = 0
        metrics["recall"] = {}

    if cv_folds >= 2 and len(usable) >= cv_folds:
        metrics["recall_cv"] = _cross_validate(frame, usable, missed, params, trained_at, seed, cv_folds)
        metrics["cv_folds"] = cv_folds

    booster = _fit(frame, usable, params)
    gains = booster.get_score(importance_type="gain")
    metrics["feature_importance_gain"] = {f: float(gains.get(f, 0.0)) for f in FEATURES}
    artifact = _xgb_artifact(booster, params, len(usable), trained_at, seed)
    artifact.metrics = metrics
    artifact.fingerprint = content
    return artifact


def score(artifact: RankerArtifact, features: pl.DataFrame) -> pl.DataFrame:
    """Score and rank every patient's candidates; adds score, rank, ranking_method, contrib_<feature>, contrib_bias.

    ``rank`` is 1..n per patient (1 = best; ties broken by gene_symbol). The contributions are
    additive in the model's margin (log-odds for both default weights and binary:logistic;
    XGBoost's via TreeSHAP): ``sum(contrib_*) + contrib_bias`` equals that margin for every row
    and ``score`` is its sigmoid. Rows come back sorted by patient_id and rank; the input
    columns are kept (keys cast to string).
    """
    frame = prepare(features, artifact.features)
    x = matrix(frame, artifact.features)
    if artifact.mode == "xgboost":
        if artifact.booster is None:
            raise ValueError("xgboost ranker artifact has no booster")
        dm = xgb.DMatrix(x, missing=np.nan, feature_names=artifact.features, nthread=2)
        contribs = artifact.booster.predict(dm, pred_contribs=True).astype(np.float64)
        scores = artifact.booster.predict(dm).astype(np.float64)
    elif artifact.mode == "default_weights":
        terms, intercept = default_logit_terms(x.astype(np.float64), artifact.features, artifact.weights)
        contribs = np.column_stack([terms, np.full(frame.height, intercept)])
        scores = sigmoid(contribs.sum(axis=1))
    else:
        raise ValueError(f"unknown ranker mode {artifact.mode!r}")
    contribs = contribs.reshape(frame.height, len(artifact.features) + 1)
    names = [f"contrib_{f}" for f in artifact.features] + ["contrib_bias"]
    added = pl.DataFrame(
        {
            "score": pl.Series(scores, dtype=pl.Float64),
            **{n: pl.Series(contribs[:, i], dtype=pl.Float64) for i, n in enumerate(names)},
        },
        height=frame.height,
    )
    out = features.with_columns(
        frame["patient_id"], frame["gene_symbol"], *added.get_columns(),
        pl.lit(artifact.ranking_method, dtype=pl.String).alias("ranking_method"),
    )
    return rank_within_patient(out, "score")


def save(artifact: RankerArtifact, directory: Path) -> Path:
    """Write the artifact as ``ranker_meta.json`` (+ ``ranker_model.ubj`` for XGBoost) and return the directory.

    Each file is written to a temporary name and renamed into place, model first and metadata
    last, so a reader never sees metadata pointing at a half-written model.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "mode": artifact.mode,
        "features": artifact.features,
        "weights": artifact.weights,
        "metrics": artifact.metrics,
        "n_train_patients": artifact.n_train_patients,
        "trained_at": artifact.trained_at,
        "ranking_method": artifact.ranking_method,
        "params": artifact.params,
        "num_boost_round": artifact.num_boost_round,
        "seed": artifact.seed,
        "xgboost_version": artifact.xgboost_version,
        "fingerprint": artifact.fingerprint,
        "model_version": artifact.model_version,
        "model_file": None,
        "model_sha256": None,
    }
    if artifact.mode == "xgboost":
        if artifact.booster is None:
            raise ValueError("xgboost ranker artifact has no booster to save")
        raw = bytes(artifact.booster.save_raw(raw_format="ubj"))
        atomic_write(directory / MODEL_FILE, raw)
        meta["model_file"] = MODEL_FILE
        meta["model_sha256"] = hashlib.sha256(raw).hexdigest()
    atomic_write(directory / META_FILE, json.dumps(meta, indent=2, sort_keys=True).encode())
    return directory


def load(directory: Path) -> RankerArtifact:
    """Read an artifact written by ``save``; raises ValueError if it is incomplete or was altered."""
    directory = Path(directory)
    meta = read_meta(directory, META_FILE, FORMAT_VERSION, "ranker")
    booster = None
    if meta["mode"] == "xgboost":
        model_path = member(directory, meta["model_file"])
        raw = model_path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != meta["model_sha256"]:
            raise ValueError(f"{model_path}: checksum does not match its metadata")
        booster = xgb.Booster(params={"nthread": 2})
        booster.load_model(bytearray(raw))
    return RankerArtifact(
        mode=meta["mode"],
        features=list(meta["features"]),
        booster=booster,
        weights=dict(meta["weights"]),
        metrics=meta["metrics"],
        n_train_patients=int(meta["n_train_patients"]),
        trained_at=meta["trained_at"],
        ranking_method=meta["ranking_method"],
        params=meta["params"],
        num_boost_round=int(meta["num_boost_round"]),
        seed=int(meta["seed"]),
        xgboost_version=meta["xgboost_version"],
        fingerprint=meta.get("fingerprint", ""),
    )


def _fit(frame: pl.DataFrame, patients: list[str], params: dict) -> xgb.Booster:
    # XGBoost needs each query's rows contiguous, hence the sort by patient.
    rows = frame.filter(pl.col("patient_id").is_in(patients)).sort(["patient_id", "gene_symbol"])
    qid = rows["patient_id"].rank("dense").cast(pl.UInt32).to_numpy()
    label = rows["is_causal"].fill_null(False).cast(pl.Float32).to_numpy()
    dm = xgb.DMatrix(matrix(rows, FEATURES), label=label, missing=np.nan, feature_names=FEATURES, nthread=2)
    if params["objective"].startswith("rank:"):
        dm.set_info(qid=qid)
    return xgb.train(params, dm, num_boost_round=NUM_BOOST_ROUND)


def _xgb_artifact(booster: xgb.Booster, params: dict, n_patients: int, trained_at: str, seed: int) -> RankerArtifact:
    return RankerArtifact(
        mode="xgboost",
        features=list(FEATURES),
        booster=booster,
        weights={},
        metrics={},
        n_train_patients=n_patients,
        trained_at=trained_at,
        ranking_method=f"xgboost {params['objective']} (trained on {n_patients} solved patients)",
        params=dict(params),
        num_boost_round=NUM_BOOST_ROUND,
        seed=seed,
    )


def _default_artifact(n_usable: int, trained_at: str, seed: int) -> RankerArtifact:
    return RankerArtifact(
        mode="default_weights",
        features=list(FEATURES),
        booster=None,
        weights=dict(EXOMISER_HIPHIVE_WEIGHTS),
        metrics={},
        n_train_patients=0,
        trained_at=trained_at,
        ranking_method=f"default_weights (too few solved patients: {n_usable})",
        seed=seed,
    )


def _cross_validate(frame: pl.DataFrame, usable: list[str], missed: list[str], params: dict,
                    trained_at: str, seed: int, k: int) -> dict:
    """Out-of-fold recall over every solved patient, next to the same baselines."""
    ids = sorted(usable + missed)
    order = np.random.default_rng(seed).permutation(len(ids))
    folds = [[ids[i] for i in order[f::k]] for f in range(k)]
    scored = []
    for fold in folds:
        train_ids = sorted(set(usable) - set(fold))
        model = _xgb_artifact(_fit(frame, train_ids, params), params, len(train_ids), trained_at, seed)
        scored.append(score(model, frame.filter(pl.col("patient_id").is_in(fold))))
    solved = frame.filter(pl.col("patient_id").is_in(ids))
    return {"xgboost": evaluate_topk(pl.concat(scored, how="diagonal_relaxed"), KS),
            **_baselines(solved, _default_artifact(0, trained_at, 0))}


def _baselines(frame: pl.DataFrame, artifact: RankerArtifact) -> dict:
    """Recall of the single-evidence baselines and the Exomiser default weights on the same patients."""
    default = artifact if artifact.mode == "default_weights" else _default_artifact(0, artifact.trained_at, 0)
    return {
        "phenotype_only": evaluate_topk(rank_within_patient(frame, "pheno_score"), KS),
        "variant_only": evaluate_topk(rank_within_patient(frame, "variant_score"), KS),
        "default_weights": evaluate_topk(score(default, frame), KS),
    }

