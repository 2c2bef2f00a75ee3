"""Non-dominated sorting (Deb et al. 2002) of candidates on several maximized objectives."""

from __future__ import annotations

import numpy as np


def pareto_rank(values: np.ndarray) -> np.ndarray:
    """Front number per row of an (n, k) matrix of objectives to maximize: 1 = no other row
    is at least as good on every objective and better on one; 2 = non-dominated once front
    1 is removed; and so on. NaN counts as worst."""
    v = np.where(np.isnan(values), -np.inf, np.asarray(values, dtype=np.float64))
    n = v.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ge = (v[:, None, :] >= v[None, :, :]).all(axis=2)
    gt = (v[:, None, :] > v[None, :, :]).any(axis=2)
    dominates = ge & gt                      # dominates[i, j]: i dominates j
    n_dominators = dominates.sum(axis=0)
    rank = np.zeros(n, dtype=np.int64)
    front = 1
    remaining = np.ones(n, dtype=bool)
    while remaining.any():
        current = remaining & (n_dominators == 0)
        rank[current] = front
        remaining &= ~current
        n_dominators = n_dominators - dominates[current].sum(axis=0)
        front += 1
    return rank
