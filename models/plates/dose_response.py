"""Four-parameter logistic (4PL) dose-response fits with NCGC-style curve classes.

Model (percent effect, rising with concentration, hill > 0)::

    y = bottom + (top − bottom) / (1 + (IC50 / x)^hill)

fitted in log10(IC50) space with ``scipy.optimize.least_squares`` (soft-L1 loss, so one
wild well does not drag the curve), from several starting points; the best cost wins.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import polars as pl
from scipy import optimize, stats

ACTIVE_MIN = 30.0        # % effect: below this a concentration / a curve counts as inactive
EFFICACY_HIGH = 80.0     # X.1 needs efficacy ≥ this ...
R2_GOOD = 0.9            # ... and r² ≥ this
ASYMPTOTE_FRACTION = 0.2  # an asymptote is "inside the range" when the curve gets within
                          # 20% of the amplitude of it at the end of the tested range
LOSS_SCALE = 10.0        # % effect: residuals beyond ~this are down-weighted (soft-L1)
MIN_CONCENTRATIONS = 4


@dataclass
class DoseResponseFit:
    ic50_um: float | None
    ic50_ci_low: float | None
    ic50_ci_high: float | None
    hill: float | None
    top: float | None
    bottom: float | None
    efficacy: float | None
    r2: float | None
    curve_class: str
    n_points: int
    converged: bool
    message: str
    # the IC50 lies outside the tested concentrations: an extrapolation, not a measurement
    ic50_extrapolated: bool = False


def logistic4(x: np.ndarray, bottom: float, top: float, log_ic50: float, hill: float) -> np.ndarray:
    """4PL at concentrations x (µM) with the IC50 given as log10(µM)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore"):
        return bottom + (top - bottom) / (1.0 + 10.0 ** (hill * (log_ic50 - np.log10(x))))


def _unfit(curve_class: str, n: int, message: str, efficacy: float | None = None) -> DoseResponseFit:
    return DoseResponseFit(None, None, None, None, None, None, efficacy, None, curve_class, n,
                           False, message)


def fit_4pl(conc_um: np.ndarray, response: np.ndarray) -> DoseResponseFit:
    """Fit a 4PL to (concentration µM, % effect) points and classify the curve.

    Replicates at one concentration are fine. Non-finite points and concentrations ≤ 0
    are dropped. Never raises on bad data.

    Classes (simplified from Inglese et al. 2006, NCGC); "per-concentration response" is
    the median of the replicates at that concentration:

    * "4" inactive: fewer than 4 distinct concentrations, all points unusable, the best
      per-concentration response < 30%, the fitted efficacy < 30%, or the fitted curve
      rises by < 30 percentage points across the tested range (flat). IC50 is null.
    * "3" single-point activity: only the highest concentration reaches ≥ 30%. IC50 null.
    * "1.x" complete curve: both asymptotes inside the tested range, i.e. the fitted curve
      at the lowest concentration is within 20% of the amplitude (top − bottom) from
      ``bottom`` and at the highest concentration within 20% of it from ``top``.
    * "2.x" incomplete curve: otherwise (one or no asymptote reached).
    * ".1" when efficacy ≥ 80% and r² ≥ 0.9, else ".2".

    efficacy = the fitted % effect at the highest tested concentration (so an incomplete
    curve is not credited with an extrapolated top). The 95% CI of the IC50 comes from the
    Jacobian covariance of log10(IC50) (scaled by the robust residual variance) with a
    t quantile on n − 4 degrees of freedom; null when n ≤ 4.
    """
    x = np.asarray(conc_um, dtype=np.float64).ravel()
    y = np.asarray(response, dtype=np.float64).ravel()
    if x.size != y.size:
        return _unfit("4", 0, f"concentration and response lengths differ ({x.size} vs {y.size})")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n == 0:
        return _unfit("4", 0, "no finite points with a positive concentration")
    levels = np.unique(x)
    per_level = np.array([np.median(y[x == c]) for c in levels])
    best = float(per_level.max())
    if levels.size < MIN_CONCENTRATIONS:
        return _unfit("4", n, f"too few concentrations ({levels.size} distinct, need "
                              f"{MIN_CONCENTRATIONS}); not fitted", efficacy=best)
    if best < ACTIVE_MIN:
        return _unfit("4", n, f"inactive: best concentration response {best:.1f}% < "
                              f"{ACTIVE_MIN:.0f}%", efficacy=best)
    if (per_level[:-1] < ACTIVE_MIN).all():
        return _unfit("3", n, f"single-point activity: only the top concentration "
                              f"({levels[-1]:g} µM) reaches {best:.1f}%", efficacy=best)

    lx = np.log10(x)
    lo, hi = float(lx.min()), float(lx.max())
    bounds = ([-100.0, -50.0, lo - 3.0, 0.1], [100.0, 250.0, hi + 3.0, 10.0])

    def resid(p: np.ndarray) -> np.ndarray:
        return logistic4(x, *p) - y

    def jac(p: np.ndarray) -> np.ndarray:
        # analytic: with s = 1/(1+u), u = 10^(hill·(logIC50 − log x)), du-terms = s(1−s)
        b, t, l50, h = p
        with np.errstate(over="ignore"):
            sfrac = 1.0 / (1.0 + 10.0 ** (h * (l50 - lx)))
        g = -(t - b) * np.log(10.0) * sfrac * (1.0 - sfrac)
        return np.column_stack([1.0 - sfrac, sfrac, g * h, g * (l50 - lx)])

    y_lo, y_hi = float(per_level.min()), float(per_level.max())
    starts = [[np.clip(y_lo, -99, 99), np.clip(y_hi, -49, 249), l50, h]
              for l50 in (lo + (hi - lo) * q for q in (0.25, 0.5, 0.75)) for h in (1.0, 2.5)]
    starts.append([0.0, 100.0, (lo + hi) / 2, 1.0])
    fit = None
    for p0 in starts:
        try:
            r = optimize.least_squares(resid, p0, jac=jac, bounds=bounds, loss="soft_l1",
                                       f_scale=LOSS_SCALE, max_nfev=100)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.all(np.isfinite(r.x)) and (fit is None or r.cost < fit.cost):
            fit = r
    if fit is None:
        return _unfit("4", n, "4PL fit failed from every starting point", efficacy=best)

    bottom, top, log_ic50, hill = (float(v) for v in fit.x)
    pred = logistic4(x, *fit.x)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    f_lo, f_hi = float(logistic4(levels[0], *fit.x)), float(logistic4(levels[-1], *fit.x))
    efficacy = f_hi
    amp = top - bottom
    rise = f_hi - f_lo
    if efficacy < ACTIVE_MIN or rise < ACTIVE_MIN:
        return DoseResponseFit(None, None, None, hill, top, bottom, efficacy, r2, "4", n,
                               bool(fit.success),
                               f"inactive: fitted efficacy {efficacy:.1f}%, rise "
                               f"{rise:.1f} points over the tested range")

    ci_low = ci_high = None
    dof = n - 4
    # a parameter pinned at its bound makes the Jacobian covariance meaningless
    pinned = bool(np.any(fit.active_mask[2:] != 0))
    if dof > 0 and not pinned:
        try:
            J = fit.jac
            # plain residual variance: the soft-L1 cost would shrink the residuals of a
            # noisy curve and give it a falsely narrow interval
            s2 = ss_res / dof
            cov = np.linalg.pinv(J.T @ J) * s2
            se = math.sqrt(max(cov[2, 2], 0.0))
            tq = float(stats.t.ppf(0.975, dof))
            if np.isfinite(se):
                ci_low, ci_high = 10 ** (log_ic50 - tq * se), 10 ** (log_ic50 + tq * se)
        except (np.linalg.LinAlgError, ValueError):
            pass
    bottom_in = (f_lo - bottom) <= ASYMPTOTE_FRACTION * amp
    top_in = (top - f_hi) <= ASYMPTOTE_FRACTION * amp
    major = "1" if bottom_in and top_in else "2"
    minor = "1" if efficacy >= EFFICACY_HIGH and r2 >= R2_GOOD else "2"
    what = "complete" if major == "1" else ("incomplete, " + ("top" if not top_in else "bottom")
                                            + " asymptote not reached")
    extrapolated = not (lo <= log_ic50 <= hi)
    notes = [f"{what} curve"] + (["IC50 outside the tested range"] if extrapolated else []) \
        + (["no CI: IC50 or Hill slope at its bound"] if pinned else []) + [fit.message]
    return DoseResponseFit(10 ** log_ic50, ci_low, ci_high, hill, top, bottom, efficacy, r2,
                           f"{major}.{minor}", n, bool(fit.success), "; ".join(notes),
                           extrapolated)


FIT_COLUMNS = [f.name for f in fields(DoseResponseFit)]


def fit_curves(df: pl.DataFrame) -> pl.DataFrame:
    """One 4PL fit per (run_id, compound_id) over columns concentration_um and response.

    Returns run_id, compound_id and the ``DoseResponseFit`` fields as columns.
    """
    schema = {"run_id": pl.String, "compound_id": pl.String, "ic50_um": pl.Float64,
              "ic50_ci_low": pl.Float64, "ic50_ci_high": pl.Float64, "hill": pl.Float64,
              "top": pl.Float64, "bottom": pl.Float64, "efficacy": pl.Float64, "r2": pl.Float64,
              "curve_class": pl.String, "n_points": pl.Int64, "converged": pl.Boolean,
              "message": pl.String, "ic50_extrapolated": pl.Boolean}
    rows = []
    data = df.select(pl.col("run_id").cast(pl.String), pl.col("compound_id").cast(pl.String),
                     pl.col("concentration_um").cast(pl.Float64),
                     pl.col("response").cast(pl.Float64))
    for (run_id, compound_id), g in data.group_by(["run_id", "compound_id"], maintain_order=True):
        fit = fit_4pl(g["concentration_um"].fill_null(np.nan).to_numpy(),
                      g["response"].fill_null(np.nan).to_numpy())
        rows.append({"run_id": run_id, "compound_id": compound_id, **asdict(fit)})
    return pl.DataFrame(rows, schema=schema)
