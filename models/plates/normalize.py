"""Per-plate normalization of screening signals: control-based percent effect, robust z,
and B-score (Tukey median polish of the sample wells, Brideau et al. 2003), plus plate QC.

All plates of one format are processed together as a (plates, rows, cols) array with NaN
in every cell that is not a usable sample well, so 1,000 plates cost a few vectorized
passes rather than 1,000 Python loops.

Orientation (contract): every score is positive when the well is active in the assay's
direction. ``sign`` is −1 when the positive control reads lower than the neutral
(negative) control, i.e. when activity lowers the signal.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

MAD_SCALE = 1.4826
KEY = ["run_id", "plate_id"]
BIAS_ALPHA = 0.01          # family-wise, Bonferroni over the row, column and edge tests
MIN_SAMPLES_FOR_TEST = 12
ZPRIME_MIN = 0.5
MIN_CONTROLS = 3
SCORE_COLUMNS = ["percent_inhibition", "npi", "robust_z", "b_score", "corrected",
                 "percent_effect"]
# The positional gain (local fitted level / plate level) is trusted between these bounds;
# outside them (signals near zero or negative, e.g. background-subtracted reads) the
# row/column effects are removed additively instead (see ``_positional_signal``).
MIN_GAIN, MAX_GAIN = 0.25, 4.0


def _masked_median(a: np.ndarray, axis: int) -> np.ndarray:
    """Median along ``axis`` ignoring NaN; NaN where a slice has no values (no warnings).

    Sorting once and indexing the middle is several times faster than ``np.nanmedian``
    on small slices such as plate rows.
    """
    s = np.sort(a, axis=axis)                       # NaN sort to the end
    n = np.sum(~np.isnan(a), axis=axis, keepdims=True)
    lo = np.take_along_axis(s, np.maximum((n - 1) // 2, 0), axis=axis)
    hi = np.take_along_axis(s, np.minimum(n // 2, s.shape[axis] - 1), axis=axis)
    med = np.where(n > 0, (lo + hi) / 2.0, np.nan)
    return np.squeeze(med, axis=axis)


def _polish_stack(x: np.ndarray, max_iter: int = 10, tol: float = 1e-6):
    """Tukey median polish of each plate in a (P, R, C) array, NaN = not in the fit.

    Follows R's ``stats::medpolish`` (the cellHTS2 B-score backend): alternate row and
    column median sweeps, moving the medians of the effects into the overall term; a
    plate stops when the sum of |residuals| changes by less than ``tol`` relatively.
    Rows/columns without any fitted cell get effect 0 and are left out of the medians.
    Returns overall (P,), row effects (P, R), column effects (P, C), residuals (P, R, C).
    """
    z = np.array(x, dtype=np.float64, copy=True)
    P, R, C = z.shape
    finite = np.isfinite(z)
    z[~finite] = np.nan
    has_row = finite.any(axis=2)
    has_col = finite.any(axis=1)
    t = np.zeros(P)
    r = np.zeros((P, R))
    c = np.zeros((P, C))
    old = np.zeros(P)
    active = np.ones(P, dtype=bool)
    for _ in range(max_iter):
        act = active[:, None]
        rd = np.where(has_row & act, np.nan_to_num(_masked_median(z, axis=2)), 0.0)
        z -= rd[:, :, None]
        r += rd
        d = np.where(active, np.nan_to_num(_masked_median(np.where(has_col, c, np.nan), axis=1)), 0.0)
        c = np.where(has_col, c - d[:, None], 0.0)
        t += d
        cd = np.where(has_col & act, np.nan_to_num(_masked_median(z, axis=1)), 0.0)
        z -= cd[:, None, :]
        c += cd
        d = np.where(active, np.nan_to_num(_masked_median(np.where(has_row, r, np.nan), axis=1)), 0.0)
        r = np.where(has_row, r - d[:, None], 0.0)
        t += d
        new = np.nansum(np.abs(z), axis=(1, 2))
        converged = (new == 0) | (np.abs(new - old) < tol * new)
        old = np.where(active, new, old)
        active &= ~converged
        if not active.any():
            break
    return t, r, c, z


def median_polish(matrix: np.ndarray, mask: np.ndarray, max_iter: int = 10, tol: float = 1e-6):
    """Tukey two-way median polish over the cells where ``mask`` is true (Brideau 2003).

    Returns (overall, row_effects, col_effects, residuals) with
    ``matrix ≈ overall + row[:, None] + col[None, :] + residuals`` on the masked cells and
    NaN residuals elsewhere. Rows/columns with no masked cell get effect 0.
    """
    m = np.asarray(matrix, dtype=np.float64)
    x = np.where(np.asarray(mask, dtype=bool), m, np.nan)
    t, r, c, z = _polish_stack(x[None], max_iter, tol)
    return float(t[0]), r[0], c[0], z[0]


def _positional_signal(sig: np.ndarray, effect: np.ndarray, level: np.ndarray) -> np.ndarray:
    """A sample well's signal with the median polish's positional effects removed.

    Why this is the right percent effect on a B-scored plate: the polish fits the sample
    wells as overall + row_i + col_j + residual, and since nearly all samples are inactive
    (a screen's hit rate is a few percent, and medians ignore the rest), overall + row_i +
    col_j is the *neutral* level at that position. The control medians, taken over wells
    spread across the plate's rows, sit at the polish's centre (row and column effects
    have median 0), so dividing out the local/centre ratio puts every sample well on the
    scale its plate's controls describe, and NPI against the control medians is then the
    percent of the control window the compound itself produced.

    Removal is multiplicative, ``x · overall / (overall + row_i + col_j)``, because the
    artefacts of a plate (evaporation at the edge, dispensed volume, incubation timing,
    reader gain) scale the whole signal: for an inactive well the additive and
    multiplicative removals agree exactly, but for an active well the additive one would
    leave an error of the effect times the local gain deviation (a 60 % well in a row
    reading 20 % high would come out at 72 %). Where the local level is not a plausible
    gain of the overall one (``MIN_GAIN``..``MAX_GAIN``, e.g. signals near zero or
    background-subtracted negatives) the effects are subtracted instead.

    Assumptions, stated: (1) the positional effect is smooth enough for row + column terms
    (an edge ring is fitted approximately by the row and column terms of the outer rows
    and columns); (2) most sample wells are inactive, so the polish fits the neutral level;
    (3) the control wells are not themselves biased relative to the plate centre (controls
    in edge columns under strong evaporation violate this, and Z′ and the control noise
    then show it).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (level + effect) / level
        ok = np.isfinite(gain) & (level > 0) & (gain >= MIN_GAIN) & (gain <= MAX_GAIN)
        return np.where(ok, sig / np.where(ok, gain, 1.0), sig - effect)


def _average_ranks(y: np.ndarray) -> np.ndarray:
    """1-based average ranks along axis 1 of a (P, N) array (ties share their mean rank).

    One argsort for all plates; ``scipy.stats.rankdata(axis=1)`` is ~10× slower here.
    """
    P, N = y.shape
    order = np.argsort(y, axis=1)
    s = np.take_along_axis(y, order, axis=1).ravel()
    pos = np.tile(np.arange(N, dtype=np.float64), P)
    new_run = np.ones(s.size, dtype=bool)
    new_run[1:] = s[1:] != s[:-1]
    new_run[::N] = True                                  # runs never cross plates
    run = np.cumsum(new_run) - 1
    first = pos[new_run]
    count = np.bincount(run).astype(np.float64)
    ranks_sorted = (first + (count - 1) / 2 + 1)[run].reshape(P, N)
    ranks = np.empty_like(ranks_sorted)
    np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    return ranks


def _kruskal_groups(y: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Kruskal–Wallis p-value per plate; y (P, N) with NaN = absent, groups (N,) labels.

    Uses H = (N−1)·Σ n_g (R̄_g − R̄)² / Σ (R_i − R̄)², which is the tie-corrected statistic
    of ``scipy.stats.kruskal`` and vectorizes over plates.
    """
    ok = np.isfinite(y)
    ranks = _average_ranks(np.where(ok, y, np.inf))
    n = ok.sum(axis=1).astype(np.float64)
    rbar = (n + 1) / 2
    dev = np.where(ok, ranks - rbar[:, None], 0.0)
    onehot = np.zeros((groups.size, n_groups))
    onehot[np.arange(groups.size), groups] = 1.0
    ng = ok.astype(np.float64) @ onehot                      # (P, G)
    sg = dev @ onehot                                        # Σ (R_i − R̄) per group
    num = np.where(ng > 0, sg ** 2 / np.maximum(ng, 1), 0.0).sum(axis=1)
    den = (dev ** 2).sum(axis=1)
    dof = (ng > 0).sum(axis=1) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        h = (n - 1) * num / den
    p = stats.chi2.sf(h, np.maximum(dof, 1))
    return np.where((dof >= 1) & (den > 0) & (n >= MIN_SAMPLES_FOR_TEST), p, np.nan)


def _bias_tests(x: np.ndarray, t, r, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and edge p-values per plate of a (P, R, C) sample array.

    Why Kruskal–Wallis on median-polish-adjusted values: a screening plate is mostly
    inactive samples with a few strong hits, and hits must not look like a row/column
    effect. Ranks cap each hit's influence at one rank, and the polish's medians are
    likewise hit-resistant; an F-test on means would be pulled by a single active well.
    The row test runs on x − overall − column effect (so a column gradient does not
    inflate row variance and hide a row effect), the column test symmetrically, and the
    edge test compares the physical outer ring with the interior (evaporation).
    """
    P, R, C = x.shape
    rows = np.repeat(np.arange(R), C)
    cols = np.tile(np.arange(C), R)
    y_row = (x - t[:, None, None] - c[:, None, :]).reshape(P, -1)
    y_col = (x - t[:, None, None] - r[:, :, None]).reshape(P, -1)
    p_row = _kruskal_groups(y_row, rows, R)
    p_col = _kruskal_groups(y_col, cols, C)
    edge = ((rows == 0) | (rows == R - 1) | (cols == 0) | (cols == C - 1)).astype(np.int64)
    p_edge = _kruskal_groups(x.reshape(P, -1), edge, 2)
    return p_row, p_col, p_edge


def _fmt_p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else f"{p:.2g}"


def _bias_reason(p_row: float, p_col: float, p_edge: float, n_samples: int) -> tuple[bool, str]:
    ps = {"row": p_row, "col": p_col, "edge": p_edge}
    tested = {k: v for k, v in ps.items() if np.isfinite(v)}
    if not tested:
        return False, (f"too few sample wells ({n_samples}) to test for row/column effects "
                       "→ robust z")
    m = len(tested)
    hits = {k: v for k, v in tested.items() if v * m < BIAS_ALPHA}
    if hits:
        what = ", ".join(f"{k} effect p={_fmt_p(v)}" for k, v in hits.items())
        return True, f"{what} (Bonferroni ×{m}, α={BIAS_ALPHA}) → B-score"
    shown = ", ".join(f"{k} p={_fmt_p(v)}" for k, v in tested.items())
    return False, f"no systematic row/column effect ({shown}) → robust z"


def _qc_reason(n_pos: int, n_neg: int, zpr: float) -> tuple[bool, str]:
    if n_pos == 0 and n_neg == 0:
        return False, "no pos_ctrl or neg_ctrl wells"
    if n_pos == 0:
        return False, "no pos_ctrl wells"
    if n_neg == 0:
        return False, "no neg_ctrl wells"
    if n_pos < MIN_CONTROLS:
        return False, f"only {n_pos} pos_ctrl wells (need ≥ {MIN_CONTROLS})"
    if n_neg < MIN_CONTROLS:
        return False, f"only {n_neg} neg_ctrl wells (need ≥ {MIN_CONTROLS})"
    if not np.isfinite(zpr):
        return False, "robust Z′ undefined (controls do not separate)"
    if zpr < ZPRIME_MIN:
        return False, f"robust Z′ {zpr:.2f} < {ZPRIME_MIN}"
    return True, f"robust Z′ {zpr:.2f} ≥ {ZPRIME_MIN}"


def _group_stats(w: pl.DataFrame) -> pl.DataFrame:
    sig = pl.col("signal")

    def grp(role: str, name: str) -> list[pl.Expr]:
        s = sig.filter(pl.col("_role") == role)
        return [
            s.mean().alias(f"mean_{name}"),
            s.std(ddof=1).alias(f"sd_{name}"),
            s.median().alias(f"med_{name}"),
            ((s - s.median()).abs().median() * MAD_SCALE).alias(f"mad_{name}"),
            s.len().alias(f"n_{name}"),
        ]

    return (w.group_by(KEY, maintain_order=True)
            .agg(pl.col("plate_rows").first(), pl.col("plate_cols").first(),
                 pl.len().alias("n_wells"), *grp("pos_ctrl", "pos"), *grp("neg_ctrl", "neg"),
                 *grp("sample", "s")))


def normalize_plates(wells: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score every well and QC every (run_id, plate_id) plate.

    Input columns: run_id, plate_id, well, row_idx, col_idx, plate_rows, plate_cols, signal,
    role, compound_id, concentration_um. Returns (wells, plates):

    * wells = input + percent_inhibition, npi, robust_z, b_score, corrected,
      percent_effect (Float64).
      percent_inhibition = 100·(mean_neg − x)/(mean_neg − mean_pos); npi the same with
      control medians; robust_z relative to the plate's sample median and 1.4826·MAD;
      b_score from the median polish of the sample wells (null for non-sample wells);
      corrected = b_score on plates with a detected row/column/edge effect, else robust_z.
      percent_effect = percent of the control window after positional correction (0 =
      neutral control median, 100 = positive control median, positive = active in the
      assay's direction whichever way the signal moves): on plates where the B-score is
      applied, the NPI of the sample signal with the polish's row/column effects removed
      (``_positional_signal``); elsewhere (and for control wells) it equals npi.
      All null on a plate without pos_ctrl or neg_ctrl wells, and for wells whose signal
      is missing or non-finite.
    * plates: run_id, plate_id, plate_rows, plate_cols, n_wells, n_samples, n_pos, n_neg,
      mean_pos, mean_neg, sd_pos, sd_neg, z_prime, z_prime_robust, ssmd,
      signal_to_background, cv_pos, cv_neg, control_noise_pct (1.4826·MAD of the neutral
      controls in percent of the control window |median neg − median pos|: the noise of one
      well on the percent_effect scale), row_effect_p, col_effect_p, edge_effect_p,
      bias_corrected, bias_reason, passed, qc_reason.
    """
    valid = pl.col("signal").is_not_null() & pl.col("signal").is_finite()
    w = wells.with_columns(
        pl.when(valid).then(pl.col("role").cast(pl.String).str.strip_chars().str.to_lowercase())
        .otherwise(None).alias("_role"))
    st = _group_stats(w).with_row_index("_pidx")
    P = st.height

    def arr(name: str) -> np.ndarray:
        return st[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    mean_pos, mean_neg, sd_pos, sd_neg = arr("mean_pos"), arr("mean_neg"), arr("sd_pos"), arr("sd_neg")
    med_pos, med_neg, mad_pos, mad_neg = arr("med_pos"), arr("med_neg"), arr("mad_pos"), arr("mad_neg")
    n_pos, n_neg, n_s = (st[c].to_numpy().astype(np.int64) for c in ("n_pos", "n_neg", "n_s"))
    enough = (n_pos >= 2) & (n_neg >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        sep, rsep = np.abs(mean_pos - mean_neg), np.abs(med_pos - med_neg)
        zp = np.where(enough & (sep > 0), 1 - 3 * (sd_pos + sd_neg) / sep, np.nan)
        zpr = np.where(enough & (rsep > 0), 1 - 3 * (mad_pos + mad_neg) / rsep, np.nan)
        spread = np.sqrt(sd_pos ** 2 + sd_neg ** 2)
        ssmd = np.where(enough & (spread > 0), sep / spread, np.nan)
        lo, hi = np.minimum(mean_pos, mean_neg), np.maximum(mean_pos, mean_neg)
        sb = np.where(enough & (lo > 0), hi / lo, np.nan)
        cv_pos = np.where((n_pos >= 2) & (mean_pos != 0), 100 * sd_pos / np.abs(mean_pos), np.nan)
        cv_neg = np.where((n_neg >= 2) & (mean_neg != 0), 100 * sd_neg / np.abs(mean_neg), np.nan)

    # --- median polish, one stacked array per plate format
    w = w.join(st.select(*KEY, "_pidx"), on=KEY, how="left", maintain_order="left")
    pidx = w["_pidx"].to_numpy().astype(np.int64)
    ri = w["row_idx"].cast(pl.Int64).fill_null(-1).to_numpy()
    ci = w["col_idx"].cast(pl.Int64).fill_null(-1).to_numpy()
    sig = w["signal"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    is_sample = (w["_role"] == "sample").fill_null(False).to_numpy()
    prows = st["plate_rows"].cast(pl.Int64).fill_null(0).to_numpy()
    pcols = st["plate_cols"].cast(pl.Int64).fill_null(0).to_numpy()
    resid = np.full(w.height, np.nan)
    pos_eff = np.zeros(w.height)                   # fitted row + column effect of the well
    level = np.full(P, np.nan)                     # the polish's overall (typical sample) level
    mad_res = np.full(P, np.nan)
    p_row, p_col, p_edge = (np.full(P, np.nan) for _ in range(3))
    for R, C in {(int(a), int(b)) for a, b in zip(prows, pcols) if a > 0 and b > 0}:
        members = np.flatnonzero((prows == R) & (pcols == C))
        local = np.full(P, -1)
        local[members] = np.arange(members.size)
        lp = local[pidx]
        sel = is_sample & (lp >= 0) & (ri >= 0) & (ri < R) & (ci >= 0) & (ci < C)
        x = np.full((members.size, R, C), np.nan)
        x[lp[sel], ri[sel], ci[sel]] = sig[sel]
        t, r, c, z = _polish_stack(x)
        resid[sel] = z[lp[sel], ri[sel], ci[sel]]
        pos_eff[sel] = r[lp[sel], ri[sel]] + c[lp[sel], ci[sel]]
        level[members] = t
        flat = z.reshape(members.size, -1)
        med = _masked_median(flat, axis=1)
        mad_res[members] = MAD_SCALE * _masked_median(np.abs(flat - med[:, None]), axis=1)
        p_row[members], p_col[members], p_edge[members] = _bias_tests(x, t, r, c)

    bias = np.zeros(P, dtype=bool)
    bias_reason, passed, qc_reason = [], np.zeros(P, dtype=bool), []
    for i in range(P):
        ok, why = _qc_reason(int(n_pos[i]), int(n_neg[i]), float(zpr[i]))
        passed[i] = ok
        qc_reason.append(why)
        if n_pos[i] == 0 or n_neg[i] == 0:
            bias_reason.append(f"not normalized ({why})")
            continue
        bias[i], reason = _bias_reason(p_row[i], p_col[i], p_edge[i], int(n_s[i]))
        bias_reason.append(reason)

    # --- per-well scores
    normalizable = (n_pos > 0) & (n_neg > 0)
    sign = np.where(mean_pos < mean_neg, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pi = 100 * (mean_neg[pidx] - sig) / (mean_neg - mean_pos)[pidx]
        npi = 100 * (med_neg[pidx] - sig) / (med_neg - med_pos)[pidx]
        rz = sign[pidx] * (sig - arr("med_s")[pidx]) / arr("mad_s")[pidx]
        bs = sign[pidx] * resid / mad_res[pidx]
    corr = np.where(bias[pidx], bs, rz)
    keep = normalizable[pidx]
    # percent effect: NPI of the signal with the fitted positional effects removed, on
    # plates where the B-score is applied (sample wells only; controls define the window)
    fixed = np.where(bias[pidx] & is_sample, _positional_signal(sig, pos_eff, level[pidx]), sig)
    with np.errstate(divide="ignore", invalid="ignore"):
        pe = 100 * (med_neg[pidx] - fixed) / (med_neg - med_pos)[pidx]
        noise_pct = np.where(n_neg >= 2, 100 * mad_neg / rsep, np.nan)

    def clean(v: np.ndarray) -> pl.Series:
        v = np.where(keep & np.isfinite(v), v, np.nan)
        return pl.Series(v, dtype=pl.Float64).fill_nan(None)

    out = w.drop("_pidx", "_role").with_columns(
        clean(pi).alias("percent_inhibition"), clean(npi).alias("npi"),
        clean(rz).alias("robust_z"), clean(bs).alias("b_score"), clean(corr).alias("corrected"),
        clean(pe).alias("percent_effect"))

    def f64(v: np.ndarray) -> pl.Series:
        return pl.Series(v, dtype=pl.Float64).fill_nan(None)

    plates = st.select(
        *KEY, pl.col("plate_rows").cast(pl.Int32), pl.col("plate_cols").cast(pl.Int32),
        pl.col("n_wells").cast(pl.Int64), pl.col("n_s").cast(pl.Int64).alias("n_samples"),
        pl.col("n_pos").cast(pl.Int64), pl.col("n_neg").cast(pl.Int64),
    ).with_columns(
        f64(mean_pos).alias("mean_pos"), f64(mean_neg).alias("mean_neg"),
        f64(sd_pos).alias("sd_pos"), f64(sd_neg).alias("sd_neg"),
        f64(zp).alias("z_prime"), f64(zpr).alias("z_prime_robust"), f64(ssmd).alias("ssmd"),
        f64(sb).alias("signal_to_background"), f64(cv_pos).alias("cv_pos"),
        f64(cv_neg).alias("cv_neg"),
        f64(np.where(normalizable & np.isfinite(noise_pct), noise_pct, np.nan))
        .alias("control_noise_pct"), f64(p_row).alias("row_effect_p"),
        f64(p_col).alias("col_effect_p"), f64(p_edge).alias("edge_effect_p"),
        pl.Series(bias, dtype=pl.Boolean).alias("bias_corrected"),
        pl.Series(bias_reason, dtype=pl.String).alias("bias_reason"),
        pl.Series(passed, dtype=pl.Boolean).alias("passed"),
        pl.Series(qc_reason, dtype=pl.String).alias("qc_reason"))
    return out, plates
