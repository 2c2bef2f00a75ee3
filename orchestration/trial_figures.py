"""The trial pictures, drawn into the lake and inlined into Dagster metadata.

Per study: the Kaplan–Meier curves of each time-to-event parameter with numbers at risk
(``models.trials.figures.km_png``) and the adverse-event dot plot (incidence per arm and
the risk difference with its CI, ``ae_dot_png``). Like the plate figures
(orchestration/figures.py) each is a PNG under ``reports/trials/<study>/`` redrawn only
when what it shows changed, inlined as a PNG-8 data URI while the metadata entry stays
under ``figures.MAX_INLINE_BYTES``; a picture that does not fit is named by its file.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from orchestration.figures import MAX_INLINE_BYTES, _digest, cached_png
from orchestration.lake.safe_paths import lake_file

FIGURE_RECIPE = "1"     # bump when a drawing changes: pictures are reused while their key holds


class _Entry:
    """Markdown parts of one metadata entry within the inline budget."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.left = MAX_INLINE_BYTES

    def add(self, paths, title: str, file_ids: tuple[str, ...], key_data, draw: Callable[[], bytes],
            log) -> None:
        from models.plates.plots import as_markdown_image, compact_png

        file = lake_file(paths, paths.reports / "trials", *file_ids, suffix=".png")
        try:
            png, _ = cached_png(file, _digest(FIGURE_RECIPE, key_data), lambda: compact_png(draw()))
        except Exception as exc:  # noqa: BLE001 - a picture never stops the statistics
            log.warning("could not draw %s: %s", title, exc)
            self.parts.append(f"**{title}**\n\ncould not draw: {exc}")
            return
        md = as_markdown_image(png, title)
        if len(md) > self.left:
            md = f"*(not inlined, the metadata entry is full: `{file}`)*"
        else:
            self.left -= len(md)
        self.parts.append(f"**{title}**\n\n{md}")

    def markdown(self, empty: str) -> str:
        return "\n\n".join(self.parts) or empty


def trial_figures(paths, adtte: pl.DataFrame, ae_incidence: pl.DataFrame, log) -> dict[str, str]:
    """{"kaplan_meier": markdown, "adverse_events": markdown} for every study."""
    from models.trials.figures import ae_dot_png, km_png

    km, ae = _Entry(), _Entry()
    no_events = []
    for study in largest_first(adtte):
        rows = adtte.filter(pl.col("studyid") == study)
        for paramcd in sorted(rows["paramcd"].unique().to_list()):
            one = rows.filter(pl.col("paramcd") == paramcd).sort("usubjid")
            if not (one["cnsr"] == 0).any():       # a flat line says less than these words
                no_events.append(f"{study} {paramcd}")
                continue
            label = f"{study}: {one['param'][0] or paramcd}"     # the picture's own title
            title = f"{label} (Kaplan–Meier, numbers at risk)"
            km.add(paths, title, (study, f"km_{paramcd}"),
                   (label, one.select("usubjid", "trtp", "aval", "cnsr").rows()),
                   lambda one=one, paramcd=paramcd, label=label: km_png(one, paramcd, label), log)
    if no_events:
        km.parts.append("no events, so no curve: " + ", ".join(no_events))
    for study in largest_first(ae_incidence, "n_safety"):
        rows = ae_incidence.filter(pl.col("studyid") == study)
        title = f"{study}: treatment-emergent adverse events by preferred term"
        ae.add(paths, title, (study, "adverse_events"), (title, rows.sort(rows.columns).rows()),
               lambda rows=rows: ae_dot_png(rows), log)
    return {"kaplan_meier": km.markdown("no time-to-event data"),
            "adverse_events": ae.markdown("no adverse events")}


def largest_first(frame: pl.DataFrame, size: str | None = None) -> list[str]:
    """The frame's studies, the largest first (by subjects, or by the column ``size``), so a
    real trial's pictures come before a small one's within the inline budget."""
    if not frame.height:
        return []
    n = (pl.col(size).max() if size else pl.col("usubjid").n_unique()).alias("_n")
    sizes = frame.group_by("studyid").agg(n)
    return sizes.sort(["_n", "studyid"], descending=[True, False])["studyid"].to_list()
