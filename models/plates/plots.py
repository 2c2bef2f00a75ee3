"""Small PNG figures for Dagster metadata: plate heatmaps and dose-response curves.

matplotlib is imported lazily with the Agg backend so importing this module (e.g. from a
Dagster code location) never needs a display or pays the import cost.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

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


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=_DPI)
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


def as_markdown_image(png: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,...)`` for ``MetadataValue.md``."""
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
