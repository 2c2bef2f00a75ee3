"""A failure inside one domain's Python step never stops the other domains' publication.

A step wrapped with ``isolated`` that raises keeps the outputs of its last successful
run (or, on a lake that never had any, writes the empty outputs its ``fallback`` makes),
reports itself materialized with ``status: failed`` and the error, and the refresh goes
on: the dbt models, the feature store and the catalog are built from what the other
domains published and from this domain's last good state. Every step's latest outcome
is in ``evidence/refresh_status.parquet`` (the ``refresh_status`` view of the catalog),
the ``domains_published`` check on ``lake_catalog`` fails while any step is failing, and
``orphanlake refresh`` names them and exits 1.
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import dagster as dg
import polars as pl

from orchestration.lake.io import write_parquet_atomic
from orchestration.settings import Evidence, LakePaths

STATUS_SCHEMA = {"domain": pl.String, "step": pl.String, "status": pl.String,
                 "error": pl.String, "outputs_from": pl.Datetime("us", "UTC"),
                 "run_id": pl.String, "at": pl.Datetime("us", "UTC")}


def read_status(paths: LakePaths) -> pl.DataFrame:
    path = paths.evidence_file(Evidence.REFRESH_STATUS)
    return pl.read_parquet(path) if path.exists() else pl.DataFrame(schema=STATUS_SCHEMA)


def failing_steps(paths: LakePaths) -> pl.DataFrame:
    """The steps whose latest run failed (their domain serves its last good outputs)."""
    return read_status(paths).filter(pl.col("status") == "failed").sort("domain", "step")


def record_status(paths: LakePaths, row: dict) -> None:
    """Replace ``row['step']``'s status row (steps run one at a time under the writer lock)."""
    frame = pl.DataFrame([row], schema=STATUS_SCHEMA)
    status = read_status(paths).filter(pl.col("step") != row["step"])
    write_parquet_atomic(pl.concat([status, frame]).sort("domain", "step"),
                         paths.evidence_file(Evidence.REFRESH_STATUS))


def _outputs_from(paths: LakePaths, outputs: Sequence[str]) -> datetime | None:
    """When the outputs a failing step keeps were written; None when one is missing."""
    files = [paths.home / name for name in outputs]
    if not files or not all(f.exists() for f in files):
        return None
    return datetime.fromtimestamp(min(f.stat().st_mtime for f in files), timezone.utc)


def isolated(domain: str, outputs: Sequence[str],
             fallback: Callable[[LakePaths], None] | None = None):
    """Wrap an asset body ``(context, lake)`` whose outputs are the files ``outputs``
    (relative to the lake root) so that an exception is reported instead of stopping the
    refresh (see module doc). Without a ``fallback``, a step that never succeeded still
    raises: there is nothing to keep."""

    def wrap(fn):
        step = fn.__name__

        def on_failure(context, lake, exc: Exception) -> dict:
            paths = lake.paths
            error = f"{type(exc).__name__}: {exc}"[:2000]
            context.log.error("%s step %s failed; the %s domain keeps its last good outputs, "
                              "the other domains publish as usual:\n%s", domain, step, domain,
                              "".join(traceback.format_exception(exc))[-4000:])
            kept = _outputs_from(paths, outputs)
            if kept is None:
                if fallback is None:
                    raise exc
                fallback(paths)     # a lake that never had this domain's outputs
            record_status(paths, {"domain": domain, "step": step, "status": "failed",
                                  "error": error, "outputs_from": kept, "run_id": context.run.run_id,
                                  "at": datetime.now(timezone.utc)})
            return {"status": "failed", "error": dg.MetadataValue.text(error),
                    "outputs_from": kept.isoformat(timespec="seconds") if kept else "empty"}

        def on_success(context, lake) -> None:
            record_status(lake.paths, {"domain": domain, "step": step, "status": "ok",
                                       "error": None, "outputs_from": datetime.now(timezone.utc),
                                       "run_id": context.run.run_id, "at": datetime.now(timezone.utc)})

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def body(context, lake):
                try:
                    results = list(fn(context, lake))
                except Exception as exc:  # noqa: BLE001 - isolating any failure is the point
                    meta = on_failure(context, lake, exc)
                    for key in sorted(context.selected_asset_keys, key=lambda k: k.to_string()):
                        yield dg.MaterializeResult(asset_key=key, metadata=meta)
                    return
                on_success(context, lake)
                yield from results
        else:
            @functools.wraps(fn)
            def body(context, lake):
                try:
                    result = fn(context, lake)
                except Exception as exc:  # noqa: BLE001 - isolating any failure is the point
                    return dg.MaterializeResult(metadata=on_failure(context, lake, exc))
                on_success(context, lake)
                return result
        return body

    return wrap
