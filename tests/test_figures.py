"""Contact sheets and inline figures for the screening assets (models/plates/plots.py,
orchestration/figures.py): pure helpers on small synthetic plates and curves."""

import base64
import io
import logging
import re

import numpy as np
import polars as pl
import pytest
from PIL import Image

from models.plates.dose_response import fit_curves
from models.plates.plots import (CurveTile, PlateTile, compact_png, curve_contact_sheet_png,
                                 plate_contact_sheet_png, thumbnail_scale)
from orchestration.figures import curve_figures, plate_figures, worst_first
from orchestration.settings import LakePaths

LOG = logging.getLogger("test_figures")


def _tiny_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 2), "white").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def quick_singles(monkeypatch):
    """The single-plate and single-curve figures (tested in test_plate_normalize and
    test_dose_response) as a tiny PNG: these tests are about the sheets and the markdown."""
    import models.plates.plots as plots

    monkeypatch.setattr(plots, "plate_heatmap_png", lambda *a, **k: _tiny_png())
    monkeypatch.setattr(plots, "dose_response_png", lambda *a, **k: _tiny_png())


def _size(png: bytes) -> tuple[int, int]:
    assert png[:4] == b"\x89PNG"
    return Image.open(io.BytesIO(png)).size


@pytest.mark.parametrize("n", [1, 7])
def test_plate_contact_sheet_has_a_row_per_three_plates(n):
    rng = np.random.default_rng(n)
    tiles = [PlateTile(rng.normal(size=(8, 12)), rng.normal(size=(8, 12)), f"P{i}", failed=i == 0)
             for i in range(n)]
    w, h = _size(plate_contact_sheet_png(tiles, "RUN"))
    rows = -(-n // 3)
    assert h == pytest.approx((rows * 1.15 + 0.35) * 80, abs=2)
    assert w == pytest.approx(2 * min(n, 3) * 1.35 * 80, abs=2)


def test_thumbnails_survive_extreme_and_missing_readings():
    data = np.ones((2, 3))
    data[0, 0], data[0, 1], data[1, 2] = 1e308, -1e308, np.nan
    scaled = thumbnail_scale(data)
    assert np.isnan(scaled[1, 2]) and np.nanmin(scaled) == 0.0 and np.nanmax(scaled) == 1.0
    assert (thumbnail_scale(np.full((2, 2), 3.0)) == 0.5).all()
    assert np.isnan(thumbnail_scale(np.full((2, 2), np.nan))).all()
    png = plate_contact_sheet_png([PlateTile(data, data, "extreme")], "RUN")
    assert _size(png)[0] > 0


def test_curve_contact_sheet_and_compact_png():
    conc = np.logspace(-3, 1, 8)
    tiles = [CurveTile(conc, 100 / (1 + (0.1 * (i + 1) / conc)), _fit(conc, i), f"C{i}\n1.1")
             for i in range(5)]
    png = curve_contact_sheet_png(tiles, "DR")
    w, h = _size(png)
    assert w > h > 0
    small = compact_png(png)
    assert _size(small) == (w, h) and len(small) <= len(png)
    assert compact_png(b"not a png") == b"not a png"


def _fit(conc, i):
    from models.plates.dose_response import fit_4pl
    return fit_4pl(conc, 100 / (1 + (0.1 * (i + 1) / conc)))


def _plates(n_runs: int, n_plates: int):
    wells, plates = [], []
    rng = np.random.default_rng(0)
    r, c = np.meshgrid(range(8), range(12), indexing="ij")
    for run in range(n_runs):
        for p in range(n_plates):
            signal = rng.normal(100, 10, 96)
            wells.append(pl.DataFrame({"run_id": f"R{run}", "plate_id": f"P{p}",
                                       "row_idx": r.ravel(), "col_idx": c.ravel(),
                                       "signal": signal, "corrected": (signal - 100) / 10}))
            plates.append({"run_id": f"R{run}", "plate_id": f"P{p}", "passed": p != 1,
                           "bias_corrected": False, "z_prime_robust": 0.5 + p / 100,
                           "plate_rows": 8, "plate_cols": 12})
    return pl.concat(wells), pl.DataFrame(plates)


def _images(md: str) -> list[str]:
    return re.findall(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md)


def test_every_plate_is_on_its_runs_sheet_and_the_worst_are_large(tmp_path, quick_singles):
    paths = LakePaths(tmp_path / "lake").ensure()
    wells, plates = _plates(n_runs=2, n_plates=4)
    gallery = plate_figures(paths, wells, plates, LOG)
    md = gallery.markdown("none")
    alts = [alt for alt, _ in _images(md)]
    # the failed plates first, then the lowest robust Z′; then one sheet per run
    assert alts == ["P1", "P1", "P0", "R0", "R1"]
    assert "R0: 4 plate(s), 1 failed QC" in md and gallery.failed == []
    assert len(md) < 450_000
    for _, b64 in _images(md):
        base64.b64decode(b64, validate=True)
    sheets = sorted((paths.reports / "contact_sheets" / "plates").glob("*.png"))
    assert len(sheets) == 2 and len(list((paths.reports / "plates").rglob("*.png"))) == 8
    again = plate_figures(paths, wells, plates, LOG)    # nothing changed: nothing redrawn
    assert again.drawn == 0 and again.reused == 10 and again.markdown("none") == md


def test_worst_first_puts_failed_and_missing_z_first():
    plates = pl.DataFrame({"run_id": ["A", "A", "A", "B"], "plate_id": ["1", "2", "3", "1"],
                           "passed": [True, True, False, True],
                           "z_prime_robust": [0.9, None, 0.8, 0.6]})
    assert worst_first(plates)["plate_id"].to_list() == ["3", "2", "1", "1"]
    assert worst_first(plates)["run_id"].to_list() == ["A", "A", "B", "A"]


def test_every_curve_is_on_its_runs_sheet(tmp_path, quick_singles):
    paths = LakePaths(tmp_path / "lake").ensure()
    conc = np.logspace(-3, 1, 8)
    rows = []
    for run in ("DR1", "DR2"):
        for i in range(4):
            resp = 100 / (1 + (0.05 * (i + 1) / conc)) if i < 3 else np.zeros(8)
            rows += [{"run_id": run, "compound_id": f"C{i}", "concentration_um": x,
                      "response": y} for x, y in zip(conc, resp)]
    points = pl.DataFrame(rows)
    fits = fit_curves(points)
    gallery = curve_figures(paths, points, fits, LOG)
    md = gallery.markdown("none")
    alts = [alt for alt, _ in _images(md)]
    assert alts[:2] == ["DR1", "DR2"] and len(alts) == 2 + 3
    assert "DR1: 4 curve(s), 3 with a response" in md
    assert len(list((paths.reports / "contact_sheets" / "dose_response").glob("*.png"))) == 2
    assert len(list((paths.reports / "dose_response").rglob("*.png"))) == 8
    assert curve_figures(paths, points, fits.clear(), LOG).markdown("none") == "none"


def test_an_entry_past_its_budget_names_the_files_instead(tmp_path, quick_singles, monkeypatch):
    import orchestration.figures as figures

    paths = LakePaths(tmp_path / "lake").ensure()
    wells, plates = _plates(n_runs=2, n_plates=1)
    md = plate_figures(paths, wells, plates, LOG).markdown("none")
    shown = re.findall(r"!\[[^\]]*\]\(data:image/png;base64,[A-Za-z0-9+/=]+\)", md)
    assert [alt for alt, _ in _images(md)] == ["P0", "P0", "R0", "R1"]
    monkeypatch.setattr(figures, "MAX_INLINE_BYTES", sum(map(len, shown[:3])) + 10)
    md = plate_figures(paths, wells, plates, LOG).markdown("none")
    assert [alt for alt, _ in _images(md)] == ["P0", "P0", "R0"]   # R1's sheet did not fit
    assert "not inlined, the metadata entry is full" in md and "contact_sheets" in md
