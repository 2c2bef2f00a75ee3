"""Plate quality metrics from positive and negative control wells.

Every function drops NaN first and returns NaN when either group has fewer than two
values or the metric is undefined (zero separation, non-positive mean).
Standard deviations are sample SDs (ddof=1); robust spreads are 1.4826·MAD, which
estimates the SD for normal data.
"""

from __future__ import annotations

import numpy as np

MAD_SCALE = 1.4826


def _clean(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def mad(x) -> float:
    """Scaled median absolute deviation (1.4826·MAD); NaN for fewer than 2 values."""
    a = _clean(x)
    if a.size < 2:
        return float("nan")
    return float(MAD_SCALE * np.median(np.abs(a - np.median(a))))


def z_prime(pos, neg) -> float:
    """Z′ = 1 − 3(sd_pos + sd_neg)/|mean_pos − mean_neg| (Zhang, Chung & Oldenburg 1999)."""
    p, n = _clean(pos), _clean(neg)
    if p.size < 2 or n.size < 2:
        return float("nan")
    sep = abs(p.mean() - n.mean())
    if sep == 0:
        return float("nan")
    return float(1.0 - 3.0 * (p.std(ddof=1) + n.std(ddof=1)) / sep)


def z_prime_robust(pos, neg) -> float:
    """Z′ with medians and 1.4826·MAD in place of means and SDs (resists a bad control well)."""
    p, n = _clean(pos), _clean(neg)
    if p.size < 2 or n.size < 2:
        return float("nan")
    sep = abs(np.median(p) - np.median(n))
    if sep == 0:
        return float("nan")
    return float(1.0 - 3.0 * (mad(p) + mad(n)) / sep)


def ssmd(pos, neg) -> float:
    """|mean_pos − mean_neg| / sqrt(sd_pos² + sd_neg²) (SSMD, Zhang 2007), as an absolute value."""
    p, n = _clean(pos), _clean(neg)
    if p.size < 2 or n.size < 2:
        return float("nan")
    spread = np.sqrt(p.var(ddof=1) + n.var(ddof=1))
    if spread == 0:
        return float("nan")
    return float(abs(p.mean() - n.mean()) / spread)


def signal_to_background(pos, neg) -> float:
    """max(mean_pos, mean_neg) / min(...); NaN when the smaller mean is not positive."""
    p, n = _clean(pos), _clean(neg)
    if p.size < 2 or n.size < 2:
        return float("nan")
    lo, hi = sorted((p.mean(), n.mean()))
    if lo <= 0:
        return float("nan")
    return float(hi / lo)


def cv(x) -> float:
    """Coefficient of variation in percent: 100·sd/|mean|."""
    a = _clean(x)
    if a.size < 2 or a.mean() == 0:
        return float("nan")
    return float(100.0 * a.std(ddof=1) / abs(a.mean()))
