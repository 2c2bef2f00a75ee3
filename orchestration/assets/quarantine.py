"""Quarantine per domain, visible in the UI: checks that warn whenever anything was refused.

Each domain's ingest writes its own refusals (whole batches or files, records, terms,
samples, plates, wells) to raw/quarantine/, and the plate step adds the plates and wells
it refuses when runs, maps and libraries are put together (evidence/plate_refusals).
Nothing here stops a refresh: a check *warns* (severity WARN) with the counts by
granularity and the reasons, on the asset where the refusal happened:

- ``nothing_quarantined`` on each domain's ingest asset (``QUARANTINE_CHECKED``): that
  ingest's refusals;
- ``no_plates_quarantined`` on ``plate_qc``: plates and wells refused at ingest or when a
  run was put together, next to ``plate_qc_passed`` (which counts plates that failed QC);
- ``nothing_quarantined`` on the ``quarantine`` mart: everything, by domain (also entries
  of the landing zone outside any domain, and pedigree faults only seen across files).

There is no asset standing for "all refusals of every ingest" any more (it was
``raw_quarantine``): the dbt models reading the raw quarantine table depend on the ingest
assets that write it (``QUARANTINE_WRITERS``, see ``LakeDbtTranslator``).
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from orchestration.lake.io import markdown_preview, read_mart
from orchestration.resources import LakeResource
from orchestration.settings import Evidence, LakePaths

# The dbt source of the raw quarantine table (dbt_project/models/staging/_sources.yml).
RAW_QUARANTINE = dg.AssetKey("raw_quarantine")

# quarantine ``domain`` → the ingest asset whose step writes those rows (and carries its check)
QUARANTINE_CHECKED: dict[str, str] = {
    "clinical": "raw_patients",
    "genomic": "raw_variants",
    "expression": "raw_expression",
    "compounds": "raw_compound_records",
    "plates": "raw_plate_runs",
    "trials": "raw_trial_dm",      # the first of the trials ingest's raw tables
}
QUARANTINE_WRITERS: tuple[dg.AssetKey, ...] = tuple(
    dg.AssetKey(k) for k in QUARANTINE_CHECKED.values())

# how each granularity is counted in the checks' metadata
PLURAL = {"batch": "batches", "file": "files", "record": "records", "term": "terms",
          "sample": "samples", "plate": "plates", "well": "wells",
          "variable": "variables", "value": "values", "subject": "subjects"}
PREVIEW_ROWS = 20
COLUMNS = ("domain", "granularity", "source_file", "locator", "reason")


def raw_quarantine(paths: LakePaths) -> pl.DataFrame:
    """Every row of raw/quarantine/ (what the ingests refused), as the staging view reads it."""
    files = sorted(paths.raw_table("quarantine").rglob("*.parquet"))
    frames = [pl.read_parquet(f) for f in files]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    return pl.concat(frames, how="diagonal_relaxed")


def plate_refusals(paths: LakePaths) -> pl.DataFrame:
    """Plates and wells refused when runs, maps, signals and libraries were put together."""
    path = paths.evidence_file(Evidence.PLATE_REFUSALS)
    df = pl.read_parquet(path) if path.exists() else pl.DataFrame()
    return df if df.height else pl.DataFrame(schema={c: pl.String for c in COLUMNS})


def summary(rows: pl.DataFrame, by_domain: bool = False) -> dict:
    """Counts by granularity (files, records, plates, wells, …), the total, optionally the
    counts by domain, and the first rows with their reasons."""
    counts = {PLURAL.get(g, g): int(n) for g, n in
              rows.group_by("granularity").len().sort("granularity").iter_rows()}
    meta: dict = {"quarantined": rows.height, **counts}
    if by_domain:
        meta["by_domain"] = dg.MetadataValue.json(
            {f"{d}/{g}": int(n) for d, g, n in
             rows.group_by("domain", "granularity").len().sort("domain", "granularity").iter_rows()})
    shown = rows.select(c for c in COLUMNS if c in rows.columns).sort(
        "domain", "granularity", "source_file", "locator", nulls_last=True)
    more = f"\n\n… and {rows.height - PREVIEW_ROWS} more: `orphanlake sql \"select * from quarantine\"`" \
        if rows.height > PREVIEW_ROWS else ""
    meta["reasons"] = dg.MetadataValue.md(
        markdown_preview(shown, n=PREVIEW_ROWS) + more if rows.height else "nothing quarantined")
    return meta


def headline(rows: pl.DataFrame) -> str:
    """One line for the UI and the refresh summary, e.g. "17 quarantined: 3 plates, 14 wells"."""
    if not rows.height:
        return "nothing quarantined"
    counts = rows.group_by("granularity").len().sort("len", "granularity", descending=[True, False])
    return f"{rows.height} quarantined: " + ", ".join(
        f"{n} {PLURAL.get(g, g) if n != 1 else g}" for g, n in counts.iter_rows())


def _result(rows: pl.DataFrame, by_domain: bool = False) -> dg.AssetCheckResult:
    """Passes when nothing was refused; warns (never fails the run) otherwise."""
    return dg.AssetCheckResult(passed=rows.height == 0, severity=dg.AssetCheckSeverity.WARN,
                               description=headline(rows), metadata=summary(rows, by_domain))


def _ingest_check(domain: str, asset: str):
    @dg.asset_check(asset=asset, name="nothing_quarantined",
                    description=f"Nothing of the {domain} ingest was quarantined; warns with "
                                "the counts (files, records, …) and reasons otherwise.")
    def _check(lake: LakeResource) -> dg.AssetCheckResult:
        rows = raw_quarantine(lake.paths)
        return _result(rows.filter(pl.col("domain") == domain))

    return _check


ingest_checks = [_ingest_check(domain, asset) for domain, asset in QUARANTINE_CHECKED.items()]


def quarantined_plates(paths: LakePaths) -> pl.DataFrame:
    """Plates and wells refused at the plate ingest or when a run was put together."""
    at_ingest = raw_quarantine(paths).filter(
        (pl.col("domain") == "plates") & pl.col("granularity").is_in(["plate", "well"]))
    return pl.concat([at_ingest.select(c for c in COLUMNS if c in at_ingest.columns),
                      plate_refusals(paths).select(c for c in COLUMNS)], how="diagonal_relaxed")


@dg.asset_check(asset="plate_qc", description="No plate or well was quarantined (at the plate "
                "ingest or when runs, maps and libraries were put together); warns with the "
                "counts and reasons otherwise. Quarantined plates are not in plate_qc.")
def no_plates_quarantined(lake: LakeResource) -> dg.AssetCheckResult:
    return _result(quarantined_plates(lake.paths))


@dg.asset_check(asset="quarantine", name="nothing_quarantined",
                description="Nothing was quarantined in any domain; warns with the counts by "
                            "domain and granularity and the reasons otherwise.")
def everything_quarantined(lake: LakeResource) -> dg.AssetCheckResult:
    path = lake.paths.marts / "quarantine.parquet"
    rows = read_mart(path) if path.exists() else pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    return _result(rows, by_domain=True)


CHECKS = [*ingest_checks, no_plates_quarantined, everything_quarantined]
