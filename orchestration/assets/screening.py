"""Screening plates: reader exports → normalized wells and plate QC → dose-response fits."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl

from models.plates.prepare import REFUSAL_SCHEMA, no_positional_correction, prepare_wells
from orchestration.assets.ingest import report_ingest
from orchestration.ingest import runner
from orchestration.assets.isolation import isolated
from orchestration.assets.quarantine import raw_quarantine
from orchestration.figures import curve_figures, plate_figures
from orchestration.metadata import TABLE_NAME_KEY, catalog_table, rounded
from orchestration.lake.io import markdown_preview, read_mart, read_model, write_parquet_atomic
from orchestration.resources import LakeResource
from orchestration.settings import Evidence, evidence_relpath


MAX_QC_ROWS = 300          # plates listed in plate_stats' qc table (every plate of a demo lake)


def _published(name: str) -> dict:
    # the table's view in the catalog users query (lake.main.<name>): the UI's "Storage"
    return {TABLE_NAME_KEY: catalog_table(name)}


@dg.multi_asset(
    group_name="screening",
    specs=[
        dg.AssetSpec("raw_plate_runs", kinds={"json", "parquet"},
                     metadata=_published("raw_plate_runs"),
                     description="Run metadata (assay, target gene, readout direction, stage)."),
        dg.AssetSpec("raw_plate_wells", kinds={"csv", "parquet"},
                     metadata=_published("raw_plate_wells"),
                     description="Reader signal per well, from long CSV and EnVision-style "
                                 "matrix exports (96, 384 and 1536 wells)."),
        dg.AssetSpec("raw_plate_maps", kinds={"csv", "parquet"},
                     metadata=_published("raw_plate_maps"),
                     description="What each well holds: compound and concentration, or a control."),
    ],
)
def raw_plates(context: dg.AssetExecutionContext, lake: LakeResource):
    """Plate-reader runs from landing/plates/<run>/: run.json, plate map and signal files.
    Non-numeric or duplicate wells are quarantined by well, plates with the wrong
    dimensions or too many missing wells by plate."""
    meta = report_ingest(context, runner.ingest_plates(lake.paths))
    yield dg.MaterializeResult(asset_key="raw_plate_runs", metadata=meta)
    yield dg.MaterializeResult(asset_key="raw_plate_wells")
    yield dg.MaterializeResult(asset_key="raw_plate_maps")


def _plate_figures(paths, wells: pl.DataFrame, plates: pl.DataFrame, log) -> list[str]:
    """The markdown parts of the ``heatmaps`` metadata (orchestration/figures.py): the
    worst plates large, then one contact sheet per run; "could not draw: …" last."""
    return plate_figures(paths, wells, plates, log).lines()


# The plate ingest's own refusals are read from raw/quarantine/ (written by the step of
# raw_plate_wells), not through stg_quarantine, which gathers every domain's.
_PLATE_INPUTS = ["stg_plate_runs", "stg_plate_wells", "stg_plate_maps", "stg_compound_records",
                 "raw_plate_wells"]

# Quarantine files written before refusals carried plate_id and well name the reading
# only in their locator text, as exactly "plate <id> well <well>".
_LEGACY_WELL_LOCATOR = r"^plate (\S+) well (\S+)$"


def wells_refused_at_ingest(quarantine: pl.DataFrame) -> pl.DataFrame:
    """run_id, plate_id, well of every reading the plate parser quarantined, from the raw
    quarantine rows' structured ``plate_id`` and ``well`` (the run is the landing batch)."""
    for c in ("domain", "granularity", "locator", "batch_id", "plate_id", "well"):
        if c not in quarantine.columns:    # no file yet, or files older than the column
            quarantine = quarantine.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    q = quarantine.filter((pl.col("domain") == "plates") & (pl.col("granularity") == "well"))
    legacy = pl.col("locator").str.extract_groups(_LEGACY_WELL_LOCATOR)
    q = q.with_columns(
        pl.when(pl.col("plate_id").is_null() & pl.col("well").is_null())
        .then(legacy.struct.field("1")).otherwise(pl.col("plate_id")).alias("plate_id"),
        pl.when(pl.col("plate_id").is_null() & pl.col("well").is_null())
        .then(legacy.struct.field("2")).otherwise(pl.col("well")).alias("well"))
    return (q.select(pl.col("batch_id").alias("run_id"), "plate_id", "well")
            .drop_nulls().cast(pl.String))


def _normalize(paths, empty: bool = False) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Normalize every plate and write the three outputs; ``empty``: the same outputs with
    no plates (what a lake whose screening step never succeeded publishes)."""
    from models.plates.normalize import normalize_plates

    now = datetime.now(timezone.utc)
    frames = {name: read_model(paths, name) for name in
              ("stg_plate_runs", "stg_compound_records", "stg_plate_wells", "stg_plate_maps")}
    if empty:
        frames = {name: frame.clear() for name, frame in frames.items()}
    runs, records = frames["stg_plate_runs"], frames["stg_compound_records"]
    ambiguous = set(records.group_by("compound_id").agg(pl.col("inchikey").n_unique().alias("n"))
                    .filter(pl.col("n") > 1)["compound_id"].to_list())
    refused_at_ingest = wells_refused_at_ingest(raw_quarantine(paths))
    ready, refusals = prepare_wells(runs, frames["stg_plate_wells"], frames["stg_plate_maps"],
                                    set(records["compound_id"].to_list()), now, ambiguous,
                                    refused_at_ingest.clear() if empty else refused_at_ingest)
    wells, plates = normalize_plates(ready.drop("ingested_at"))
    dose_runs = set(runs.filter(pl.col("stage") == "dose_response")["run_id"].to_list())
    wells, plates = no_positional_correction(wells, plates, dose_runs)
    wells = wells.rename({"signal": "raw_signal"}) if "signal" in wells.columns else wells
    write_parquet_atomic(wells, paths.evidence_file(Evidence.PLATE_WELL_SCORES))
    write_parquet_atomic(plates, paths.evidence_file(Evidence.PLATE_STATS))
    write_parquet_atomic(refusals if refusals.height else pl.DataFrame(schema=REFUSAL_SCHEMA),
                         paths.evidence_file(Evidence.PLATE_REFUSALS))
    return wells, plates, refusals


@dg.multi_asset(
    group_name="screening",
    specs=[
        dg.AssetSpec("plate_well_scores", kinds={"python", "parquet"}, deps=_PLATE_INPUTS,
                     metadata=_published("plate_well_scores"),
                     description="Every well normalized against its plate's controls: percent "
                                 "inhibition, NPI, robust z, B-score and percent_effect (percent "
                                 "of the control window after positional correction; positive "
                                 "= active)."),
        dg.AssetSpec("plate_stats", kinds={"python", "parquet"}, deps=_PLATE_INPUTS,
                     metadata=_published("plate_stats"),
                     description="Per plate: control statistics, Z′ (classic and robust), "
                                 "SSMD, S/B, control CVs, control noise (% of the window) and "
                                 "the bias-correction decision."),
        dg.AssetSpec("plate_refusals", kinds={"python", "parquet"}, deps=_PLATE_INPUTS,
                     metadata=_published("plate_refusals"),
                     description="Plates and wells refused when runs, maps, signals and "
                                 "libraries were put together."),
    ],
)
@isolated("screening", [evidence_relpath(Evidence.PLATE_WELL_SCORES),
                        evidence_relpath(Evidence.PLATE_STATS),
                        evidence_relpath(Evidence.PLATE_REFUSALS)],
          fallback=lambda paths: _normalize(paths, empty=True))
def plate_normalization(context: dg.AssetExecutionContext, lake: LakeResource):
    """Join each run's signals to its plate map and run metadata, refuse what cannot be
    normalized (no controls, unknown compounds, unmapped wells), normalize every plate
    (cellHTS2-style: percent of controls, robust z, Brideau B-score where rows/columns are
    biased), compute plate QC, and render raw and corrected heatmaps (every plate on its
    run's contact sheet, the worst plates large)."""
    paths = lake.paths
    wells, plates, refusals = _normalize(paths)
    for r in refusals.iter_rows(named=True):
        context.log.warning("refused %s %s: %s", r["granularity"], r["locator"], r["reason"])

    figures = _plate_figures(paths, wells.rename({"raw_signal": "signal"}), plates, context.log) \
        if plates.height else []
    failed = plates.filter(~pl.col("passed")) if plates.height else plates
    yield dg.MaterializeResult(asset_key="plate_well_scores", metadata={
        "wells": wells.height,
        "plates": plates.height,
        "heatmaps": dg.MetadataValue.md("\n\n".join(figures) or "no plates"),
        "heatmap_folder": dg.MetadataValue.path(str(paths.reports / "plates")),
        "heatmap_sheet_folder": dg.MetadataValue.path(str(paths.reports / "contact_sheets"
                                                          / "plates")),
    })
    yield dg.MaterializeResult(asset_key="plate_stats", metadata={
        "plates": plates.height,
        "failed_qc": failed.height,
        "bias_corrected": int(plates["bias_corrected"].sum()) if plates.height else 0,
        "median_control_noise_pct": (rounded(float(plates["control_noise_pct"].median()))
                                     if plates.height and plates["control_noise_pct"].drop_nulls().len()
                                     else 0.0),
        "qc": dg.MetadataValue.md(markdown_preview(plates.select(
            "run_id", "plate_id", "z_prime", "z_prime_robust", "ssmd", "signal_to_background",
            "control_noise_pct", "bias_corrected", "passed", "qc_reason"), n=MAX_QC_ROWS)
            if plates.height else "no plates"),
    })
    yield dg.MaterializeResult(asset_key="plate_refusals", metadata={
        "refused": refusals.height,
        "reasons": dg.MetadataValue.md(markdown_preview(
            refusals.select("granularity", "locator", "reason"), n=30) if refusals.height else "none"),
    })


# Bump when the 4PL fit or the curve classes change: fits are reused while the points
# (and this recipe, and scipy) are unchanged.
FIT_RECIPE = "1"
FIT_POINTS = ["run_id", "compound_id", "plate_id", "well", "concentration_um", "response"]


def _fits_for(paths, points: pl.DataFrame, fit_curves) -> tuple[pl.DataFrame, bool]:
    """The 4PL fits of ``points``: the saved ones when they were fitted to exactly these
    points, else fitted now and saved (a refresh with nothing new refits nothing)."""
    import scipy

    from models.fingerprint import frame_digest

    target = paths.evidence_file(Evidence.DOSE_RESPONSE_FITS)
    stamp = target.with_suffix(".points")
    digest = (f"{FIT_RECIPE}/scipy-{scipy.__version__}/"
              f"{frame_digest(points.select(FIT_POINTS), FIT_POINTS[:4])}")
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return pl.read_parquet(target), False
    fits = fit_curves(points.select("run_id", "compound_id", "concentration_um", "response"))
    write_parquet_atomic(fits, target)
    stamp.write_text(digest)
    return fits, True


def _no_fits(paths) -> None:
    from models.plates.dose_response import fit_curves

    # empty fits are no fits of any points: never reused as such
    paths.evidence_file(Evidence.DOSE_RESPONSE_FITS).with_suffix(".points").unlink(missing_ok=True)
    write_parquet_atomic(fit_curves(pl.DataFrame(schema={
        "run_id": pl.String, "compound_id": pl.String, "concentration_um": pl.Float64,
        "response": pl.Float64})), paths.evidence_file(Evidence.DOSE_RESPONSE_FITS))


@dg.asset(group_name="screening", kinds={"scipy", "parquet"}, deps=["int_dose_response_points"],
          metadata=_published("dose_response_fits"))
@isolated("screening", [evidence_relpath(Evidence.DOSE_RESPONSE_FITS)], fallback=_no_fits)
def dose_response_fits(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """A 4-parameter logistic fit per compound of every dose-response run: IC50/EC50 with
    a 95% confidence interval, Hill slope, top, bottom and an NCGC-style curve class.
    Every curve is shown here on its run's contact sheet, the most potent also large."""
    from models.plates.dose_response import fit_curves

    paths = lake.paths
    points = read_model(paths, "int_dose_response_points")
    fits, refit = _fits_for(paths, points, fit_curves)
    context.log.info("dose-response fits: %s", "refitted" if refit else "points unchanged, reused")
    figures = curve_figures(paths, points, fits, context.log)
    classes = fits.group_by("curve_class").len().sort("curve_class") if fits.height else fits
    return dg.MaterializeResult(metadata={
        "curves": fits.height,
        "with_ic50": int(fits["ic50_um"].is_not_null().sum()) if fits.height else 0,
        "curve_classes": dg.MetadataValue.json(
            {r[0]: r[1] for r in classes.iter_rows()} if fits.height else {}),
        "curves_png": dg.MetadataValue.md(figures.markdown("no dose-response runs")),
        "curve_folder": dg.MetadataValue.path(str(paths.reports / "dose_response")),
        "curve_sheet_folder": dg.MetadataValue.path(str(paths.reports / "contact_sheets"
                                                        / "dose_response")),
        "potent": dg.MetadataValue.md(markdown_preview(fits.sort("ic50_um", nulls_last=True).select(
            "run_id", "compound_id", "ic50_um", "ic50_ci_low", "ic50_ci_high", "hill",
            "curve_class")) if fits.height else "none"),
    })


@dg.asset_check(asset="plate_qc", description="Every plate passes QC (robust Z′ ≥ 0.5 and "
                "enough control wells); failed plates are listed and excluded from hit calling.")
def plate_qc_passed(lake: LakeResource) -> dg.AssetCheckResult:
    """Warn (not fail the run) when a plate fails QC: its wells stay in the lake but no
    hit is called from them."""
    path = lake.paths.marts / "plate_qc.parquet"
    qc = read_mart(path) if path.exists() else pl.DataFrame()
    failed = qc.filter(~pl.col("passed")) if qc.height else qc
    return dg.AssetCheckResult(
        passed=failed.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "plates": qc.height,
            "failed": failed.height,
            "failed_plates": dg.MetadataValue.md(markdown_preview(failed.select(
                "run_id", "plate_id", "z_prime", "z_prime_robust", "qc_reason"), n=50)
                if failed.height else "none"),
        },
    )


@dg.asset_check(asset="hts_compound_calls", description="Every screened compound of a primary "
                "run has a hit class, and none with a valid replicate is left uncalled for "
                "lack of one; the class counts per run are listed.")
def hts_compound_calls_complete(lake: LakeResource) -> dg.AssetCheckResult:
    """Fail when a compound has no hit class, or is 'inconclusive' for want of a valid
    replicate while it has one (one valid replicate is called and flagged needs_retest;
    only disagreeing replicates make a compound with valid wells inconclusive)."""
    path = lake.paths.marts / "hts_compound_calls.parquet"
    calls = read_mart(path) if path.exists() else pl.DataFrame()
    if not calls.height:
        return dg.AssetCheckResult(passed=True, metadata={"compounds": 0})
    uncalled = calls.filter(pl.col("hit_class").is_null()
                            | ((pl.col("n_valid_replicates") > 0)
                               & (pl.col("hit_class") == "inconclusive")
                               & (pl.col("n_valid_replicates") < 2)))
    counts = (calls.group_by("run_id", "hit_class").len()
              .pivot(on="hit_class", index="run_id", values="len").fill_null(0).sort("run_id"))
    classes = {c: int((calls["hit_class"] == c).sum())
               for c in ("hit", "weak", "inactive", "inconclusive")}
    return dg.AssetCheckResult(
        passed=uncalled.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "compounds": calls.height,
            **{f"n_{c}": n for c, n in classes.items()},
            "n_needs_retest": int(calls["needs_retest"].sum()),
            "n_single_replicate": int((calls["n_valid_replicates"] == 1).sum()),
            "n_likely_interferer": int(calls["likely_interferer"].sum()),
            "n_frequent_hitter": int(calls["frequent_hitter"].sum()),
            "uncalled": uncalled.height,
            "classes_per_run": dg.MetadataValue.md(markdown_preview(counts, n=40)),
        },
    )
