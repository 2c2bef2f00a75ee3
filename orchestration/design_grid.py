"""The structure grid of the top designs, drawn into the lake and inlined into metadata.

Per target, the newest round's first ``GRID_DESIGNS`` selected designs (in pick order) on
one RDKit grid (``Draw.MolsToGridImage``), each with the legend
``#rank  pIC50 6.42 +/- 0.51`` (predicted pIC50 and its uncertainty; ASCII, since RDKit's
legend font draws no "±"). Like the plate figures (orchestration/figures.py),
each grid is a PNG file under ``reports/designs/`` redrawn only when what it shows
changed, and inlined as a PNG-8 data URI while the entry stays under
``figures.MAX_INLINE_BYTES``; a grid that does not fit is named by its file.
"""

from __future__ import annotations

import io

import polars as pl

from orchestration.figures import MAX_INLINE_BYTES, _digest, cached_png
from orchestration.lake.safe_paths import lake_file

GRID_DESIGNS = 12
PER_ROW = 4
TILE = (260, 220)
GRID_RECIPE = "2"      # bump when the drawing changes: grids are reused while their key holds


def legend(row: dict) -> str:
    """``#rank  pIC50 <predicted> +/- <uncertainty>`` of one design."""
    return f"#{row['rank']}  pIC50 {row['predicted_pic50']:.2f} +/- {row['uncertainty']:.2f}"


def grid_png(rows: list[dict]) -> bytes:
    """The designs' structures on one grid (``PER_ROW`` per row), legends under each."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols = [Chem.MolFromSmiles(r["smiles"]) for r in rows]
    image = Draw.MolsToGridImage(mols, molsPerRow=PER_ROW, subImgSize=TILE,
                                 legends=[legend(r) for r in rows], returnPNG=False)
    if isinstance(image, bytes):      # a notebook-patched RDKit already returns PNG bytes
        return image
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def top_designs(designs: pl.DataFrame, target: str) -> pl.DataFrame:
    """The newest round's first ``GRID_DESIGNS`` selected designs of ``target``, by rank."""
    mine = designs.filter(pl.col("target_gene") == target)
    if mine.is_empty():
        return mine
    k = mine["round"].max()
    return mine.filter((pl.col("round") == k) & pl.col("selected")).sort("rank").head(GRID_DESIGNS)


def design_grid(paths, designs: pl.DataFrame, log) -> str:
    """Markdown: per target, its newest round's grid (reports/designs/<target>/R<k>.png),
    inline; "no designs" when there is none."""
    from models.plates.plots import as_markdown_image, compact_png

    parts, left = [], MAX_INLINE_BYTES
    for target in sorted(designs["target_gene"].unique().to_list()) if designs.height else []:
        top = top_designs(designs, target)
        if top.is_empty():
            continue
        k = int(top["round"][0])
        rows = top.select("design_id", "rank", "smiles", "predicted_pic50", "uncertainty").to_dicts()
        file = lake_file(paths, paths.reports / "designs", target, f"R{k}", suffix=".png")
        title = (f"**{target}, round {k}: the top {len(rows)} designs of the batch** "
                 "(#rank, predicted pIC50 ± uncertainty)")
        try:
            png, _ = cached_png(file, _digest(GRID_RECIPE, rows), lambda: compact_png(grid_png(rows)))
        except Exception as exc:  # noqa: BLE001 - a figure never stops the designs
            log.warning("no structure grid for %s: %s", target, exc)
            parts.append(f"{title}\n\ncould not draw: {exc}")
            continue
        md = as_markdown_image(png, f"{target} round {k}")
        if len(md) > left:
            md = f"*(not inlined, the metadata entry is full: `{file}`)*"
        else:
            left -= len(md)
        parts.append(f"{title}\n\n{md}\n\n" + ", ".join(r["design_id"] for r in rows))
    return "\n\n".join(parts) or "no designs"
