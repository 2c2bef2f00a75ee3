"""Put a screening run together: reader signals + plate map + run metadata + libraries.

Each input was validated on its own at ingest; what can only be judged across files is
decided here, at the smallest granularity that is wrong: a well whose compound no
library knows, a well the map does not describe, a plate with no map, no run metadata or
no controls. Refused plates and wells leave the normalization input and are returned as
refusals in the quarantine's shape; nothing else is dropped.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from orchestration.ingest.designs import DESIGN_ID_SQL, DESIGN_LIBRARY

# A plate whose export lacks more than this share of the wells its map describes is not
# normalized: its controls and sample distribution can no longer be trusted.
MAX_ABSENT_FRACTION = 0.10

REFUSAL_SCHEMA = {
    "domain": pl.String, "granularity": pl.String, "locator": pl.String, "reason": pl.String,
    "original_path": pl.String, "source_file": pl.String, "run_id": pl.String,
    "refused_at": pl.Datetime("us", "UTC"),
}


def _refusals(df: pl.DataFrame, granularity: str, locator: pl.Expr, reason: pl.Expr,
              now: datetime) -> pl.DataFrame:
    if df.is_empty():
        return pl.DataFrame(schema=REFUSAL_SCHEMA)
    return df.select(
        pl.lit("plates").alias("domain"), pl.lit(granularity).alias("granularity"),
        locator.alias("locator"), reason.alias("reason"),
        ("landing/" + pl.col("source_file")).alias("original_path"),
        pl.col("source_file"), pl.col("run_id"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("refused_at"),
    ).unique(["run_id", "locator", "reason"], maintain_order=True)


def _plate_locator() -> pl.Expr:
    return pl.format("plate {}", pl.col("plate_id"))


def _well_locator() -> pl.Expr:
    return pl.format("plate {} well {}", pl.col("plate_id"), pl.col("well"))


def prepare_wells(runs: pl.DataFrame, wells: pl.DataFrame, maps: pl.DataFrame,
                  known_compounds: set[str], now: datetime,
                  ambiguous_compounds: set[str] = frozenset(),
                  refused_at_ingest: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(wells ready for ``normalize_plates``, refusals).

    ``ambiguous_compounds``: ids that name different structures in different libraries; a
    plate map cannot say which one was dispensed, so those wells are refused.
    ``refused_at_ingest``: run_id, plate_id, well already quarantined by the parser (a
    non-numeric or duplicate reading); they are not reported again as absent.
    ``wells``: run_id, plate_id, well, row_idx, col_idx, plate_rows, plate_cols, signal,
    source_file, ingested_at. ``maps``: run_id, plate_id, well, compound_id,
    concentration_um, role. ``runs``: run_id (one row per valid run.json).
    """
    refusals: list[pl.DataFrame] = []
    # the same plate exported twice (e.g. a re-read): the newest export wins; files of one
    # delivery share an ingest time, so the file name decides among them
    newest = (wells.group_by("run_id", "plate_id")
              .agg(pl.col("source_file").sort_by(["ingested_at", "source_file"]).last()
                   .alias("keep_file")))
    wells = (wells.join(newest, on=["run_id", "plate_id"])
             .filter(pl.col("source_file") == pl.col("keep_file")).drop("keep_file"))

    plates = wells.select("run_id", "plate_id", "source_file").unique()
    no_run = plates.join(runs.select("run_id"), on="run_id", how="anti")
    refusals.append(_refusals(no_run, "plate", _plate_locator(),
                              pl.format("run {} has no valid run.json (assay, target, readout, stage)",
                                        pl.col("run_id")), now))
    mapped_plates = maps.select("run_id", "plate_id").unique()
    no_map = plates.join(no_run.select("run_id"), on="run_id", how="anti").join(
        mapped_plates, on=["run_id", "plate_id"], how="anti")
    refusals.append(_refusals(no_map, "plate", _plate_locator(),
                              pl.lit("plate is not in the run's plate map"), now))
    bad_plates = pl.concat([no_run, no_map]).select("run_id", "plate_id")

    # completeness is judged against the map: an export may list only the wells it read
    read = wells.join(bad_plates, on=["run_id", "plate_id"], how="anti")
    absent = (maps.join(read.select("run_id", "plate_id").unique(), on=["run_id", "plate_id"])
              .join(read.select("run_id", "plate_id", "well"), on=["run_id", "plate_id", "well"],
                    how="anti"))
    if refused_at_ingest is not None and refused_at_ingest.height:
        absent = absent.join(refused_at_ingest.select("run_id", "plate_id", "well"),
                             on=["run_id", "plate_id", "well"], how="anti")
    files = read.select("run_id", "plate_id", "source_file").unique(["run_id", "plate_id"])
    counts = (maps.group_by("run_id", "plate_id").len("n_mapped")
              .join(absent.group_by("run_id", "plate_id").len("n_absent"), on=["run_id", "plate_id"])
              .join(files, on=["run_id", "plate_id"]))
    gappy = counts.filter(pl.col("n_absent") > MAX_ABSENT_FRACTION * pl.col("n_mapped"))
    refusals.append(_refusals(
        gappy, "plate", _plate_locator(),
        pl.format("{} of the {} wells in the plate map are absent from the reader export "
                  "(more than {}%)", pl.col("n_absent"), pl.col("n_mapped"),
                  pl.lit(round(100 * MAX_ABSENT_FRACTION))), now))
    few = absent.join(gappy.select("run_id", "plate_id"), on=["run_id", "plate_id"], how="anti") \
        .join(files, on=["run_id", "plate_id"])
    refusals.append(_refusals(few, "well", _well_locator(),
                              pl.lit("well is in the plate map but absent from the reader export"),
                              now))
    joined = (read.join(gappy.select("run_id", "plate_id"), on=["run_id", "plate_id"], how="anti")
              .join(maps.select("run_id", "plate_id", "well", "compound_id", "concentration_um", "role"),
                    on=["run_id", "plate_id", "well"], how="left"))
    unmapped = joined.filter(pl.col("role").is_null())
    refusals.append(_refusals(unmapped, "well", _well_locator(),
                              pl.lit("well has a signal but no plate-map entry"), now))
    joined = joined.filter(pl.col("role").is_not_null())

    known = pl.Series("compound_id", sorted(known_compounds), dtype=pl.String)
    unknown = joined.filter((pl.col("role") == "sample") & ~pl.col("compound_id").is_in(known))
    design = pl.col("compound_id").str.contains(DESIGN_ID_SQL)
    refusals.append(_refusals(unknown, "well", _well_locator(), pl.when(design).then(
        pl.format("design id {} does not exist: no published design round has it (library "
                  f"{DESIGN_LIBRARY}, the designed_compounds of the newest publication)",
                  pl.col("compound_id"))).otherwise(
        pl.format("compound {} is not in any ingested library", pl.col("compound_id"))), now))
    joined = joined.join(unknown.select("run_id", "plate_id", "well"),
                         on=["run_id", "plate_id", "well"], how="anti")
    ambiguous = joined.filter((pl.col("role") == "sample")
                              & pl.col("compound_id").is_in(sorted(ambiguous_compounds)))
    refusals.append(_refusals(ambiguous, "well", _well_locator(),
                              pl.format("compound id {} names different structures in different "
                                        "libraries", pl.col("compound_id")), now))
    joined = joined.join(ambiguous.select("run_id", "plate_id", "well"),
                         on=["run_id", "plate_id", "well"], how="anti")

    controls = joined.group_by("run_id", "plate_id", "source_file").agg(
        (pl.col("role") == "pos_ctrl").sum().alias("n_pos"),
        (pl.col("role") == "neg_ctrl").sum().alias("n_neg"))
    no_controls = controls.filter((pl.col("n_pos") == 0) | (pl.col("n_neg") == 0))
    refusals.append(_refusals(
        no_controls, "plate", _plate_locator(),
        pl.format("plate cannot be normalized: {} pos_ctrl and {} neg_ctrl wells with a signal",
                  pl.col("n_pos"), pl.col("n_neg")), now))
    ready = joined.join(no_controls.select("run_id", "plate_id"), on=["run_id", "plate_id"],
                        how="anti")
    return ready.sort("run_id", "plate_id", "row_idx", "col_idx"), pl.concat(refusals)


def no_positional_correction(wells: pl.DataFrame, plates: pl.DataFrame,
                             run_ids: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Undo the B-score choice on plates whose layout is not randomized.

    On a dose-response plate each row or column holds a dilution series, so the row and
    column "effects" the bias test finds are the concentrations themselves; a median
    polish there would subtract the dose response. Those plates keep the robust z-score
    and the uncorrected percent of the control window (percent_effect = npi), and say why.
    """
    if not run_ids:
        return wells, plates
    these = pl.col("run_id").is_in(sorted(run_ids))
    wells = wells.with_columns(pl.when(these).then(pl.col("robust_z"))
                               .otherwise(pl.col("corrected")).alias("corrected"),
                               pl.when(these).then(pl.col("npi"))
                               .otherwise(pl.col("percent_effect")).alias("percent_effect"))
    plates = plates.with_columns(
        pl.when(these).then(False).otherwise(pl.col("bias_corrected")).alias("bias_corrected"),
        pl.when(these).then(pl.lit("not applied: dose-response plates lay out dilution series "
                                   "along rows/columns, so positional effects are the doses"))
        .otherwise(pl.col("bias_reason")).alias("bias_reason"))
    return wells, plates
