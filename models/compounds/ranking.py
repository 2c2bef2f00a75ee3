"""Rank compounds for follow-up: predicted or observed activity × developability.

Pure polars; one function, ``rank_compounds``. Constants are module-level so a caller can see
(and tests can pin) exactly what the score does.
"""

from __future__ import annotations

import polars as pl

__all__ = ["rank_compounds", "KAPPA", "SCAFFOLD_DECAY", "PAINS_FACTOR", "BRENK_FACTOR", "LIPINSKI_FAIL_FACTOR",
           "LOGS_OK", "LOGS_SLOPE", "LOGS_FLOOR", "QED_DEFAULT", "REQUIRED_COLUMNS"]

KAPPA = 1.0  # weight of the uncertainty in the upper confidence bound
PAINS_FACTOR = 0.5  # per PAINS alert: likely assay interference
BRENK_FACTOR = 0.9  # per Brenk alert: unwanted but milder (reactive/toxic groups)
LIPINSKI_FAIL_FACTOR = 0.7  # more than one rule-of-five violation
LOGS_OK = -6.0  # logS (log10 mol/L) at or above this costs nothing
LOGS_SLOPE = 0.25  # penalty per log unit below LOGS_OK ...
LOGS_FLOOR = 0.5  # ... never below this factor
QED_DEFAULT = 0.5  # QED unknown
# Each better-placed compound of the same Bemis–Murcko scaffold multiplies a compound's
# priority by this, so the next plate samples several chemotypes instead of one series.
SCAFFOLD_DECAY = 0.9
REQUIRED_COLUMNS = ("inchikey", "p_active", "uncertainty", "tested", "observed_active", "qed", "n_pains",
                    "n_brenk", "lipinski_pass", "predicted_logS")


def rank_compounds(df: pl.DataFrame, kappa: float = KAPPA) -> pl.DataFrame:
    """Add developability, acquisition, score, evidence and rank (1 = best) to a compound table.

    Inputs: inchikey, p_active, uncertainty, tested (bool), observed_active (bool|null), qed,
    n_pains, n_brenk, lipinski_pass, predicted_logS (extra columns are kept).

    developability (0..1) = (0.5 + 0.5·qed) × 0.5^n_pains × 0.9^n_brenk × (1 if lipinski_pass
    else 0.7) × solubility, where solubility = 1 for logS ≥ −6 and max(0.5, 1 − 0.25·(−6 − logS))
    below. Unknown inputs are neutral: qed → 0.5, alert counts → 0, lipinski_pass → pass,
    logS → 1.

    acquisition:
      * tested with observed_active true → 1.0 (a confirmed active keeps top priority);
      * tested with observed_active false → 0.0 (a confirmed inactive drops to the bottom);
      * otherwise (untested, or tested without a call) → min(1, p_active + κ·uncertainty), the
        upper confidence bound, so an uncertain prediction is worth testing; κ = ``kappa``.
        A null p_active gives a null acquisition (no model) and the row ranks after all others.

    score = acquisition × developability. priority = score × SCAFFOLD_DECAY^k, where k is the
    number of compounds with the same (non-empty) ``scaffold`` and a higher score (only when a
    ``scaffold`` column is given; otherwise priority = score). rank answers "what do we test
    next": every compound without an observed call (untested, or tested without a conclusive
    call) comes first, by priority descending (nulls last), then the compounds already called,
    by priority; ties broken by inchikey ascending, so every row has a distinct rank. Rows come back in rank order;
    evidence says which acquisition branch applied ("observed_active", "observed_inactive",
    "predicted").
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"rank_compounds input lacks columns {missing}")
    if kappa < 0:
        raise ValueError(f"kappa must be >= 0, got {kappa}")
    qed = pl.col("qed").cast(pl.Float64).fill_null(QED_DEFAULT).clip(0.0, 1.0)
    logs = pl.col("predicted_logS").cast(pl.Float64)
    solubility = (
        pl.when(logs.is_null() | (logs >= LOGS_OK)).then(pl.lit(1.0))
        .otherwise(pl.max_horizontal(pl.lit(LOGS_FLOOR), 1.0 - LOGS_SLOPE * (LOGS_OK - logs)))
    )
    developability = (
        (0.5 + 0.5 * qed)
        * pl.lit(PAINS_FACTOR).pow(pl.col("n_pains").cast(pl.Float64).fill_null(0.0).clip(0.0, None))
        * pl.lit(BRENK_FACTOR).pow(pl.col("n_brenk").cast(pl.Float64).fill_null(0.0).clip(0.0, None))
        * pl.when(pl.col("lipinski_pass").fill_null(True)).then(1.0).otherwise(LIPINSKI_FAIL_FACTOR)
        * solubility
    )
    tested = pl.col("tested").fill_null(False)
    observed = pl.col("observed_active")
    evidence = (
        pl.when(tested & (observed == True)).then(pl.lit("observed_active"))  # noqa: E712
        .when(tested & (observed == False)).then(pl.lit("observed_inactive"))  # noqa: E712
        .otherwise(pl.lit("predicted"))
    )
    ucb = (pl.col("p_active").cast(pl.Float64) + kappa * pl.col("uncertainty").cast(pl.Float64).fill_null(0.0))
    acquisition = (
        pl.when(pl.col("evidence") == "observed_active").then(pl.lit(1.0))
        .when(pl.col("evidence") == "observed_inactive").then(pl.lit(0.0))
        # min_horizontal skips nulls, so a null p_active must be kept null explicitly
        .when(pl.col("p_active").is_null()).then(pl.lit(None, dtype=pl.Float64))
        .otherwise(pl.min_horizontal(pl.lit(1.0), ucb))
    )
    scored = (
        df.with_columns(developability.alias("developability"), evidence.alias("evidence"))
        .with_columns(acquisition.alias("acquisition"))
        .with_columns((pl.col("acquisition") * pl.col("developability")).alias("score"))
        .with_columns((pl.col("evidence") != "predicted").alias("_called"))
    )
    if "scaffold" in scored.columns:
        same = (pl.col("score").rank("ordinal", descending=True)
                .over(["_called", pl.col("scaffold").fill_null("")]) - 1)
        decay = pl.when(pl.col("scaffold").fill_null("") == "").then(pl.lit(1.0)) \
            .otherwise(pl.lit(SCAFFOLD_DECAY).pow(same.cast(pl.Float64)))
        scored = scored.with_columns((pl.col("score") * decay).alias("priority"))
    else:
        scored = scored.with_columns(pl.col("score").alias("priority"))
    out = (
        scored.sort(["_called", "priority", "inchikey"], descending=[False, True, False],
                    nulls_last=True)
        .drop("_called")
        .with_row_index("rank", offset=1)
    )
    cols = [c for c in out.columns if c != "rank"] + ["rank"]
    return out.select(cols).with_columns(pl.col("rank").cast(pl.Int64))
