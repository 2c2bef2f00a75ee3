"""The refresh job, its daily schedule and the landing-zone sensor."""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from orchestration.ingest.landing import LANDING_DOMAINS, batch_folders
from orchestration.resources import LakeResource
from orchestration.settings import LakePaths

# Ingest is idempotent per file, so "rebuild what depends on new batches" is the whole
# graph: unchanged files are skipped and everything downstream is recomputed from Parquet.
# It runs in one process, as every run does (definitions.py), so the lake's writer lock is
# held for the whole run however it was started.
refresh_job = dg.define_asset_job(
    "refresh", selection=dg.AssetSelection.all(),
    description="Ingest every new landing batch and rebuild everything that depends on it.",
)

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh", job=refresh_job, cron_schedule="0 2 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def landing_batches(paths: LakePaths) -> list[str]:
    """Every batch folder in the landing zone as ``domain/batch``."""
    # hidden folders (uploads in progress) are not batches, and links are never followed:
    # a linked domain or batch folder is refused by the ingest, not read by the sensor
    return [f"{domain}/{name}" for domain in LANDING_DOMAINS
            for name in batch_folders(paths, domain)]


@dg.sensor(job=refresh_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.STOPPED)
def new_landing_batch_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Request a refresh when a new batch folder appears under landing/<domain>/."""
    paths = lake.paths
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    batches = landing_batches(paths)
    new = [b for b in batches if b not in seen]
    if not new:
        return dg.SkipReason(f"no new batch folders under {paths.landing}")
    context.update_cursor(json.dumps(batches))
    run_key = hashlib.sha256("\n".join(sorted(new)).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=run_key, tags={"orphanlake/new_batches": ",".join(new)[:200]})
