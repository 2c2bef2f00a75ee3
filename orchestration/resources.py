"""Resources injected into every asset."""

from __future__ import annotations

import contextlib

import dagster as dg

from orchestration.lake.lock import writer_lock
from orchestration.settings import LakeConfig, LakePaths


class LakeResource(dg.ConfigurableResource):
    """The lake root. Empty means the process's lake (``LakeConfig.from_env()``: what
    ``dagster dev`` was started with), resolved when used; every path and the dbt vars of a
    run come from ``config``, never from the environment.

    In a run, the resource holds the lake's writer lock from the run's start to its end
    (the refresh job runs its steps in one process, so the resource is set up once per
    run): two refreshes, whether from the CLI, the schedule, the sensor or the UI, never
    interleave; the second waits and says for whom. Sensors get the resource without a
    run and take no lock."""

    home: str = ""

    @classmethod
    def of(cls, config: LakeConfig) -> "LakeResource":
        return cls(home=str(config.home))

    @property
    def config(self) -> LakeConfig:
        return LakeConfig.at(self.home)

    @property
    def paths(self) -> LakePaths:
        return self.config.paths.ensure()

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        if context.dagster_run is None:
            yield self
            return
        with writer_lock(self.paths, what=f"run {context.run_id} ({context.dagster_run.job_name})",
                         on_wait=context.log.warning if context.log else None):
            yield self
