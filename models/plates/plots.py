"""Small PNG figures for Dagster metadata: plate heatmaps and dose-response curves, one
plate or curve per figure, or many at once on a contact sheet.

matplotlib is imported lazily with the Agg backend so importing this module (e.g. from a
Dagster code location) never needs a display or pays the import cost.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from models.plates.layout import row_label

if TYPE_CHECKING:
    from models.plates.dose_response import DoseResponseFit

_DPI = 80


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig, dpi: int = _DPI) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buf.getvalue()


def _ticks(ax, rows: int, cols: int) -> None:
    step_r = 1 if rows <= 16 else 2
    step_c = 1 if cols <= 12 else (2 if cols <= 24 else 4)
    ax.set_yticks(range(0, rows, step_r), [row_label(i) for i in range(0, rows, step_r)],
                  fontsize=6)
    ax.set_xticks(range(0, cols, step_c), [str(i + 1) for i in range(0, cols, step_c)],
                  fontsize=6)


def plate_heatmap_png(raw: np.ndarray, corrected: np.ndarray, title: str) -> bytes:
    """Raw signal and corrected score as two heatmaps side by side (~600×300 px PNG)."""
    plt = _pyplot()
    raw = np.asarray(raw, dtype=np.float64)
    corrected = np.asarray(corrected, dtype=np.float64)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.75))
    for ax, data, name, cmap in ((axes[0], raw, "raw signal", "viridis"),
                                 (axes[1], corrected, "corrected score", "coolwarm")):
        finite = data[np.isfinite(data)]
        kw = {}
        if name.startswith("corrected") and finite.size:
            lim = float(np.nanmax(np.abs(finite))) or 1.0
            kw = {"vmin": -lim, "vmax": lim}
        im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto",
                       interpolation="nearest", **kw)
        _ticks(ax, *data.shape)
        ax.set_title(name, fontsize=8)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def dose_response_png(conc, resp, fit: "DoseResponseFit", title: str) -> bytes:
    """Points, fitted 4PL, IC50 line and its CI band on a log-x axis (~480×320 px PNG)."""
    from models.plates.dose_response import logistic4

    plt = _pyplot()
    x = np.asarray(conc, dtype=np.float64)
    y = np.asarray(resp, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x[ok], y[ok], s=14, color="black", zorder=3)
    if ok.any():
        grid = np.logspace(np.log10(x[ok].min()) - 0.3, np.log10(x[ok].max()) + 0.3, 200)
        if None not in (fit.bottom, fit.top, fit.hill, fit.ic50_um):
            ax.plot(grid, logistic4(grid, fit.bottom, fit.top, np.log10(fit.ic50_um), fit.hill),
                    color="tab:blue")
        if fit.ic50_um is not None:
            ax.axvline(fit.ic50_um, color="tab:red", ls="--", lw=1)
            if fit.ic50_ci_low is not None and fit.ic50_ci_high is not None:
                ax.axvspan(fit.ic50_ci_low, fit.ic50_ci_high, color="tab:red", alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("concentration (µM)", fontsize=8)
    ax.set_ylabel("% effect", fontsize=8)
    ic50 = f"IC50 {fit.ic50_um:.3g} µM" if fit.ic50_um is not None else "no IC50"
    ax.set_title(f"{title} — class {fit.curve_class}, {ic50}", fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def compact_png(png: bytes, colors: int = 256) -> bytes:
    """The same image with an adaptive palette of ``colors`` colours (PNG-8): heatmaps and
    line plots lose nothing visible and shrink several-fold. Unchanged if Pillow fails."""
    try:
        from PIL import Image

        img = Image.open(io.BytesIO(png)).convert("RGB")
        out = io.BytesIO()
        img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(out, format="PNG",
                                                                          optimize=True)
        small = out.getvalue()
    except Exception:  # noqa: BLE001 - a smaller figure is a nicety, never a failure
        return png
    return small if len(small) < len(png) else png


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


@dataclass(frozen=True)
class PlateTile:
    """One plate on a contact sheet: its raw signal and corrected score as row × column
    matrices (NaN: no reading), a short caption and whether it failed QC."""
    raw: np.ndarray
    corrected: np.ndarray
    caption: str
    failed: bool = False


def thumbnail_scale(data: np.ndarray, symmetric: bool = False) -> np.ndarray:
    """``data`` mapped to [0, 1] between its 2nd and 98th percentile (one hot well does
    not wash out a plate; extreme finite readings such as ±1e308 cannot overflow the
    colour scale); ``symmetric``: around 0, ±the 98th percentile of |data| mapped to 0
    and 1. NaN stays NaN; a constant plate is all 0.5."""
    data = np.asarray(data, dtype=np.float64)
    out = np.full(data.shape, np.nan)
    ok = np.isfinite(data)
    if not ok.any():
        return out
    vals = data[ok]
    with np.errstate(over="ignore", invalid="ignore"):
        if symmetric:
            lim = float(np.percentile(np.abs(vals), 98, method="nearest"))
            lo, hi = -lim, lim
        else:
            lo = float(np.percentile(vals, 2, method="nearest"))
            hi = float(np.percentile(vals, 98, method="nearest"))
        span = hi - lo
        if not np.isfinite(span) or span <= 0:
            scaled = np.full(vals.shape, 0.5)
            if span > 0 or not np.isfinite(span):   # still an order: show it by rank
                scaled = vals.argsort().argsort() / max(vals.size - 1, 1)
        else:
            scaled = (np.clip(vals, lo, hi) - lo) / span
    out[ok] = scaled
    return out


def plate_contact_sheet_png(tiles: Sequence[PlateTile], title: str, per_row: int = 3) -> bytes:
    """Every plate of ``tiles`` as a small raw | corrected heatmap pair, ``per_row`` plates
    a row, each pair captioned (failed plates in red, framed). No colour bars: each
    heatmap spans its own plate's 2nd–98th percentile (corrected scores symmetric
    around 0), see ``thumbnail_scale``."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one plate")
    plt = _pyplot()
    rows, cols = _grid(len(tiles), per_row)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 1.35, rows * 1.15 + 0.35),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        for j, (data, cmap) in enumerate(((tile.raw, "viridis"), (tile.corrected, "coolwarm"))):
            ax = axes[r, 2 * c + j]
            ax.imshow(np.ma.masked_invalid(thumbnail_scale(data, symmetric=j == 1)), cmap=cmap,
                      vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            if tile.failed:
                for side in ax.spines.values():
                    side.set_color("red")
                    side.set_linewidth(1.5)
        axes[r, 2 * c].set_title(tile.caption, fontsize=6, loc="left", x=0.0,
                                 color="red" if tile.failed else "black")
    fig.suptitle(f"{title} (each plate: raw signal | corrected score)", fontsize=8)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.45 / fig.get_figheight(),
                        wspace=0.08, hspace=0.45)
    return _png(fig)


@dataclass(frozen=True)
class CurveTile:
    """One compound on a curve contact sheet: its points and its 4PL fit."""
    conc: np.ndarray
    resp: np.ndarray
    fit: "DoseResponseFit"
    caption: str


def curve_contact_sheet_png(tiles: Sequence[CurveTile], title: str, per_row: int | None = None
                            ) -> bytes:
    """Every curve of ``tiles`` in a small panel of one grid, all on the same scales (log
    concentration over the sheet's tested range, % effect from -30 to 130): points,
    fitted 4PL and the IC50 line, captioned with the compound, its class and IC50;
    inactive (class 4) curves in grey. Drawn as one matplotlib axes (a hundred curves
    in about a second, where a hundred subplots take minutes)."""
    from matplotlib.collections import LineCollection

    from models.plates.dose_response import logistic4

    if not tiles:
        raise ValueError("a contact sheet needs at least one curve")
    plt = _pyplot()
    rows, cols = _grid(len(tiles), per_row or max(4, math.ceil(math.sqrt(len(tiles) * 1.4))))
    xs = np.concatenate([np.asarray(t.conc, dtype=np.float64) for t in tiles])
    xs = xs[np.isfinite(xs) & (xs > 0)]
    lo, hi = (np.log10(xs.min()) - 0.3, np.log10(xs.max()) + 0.3) if xs.size else (-3.0, 2.0)
    y_lo, y_hi = -30.0, 130.0

    def place(r: int, c: int, logx, y):
        # a panel is the unit square [c, c+1] × [rows-1-r, rows-r]; its top fifth holds the caption
        px = c + 0.06 + 0.88 * (np.asarray(logx) - lo) / (hi - lo)
        py = rows - 1 - r + 0.06 + 0.68 * (np.clip(y, y_lo, y_hi) - y_lo) / (y_hi - y_lo)
        return px, py

    fig, ax = plt.subplots(figsize=(cols * 1.15, rows * 1.0 + 0.3))
    frames, guides, curves, ic50s = [], [], [], []
    curve_colours, px_all, py_all, point_colours = [], [], [], []
    grid = np.linspace(lo, hi, 50)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        x0, y0 = c + 0.03, rows - 1 - r + 0.03
        frames.append([(x0, y0), (x0 + 0.94, y0), (x0 + 0.94, y0 + 0.94), (x0, y0 + 0.94),
                       (x0, y0)])
        for level in (0.0, 100.0):
            gx, gy = place(r, c, [lo, hi], [level, level])
            guides.append(list(zip(gx, gy)))
        x = np.asarray(t.conc, dtype=np.float64)
        y = np.asarray(t.resp, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
        inactive = str(t.fit.curve_class).startswith("4")
        gx, gy = place(r, c, np.log10(x[ok]), y[ok])
        px_all.append(gx)
        py_all.append(gy)
        point_colours += ["0.55" if inactive else "black"] * len(gx)
        f = t.fit
        if f.ic50_um is not None and f.ic50_um > 0 and np.isfinite(f.ic50_um):
            if None not in (f.bottom, f.top, f.hill):
                cx, cy = place(r, c, grid, logistic4(10 ** grid, f.bottom, f.top,
                                                     np.log10(f.ic50_um), f.hill))
                curves.append(list(zip(cx, cy)))
                curve_colours.append("0.55" if inactive else "tab:blue")
            if lo <= np.log10(f.ic50_um) <= hi:
                ix, iy = place(r, c, [np.log10(f.ic50_um)] * 2, [y_lo, y_hi])
                ic50s.append(list(zip(ix, iy)))
        ax.text(c + 0.5, rows - 1 - r + 0.93, t.caption, ha="center", va="top", fontsize=5,
                linespacing=1.0, color="0.4" if inactive else "black")
    ax.add_collection(LineCollection(frames, colors="0.6", linewidths=0.5))
    ax.add_collection(LineCollection(guides, colors="0.85", linewidths=0.4, linestyles=":"))
    ax.add_collection(LineCollection(curves, colors=curve_colours, linewidths=0.9))
    ax.add_collection(LineCollection(ic50s, colors="tab:red", linewidths=0.5, linestyles="--"))
    if px_all:
        ax.scatter(np.concatenate(px_all), np.concatenate(py_all), s=2.5, c=point_colours,
                   linewidths=0, zorder=3)
    ax.set_xlim(0, cols)
    ax.set_ylim(0, rows)
    ax.set_axis_off()
    fig.suptitle(f"{title}: % effect against log concentration, {10 ** (lo + 0.3):.2g}–"
                 f"{10 ** (hi - 0.3):.2g} µM in every panel (dotted: 0 and 100 %; red: IC50)",
                 fontsize=7)
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - 0.3 / fig.get_figheight())
    return _png(fig, dpi=96)


def as_markdown_image(png: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,...)`` for ``MetadataValue.md``."""
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
