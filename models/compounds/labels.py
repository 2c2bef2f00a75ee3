"""Activity labels per target and structure on one potency scale: pIC50.

pIC50 = −log10(IC50 in mol/L) = 6 − log10(IC50 in µM). Higher is more potent; 5 means an
IC50 of 10 µM, i.e. 50 % effect at the usual 10 µM screening concentration.

Where the value comes from, strongest evidence first:

* **curve** (``dose_response_fits``): a fitted IC50 below the top tested concentration gives
  pIC50 = 6 − log10(IC50 µM) (curve classes 1–3; an IC50 fitted beyond the top
  concentration is an extrapolation, not a measurement). A flat / inactive curve (class 4,
  or no IC50, or IC50 ≥ the top concentration) is **censored** at the low end of the tested
  range: pIC50 = 6 − log10(top concentration µM) (``DR_TOP_CONC_UM`` = 30 µM unless the fits
  carry ``max_concentration_um``), meaning "no more potent than this".
* **single_point** (primary screen, ``int_hts_compound_calls``): the per-compound median
  percent effect f (0 = neutral control, 100 = positive control; ``median_percent_effect``,
  or ``median_percent_inhibition`` for calls made before that column existed) at the
  screening concentration c (``PRIMARY_CONC_UM`` = 10 µM unless the calls carry
  ``concentration_um``) is mapped through a Hill curve of slope 1 with full efficacy:
  f = c / (c + IC50)  ⇔  pIC50 = 6 − log10(c µM) + log10(f / (1 − f)),
  with f clipped to [F_MIN, F_MAX] = [0.05, 0.95]: outside that window one concentration
  cannot resolve the potency (noise dominates below 5 %, the curve is saturated above
  95 %). f below F_MIN is **censored** at the floor (pIC50 ≤ 6 − 1 + log10(0.05/0.95) ≈
  3.72 at 10 µM); f above F_MAX is capped at ≈ 6.28 (not censored: it is at least that
  potent, which a ranking model may use as it is). Calls without any percent column
  (legacy inputs) carry no pIC50 and only their binary hit call.

A dose-response fit overrides the primary calls for that target × structure. One
structure measured in several runs of a target keeps its most potent measurement (as
before: any agreed hit counts) and that measurement's evidence. Compounds without a usable
measurement (inconclusive calls: no valid replicate left) stay unlabelled, never assumed
inactive.

``label`` = pic50 ≥ ``ACTIVE_PIC50`` (5.0 ⇔ IC50 ≤ 10 µM): kept for metrics (enrichment
of potent actives) and old readers; the models learn pic50.
"""

from __future__ import annotations

import math

import polars as pl

# IC50 at or below this (µM) counts as a potent active: the usual confirmation bar for a
# repurposing screen (pIC50 ≥ 5).
ACTIVE_IC50_UM = 10.0
ACTIVE_PIC50 = 6.0 - math.log10(ACTIVE_IC50_UM)
ACTIVE_CURVE_CLASSES = ("1", "2")  # kept for old readers: complete / partial curves
CURVE_CLASSES_WITH_IC50 = ("1", "2", "3")
PRIMARY_CONC_UM = 10.0
DR_TOP_CONC_UM = 30.0
F_MIN, F_MAX = 0.05, 0.95


def single_point_pic50(f: float, conc_um: float = PRIMARY_CONC_UM) -> float:
    """The documented Hill-slope-1 mapping for one fraction of effect (0..1) at ``conc_um``."""
    f = min(max(f, F_MIN), F_MAX)
    return 6.0 - math.log10(conc_um) + math.log10(f / (1.0 - f))


def _single_point_expr(pct: pl.Expr, conc: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    f = (pct / 100.0).clip(F_MIN, F_MAX)
    pic50 = 6.0 - conc.log10() + (f / (1.0 - f)).log10()
    censored = (pct / 100.0) < F_MIN
    return pic50, censored


def activity_labels(calls: pl.DataFrame, fits: pl.DataFrame, runs: pl.DataFrame,
                    ids: pl.DataFrame) -> pl.DataFrame:
    """target_gene, inchikey, pic50, pic50_source ('curve' | 'single_point'), censored,
    label (Int8: pic50 ≥ ACTIVE_PIC50), source ('dose_response' | 'primary'), evidence.

    ``calls``: int_hts_compound_calls; ``fits``: dose_response_fits; ``runs``:
    stg_plate_runs (run_id, target_gene); ``ids``: int_compound_ids (compound_id, inchikey).
    """
    targets = runs.select("run_id", "target_gene")
    klass = "hit_class" if "hit_class" in calls.columns else "call"
    pct_col = next((c for c in ("median_percent_effect", "median_percent_inhibition")
                    if c in calls.columns), None)
    conc = (pl.col("concentration_um").cast(pl.Float64).fill_null(PRIMARY_CONC_UM)
            if "concentration_um" in calls.columns else pl.lit(PRIMARY_CONC_UM))
    if pct_col is not None:
        pct = pl.col(pct_col).cast(pl.Float64)
        pic50, censored = _single_point_expr(pct, conc)
        pct_text = pl.format(", median effect {}%", pct.round(1))
    else:
        pic50, censored, pct_text = (pl.lit(None, dtype=pl.Float64), pl.lit(None, dtype=pl.Boolean),
                                     pl.lit(""))
    n_valid = "n_valid_replicates" if "n_valid_replicates" in calls.columns else "n_valid"
    # an inconclusive call (no valid replicate left) is no label at all
    primary = (calls.filter(pl.col(klass) != "inconclusive")
               .join(targets, on="run_id").join(ids.select("compound_id", "inchikey"), on="compound_id")
               .with_columns(pic50.alias("pic50"), censored.alias("censored"),
                             pl.format("primary: median score {}{} ({} valid replicate wells, {})",
                                       pl.col("median_corrected").round(2), pct_text,
                                       pl.col(n_valid), pl.col(klass)).alias("evidence"))
               .with_columns(pl.when(pl.col("pic50").is_not_null())
                             .then(pl.col("pic50") >= ACTIVE_PIC50)
                             .otherwise(pl.col("is_hit")).fill_null(False).alias("_active"))
               .group_by("target_gene", "inchikey")
               # one structure screened in several runs of a target: the most potent counts
               .agg(*_decisive(["pic50", "censored", "evidence"], pl.col("_active"), pl.col("pic50")),
                    pl.col("_active").any().cast(pl.Int8).alias("label"))
               .with_columns(pl.lit("single_point").alias("pic50_source"),
                             pl.lit("primary").alias("source")))
    if fits.height:
        top = (pl.col("max_concentration_um").cast(pl.Float64).fill_null(DR_TOP_CONC_UM)
               if "max_concentration_um" in fits.columns else pl.lit(DR_TOP_CONC_UM))
        ic50 = pl.col("ic50_um").cast(pl.Float64)
        real = (pl.col("curve_class").str.slice(0, 1).is_in(CURVE_CLASSES_WITH_IC50)
                & ic50.is_not_null() & (ic50 > 0) & (ic50 < top)).fill_null(False)
        curve_pic50 = pl.when(real).then(6.0 - ic50.log10()).otherwise(6.0 - top.log10())
        confirmed = (fits.join(targets, on="run_id").join(ids.select("compound_id", "inchikey"),
                                                          on="compound_id")
                     .with_columns(curve_pic50.alias("pic50"), (~real).alias("censored"),
                                   pl.format("dose-response: class {}, IC50 {} µM",
                                             pl.col("curve_class"),
                                             ic50.round(3)).alias("evidence"))
                     .with_columns((pl.col("pic50") >= ACTIVE_PIC50).alias("_active"))
                     .group_by("target_gene", "inchikey")
                     .agg(*_decisive(["pic50", "censored", "evidence"], pl.col("_active"),
                                     pl.col("pic50")),
                          pl.col("_active").any().cast(pl.Int8).alias("label"))
                     .with_columns(pl.lit("curve").alias("pic50_source"),
                                   pl.lit("dose_response").alias("source")))
    else:
        confirmed = primary.clear()
    primary = primary.join(confirmed.select("target_gene", "inchikey"),
                           on=["target_gene", "inchikey"], how="anti")
    cols = ["target_gene", "inchikey", "pic50", "pic50_source", "censored", "label", "source", "evidence"]
    out = pl.concat([confirmed.select(cols), primary.select(cols)], how="vertical_relaxed")
    return out.with_columns(pl.col("pic50").cast(pl.Float64), pl.col("censored").cast(pl.Boolean),
                            pl.col("label").cast(pl.Int8)).sort("target_gene", "inchikey")


def _decisive(columns: list[str], positive: pl.Expr, potency: pl.Expr) -> list[pl.Expr]:
    """The columns of one measurement per group, the same one on every run order: an active
    one when there is one (it decided the label), the most potent, then by run id and the
    evidence text itself (a group's row order after a join is not fixed)."""
    order = [positive.fill_null(False), potency.fill_null(-math.inf), pl.col("run_id"),
             pl.col("evidence")]
    return [pl.col(c).sort_by(order, descending=[True, True, False, False]).first().alias(c)
            for c in columns]
