"""Seconds per generator stage, reported in the generators' summaries."""

from __future__ import annotations

import time


class StageTimer:
    """``lap(stage)`` records the seconds since the previous lap (or the start)."""

    def __init__(self) -> None:
        self.start = self._mark = time.perf_counter()
        self.stages: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = round(now - self._mark, 2)
        self._mark = now

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 2)
