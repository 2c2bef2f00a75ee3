"""The design surrogate: the lake's activity model plus a second opinion, averaged.

A generator that optimizes one model's prediction finds that model's blind spots: on the
simulator's hidden rule, Graph GA designs scored by the lake's XGBoost alone lost a motif
the model weighs too little (a biaryl bond) and kept a high prediction, so round 1's
candidates were predicted about 7.3 and truly about 6.0 (Spearman of prediction and truth
0.03 over the gated candidates of one generator lake; Renz et al. 2019, "On failure modes
in molecule generation and optimization", describe the same failure). A design must
therefore look potent to models that learned the labels differently: the lake's chosen
model (``activity``, chosen by scaffold CV) and each fingerprint family it did not choose
(XGBoost, MLP), trained here on the same labels with the lake's current compound
properties (structures RDKit could not read left out, as the activity model leaves them
out); their scaffold folds give each member's own spread. Training XGBoost and MLP took 22-35 s
per target at load about 3 on 2 cores (bench ``retrain_s``, 5 lakes).

committee prediction = mean of the members' predictions; uncertainty = sqrt(mean of the
members' uncertainties² + variance between the members' predictions), so a design the
members disagree on has a lower confidence bound (``selection``). Chemprop is not added
as a second opinion: at the refresh's epoch budget it made round 1's top 10 worse on all
3 generator lakes measured (BENCHMARKS §13), and it costs minutes per target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from models.compounds import activity

SECOND_OPINION_FAMILIES = ("xgboost", "mlp")


def second_opinions(chosen: activity.ActivityArtifact, props: pl.DataFrame, labels: pl.DataFrame,
                    seed: int = 0) -> list[activity.ActivityArtifact]:
    """One model per ``SECOND_OPINION_FAMILIES`` family other than ``chosen.family``, trained
    on ``labels`` (inchikey, pic50, censored) joined to the property frame ``props``; none
    where those rows are too few to train on (``activity.NotEnoughLabels``: the committee is
    then the lake's model alone)."""
    if props.is_empty() or "inchikey" not in props.columns:
        return []
    if "morgan_fp" in props.columns:
        props = props.filter(pl.col("morgan_fp").is_not_null())
    out = []
    for family in SECOND_OPINION_FAMILIES:
        if family == chosen.family:
            continue
        try:
            out.append(activity.train_activity(props, labels, seed=seed, families=(family,)))
        except activity.NotEnoughLabels:
            return []
    return out


def committee(members: Sequence[activity.ActivityArtifact]
              ) -> Callable[[pl.DataFrame], tuple[np.ndarray, np.ndarray]]:
    """``potency(frame) -> (predicted pIC50, uncertainty)``: the members' mean and combined
    uncertainty (module doc); one member gives its own prediction."""
    if not members:
        raise ValueError("a committee needs at least one activity model")

    def potency(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        preds, uncs = zip(*(activity.predict_potency(m, frame)[:2] for m in members))
        preds, uncs = np.vstack(preds), np.vstack(uncs)
        return preds.mean(axis=0), np.sqrt((uncs ** 2).mean(axis=0) + preds.var(axis=0))
    return potency


def committee_version(members: Sequence[activity.ActivityArtifact]) -> str:
    """The members' model versions joined by '+', the lake's model first."""
    return "+".join(m.model_version for m in members)
