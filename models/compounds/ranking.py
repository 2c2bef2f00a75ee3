"""Rank compounds for follow-up: predicted or observed potency × developability × safety.

Pure polars; one function, ``rank_compounds``. Constants are module-level so a caller can see
(and tests can pin) exactly what the score does.
"""

from __future__ import annotations

import polars as pl

__all__ = ["rank_compounds", "SCAFFOLD_DECAY", "PAINS_FACTOR", "BRENK_FACTOR", "LIPINSKI_FAIL_FACTOR",
           "LOGS_OK", "LOGS_SLOPE", "LOGS_FLOOR", "QED_DEFAULT", "INTERFERER_FACTOR", "REQUIRED_COLUMNS"]

PAINS_FACTOR = 0.5  # per PAINS alert: likely assay interference
BRENK_FACTOR = 0.9  # per Brenk alert: unwanted but milder (reactive/toxic groups)
LIPINSKI_FAIL_FACTOR = 0.7  # more than one rule-of-five violation
LOGS_OK = -6.0  # logS (log10 mol/L) at or above this costs nothing
LOGS_SLOPE = 0.25  # penalty per log unit below LOGS_OK ...
LOGS_FLOOR = 0.5  # ... never below this factor
QED_DEFAULT = 0.5  # QED unknown
# The screen saw this structure behave like an assay interferer (active across unrelated
# assays or in the counter screen, PAINS / aggregator-like; hts_compound_calls'
# likely_interferer): its apparent activity is suspect, so its priority is halved. A PAINS
# compound the screen also flagged pays both factors: the alert and the observed behaviour
# are separate evidence.
INTERFERER_FACTOR = 0.5
# Each better-placed compound of the same Bemis–Murcko scaffold multiplies a compound's
# priority by this, so the next plate samples several chemotypes instead of one series.
SCAFFOLD_DECAY = 0.9
REQUIRED_COLUMNS = ("inchikey", "p_active", "tested", "observed_active", "qed", "n_pains",
                    "n_brenk", "lipinski_pass", "predicted_logS")


def rank_compounds(df: pl.DataFrame) -> pl.DataFrame:
    """Add developability, acquisition, score, evidence and rank (1 = best) to a compound table.

    Inputs: inchikey, p_active (P(pIC50 ≥ 5) under the model's normal(predicted pIC50,
    uncertainty)), tested (bool), observed_active (bool|null), qed, n_pains, n_brenk,
    lipinski_pass, predicted_logS; optional safety_factor (ADMET-AI, 0..1; null or absent → 1)
    and likely_interferer (bool; null or absent → false). Extra columns are kept.

    developability (0..1) = (0.5 + 0.5·qed) × 0.5^n_pains × 0.9^n_brenk × (1 if lipinski_pass
    else 0.7) × solubility, where solubility = 1 for logS ≥ −6 and max(0.5, 1 − 0.25·(−6 − logS))
    below. Unknown inputs are neutral: qed → 0.5, alert counts → 0, lipinski_pass → pass,
    logS → 1.

    acquisition:
      * tested with observed_active true → 1.0 (a confirmed active keeps top priority);
      * tested with observed_active false → 0.0 (a confirmed inactive drops to the bottom);
      * otherwise (untested, or tested without a call) → p_active: the probability that the
        compound is a potent active. It already carries the uncertainty: an uncertain
        prediction below the cut-off keeps a real chance, a confident one does not.
        A null p_active gives a null acquisition (no model) and the row ranks after all others.

    score = acquisition × developability × safety_factor × (INTERFERER_FACTOR if
    likely_interferer else 1). priority = score × SCAFFOLD_DECAY^k, where k is the
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
    acquisition = (
        pl.when(pl.col("evidence") == "observed_active").then(pl.lit(1.0))
        .when(pl.col("evidence") == "observed_inactive").then(pl.lit(0.0))
        .otherwise(pl.col("p_active").cast(pl.Float64).clip(0.0, 1.0))
    )
    safety = (pl.col("safety_factor").cast(pl.Float64).fill_null(1.0).clip(0.0, 1.0)
              if "safety_factor" in df.columns else pl.lit(1.0))
    interferer = (pl.when(pl.col("likely_interferer").fill_null(False)).then(INTERFERER_FACTOR)
                  .otherwise(1.0) if "likely_interferer" in df.columns else pl.lit(1.0))
    scored = (
        df.with_columns(developability.alias("developability"), evidence.alias("evidence"))
        .with_columns(acquisition.alias("acquisition"))
        .with_columns((pl.col("acquisition") * pl.col("developability") * safety * interferer)
                      .alias("score"))
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
