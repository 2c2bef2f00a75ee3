"""Turn per-feature contributions into something a scientist can read."""

from __future__ import annotations

import polars as pl

CONTRIB_PREFIX = "contrib_"
# Trio evidence in words: a 0/1 flag reads better as what it means than as "seg_de_novo=1.0"
READABLE_FLAGS = {
    "seg_de_novo": "de novo (absent in both unaffected parents)",
    "seg_biallelic_trans": "biallelic, one allele from each parent",
    "seg_hemi_maternal": "hemizygous, from a carrier mother",
    "seg_inherited_unaffected": "inherited from an unaffected parent",
}


def add_explanations(scored: pl.DataFrame, n_reasons: int = 3) -> pl.DataFrame:
    """Pack ``contrib_*`` columns into a ``contributions`` struct and add ``top_reasons``:
    the largest positive contributions as ``feature=value (+contribution)``."""
    contrib_cols = [c for c in scored.columns if c.startswith(CONTRIB_PREFIX)]
    if not contrib_cols:
        return scored.with_columns(pl.lit(None, pl.String).alias("top_reasons"))
    features = [c[len(CONTRIB_PREFIX):] for c in contrib_cols]
    long = (
        scored.select("patient_id", "gene_symbol", *contrib_cols)
        .unpivot(index=["patient_id", "gene_symbol"], variable_name="feature",
                 value_name="contribution")
        .with_columns(pl.col("feature").str.strip_prefix(CONTRIB_PREFIX))
        .filter((pl.col("feature") != "bias") & (pl.col("contribution") > 0))
    )
    values = (
        scored.select("patient_id", "gene_symbol",
                      *[pl.col(f).cast(pl.Float64) for f in features if f in scored.columns])
        .unpivot(index=["patient_id", "gene_symbol"], variable_name="feature",
                 value_name="value")
    )
    reasons = (
        long.join(values, on=["patient_id", "gene_symbol", "feature"], how="left")
        # the feature name breaks ties between equal contributions, so the same scores
        # always give the same reasons in the same order
        .sort(["contribution", "feature"], descending=[True, False])
        .group_by("patient_id", "gene_symbol", maintain_order=True)
        .head(n_reasons)
        .with_columns(
            pl.when(pl.col("feature").is_in(list(READABLE_FLAGS)) & (pl.col("value") == 1))
            .then(pl.format("{} (+{})", pl.col("feature").replace_strict(
                READABLE_FLAGS, default=pl.col("feature"), return_dtype=pl.String),
                pl.col("contribution").round(2)))
            .otherwise(pl.format("{}={} (+{})", "feature",
                                 pl.col("value").round(3).cast(pl.String).fill_null("NA"),
                                 pl.col("contribution").round(2))).alias("reason"))
        .group_by("patient_id", "gene_symbol", maintain_order=True)
        .agg(pl.col("reason").str.join("; ").alias("top_reasons"))
    )
    packed = scored.with_columns(
        pl.struct([pl.col(c).alias(c[len(CONTRIB_PREFIX):]) for c in contrib_cols])
        .alias("contributions")
    )
    return packed.join(reasons, on=["patient_id", "gene_symbol"], how="left", maintain_order="left")
