"""Activity labels per target and structure, from what the lake measured.

A dose-response fit is the stronger evidence and overrides the primary call: a primary
hit whose curve is flat is a false positive, a potent complete curve is a confirmed
active. Compounds without a usable measurement stay unlabelled (never assumed inactive).
"""

from __future__ import annotations

import polars as pl

# IC50 at or below this (µM) with a real curve counts as active: the usual confirmation
# bar for a repurposing screen.
ACTIVE_IC50_UM = 10.0
ACTIVE_CURVE_CLASSES = ("1", "2")


def activity_labels(calls: pl.DataFrame, fits: pl.DataFrame, runs: pl.DataFrame,
                    ids: pl.DataFrame) -> pl.DataFrame:
    """target_gene, inchikey, label (0/1), source ('dose_response' | 'primary'), evidence.

    ``calls``: int_hts_compound_calls; ``fits``: dose_response_fits; ``runs``:
    stg_plate_runs (run_id, target_gene); ``ids``: int_compound_ids (compound_id, inchikey).
    """
    targets = runs.select("run_id", "target_gene")
    # an inconclusive call (replicates lost to failed plates) is no label at all
    primary = (calls.filter(pl.col("call") != "inconclusive")
               .join(targets, on="run_id").join(ids.select("compound_id", "inchikey"), on="compound_id")
               .with_columns(pl.format("primary: median score {} ({}/{} replicate wells ≥ threshold)",
                                       pl.col("median_corrected").round(2), pl.col("n_above"),
                                       pl.col("n_valid")).alias("evidence"))
               .group_by("target_gene", "inchikey")
               # one structure screened in several runs of a target: any agreed hit counts
               .agg(pl.col("is_hit").any().cast(pl.Int8).alias("label"),
                    _decisive("evidence", pl.col("is_hit")))
               .with_columns(pl.lit("primary").alias("source")))
    if fits.height:
        active = (pl.col("curve_class").str.slice(0, 1).is_in(ACTIVE_CURVE_CLASSES)
                  & (pl.col("ic50_um") <= ACTIVE_IC50_UM)).fill_null(False)
        confirmed = (fits.join(targets, on="run_id").join(ids.select("compound_id", "inchikey"),
                                                          on="compound_id")
                     .with_columns(pl.format("dose-response: class {}, IC50 {} µM",
                                             pl.col("curve_class"),
                                             pl.col("ic50_um").round(3)).alias("evidence"))
                     .group_by("target_gene", "inchikey")
                     .agg(active.any().cast(pl.Int8).alias("label"),
                          _decisive("evidence", active))
                     .with_columns(pl.lit("dose_response").alias("source")))
    else:
        confirmed = primary.clear()
    primary = primary.join(confirmed.select("target_gene", "inchikey"),
                           on=["target_gene", "inchikey"], how="anti")
    cols = ["target_gene", "inchikey", "label", "source", "evidence"]
    return pl.concat([confirmed.select(cols), primary.select(cols)]).sort("target_gene", "inchikey")


def _decisive(evidence: str, positive: pl.Expr) -> pl.Expr:
    """The evidence of one measurement per group, the same one on every run: an active one
    when there is one (it decided the label), then by run id and the text itself (a
    group's row order after a join is not fixed)."""
    return (pl.col(evidence)
            .sort_by([positive.fill_null(False), pl.col("run_id"), pl.col(evidence)],
                     descending=[True, False, False])
            .first().alias(evidence))
