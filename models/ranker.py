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
import zlib
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

from models import ranker_calibration, ranker_cv
from models.ranker_data import (FEATURES, KEYS, matrix, monotone_constraints, prepare,
                                solved_patients, split_patients)
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
    "monotone_constraints": monotone_constraints(FEATURES),
}
NUM_BOOST_ROUND = 150
# The shipped model learns from thousands of published cases, so it can afford deeper trees;
# a lake's refinement adds a few gentle rounds on top of it.
SHIPPED_PARAMS: dict = {**XGB_PARAMS, "max_depth": 4, "eta": 0.08, "min_child_weight": 5.0}
SHIPPED_ROUNDS = 300
# Each published case has ~300 candidates and one causal gene; a seeded quarter of the
# non-causal rows carries the same information for the trees at a quarter of the cost. The
# constant shift this puts on the margin is absorbed by the calibration, fitted afterwards on
# held-out patients' full candidate lists (which are never subsampled).
SHIPPED_NEGATIVE_SHARE = 0.25
REFINE_PARAMS: dict = {**XGB_PARAMS, "eta": 0.05}
REFINE_ROUNDS = 40
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
    # temperature and "none" logit of the per-patient conditional logit (ranker_calibration);
    # None = score is the plain sigmoid of the margin (uncalibrated)
    calibration: dict | None = None
    origin: str = "lake"  # "shipped" | "lake" | "refined" | "default_weights"

    @property
    def model_version(self) -> str:
        """``<mode>-<first 12 hex of the training fingerprint>``: the same training data,
        settings and libraries always give the same version, whenever it was trained."""
        return f"{self.mode}-{self.fingerprint[:VERSION_CHARS]}"


def fingerprint(
    features: pl.DataFrame, seed: int = 0, min_solved: int = 20, holdout_fraction: float = 0.3,
    cv_folds: int = 5, base: str = "",
) -> str:
    """The content address of ``train(features, ...)`` (or, with ``base`` = the shipped model's
    fingerprint, of ``refine(shipped, features)``) with the same arguments: the model
    columns (keys, labels, FEATURES) in (patient_id, gene_symbol) order, every setting of the
    fit and its fallback, the recipe and the result-changing library versions."""
    content = _fingerprint(prepare(features, FEATURES), seed, min_solved, holdout_fraction, cv_folds)
    if not base:
        return content
    return _digest(lake=content, shipped=base, refine_params=REFINE_PARAMS,
                   refine_rounds=REFINE_ROUNDS, min_solved_to_refine=MIN_SOLVED_TO_REFINE)


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


def score(artifact: RankerArtifact, features: pl.DataFrame, contributions: bool = True) -> pl.DataFrame:
    """Score and rank every patient's candidates; adds score, rank, ranking_method, contrib_<feature>, contrib_bias.

    ``rank`` is 1..n per patient (1 = best; ties broken by gene_symbol). The contributions are
    additive in the model's margin (log-odds for both default weights and binary:logistic;
    XGBoost's via TreeSHAP): ``sum(contrib_*) + contrib_bias`` equals ``margin`` for every
    row. ``score`` is the calibrated probability that the gene is the patient's causal gene
    (``ranker_calibration``) when the artifact is calibrated, else the margin's sigmoid. Rows
    come back sorted by patient_id and rank; the input columns are kept (keys cast to string).
    ``contributions=False`` skips the per-feature TreeSHAP terms (evaluation needs the margin
    only, and TreeSHAP over millions of candidates costs more than the fit).
    """
    frame = prepare(features, artifact.features)
    x = matrix(frame, artifact.features)
    if artifact.mode == "xgboost":
        if artifact.booster is None:
            raise ValueError("xgboost ranker artifact has no booster")
        dm = xgb.DMatrix(x, missing=np.nan, feature_names=artifact.features, nthread=2)
        if not contributions:
            return _scored(artifact, features, frame, artifact.booster.predict(
                dm, output_margin=True).astype(np.float64), None)
        contribs = artifact.booster.predict(dm, pred_contribs=True).astype(np.float64)
    elif artifact.mode == "default_weights":
        terms, intercept = default_logit_terms(x.astype(np.float64), artifact.features, artifact.weights)
        contribs = np.column_stack([terms, np.full(frame.height, intercept)])
    else:
        raise ValueError(f"unknown ranker mode {artifact.mode!r}")
    contribs = contribs.reshape(frame.height, len(artifact.features) + 1)
    return _scored(artifact, features, frame, contribs.sum(axis=1), contribs)


def _scored(artifact: RankerArtifact, features: pl.DataFrame, frame: pl.DataFrame,
            margin: np.ndarray, contribs: np.ndarray | None) -> pl.DataFrame:
    """``features`` with score, margin, (contributions), ranking_method and the rank."""
    if artifact.calibration:
        scores = ranker_calibration.probabilities(margin, frame["patient_id"].to_numpy(),
                                                  artifact.calibration)
    else:
        scores = sigmoid(margin)
    names = [f"contrib_{f}" for f in artifact.features] + ["contrib_bias"]
    added = pl.DataFrame(
        {
            "score": pl.Series(scores, dtype=pl.Float64),
            "margin": pl.Series(margin, dtype=pl.Float64),
            **({n: pl.Series(contribs[:, i], dtype=pl.Float64) for i, n in enumerate(names)}
               if contribs is not None else {}),
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
        "calibration": artifact.calibration,
        "origin": artifact.origin,
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
        calibration=meta.get("calibration"),
        origin=meta.get("origin", "lake"),
    )


def _fit(frame: pl.DataFrame, patients: list[str], params: dict, rounds: int = NUM_BOOST_ROUND,
         base: xgb.Booster | None = None) -> xgb.Booster:
    """Fit (or, from ``base``, continue fitting) on the candidates of ``patients``."""
    # XGBoost needs each query's rows contiguous, hence the sort by patient.
    rows = frame.filter(pl.col("patient_id").is_in(patients)).sort(["patient_id", "gene_symbol"])
    qid = rows["patient_id"].rank("dense").cast(pl.UInt32).to_numpy()
    label = rows["is_causal"].fill_null(False).cast(pl.Float32).to_numpy()
    dm = xgb.DMatrix(matrix(rows, FEATURES), label=label, missing=np.nan, feature_names=FEATURES, nthread=2)
    if params["objective"].startswith("rank:"):
        dm.set_info(qid=qid)
    return xgb.train(params, dm, num_boost_round=rounds, xgb_model=base)


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



# ---------------------------------------------------------------------------------------------
# The shipped ranker (trained on many genes, measured on genes it never saw) and its refinement
# on a lake's own solved patients.

def train_shipped(features: pl.DataFrame, gene_of: pl.DataFrame, baselines: dict[str, str] | None = None,
                  strata: pl.DataFrame | None = None, folds: int = 5, seed: int = 0,
                  n_boot: int = 1000, evaluate_on: set[str] | None = None,
                  eval_only: set[str] | None = None) -> RankerArtifact:
    """Fit the shipped ranker; measure it by gene-grouped cross-validation.

    ``features``: candidates of solved patients (``is_causal`` set) plus any baseline score
    columns named in ``baselines`` ({method: column}); ``gene_of``: patient_id → causal
    gene_symbol, for every solved patient (also those whose causal gene is not a candidate).
    ``strata``: patient_id plus columns to break the figures down by. Every patient is scored
    by a model that saw no patient of its causal gene; the score calibration is fitted on
    out-of-fold margins of the other folds (nested), so its reliability figures are held out too.
    ``evaluate_on``: the patients the headline figures are computed on (default: all);
    ``eval_only``: patients never trained on, only scored by their gene's fold model (e.g.
    the same cases with fewer terms, to measure robustness); breakdowns cover everyone.
    """
    eval_only = eval_only or set()
    baselines = baselines or {}
    frame = prepare(features, FEATURES)
    extra = [c for c in baselines.values() if c in features.columns]
    if extra:
        frame = frame.with_columns(*[features[c].cast(pl.Float64) for c in extra])
    usable, missed = solved_patients(frame)
    solved = sorted(usable + missed)
    trainable = [p for p in usable if p not in eval_only]
    # folds are dealt by gene over the trainable patients; an eval-only patient follows its gene
    fold_of = ranker_cv.gene_folds(gene_of.filter(pl.col("patient_id").is_in(trainable)), folds, seed)
    fold_of_gene = dict(gene_of.filter(pl.col("patient_id").is_in(list(fold_of)))
                        .with_columns(pl.col("patient_id").replace_strict(fold_of).alias("f"))
                        .select("gene_symbol", "f").unique("gene_symbol").iter_rows())
    for pid, gene in gene_of.filter(pl.col("patient_id").is_in(solved)).iter_rows():
        if pid not in fold_of:
            fold_of[pid] = fold_of_gene.get(gene, zlib.crc32(gene.encode()) % folds)
    params = {**SHIPPED_PARAMS, "seed": seed}
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ordered = frame.sort(["patient_id", "gene_symbol"])
    keep = np.random.default_rng(seed).random(ordered.height) < SHIPPED_NEGATIVE_SHARE
    train_rows = ordered.filter(pl.col("is_causal").fill_null(False) | pl.Series(keep))
    oof = []
    for f in range(folds):
        held = [p for p in solved if fold_of.get(p) == f]
        train_ids = [p for p in trainable if fold_of.get(p) != f]
        if not held or not train_ids:
            continue
        model = _xgb_artifact(_fit(train_rows, train_ids, params, SHIPPED_ROUNDS), params,
                              len(train_ids), trained_at, seed)
        part = score(model, frame.filter(pl.col("patient_id").is_in(held)), contributions=False)
        oof.append(part.with_columns(pl.lit(f).alias("fold")))
    scored = pl.concat(oof, how="diagonal_relaxed")
    # nested calibration: each fold's scores calibrated on the other folds' held-out margins
    probs = np.zeros(scored.height)
    fold_col = scored["fold"].to_numpy()
    for f in np.unique(fold_col):
        fit_rows = scored.filter((pl.col("fold") != f) & ~pl.col("patient_id").is_in(sorted(eval_only)))
        cal = ranker_calibration.fit(fit_rows["margin"].to_numpy(), fit_rows["patient_id"].to_numpy(),
                                     fit_rows["is_causal"].fill_null(False).to_numpy())
        sel = fold_col == f
        probs[sel] = ranker_calibration.probabilities(
            scored["margin"].to_numpy()[sel], scored["patient_id"].to_numpy()[sel], cal)
    scored = scored.with_columns(pl.Series("score", probs))
    headline = scored.filter(pl.col("patient_id").is_in(sorted(evaluate_on))) if evaluate_on \
        else scored.filter(~pl.col("patient_id").is_in(sorted(eval_only)))
    metrics = _grouped_metrics(headline, gene_of, baselines, None, n_boot, seed)
    if strata is not None:
        metrics["breakdown"] = _grouped_metrics(scored, gene_of, baselines, strata, n_boot,
                                                seed)["breakdown"]
    metrics["calibration"] = ranker_calibration.report(
        headline["score"].to_numpy(), headline["is_causal"].fill_null(False).to_numpy(),
        headline["patient_id"].to_numpy())
    metrics.update({"evaluation_scope": f"{folds}-fold cross-validation grouped by causal gene "
                                        "(no gene on both sides)",
                    "n_solved_patients": len(solved), "n_solved_causal_not_candidate": len(missed),
                    "n_genes": int(gene_of.filter(pl.col("patient_id").is_in(solved))
                                   ["gene_symbol"].n_unique()),
                    "n_candidate_rows": frame.height, "cv_folds": folds, "seed": seed})
    booster = _fit(train_rows, trainable, params, SHIPPED_ROUNDS)
    gains = booster.get_score(importance_type="gain")
    metrics["feature_importance_gain"] = {f: float(gains.get(f, 0.0)) for f in FEATURES}
    artifact = _xgb_artifact(booster, params, len(trainable), trained_at, seed)
    artifact.num_boost_round = SHIPPED_ROUNDS
    artifact.origin = "shipped"
    fit_rows = scored.filter(~pl.col("patient_id").is_in(sorted(eval_only)))
    artifact.calibration = ranker_calibration.fit(
        fit_rows["margin"].to_numpy(), fit_rows["patient_id"].to_numpy(),
        fit_rows["is_causal"].fill_null(False).to_numpy())
    artifact.ranking_method = (f"shipped xgboost ranker (trained on {len(trainable)} solved cases of "
                               f"{metrics['n_genes']} genes), calibrated")
    artifact.metrics = metrics
    artifact.fingerprint = _digest(recipe=RECIPE, format_version=FORMAT_VERSION, shipped=True,
                                   data=frame_digest(prepare(features, FEATURES), list(KEYS)),
                                   params=params, rounds=SHIPPED_ROUNDS, folds=folds,
                                   negative_share=SHIPPED_NEGATIVE_SHARE,
                                   libraries=library_versions(*RESULT_LIBRARIES))
    return artifact


def _grouped_metrics(scored: pl.DataFrame, gene_of: pl.DataFrame, baselines: dict[str, str],
                     strata: pl.DataFrame | None, n_boot: int, seed: int) -> dict:
    """Top-k with gene-bootstrap intervals for the ranker and each baseline, the paired
    difference ranker − baseline, and the same per stratum."""
    ranked = {"ranker": rank_within_patient(scored, "margin")}
    for method, col in {"phenotype_only": "pheno_score", "variant_only": "variant_score",
                        **baselines}.items():
        if col in scored.columns:
            ranked[method] = rank_within_patient(scored, col)
    ranks = {m: ranker_cv.best_causal_rank(r) for m, r in ranked.items()}
    out: dict = {"recall_gene_cv": {m: ranker_cv.topk_with_ci(r, gene_of, KS, n_boot, seed)
                               for m, r in ranks.items()},
                 "difference_gene_cv": {m: ranker_cv.paired_difference(ranks["ranker"], r, gene_of, KS,
                                                                  n_boot, seed)
                                   for m, r in ranks.items() if m != "ranker"}}
    if strata is not None:
        breakdown: dict = {}
        for col in [c for c in strata.columns if c != "patient_id"]:
            for value in sorted(strata[col].drop_nulls().unique().to_list(), key=str):
                ids = strata.filter(pl.col(col) == value).select("patient_id")
                breakdown.setdefault(col, {})[str(value)] = {
                    m: ranker_cv.topk_with_ci(r.join(ids, on="patient_id"), gene_of, KS,
                                              min(n_boot, 200), seed)
                    for m, r in ranks.items()}
        out["breakdown"] = breakdown
    return out


MIN_SOLVED_TO_REFINE = 10


def refine(shipped: RankerArtifact, features: pl.DataFrame, folds: int = 5, seed: int = 0
           ) -> tuple[RankerArtifact, dict]:
    """The model a lake should use, and why: the shipped ranker, or the shipped ranker refined
    with a few boosting rounds on the lake's own solved patients when that ranks the lake's
    held-out solved patients better (top-1 higher and top-10 no lower, patient-wise
    ``folds``-fold cross-validation; the shipped model is scored on the same patients)."""
    frame = prepare(features, FEATURES)
    usable, missed = solved_patients(frame)
    decision: dict = {"n_solved_patients": len(usable) + len(missed),
                      "n_solved_causal_not_candidate": len(missed),
                      "n_candidate_rows": frame.height,
                      "n_patients": frame["patient_id"].n_unique()}
    if shipped.mode != "xgboost" or shipped.features != FEATURES:
        decision.update(model="shipped", why="the shipped model's features differ from this "
                        "code's; it is used as shipped (retrain it: orphanlake train-ranker)")
        return shipped, decision
    if len(usable) < MIN_SOLVED_TO_REFINE:
        decision.update(model="shipped", why=f"{len(usable)} solved patient(s) with their causal "
                        f"gene among the candidates; refining needs {MIN_SOLVED_TO_REFINE}")
        return shipped, decision
    ids = sorted(usable + missed)
    order = np.random.default_rng(seed).permutation(len(ids))
    k = min(folds, len(ids))
    params = {**REFINE_PARAMS, "seed": seed}
    refined_parts = []
    for f in range(k):
        held = [ids[i] for i in order[f::k]]
        train_ids = sorted(set(usable) - set(held))
        booster = _fit(frame, train_ids, params, REFINE_ROUNDS, base=shipped.booster)
        model = _refined_artifact(shipped, booster, len(train_ids))
        refined_parts.append(score(model, frame.filter(pl.col("patient_id").is_in(held)),
                                   contributions=False))
    solved = frame.filter(pl.col("patient_id").is_in(ids))
    base = evaluate_topk(score(shipped, solved, contributions=False), KS)
    tuned = evaluate_topk(pl.concat(refined_parts, how="diagonal_relaxed"), KS)
    decision["heldout_recall"] = {"shipped": base, "refined": tuned}
    better = (tuned["recall_at_1"] > base["recall_at_1"]
              and tuned["recall_at_10"] >= base["recall_at_10"])
    summary = (f"top-1 {tuned['recall_at_1']:.2f} refined vs {base['recall_at_1']:.2f} shipped, "
               f"top-10 {tuned['recall_at_10']:.2f} vs {base['recall_at_10']:.2f} on "
               f"{base['n_patients']} held-out solved patients ({k}-fold)")
    if not better:
        decision.update(model="shipped", why=f"refining did not help: {summary}")
        return shipped, decision
    booster = _fit(frame, usable, params, REFINE_ROUNDS, base=shipped.booster)
    decision.update(model="refined", why=f"refined on this lake's solved patients: {summary}")
    return _refined_artifact(shipped, booster, len(usable)), decision


def _refined_artifact(shipped: RankerArtifact, booster: xgb.Booster, n: int) -> RankerArtifact:
    return RankerArtifact(
        mode="xgboost", features=list(FEATURES), booster=booster, weights={}, metrics={},
        n_train_patients=shipped.n_train_patients + n, trained_at=shipped.trained_at,
        ranking_method=f"{shipped.ranking_method}, refined on {n} solved patients of this lake",
        params=dict(REFINE_PARAMS), num_boost_round=shipped.num_boost_round + REFINE_ROUNDS,
        seed=shipped.seed, fingerprint=shipped.fingerprint,
        # refinement adds gentle rounds; the shipped calibration still maps margins to
        # probabilities (a lake rarely has enough solved patients to refit it)
        calibration=shipped.calibration, origin="refined")
