"""4PL fits, curve classes and the dose-response plot."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from models.plates.dose_response import DoseResponseFit, fit_4pl, fit_curves, logistic4
from models.plates.plots import dose_response_png

CONC = np.repeat(10.0 ** np.arange(-3, 2.01, 0.5), 3)     # 11 levels, 1 nM–100 µM, triplicates


def _curve(ic50=0.5, hill=1.2, top=100.0, bottom=0.0, noise=5.0, seed=0, conc=CONC):
    rng = np.random.default_rng(seed)
    return logistic4(conc, bottom, top, math.log10(ic50), hill) + rng.normal(0, noise, conc.size)


def test_logistic4_midpoint_by_hand():
    # at x = IC50 the term (IC50/x)^hill is 1 → halfway: 10 + (90 − 10)/2 = 50
    assert logistic4(np.array([2.0]), 10, 90, math.log10(2.0), 1.7)[0] == pytest.approx(50)
    # x = 10·IC50, hill 1: 0 + 100/(1 + 0.1) = 90.909...
    assert logistic4(np.array([20.0]), 0, 100, math.log10(2.0), 1.0)[0] == pytest.approx(100 / 1.1)


def test_recovers_ic50_and_hill_with_ci():
    fit = fit_4pl(CONC, _curve())
    assert fit.converged and fit.curve_class == "1.1"
    assert abs(math.log10(fit.ic50_um) - math.log10(0.5)) < 0.1
    assert fit.hill == pytest.approx(1.2, abs=0.4)        # this seed's OLS hill is 1.53
    hills = [fit_4pl(CONC, _curve(seed=s)).hill for s in range(10)]
    assert np.median(hills) == pytest.approx(1.2, abs=0.15)
    assert fit.top == pytest.approx(100, abs=6) and fit.bottom == pytest.approx(0, abs=6)
    assert fit.ic50_ci_low < 0.5 < fit.ic50_ci_high
    assert fit.ic50_ci_low < fit.ic50_um < fit.ic50_ci_high
    assert fit.r2 > 0.95 and fit.n_points == CONC.size


def test_ci_covers_truth_across_seeds():
    covered = sum(fit_4pl(CONC, _curve(seed=s)).ic50_ci_low < 0.5
                  < fit_4pl(CONC, _curve(seed=s)).ic50_ci_high for s in range(20))
    assert covered >= 17                       # nominal 95%


def test_robust_to_one_outlier():
    y = _curve(seed=1)
    y[4] += 90                                 # one wild well at 10 nM
    fit = fit_4pl(CONC, y)
    assert abs(math.log10(fit.ic50_um) - math.log10(0.5)) < 0.15
    assert fit.curve_class.startswith("1.")


def test_flat_and_noisy_curves_are_inactive():
    flat = fit_4pl(CONC, _curve(top=3.0, noise=4.0, seed=2))
    assert flat.curve_class == "4" and flat.ic50_um is None and "inactive" in flat.message
    # a constant offset (e.g. interference) is not a curve either
    offset = fit_4pl(CONC, np.full(CONC.size, 45.0) + np.random.default_rng(3).normal(0, 3, CONC.size))
    assert offset.curve_class == "4" and offset.ic50_um is None
    for s in range(15):                        # never raises on noise
        fit = fit_4pl(CONC, np.random.default_rng(s).normal(20, 25, CONC.size))
        assert isinstance(fit, DoseResponseFit) and fit.curve_class in {"1.1", "1.2", "2.1",
                                                                        "2.2", "3", "4"}


def test_degenerate_inputs_never_raise():
    nan = fit_4pl(CONC, np.full(CONC.size, np.nan))
    assert nan.curve_class == "4" and nan.ic50_um is None and nan.n_points == 0
    few = fit_4pl(np.array([1.0, 10, 100]), np.array([10.0, 50, 90]))
    assert few.curve_class == "4" and few.ic50_um is None and "too few concentrations" in few.message
    assert fit_4pl(np.array([]), np.array([])).curve_class == "4"
    assert fit_4pl(np.array([0.0, -1, 1, 2]), np.array([1.0, 2, 3, 4])).n_points == 2


def test_single_point_and_incomplete_curves():
    conc = 10.0 ** np.arange(-3, 2.01, 0.5)
    y = np.array([0, 1, -2, 3, 0, 2, -1, 1, 4, 6, 65.0])
    single = fit_4pl(conc, y)
    assert single.curve_class == "3" and single.ic50_um is None
    # IC50 at the top concentration: the upper asymptote is never reached
    inc = fit_4pl(CONC, _curve(ic50=30.0, seed=4))
    assert inc.curve_class.startswith("2.") and inc.ic50_um is not None
    assert "top asymptote not reached" in inc.message


def test_fit_curves_one_row_per_compound():
    df = pl.DataFrame({
        "run_id": ["R1"] * (2 * CONC.size),
        "compound_id": ["A"] * CONC.size + ["B"] * CONC.size,
        "concentration_um": np.concatenate([CONC, CONC]),
        "response": np.concatenate([_curve(seed=5), _curve(top=2.0, seed=6)]),
    })
    out = fit_curves(df)
    assert out.columns == ["run_id", "compound_id", "ic50_um", "ic50_ci_low", "ic50_ci_high",
                           "hill", "top", "bottom", "efficacy", "r2", "curve_class", "n_points",
                           "converged", "message", "ic50_extrapolated"]
    assert out["compound_id"].to_list() == ["A", "B"]
    assert out["curve_class"].to_list()[1] == "4" and out["ic50_um"][1] is None
    assert out["ic50_um"][0] == pytest.approx(0.5, rel=0.3)


def test_dose_response_png():
    y = _curve(seed=7)
    png = dose_response_png(CONC, y, fit_4pl(CONC, y), "CPD-1")
    assert png[:4] == b"\x89PNG" and len(png) < 60_000
    flat = dose_response_png(CONC, y * 0, fit_4pl(CONC, y * 0), "flat")   # no curve drawn
    assert flat[:4] == b"\x89PNG"
