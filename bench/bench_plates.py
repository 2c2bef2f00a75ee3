"""Benchmark: plate normalization throughput, ``models.plates.normalize`` vs plain pandas.

Both compute the same things per (run_id, plate_id): control means/SDs/medians/MADs,
Z′ and robust Z′, percent inhibition, NPI, robust z, the median-polish B-score, the
Kruskal–Wallis row/column/edge bias tests and the resulting ``corrected`` score. The
baseline is what one would write first: ``groupby`` per plate, a plain-Python median
polish loop over rows and columns, ``scipy.stats.kruskal`` per plate. Outputs are checked
equal (np.allclose) before any timing is reported.

    PYTHONPATH=. python bench/bench_plates.py --plates 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.plates.layout import well_name  # noqa: E402
from models.plates.normalize import normalize_plates  # noqa: E402

R, C = 16, 24
MAD = 1.4826


def make_plates(n: int, seed: int = 0) -> pl.DataFrame:
    """n 384-well plates: neg_ctrl in columns 1–2, pos_ctrl in 23–24, 1% actives; a third
    of the plates carry an edge + column gradient, a third a row gradient, the rest none."""
    rng = np.random.default_rng(seed)
    rr, cc = np.meshgrid(np.arange(R), np.arange(C), indexing="ij")
    edge = (rr == 0) | (rr == R - 1) | (cc == 0) | (cc == C - 1)
    role = np.full((R, C), "sample", dtype=object)
    role[:, :2], role[:, -2:] = "neg_ctrl", "pos_ctrl"
    sig = 1000 + rng.normal(0, 40, (n, R, C))
    kind = np.arange(n) % 3
    sig[kind == 0] *= np.where(edge, 0.8, 1.0) * (1 + 0.01 * (cc - C / 2))
    sig[kind == 1] *= 1 + 0.015 * (rr - R / 2)
    sig[:, :, -2:] = 150 + rng.normal(0, 20, (n, R, 2))
    act = (rng.random((n, R, C)) < 0.01) & (role == "sample")
    sig[act] *= 0.5
    wells = [well_name(a, b) for a, b in zip(rr.ravel(), cc.ravel())]
    return pl.DataFrame({
        "run_id": "BENCH",
        "plate_id": np.repeat([f"PL{i:05d}" for i in range(n)], R * C),
        "well": np.tile(wells, n),
        "row_idx": np.tile(rr.ravel(), n).astype(np.int32),
        "col_idx": np.tile(cc.ravel(), n).astype(np.int32),
        "plate_rows": np.int32(R), "plate_cols": np.int32(C),
        "signal": sig.ravel(),
        "role": np.tile(role.ravel().astype(str), n),
        "compound_id": None, "concentration_um": None,
    }, schema_overrides={"compound_id": pl.String, "concentration_um": pl.Float64})


# --------------------------------------------------------------------------- baseline
def _mad(x: np.ndarray) -> float:
    return MAD * float(np.median(np.abs(x - np.median(x))))


def medpolish_py(x: np.ndarray, max_iter: int = 10, tol: float = 1e-6):
    """Tukey median polish, one plate, loops over rows and columns (R's medpolish)."""
    z = x.copy()
    nr, nc = z.shape
    rows_ok = [bool(np.isfinite(z[i]).any()) for i in range(nr)]
    cols_ok = [bool(np.isfinite(z[:, j]).any()) for j in range(nc)]
    t, r, c, old = 0.0, np.zeros(nr), np.zeros(nc), 0.0
    for _ in range(max_iter):
        for i in range(nr):
            if rows_ok[i]:
                v = z[i][np.isfinite(z[i])]
                d = float(np.median(v))
                z[i] -= d
                r[i] += d
        d = float(np.median(c[cols_ok]))
        c[cols_ok] -= d
        t += d
        for j in range(nc):
            if cols_ok[j]:
                v = z[:, j][np.isfinite(z[:, j])]
                d = float(np.median(v))
                z[:, j] -= d
                c[j] += d
        d = float(np.median(r[rows_ok]))
        r[rows_ok] -= d
        t += d
        new = float(np.nansum(np.abs(z)))
        if new == 0 or abs(new - old) < tol * new:
            break
        old = new
    return t, r, c, z


def _kw(values: np.ndarray, groups: np.ndarray) -> float:
    ok = np.isfinite(values)
    parts = [values[ok & (groups == g)] for g in np.unique(groups)]
    parts = [p for p in parts if p.size]
    if ok.sum() < 12 or len(parts) < 2:
        return float("nan")
    return float(stats.kruskal(*parts).pvalue)


def pandas_normalize(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    out, plates = [], []
    for (run, plate), g in df.groupby(["run_id", "plate_id"], sort=False):
        g = g.copy()
        sig, role = g["signal"].to_numpy(), g["role"].to_numpy()
        pos, neg, smp = sig[role == "pos_ctrl"], sig[role == "neg_ctrl"], sig[role == "sample"]
        mp, mn, sp, sn = pos.mean(), neg.mean(), pos.std(ddof=1), neg.std(ddof=1)
        zp = 1 - 3 * (sp + sn) / abs(mp - mn)
        zpr = 1 - 3 * (_mad(pos) + _mad(neg)) / abs(np.median(pos) - np.median(neg))
        sign = -1.0 if mp < mn else 1.0
        g["percent_inhibition"] = 100 * (mn - sig) / (mn - mp)
        g["npi"] = 100 * (np.median(neg) - sig) / (np.median(neg) - np.median(pos))
        g["robust_z"] = sign * (sig - np.median(smp)) / _mad(smp)
        x = np.full((R, C), np.nan)
        ri, ci = g["row_idx"].to_numpy(), g["col_idx"].to_numpy()
        is_s = role == "sample"
        x[ri[is_s], ci[is_s]] = sig[is_s]
        t, r, c, z = medpolish_py(x)
        res = z[np.isfinite(z)]
        b = np.full(len(g), np.nan)
        b[is_s] = sign * z[ri[is_s], ci[is_s]] / _mad(res)
        g["b_score"] = b
        rows, cols = np.indices((R, C))
        p_row = _kw((x - t - c[None, :]).ravel(), rows.ravel())
        p_col = _kw((x - t - r[:, None]).ravel(), cols.ravel())
        edge = ((rows == 0) | (rows == R - 1) | (cols == 0) | (cols == C - 1)).ravel()
        p_edge = _kw(x.ravel(), edge.astype(int))
        ps = [p for p in (p_row, p_col, p_edge) if np.isfinite(p)]
        biased = any(p * len(ps) < 0.01 for p in ps)
        g["corrected"] = g["b_score"] if biased else g["robust_z"]
        out.append(g)
        plates.append({"run_id": run, "plate_id": plate, "z_prime": zp, "z_prime_robust": zpr,
                       "row_effect_p": p_row, "col_effect_p": p_col, "bias_corrected": biased})
    return pd.concat(out), pd.DataFrame(plates)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plates", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "plates.json")
    args = ap.parse_args()
    df = make_plates(args.plates)
    pdf = df.to_pandas()
    n = df.height

    normalize_plates(df.head(R * C * 2))                         # warm imports
    t0 = time.perf_counter()
    wells, plates = normalize_plates(df)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pw, pp = pandas_normalize(pdf)
    base_s = time.perf_counter() - t0

    for col in ("percent_inhibition", "npi", "robust_z", "b_score", "corrected"):
        a = wells[col].fill_null(np.nan).to_numpy()
        b = pw[col].to_numpy()
        assert np.allclose(a, b, equal_nan=True, rtol=1e-9, atol=1e-9), f"wells.{col} differs"
    for col in ("z_prime", "z_prime_robust", "row_effect_p", "col_effect_p"):
        assert np.allclose(plates[col].fill_null(np.nan).to_numpy(), pp[col].to_numpy(),
                           equal_nan=True, rtol=1e-6, atol=1e-12), f"plates.{col} differs"
    assert (plates["bias_corrected"].to_numpy() == pp["bias_corrected"].to_numpy()).all()

    rows = [("models.plates.normalize_plates (polars + stacked numpy)", ours_s),
            ("pandas groupby + per-plate Python median polish", base_s)]
    print(f"{args.plates} plates × {R * C} wells = {n:,} wells; outputs equal (np.allclose); "
          f"{int(plates['bias_corrected'].sum())} plates bias-corrected\n")
    print("| implementation | seconds | wells/s |")
    print("|---|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s:.2f} | {n / s:,.0f} |")
    print(f"\nspeed-up: {base_s / ours_s:.1f}×")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "plates": args.plates, "wells": n, "ours_s": ours_s, "pandas_s": base_s,
        "ours_wells_per_s": n / ours_s, "pandas_wells_per_s": n / base_s,
        "speedup": base_s / ours_s, "bias_corrected_plates": int(plates["bias_corrected"].sum()),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
