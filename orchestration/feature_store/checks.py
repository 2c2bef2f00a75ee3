"""Is the online store what the offline tables say it should be?"""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import polars as pl

from orchestration.feature_store.history import EVENT, PRESENT, latest
from orchestration.feature_store.online import served
from orchestration.feature_store.store import local_online_db
from orchestration.feature_store.sync import now_utc, read_history
from orchestration.feature_store.tables import FEATURE_VIEWS, table
from orchestration.feature_store.training import historical, present


def _entity_key_bytes(keys: list[str], values: tuple, version: int) -> bytes:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return serialize_entity_key(
        EntityKey(join_keys=list(keys), entity_values=[Value(string_val=str(v)) for v in values]),
        entity_key_serialization_version=version)


def online_coverage(paths, store) -> dict[str, dict]:
    """Per view: the entities the lake's models hold now (the view's builder run afresh),
    how many of them the online store lacks (for SQLite, compared by Feast's serialized
    entity key straight from the file), and how many removed ones it still serves."""
    online_db = local_online_db(paths)
    out: dict[str, dict] = {}
    for name in FEATURE_VIEWS:
        history = read_history(paths, name)
        if history is None:
            continue
        keys = list(table(name).keys)
        current = latest(history, keys)
        expected = table(name).build(paths)
        if expected is None:  # its source model is missing: judge by the table
            expected = current.filter(pl.col(PRESENT))
        expected = expected.select(keys)
        view = store.get_feature_view(name)
        missing = _not_online(online_db, store, view, keys, expected) if expected.height else []
        removed = current.filter(~pl.col(PRESENT)).select(keys)
        # removed entities the online store still answers for
        stale = ([row for row, ok in zip(removed.iter_rows(named=True), served(store, view, removed))
                  if ok] if removed.height else [])
        out[name] = {"entities": expected.height, "missing": len(missing),
                     "examples": [dict(zip(keys, m)) for m in missing[:5]],
                     "removed_but_served": len(stale),
                     "removed_examples": stale[:5]}
    return out


def _not_online(online_db, store, view, keys: list[str], expected: pl.DataFrame) -> list[tuple]:
    """The expected entity keys the online store has no row for. SQLite is read directly
    (every entity, by Feast's serialized key); another store is asked through Feast."""
    if online_db is None:
        return [row for row, ok in zip(expected.iter_rows(), served(store, view, expected)) if not ok]
    from feast.infra.online_stores.sqlite import _table_id

    version = store.config.entity_key_serialization_version
    with sqlite3.connect(f"file:{online_db}?mode=ro", uri=True) as con:
        try:
            held = {r[0] for r in con.execute(
                f'select distinct entity_key from "{_table_id(store.project, view)}"')}
        except sqlite3.OperationalError:
            held = set()
    return [row for row in expected.iter_rows() if _entity_key_bytes(keys, row, version) not in held]


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        fa, fb = float(a), float(b)
        return (math.isnan(fa) and math.isnan(fb)) or math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (bytes, bytearray, memoryview)) or isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(a) == bytes(b)
    return a == b


def online_offline_mismatches(paths, store, sample: int = 50, seed: int = 0) -> dict[str, dict]:
    """Per view: ``sample`` entities drawn at random, their online values against the
    offline point-in-time values as of now; every disagreeing (entity, feature) listed."""
    out: dict[str, dict] = {}
    as_of = now_utc()
    for name in FEATURE_VIEWS:
        keys = list(table(name).keys)
        rows = present(paths, name, keys)
        if rows.is_empty():
            continue
        rows = rows.select(keys)
        if rows.height > sample:
            idx = np.sort(np.random.default_rng(seed).choice(rows.height, sample, replace=False))
            rows = rows[idx]
        view = store.get_feature_view(name)
        refs = [f"{name}:{f.name}" for f in view.features]
        online = store.get_online_features(features=refs, entity_rows=rows.to_dicts()).to_dict()
        frame = historical(store, refs, rows.with_columns(pl.lit(as_of).alias(EVENT)))
        offline = {c: [None if isinstance(v, float) and math.isnan(v) else v for v in frame[c].to_list()]
                   for c in frame.columns}
        mismatches = []
        for i, entity in enumerate(rows.iter_rows(named=True)):
            for f in view.features:
                on, off = online[f.name][i], offline[f.name][i]
                if not _same(on, off):
                    mismatches.append({**entity, "feature": f.name, "online": repr(on)[:60],
                                       "offline": repr(off)[:60]})
        out[name] = {"sampled": rows.height, "mismatches": mismatches}
    return out
