"""The screening assets' figures, drawn into the lake and inlined into Dagster metadata.

A browser does not open lake files from the UI's http page, so every figure a person
should see is inlined as a PNG data URI (``MetadataValue.md``): per plate run one contact
sheet with every plate's raw and corrected heatmaps, the plates to look at first (failed
QC, then the lowest robust Z′) large, and per dose-response run one contact sheet with
every curve. Each figure is also a file under ``reports/``, redrawn only when what it
shows changed (a ``.key`` file next to it records what it was drawn from).

Inline images are PNG-8 (``compact_png``) and one metadata entry stays under
``MAX_INLINE_BYTES``; what does not fit is named with its file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from orchestration.lake.safe_paths import lake_file

MAX_LARGE_PLATES = 3        # the plates to look at first, drawn large
MAX_CURVE_FILES = 48        # single-curve PNG files (the most potent); every curve is on a sheet
MAX_LARGE_CURVES = 3        # of those, shown large under the sheets
PLATES_PER_SHEET = 48
CURVES_PER_SHEET = 200
MAX_INLINE_BYTES = 450_000  # per metadata entry, base64 included
CURVE_SHEET_COLORS = 32     # a 176-curve sheet: 126 kB as PNG-8 (171 kB with 256 colours)
# Bump when a sheet's drawing or compression changes: sheets are reused while their key holds.
SHEET_RECIPE = "2"


@dataclass
class Gallery:
    """Markdown parts of one metadata entry, and what could not be drawn."""
    parts: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    drawn: int = 0
    reused: int = 0

    def markdown(self, empty: str) -> str:
        return "\n\n".join(self.lines()) or empty

    def lines(self) -> list[str]:
        return self.parts + ([f"could not draw: {', '.join(self.failed)}"] if self.failed else [])


def cached_png(out: Path, key: str, draw: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The PNG at ``out`` when its ``.key`` file says it was drawn from ``key``; else
    ``draw()`` written there. Returns (png, drawn now)."""
    stamp = out.with_suffix(".key")
    if out.exists() and stamp.exists() and stamp.read_text() == key:
        return out.read_bytes(), False
    png = draw()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    stamp.write_text(key)
    return png, True


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()


class _Budget:
    """Inline images up to ``limit`` bytes of markdown; beyond, name the file instead."""

    def __init__(self, limit: int | None = None):
        self.left = MAX_INLINE_BYTES if limit is None else limit

    def image(self, png: bytes, alt: str, file: Path) -> str:
        from models.plates.plots import as_markdown_image

        md = as_markdown_image(png, alt)
        if len(md) > self.left:
            return f"*(not inlined, the metadata entry is full: `{file}`)*"
        self.left -= len(md)
        return md


def _matrix(df: pl.DataFrame, column: str, rows: int, cols: int) -> np.ndarray:
    m = np.full((rows, cols), np.nan)
    vals = df.select("row_idx", "col_idx", column).drop_nulls()
    m[vals["row_idx"].to_numpy(), vals["col_idx"].to_numpy()] = vals[column].to_numpy()
    return m


def plate_title(row: dict) -> str:
    z = row["z_prime_robust"]
    return (f"{row['run_id']} / {row['plate_id']}: robust Z′ "
            f"{'–' if z is None else f'{z:.2f}'}, "
            f"{'B-score' if row['bias_corrected'] else 'robust z'}"
            f"{'' if row['passed'] else ' — FAILED QC'}")


def worst_first(plates: pl.DataFrame) -> pl.DataFrame:
    """Failed plates first, then by robust Z′ (lowest, or none, first)."""
    return plates.sort(pl.col("passed"), pl.col("z_prime_robust"), "run_id", "plate_id",
                       nulls_last=False)


def plate_figures(paths, wells: pl.DataFrame, plates: pl.DataFrame, log) -> Gallery:
    """Every plate's raw | corrected heatmap as a PNG file (reports/plates/<run>/<plate>.png),
    one contact sheet per run (reports/contact_sheets/plates/<run>.png) and, inline, the
    ``MAX_LARGE_PLATES`` worst plates large and then every run's sheet. ``wells``:
    run_id, plate_id, row_idx, col_idx, signal, corrected; ``plates``: plate_stats."""
    from models.plates.plots import (PlateTile, compact_png, plate_contact_sheet_png,
                                     plate_heatmap_png)

    out, budget = Gallery(), _Budget()
    if not plates.height:
        return out
    by_plate = wells.partition_by(["run_id", "plate_id"], as_dict=True)
    empty = wells.clear()
    large: dict[tuple[str, str], bytes] = {}
    tiles: dict[str, list[tuple[str, PlateTile]]] = {}
    for row in plates.sort("run_id", "plate_id").iter_rows(named=True):
        plate = by_plate.get((row["run_id"], row["plate_id"]), empty)
        rows, cols = row["plate_rows"], row["plate_cols"]
        raw, corrected = _matrix(plate, "signal", rows, cols), _matrix(plate, "corrected", rows, cols)
        title = plate_title(row)
        key = f"{title}|{np.nansum(raw):.9g}|{np.nansum(corrected):.9g}|{plate.height}"
        # run and plate ids come from landing files: mapped, never used as path parts
        file = lake_file(paths, paths.reports / "plates", row["run_id"], row["plate_id"],
                         suffix=".png")
        try:
            png, drawn = cached_png(file, key, lambda: plate_heatmap_png(raw, corrected, title))
        except Exception as exc:  # noqa: BLE001 - a figure never stops the plate's numbers
            log.warning("no heatmap for %s / %s: %s", row["run_id"], row["plate_id"], exc)
            out.failed.append(f"{row['run_id']} / {row['plate_id']}")
        else:
            out.drawn += drawn
            out.reused += not drawn
            large[(row["run_id"], row["plate_id"])] = png
        z = row["z_prime_robust"]
        caption = f"{row['plate_id']}  Z′ {'–' if z is None else f'{z:.2f}'}" + (
            "  FAILED" if not row["passed"] else "")
        tiles.setdefault(row["run_id"], []).append(
            (key, PlateTile(raw, corrected, caption, failed=not row["passed"])))

    worst = [r for r in worst_first(plates).iter_rows(named=True)
             if (r["run_id"], r["plate_id"]) in large][:MAX_LARGE_PLATES]
    if worst:
        out.parts.append(f"### The {len(worst)} plate(s) to look at first (failed QC, then "
                         "lowest robust Z′)")
    for row in worst:
        file = lake_file(paths, paths.reports / "plates", row["run_id"], row["plate_id"],
                         suffix=".png")
        out.parts.append(f"**{plate_title(row)}**\n\n"
                         + budget.image(compact_png(large[(row["run_id"], row["plate_id"])]),
                                        row["plate_id"], file))
    out.parts.append("### Every plate, one contact sheet per run")
    for run_id, run_tiles in tiles.items():
        n_failed = sum(t.failed for _, t in run_tiles)
        _contact_sheets(paths, out, budget, log, "plates", run_id, run_tiles, PLATES_PER_SHEET,
                        lambda chunk, name: compact_png(plate_contact_sheet_png(chunk, name)),
                        f"{len(run_tiles)} plate(s), {n_failed} failed QC")
    log.info("plate figures under %s: %d drawn, %d unchanged, %d could not be drawn",
             paths.reports, out.drawn, out.reused, len(out.failed))
    return out


def _contact_sheets(paths, out: Gallery, budget: "_Budget", log, kind: str, run_id: str,
                    run_tiles: list, per_sheet: int, draw, caption: str) -> None:
    """One run's (key, tile) pairs on contact sheets of at most ``per_sheet`` tiles
    (reports/contact_sheets/<kind>/<run>[_<n>].png, redrawn only when a tile's key
    changed), each added inline to ``out`` under ``caption``. ``draw(tiles, name)``
    returns the PNG; a sheet that cannot be drawn is logged and listed, never raised: a
    figure never stops the numbers."""
    chunks = [run_tiles[i:i + per_sheet] for i in range(0, len(run_tiles), per_sheet)]
    for n, chunk in enumerate(chunks):
        name = run_id + (f" ({n + 1} of {len(chunks)})" if len(chunks) > 1 else "")
        # run ids come from landing files: mapped, never used as path parts
        file = lake_file(paths, paths.reports / "contact_sheets" / kind,
                         run_id if len(chunks) == 1 else f"{run_id}_{n + 1}", suffix=".png")
        key = _digest(SHEET_RECIPE, name, [k for k, _ in chunk])
        try:
            png, drawn = cached_png(file, key, lambda: draw([t for _, t in chunk], name))
        except Exception as exc:  # noqa: BLE001 - a figure never stops the numbers
            log.warning("no contact sheet for %s: %s", name, exc)
            out.failed.append(f"contact sheet {name}")
            continue
        out.drawn += drawn
        out.reused += not drawn
        out.parts.append(f"**{name}: {caption}**\n\n" + budget.image(png, name, file))


def curve_figures(paths, points: pl.DataFrame, fits: pl.DataFrame, log) -> Gallery:
    """Every dose-response curve on its run's contact sheet
    (reports/contact_sheets/dose_response/<run>.png, most potent first, inactive last),
    inline; the ``MAX_CURVE_FILES`` most potent also as single PNG files
    (reports/dose_response/<run>/<compound>.png), the first ``MAX_LARGE_CURVES`` of
    them inline large after the sheets."""
    from models.plates.dose_response import FIT_COLUMNS, DoseResponseFit
    from models.plates.plots import (CurveTile, compact_png, curve_contact_sheet_png,
                                     dose_response_png)

    out, budget = Gallery(), _Budget()
    if not fits.height:
        return out
    shown = fits.sort(pl.col("curve_class").str.starts_with("4"), "ic50_um", "run_id",
                      "compound_id", nulls_last=True)
    by_curve = points.partition_by(["run_id", "compound_id"], as_dict=True)
    empty = points.clear()
    tiles: dict[str, list[tuple[str, CurveTile]]] = {}
    large = []
    for i, row in enumerate(shown.iter_rows(named=True)):
        pts = by_curve.get((row["run_id"], row["compound_id"]), empty)
        conc, resp = pts["concentration_um"].to_numpy(), pts["response"].to_numpy()
        fit = DoseResponseFit(**{k: row[k] for k in FIT_COLUMNS})
        title = f"{row['compound_id']} ({row['run_id']})"
        key = f"{title}|{fit}|{np.nansum(conc):.9g}|{np.nansum(resp):.9g}|{len(conc)}"
        ic50 = f"{fit.ic50_um:.2g} µM" if fit.ic50_um is not None else "no IC50"
        tiles.setdefault(row["run_id"], []).append(
            (key, CurveTile(conc, resp, fit, f"{row['compound_id']}\n{fit.curve_class} · {ic50}")))
        if i >= MAX_CURVE_FILES:
            continue
        file = lake_file(paths, paths.reports / "dose_response", row["run_id"],
                         row["compound_id"], suffix=".png")
        try:
            png, drawn = cached_png(file, key, lambda: dose_response_png(conc, resp, fit, title))
        except Exception as exc:  # noqa: BLE001 - a figure never stops the fits
            log.warning("no curve figure for %s: %s", title, exc)
            out.failed.append(title)
            continue
        out.drawn += drawn
        out.reused += not drawn
        if len(large) < MAX_LARGE_CURVES:
            large.append((title, row["compound_id"], png, file))

    for run_id, run_tiles in tiles.items():
        active = sum(not str(t.fit.curve_class).startswith("4") for _, t in run_tiles)
        _contact_sheets(paths, out, budget, log, "dose_response", run_id, run_tiles,
                        CURVES_PER_SHEET,
                        lambda chunk, name: compact_png(curve_contact_sheet_png(chunk, name),
                                                        colors=CURVE_SHEET_COLORS),
                        f"{len(run_tiles)} curve(s), {active} with a response (class 1–3)")
    if large:
        out.parts.append("### The most potent, large")
    for title, alt, png, file in large:
        out.parts.append(f"**{title}**\n\n" + budget.image(compact_png(png), alt, file))
    log.info("dose-response figures under %s: %d drawn, %d unchanged, %d could not be drawn",
             paths.reports, out.drawn, out.reused, len(out.failed))
    return out
