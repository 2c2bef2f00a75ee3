"""Plate QC metrics, median polish / B-score, and per-plate normalization."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from models.plates import qc
from models.plates.layout import well_name
from models.plates.normalize import median_polish, normalize_plates
from models.plates.plots import as_markdown_image, plate_heatmap_png

POS = [10.0, 12.0, 14.0]      # mean 12, sd 2, median 12, MAD 2
NEG = [100.0, 102.0, 104.0]   # mean 102, sd 2, median 102, MAD 2


# --------------------------------------------------------------------------- qc
def test_z_prime_by_hand():
    # 1 − 3·(2 + 2)/|12 − 102| = 1 − 12/90
    assert qc.z_prime(POS, NEG) == pytest.approx(1 - 12 / 90)
    # robust: 1 − 3·(1.4826·2 + 1.4826·2)/90
    assert qc.z_prime_robust(POS, NEG) == pytest.approx(1 - 3 * 4 * 1.4826 / 90)


def test_ssmd_sb_cv_by_hand():
    assert qc.ssmd(POS, NEG) == pytest.approx(90 / math.sqrt(8))     # 90/sqrt(2²+2²)
    assert qc.ssmd(NEG, POS) == pytest.approx(90 / math.sqrt(8))     # absolute value
    assert qc.signal_to_background(POS, NEG) == pytest.approx(102 / 12)
    assert qc.cv(POS) == pytest.approx(100 * 2 / 12)


def test_qc_nan_safe():
    assert qc.z_prime(POS + [np.nan], NEG) == pytest.approx(1 - 12 / 90)
    for f in (qc.z_prime, qc.z_prime_robust, qc.ssmd, qc.signal_to_background):
        assert math.isnan(f([1.0], NEG))
        assert math.isnan(f([np.nan, np.nan], NEG))
    assert math.isnan(qc.cv([5.0]))
    assert math.isnan(qc.z_prime([1.0, 2.0], [1.0, 2.0]))     # no separation


# --------------------------------------------------------------------------- median polish
def test_median_polish_by_hand():
    # rows: medians 2, 5, 8 → z = [[-1,0,1],[-1,0,1],[-1,0,2]]; column medians -1, 0, 1
    # → only (2,2) keeps a residual of 1; median(row) = 5 moves into the overall term.
    x = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 10]])
    t, r, c, z = median_polish(x, np.ones_like(x, dtype=bool))
    assert t == pytest.approx(5.0)
    np.testing.assert_allclose(r, [-3, 0, 3])
    np.testing.assert_allclose(c, [-1, 0, 1])
    np.testing.assert_allclose(z, [[0, 0, 0], [0, 0, 0], [0, 0, 1]], atol=1e-12)


def test_median_polish_removes_additive_gradient_and_keeps_a_hit():
    rows, cols = np.meshgrid(np.arange(8), np.arange(12), indexing="ij")
    x = 100 + 5.0 * rows + 2.0 * cols                 # additive row + column gradient
    mask = np.ones_like(x, dtype=bool)
    mask[:, [0, 11]] = False                          # control columns are not polished
    t, r, c, z = median_polish(x, mask)
    assert np.nanmax(np.abs(z)) == pytest.approx(0, abs=1e-9)
    assert np.isnan(z[:, 0]).all() and c[0] == 0 and c[11] == 0
    np.testing.assert_allclose((t + r[:, None] + c[None, :])[mask], x[mask])
    # plant a hit on top of small noise: its residual stands out, B-score ≫ 3
    noisy = x + np.random.default_rng(0).normal(0, 1, x.shape)
    noisy[3, 5] -= 20
    _, _, _, z = median_polish(noisy, mask)
    resid = z[mask]
    b = -(z - np.median(resid)) / (1.4826 * np.median(np.abs(resid - np.median(resid))))
    assert np.nanargmax(b) == np.ravel_multi_index((3, 5), x.shape)
    assert b[3, 5] > 8


# --------------------------------------------------------------------------- normalize_plates
def _frame(sig: np.ndarray, role: np.ndarray, run="R1", plate="P1") -> pl.DataFrame:
    R, C = sig.shape
    rr, cc = np.meshgrid(np.arange(R), np.arange(C), indexing="ij")
    return pl.DataFrame({
        "run_id": run, "plate_id": plate,
        "well": [well_name(a, b) for a, b in zip(rr.ravel(), cc.ravel())],
        "row_idx": rr.ravel().astype(np.int32), "col_idx": cc.ravel().astype(np.int32),
        "plate_rows": np.int32(R), "plate_cols": np.int32(C), "signal": sig.ravel(),
        "role": role.ravel().astype(str), "compound_id": None, "concentration_um": None,
    }, schema_overrides={"compound_id": pl.String, "concentration_um": pl.Float64})


def _hand_plate(activation: bool = False) -> tuple[pl.DataFrame, np.ndarray]:
    """96 wells: neg_ctrl in column 1 (990/1010 alternating, mean = median = 1000),
    pos_ctrl in column 12 (190/210, mean 200; 1790/1810 for activation), samples
    1000 + 10·((r + c) % 3 − 1), and D05 set to 600 (or 1400)."""
    rr, cc = np.meshgrid(np.arange(8), np.arange(12), indexing="ij")
    sig = 1000 + 10.0 * ((rr + cc) % 3 - 1)
    alt = np.where(np.arange(8) % 2 == 0, -10.0, 10.0)
    sig[:, 0] = 1000 + alt
    sig[:, 11] = (1800 if activation else 200) + alt
    sig[3, 4] = 1400 if activation else 600
    role = np.full((8, 12), "sample", dtype=object)
    role[:, 0], role[:, 11] = "neg_ctrl", "pos_ctrl"
    return _frame(sig, role), sig


@pytest.mark.parametrize("activation", [False, True])
def test_normalize_by_hand(activation):
    df, sig = _hand_plate(activation)
    wells, plates = normalize_plates(df)
    assert wells.columns == df.columns + ["percent_inhibition", "npi", "robust_z", "b_score",
                                          "corrected", "percent_effect"]
    d05 = wells.filter(pl.col("well") == "D05").row(0, named=True)
    # 100·(1000 − 600)/(1000 − 200) = 50, and 100·(1000 − 1400)/(1000 − 1800) = 50
    assert d05["percent_inhibition"] == pytest.approx(50.0)
    assert d05["npi"] == pytest.approx(50.0)
    samples = sig[:, 1:11]
    med = np.median(samples)
    mad = 1.4826 * np.median(np.abs(samples - med))
    assert d05["robust_z"] == pytest.approx(400 / mad) and d05["robust_z"] > 0   # oriented
    neg = wells.filter(pl.col("role") == "neg_ctrl")
    assert neg["percent_inhibition"].mean() == pytest.approx(0.0)
    assert neg["b_score"].null_count() == 8
    p = plates.row(0, named=True)
    sd = math.sqrt(8 * 100 / 7)                        # sd of 4×(−10) and 4×(+10), ddof=1
    assert (p["n_wells"], p["n_samples"], p["n_pos"], p["n_neg"]) == (96, 80, 8, 8)
    assert p["z_prime"] == pytest.approx(1 - 3 * 2 * sd / 800)
    assert p["z_prime_robust"] == pytest.approx(1 - 3 * 2 * 1.4826 * 10 / 800)
    assert p["ssmd"] == pytest.approx(800 / math.sqrt(2 * sd ** 2))
    assert p["signal_to_background"] == pytest.approx(1800 / 1000 if activation else 1000 / 200)
    assert p["cv_neg"] == pytest.approx(100 * sd / 1000)
    ctrl = sig[:, 11]
    assert p["z_prime"] == pytest.approx(qc.z_prime(ctrl, sig[:, 0]))
    assert p["passed"] and p["qc_reason"].startswith("robust Z′")
    assert not p["bias_corrected"]
    assert wells["corrected"].equals(wells["robust_z"])
    # no positional correction: percent_effect is the NPI, oriented (D05 = 50 either way)
    assert wells["percent_effect"].equals(wells["npi"]) and d05["percent_effect"] == 50.0
    # 1.4826·MAD of the neutral controls (10) over the window |1000 − 200| = 800
    assert p["control_noise_pct"] == pytest.approx(100 * 1.4826 * 10 / 800)


def test_plate_without_pos_ctrl_is_kept_unscored():
    df, _ = _hand_plate()
    df = df.with_columns(pl.when(pl.col("role") == "pos_ctrl").then(pl.lit("blank"))
                         .otherwise(pl.col("role")).alias("role"))
    wells, plates = normalize_plates(df)
    assert wells.height == 96
    for col in ("percent_inhibition", "npi", "robust_z", "b_score", "corrected"):
        assert wells[col].null_count() == 96
    p = plates.row(0, named=True)
    assert p["passed"] is False and p["qc_reason"] == "no pos_ctrl wells"
    assert p["n_pos"] == 0 and p["bias_corrected"] is False


def test_too_few_controls_and_bad_zprime_fail_qc():
    df, _ = _hand_plate()
    few = df.filter(~((pl.col("role") == "neg_ctrl") & (pl.col("row_idx") >= 2)))
    assert normalize_plates(few)[1]["qc_reason"][0] == "only 2 neg_ctrl wells (need ≥ 3)"
    noisy = df.with_columns(pl.when(pl.col("role") == "pos_ctrl")
                            .then(pl.col("signal") + 400 * (pl.col("row_idx") % 2))
                            .otherwise(pl.col("signal")).alias("signal"))
    p = normalize_plates(noisy)[1].row(0, named=True)
    assert not p["passed"] and p["qc_reason"].startswith("robust Z′") and "< 0.5" in p["qc_reason"]


def _biased_plate(seed: int, bias: bool = True, n_act: int = 10, plate: str = "P1"):
    """384 wells, neg_ctrl in columns 1–2, pos_ctrl in 23–24; edge wells lose 25%
    (evaporation) and a left→right dispense gradient of ±14%; 10 actives at −28%."""
    R, C = 16, 24
    rng = np.random.default_rng(seed)
    rr, cc = np.meshgrid(np.arange(R), np.arange(C), indexing="ij")
    sig = 1000 + rng.normal(0, 40, (R, C))
    if bias:
        edge = (rr == 0) | (rr == R - 1) | (cc == 0) | (cc == C - 1)
        sig = sig * np.where(edge, 0.75, 1.0) * (1 + 0.012 * (cc - C / 2))
    role = np.full((R, C), "sample", dtype=object)
    role[:, :2], role[:, -2:] = "neg_ctrl", "pos_ctrl"
    sig[:, -2:] = 150 + rng.normal(0, 20, (R, 2))
    act = rng.choice(np.flatnonzero(role.ravel() == "sample"), n_act, replace=False)
    flat = sig.ravel()
    flat[act] *= 0.72
    return _frame(sig, role, plate=plate), {well_name(*divmod(int(i), C)) for i in act}


def _recall_at_k(wells: pl.DataFrame, col: str, actives: set[str]) -> float:
    top = (wells.filter(pl.col("role") == "sample").sort(col, descending=True)
           .head(len(actives))["well"].to_list())
    return len(set(top) & actives) / len(actives)


def test_b_score_beats_robust_z_on_a_biased_plate():
    # Precision and recall are equal at k = number of actives, so comparing recall@k is
    # comparing recall at equal precision.
    for seed in (1, 2, 3):
        df, actives = _biased_plate(seed)
        wells, plates = normalize_plates(df)
        p = plates.row(0, named=True)
        assert p["bias_corrected"] and "B-score" in p["bias_reason"]
        assert p["row_effect_p"] < 1e-4 and p["col_effect_p"] < 1e-4
        rb, rz = _recall_at_k(wells, "b_score", actives), _recall_at_k(wells, "robust_z", actives)
        assert rb >= 0.9 and rb > rz
        assert wells["corrected"].equals(wells["b_score"])


def test_no_bias_detected_on_unbiased_plates():
    frames = [_biased_plate(s, bias=False, plate=f"P{s}")[0] for s in range(10)]
    wells, plates = normalize_plates(pl.concat(frames))
    assert plates.height == 10
    assert not plates["bias_corrected"].any()
    assert wells["percent_effect"].equals(wells["npi"])
    assert plates["bias_reason"][0].startswith("no systematic row/column effect (row p=")


def _gradient_plate(seed: int, additive: bool = False):
    """384 wells, neg_ctrl (10,000) in columns 1–2 and pos_ctrl (1,000) in 23–24, 1 % noise;
    the compound area reads 30 % low on row A rising linearly to 30 % high on row P (the
    controls are dispensed apart and unaffected); 16 wells, one per row, hold a compound
    at exactly 60 % of the window (signal 10,000 − 0.6·9,000 before the gradient)."""
    R, C = 16, 24
    rng = np.random.default_rng(seed)
    sig = 10_000 * (1 + rng.normal(0, 0.01, (R, C)))
    role = np.full((R, C), "sample", dtype=object)
    role[:, :2], role[:, -2:] = "neg_ctrl", "pos_ctrl"
    sig[:, -2:] = 1_000 * (1 + rng.normal(0, 0.01, (R, 2)))
    cols = rng.integers(2, C - 2, R)
    sig[np.arange(R), cols] -= 0.6 * 9_000
    ramp = np.linspace(-0.3, 0.3, R)[:, None]
    if additive:
        sig[:, 2:-2] += 10_000 * ramp
    else:
        sig[:, 2:-2] *= 1 + ramp
    frame = _frame(sig, role)
    return frame, {well_name(r, int(c)) for r, c in enumerate(cols)}


@pytest.mark.parametrize("additive", [False, True])
def test_percent_effect_removes_the_positional_effect(additive):
    df, sixty = _gradient_plate(7, additive)
    wells, plates = normalize_plates(df)
    p = plates.row(0, named=True)
    assert p["bias_corrected"] and p["row_effect_p"] < 1e-6
    noise = p["control_noise_pct"]
    assert 0.5 < noise < 2.5                      # 1 % of 10,000 over a 9,000 window ≈ 1.1
    got = wells.filter(pl.col("well").is_in(sorted(sixty)))
    pe, npi = got["percent_effect"].to_numpy(), got["npi"].to_numpy()
    assert np.abs(npi - 60).max() > 10            # uncorrected NPI is far off at the ends
    if additive:
        # the removal assumes a gain (see _positional_signal): an additive ramp is only
        # partly undone for active wells, but never made worse than no correction
        assert (np.abs(pe - 60) <= np.abs(npi - 60) + 1e-9).all()
    else:
        assert np.abs(pe - 60).max() < 4 * noise
        assert abs(np.median(pe) - 60) < noise
    inactive = wells.filter((pl.col("role") == "sample") & ~pl.col("well").is_in(sorted(sixty)))
    assert abs(inactive["percent_effect"].median()) < noise
    assert np.percentile(np.abs(inactive["percent_effect"].to_numpy()), 95) < 4 * noise
    ctrl = wells.filter(pl.col("role") != "sample")
    assert ctrl["percent_effect"].equals(ctrl["npi"])      # the controls define the window


def test_mixed_formats_and_runs_are_scored_per_plate():
    a, _ = _hand_plate()
    b, _ = _biased_plate(4, plate="P1")
    b = b.with_columns(pl.lit("R2").alias("run_id"))
    wells, plates = normalize_plates(pl.concat([a, b]))
    assert wells.height == 96 + 384
    assert plates.select("run_id", "plate_id", "plate_rows").rows() == [("R1", "P1", 8),
                                                                       ("R2", "P1", 16)]
    assert plates["bias_corrected"].to_list() == [False, True]
    alone = normalize_plates(b)[0]
    np.testing.assert_allclose(wells.filter(pl.col("run_id") == "R2")["b_score"].to_numpy(),
                               alone["b_score"].to_numpy(), equal_nan=True)


def test_heatmap_png():
    df, _ = _biased_plate(5)
    wells, _ = normalize_plates(df)
    raw = wells["signal"].to_numpy().reshape(16, 24)
    corr = wells["corrected"].fill_null(np.nan).to_numpy().reshape(16, 24)
    png = plate_heatmap_png(raw, corr, "R1 / P1")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 60_000
    assert as_markdown_image(png, "plate P1").startswith("![plate P1](data:image/png;base64,iVBOR")
