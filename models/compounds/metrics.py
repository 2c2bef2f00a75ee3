"""Screening metrics without scikit-learn: ROC-AUC, average precision and enrichment factor.

All three take labels ``y`` (truthy = active) and scores ``s`` (higher = more likely active).
Tied scores are handled the way a random ordering of the tied compounds would be on average,
so the result never depends on the input row order. Degenerate inputs (no positives, or for
ROC-AUC no negatives) give ``nan`` rather than a misleading number.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

__all__ = ["roc_auc", "pr_auc", "enrichment_factor", "regression_metrics", "spearman"]


def _arrays(y, s) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(bool).ravel()
    s = np.asarray(s, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return y, s


def roc_auc(y, s) -> float:
    """Area under the ROC curve (Mann–Whitney U / (n_pos·n_neg), ties count one half); nan without both classes."""
    y, s = _arrays(y, s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(s)  # average ranks: a tie between a positive and a negative counts 1/2
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y, s) -> float:
    """Average precision: sum over distinct score thresholds of (recall step) × precision; nan without positives.

    A group of tied scores is one threshold (the step-wise definition scikit-learn's
    ``average_precision_score`` uses), so ties never depend on row order.
    """
    y, s = _arrays(y, s)
    n_pos = int(y.sum())
    if n_pos == 0:
        return math.nan
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # last index of each group of equal scores = a threshold
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last]
    n_selected = last + 1
    precision = tp / n_selected
    recall = tp / n_pos
    recall_step = np.diff(np.r_[0.0, recall])
    return float((recall_step * precision).sum())


def enrichment_factor(y, s, fraction: float) -> float:
    """Hit rate in the top ``ceil(fraction·n)`` compounds divided by the overall hit rate; nan without positives.

    When tied scores straddle the cut-off, the tied compounds contribute their expected number
    of hits (slots left × share of actives among the tied), i.e. the mean over random orderings.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y, s = _arrays(y, s)
    n = y.size
    n_pos = int(y.sum())
    if n == 0 or n_pos == 0:
        return math.nan
    n_top = math.ceil(fraction * n - 1e-9)  # 1e-9: 0.05·100 must give 5, not 6
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    cut = s_sorted[n_top - 1]
    above = s_sorted > cut
    tied = s_sorted == cut
    hits = y_sorted[above].sum() + (n_top - above.sum()) * y_sorted[tied].mean()
    return float((hits / n_top) / (n_pos / n))


def regression_metrics(y, pred) -> dict:
    """RMSE, MAE, R² (1 − SS_res/SS_tot) and n for a regression; R² is nan for a constant target."""
    y = np.asarray(y, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    if y.shape != pred.shape:
        raise ValueError(f"targets and predictions differ in length: {y.size} vs {pred.size}")
    if y.size == 0:
        return {"rmse": math.nan, "mae": math.nan, "r2": math.nan, "n": 0}
    resid = y - pred
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt((resid**2).mean())),
        "mae": float(np.abs(resid).mean()),
        "r2": float(1.0 - (resid**2).sum() / ss_tot) if ss_tot > 0 else math.nan,
        "n": int(y.size),
    }


def spearman(y, pred) -> float:
    """Spearman rank correlation (average ranks for ties); nan for fewer than 3 rows or a
    constant input."""
    y = np.asarray(y, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    if y.shape != pred.shape:
        raise ValueError(f"targets and predictions differ in length: {y.size} vs {pred.size}")
    if y.size < 3 or np.ptp(y) == 0 or np.ptp(pred) == 0:
        return math.nan
    ry, rp = rankdata(y), rankdata(pred)
    return float(np.corrcoef(ry, rp)[0, 1])
