"""Resources injected into every asset."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import LakePaths, lake_home


class LakeResource(dg.ConfigurableResource):
    """The lake root. Empty means ``$ORPHANLAKE_HOME`` (or ``data_lake/``) at run time."""

    home: str = ""

    @property
    def paths(self) -> LakePaths:
        from pathlib import Path

        return LakePaths(Path(self.home).resolve() if self.home else lake_home()).ensure()
