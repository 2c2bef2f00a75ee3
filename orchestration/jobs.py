"""The refresh job, its daily schedule and the landing-zone sensor."""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from orchestration.ingest.landing import LANDING_DOMAINS, batch_folders
from orchestration.refresh_plan import Plan, changed_asset_roots
from orchestration.resources import LakeResource
from orchestration.settings import LakePaths

# Ingest is idempotent per file. Started by the schedule, the sensor or the UI, the job
# rebuilds the whole graph from Parquet; `orphanlake refresh` runs it twice, the ingest
# and then only what depends on changed data (refresh_plan.py, ingest_keys/rebuild_keys).
# It runs in one process, as every run does (definitions.py), so the lake's writer lock is
# held for the whole run however it was started.
refresh_job = dg.define_asset_job(
    "refresh", selection=dg.AssetSelection.all(),
    description="Ingest every new landing batch and rebuild everything that depends on it.",
)

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh", job=refresh_job, cron_schedule="0 2 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every day at 02:00 UTC, run the refresh job: ingest whatever landed since the "
                "last run (unchanged files are skipped) and rebuild what depends on it. Off until "
                "switched on; the landing sensor starts refreshes between its ticks.",
)


# always rebuilt when anything is: the catalog publishes every rebuilt table
CATALOG = dg.AssetKey("lake_catalog")


def ingest_keys(graph) -> set[dg.AssetKey]:
    """The first run of a refresh: every raw table's ingest asset and the HPO reference."""
    from orchestration.assets.reference import hpo_reference

    return {k for k in graph.get_all_asset_keys() if k.path[-1].startswith("raw_")} \
        | set(hpo_reference.keys)


def rebuild_keys(graph, plan: Plan) -> set[dg.AssetKey]:
    """The second run: the assets ``plan`` says must be rebuilt (ingest assets included;
    the caller leaves out those the first run made)."""
    everything = set(graph.get_all_asset_keys())
    if plan.rebuild_all:
        return everything
    roots = {dg.AssetKey(k) for k in changed_asset_roots(plan)} & everything
    failing = set(plan.failing_steps)
    roots |= {k for k in everything if graph.get(k).assets_def.node_def.name in failing}
    if plan.stale_catalog:
        roots.add(CATALOG)
    if not roots:
        return set()
    # a multi-asset that cannot be subset runs whole: its other outputs come along
    selection = dg.AssetSelection.assets(*roots, CATALOG).downstream()
    return set(selection.required_multi_asset_neighbors().resolve(graph))


def landing_batches(paths: LakePaths) -> list[str]:
    """Every batch folder in the landing zone as ``domain/batch``."""
    # hidden folders (uploads in progress) are not batches, and links are never followed:
    # a linked domain or batch folder is refused by the ingest, not read by the sensor
    return [f"{domain}/{name}" for domain in LANDING_DOMAINS
            for name in batch_folders(paths, domain)]


def ingested_batches(paths: LakePaths) -> set[str]:
    """Every ``domain/batch`` with a file in an ingest ledger (raw/_ledger/*.parquet): the
    batches some refresh has already read, whether their files were kept or quarantined."""
    import pyarrow.parquet as pq

    out: set[str] = set()
    for ledger in sorted((paths.raw / "_ledger").glob("*.parquet")):
        rows = pq.read_table(ledger, columns=["source_file", "batch_id"]).to_pylist()
        # source_file is landing-relative (domain/batch/file); files copied in from another
        # lake have no batch
        out.update("/".join(r["source_file"].split("/")[:2]) for r in rows if r["batch_id"])
    return out


SENSOR_DESCRIPTION = (
    "Every minute, look for new batch folders under landing/<domain>/ and request a refresh "
    "when one appears (one run per set of new folders). Its first tick only records the "
    "folders already there, requesting a run just for those no refresh has ingested yet; "
    "files added to an existing folder wait for the next refresh (the daily schedule, the "
    "CLI or Materialize). Off until switched on.")


@dg.sensor(job=refresh_job, minimum_interval_seconds=60, description=SENSOR_DESCRIPTION,
           default_status=dg.DefaultSensorStatus.STOPPED)
def new_landing_batch_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Request a refresh when a new batch folder appears under landing/<domain>/; the first
    tick (no cursor yet) counts the batches already ingested as seen."""
    paths = lake.paths
    batches = landing_batches(paths)
    if context.cursor:
        seen = set(json.loads(context.cursor))
    else:
        seen = ingested_batches(paths)
        if all(b in seen for b in batches):
            context.update_cursor(json.dumps(batches))
            return dg.SkipReason(f"first tick: recorded the {len(batches)} batch folders "
                                 f"already ingested from {paths.landing}; a new one will "
                                 "request a refresh")
    new = [b for b in batches if b not in seen]
    if not new:
        return dg.SkipReason(f"no new batch folders under {paths.landing}")
    context.update_cursor(json.dumps(batches))
    run_key = hashlib.sha256("\n".join(sorted(new)).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=run_key, tags={"orphanlake/new_batches": ",".join(new)[:200]})
