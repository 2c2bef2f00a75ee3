"""The orphanlake Dagster code location."""

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.assets import (admet, compound_models, compounds, design, features, ingest,
                                  models, quarantine, reference, reports, screening, transforms,
                                  trials)
from orchestration.jobs import daily_refresh, new_landing_batch_sensor, refresh_job
from orchestration.resources import LakeResource


def build_definitions(lake: LakeResource) -> dg.Definitions:
    """The code location bound to one lake (the default, or a scratch lake)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules([reference, ingest, compounds, screening, transforms,
                                             features, models, compound_models, design, admet,
                                             reports, trials]),
        asset_checks=[*dg.load_asset_checks_from_modules([transforms, screening, features]),
                      *quarantine.CHECKS],
        jobs=[refresh_job],
        schedules=[daily_refresh],
        sensors=[new_landing_batch_sensor],
        resources={"lake": lake, "dbt": DbtCliResource(project_dir=transforms.dbt_project)},
        # every run (the refresh job, "Materialize" in the UI) runs its steps in one process,
        # so the lake resource holds the writer lock from its first step to its last
        executor=dg.in_process_executor,
    )


defs = build_definitions(LakeResource())
