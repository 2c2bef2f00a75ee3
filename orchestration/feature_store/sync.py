"""Refresh the offline feature tables and bring the online store up to date, incrementally."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timedelta, timezone

import pandas as pd
import polars as pl

from orchestration.feature_store.history import CREATED, EVENT, PRESENT, Change, append_history, latest
from orchestration.feature_store.store import feature_dir, local_online_db, offline_table
from orchestration.feature_store.tables import FEATURE_VIEWS, TABLES, table
from orchestration.lake.io import write_parquet_atomic
from orchestration.settings import LakePaths

ONLINE_STATE = "online_state.json"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def read_history(paths: LakePaths, name: str) -> pl.DataFrame | None:
    path = offline_table(paths, name)
    return pl.read_parquet(path) if path.exists() else None


def write_tables(paths: LakePaths, stage: str, as_of: datetime | None = None
                 ) -> tuple[datetime, dict[str, Change]]:
    """Append what changed to every feature table and label set of a stage, all stamped
    with one time, so a label and the features of the same refresh are simultaneous. A
    table whose source model does not exist yet is left as it is. Call under
    ``feast_lock`` (the stamp is taken there, after any refresh that held it)."""
    tables = [t for t in TABLES if t.stage == stage]
    histories = {t.name: read_history(paths, t.name) for t in tables}
    stamp = as_of or now_utc()
    latest_written = [h[CREATED].max() for h in histories.values() if h is not None and h.height]
    if latest_written and max(latest_written) >= stamp:
        # a version must be newer than the one it replaces, even if the clock is not
        stamp = max(latest_written) + timedelta(microseconds=1)
    changes: dict[str, Change] = {}
    for t in tables:
        current = t.build(paths)
        if current is None:
            continue
        history = histories[t.name]
        new_history, _, change = append_history(history, current, list(t.keys), stamp, t.restate)
        if change.appended or history is None:
            write_parquet_atomic(new_history, offline_table(paths, t.name))
        changes[t.name] = change
    return stamp, changes


def to_feast_frame(frame: pl.DataFrame) -> pd.DataFrame:
    """Polars → pandas the way Feast's type mapping expects: nullable ints and bools as
    object columns holding None (a NaN in an Int64 view would not serialize)."""
    out = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype.is_integer() or dtype == pl.Boolean:
            out[name] = pd.Series(frame[name].to_list(), dtype=object, index=out.index)
    return out


def _view_signature(view) -> str:
    parts = sorted(f"{f.name}:{f.dtype}" for f in view.features) + list(view.join_keys)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _read_state(paths: LakePaths) -> dict:
    path = feature_dir(paths) / ONLINE_STATE
    return json.loads(path.read_text()) if path.exists() else {}


def sync_online(paths: LakePaths, store, full: bool = False) -> dict[str, dict]:
    """Write to the online store every entity whose latest row was appended since the last
    sync (all of them the first time, or when a view's schema changed), and record the
    interval in the registry as a materialization. Call under ``feast_lock``."""
    state = _read_state(paths)
    online_db = local_online_db(paths)
    # a SQLite store that is gone needs a full sync (apply_repo also forgets the state
    # when it has to create the store again)
    local_store_lost = online_db is not None and not online_db.exists()
    views = {v.name: v for v in store.list_feature_views()}
    report: dict[str, dict] = {}
    for name in FEATURE_VIEWS:
        history = read_history(paths, name)
        if history is None or history.is_empty() or name not in views:
            continue
        view, keys = views[name], list(table(name).keys)
        signature = _view_signature(view)
        previous = state.get(name, {})
        incremental = not full and not local_store_lost and previous.get("signature") == signature
        if incremental and previous.get("through"):
            since = datetime.fromisoformat(previous["through"])
            rows = history.filter(pl.col(CREATED) > since)
        else:
            since, rows = None, history
        rows = latest(rows, keys)
        if rows.height:
            # the provider, not write_to_online_store: that one silently drops a frame whose
            # values are all null, which is exactly what a removal (tombstone) is
            store._get_provider().ingest_df(view, to_feast_frame(rows))
        through = history[CREATED].max()
        if rows.height:
            start = since or history[EVENT].min()
            store.registry.apply_materialization(view, store.project, start, through, commit=False)
        state[name] = {"signature": signature, "through": through.isoformat()}
        report[name] = {"mode": "incremental" if incremental else "full", "rows_written": rows.height,
                        "entities": latest(history, keys).filter(pl.col(PRESENT)).height}
    if any(r["rows_written"] for r in report.values()):
        store.registry.commit()
    path = feature_dir(paths) / ONLINE_STATE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return report
