"""Resources injected into every asset."""

from __future__ import annotations

import contextlib
from pathlib import Path

import dagster as dg

from orchestration.lake.lock import writer_lock
from orchestration.settings import LakePaths, lake_home


class LakeResource(dg.ConfigurableResource):
    """The lake root. Empty means ``$ORPHANLAKE_HOME`` (or ``data_lake/``) at run time.

    In a run, the resource holds the lake's writer lock from the run's start to its end
    (the refresh job runs its steps in one process, so the resource is set up once per
    run): two refreshes, whether from the CLI, the schedule, the sensor or the UI, never
    interleave; the second waits and says for whom. Sensors get the resource without a
    run and take no lock."""

    home: str = ""

    @property
    def paths(self) -> LakePaths:
        return LakePaths(Path(self.home).resolve() if self.home else lake_home()).ensure()

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        if context.dagster_run is None:
            yield self
            return
        with writer_lock(self.paths, what=f"run {context.run_id} ({context.dagster_run.job_name})",
                         on_wait=context.log.warning if context.log else None):
            yield self
