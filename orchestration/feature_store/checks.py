"""Is the online store what the offline tables say it should be?"""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import polars as pl

from orchestration.feature_store.history import EVENT, PRESENT, latest
from orchestration.feature_store.store import local_online_db
from orchestration.feature_store.sync import now_utc, read_history
from orchestration.feature_store.tables import FEATURE_VIEWS, table
from orchestration.feature_store.training import historical


def _entity_key_bytes(keys: list[str], values: tuple, version: int) -> bytes:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return serialize_entity_key(
        EntityKey(join_keys=list(keys), entity_values=[Value(string_val=str(v)) for v in values]),
        entity_key_serialization_version=version)


def _present(paths, name: str) -> tuple[pl.DataFrame, list[str]]:
    keys = list(table(name).keys)
    history = read_history(paths, name)
    if history is None:
        return pl.DataFrame(), keys
    return latest(history, keys).filter(pl.col(PRESENT)), keys


def online_coverage(paths, store) -> dict[str, dict]:
    """Per view: the entities the lake's models hold now (the view's builder run afresh),
    how many of them the online store lacks (for SQLite, compared by Feast's serialized
    entity key straight from the file), and how many removed ones it still serves."""
    out: dict[str, dict] = {}
    for name in FEATURE_VIEWS:
        keys = list(table(name).keys)
        expected = table(name).build(paths)
        if expected is None:  # its source model is missing: judge by the table
            expected, keys = _present(paths, name)
        if read_history(paths, name) is None:
            continue
        view = store.get_feature_view(name)
        missing = (_not_online(paths, store, view, keys, expected.select(keys))
                   if expected.height else [])
        stale = _served_removals(paths, store, name, keys, view)
        out[name] = {"entities": expected.height, "missing": len(missing),
                     "examples": [dict(zip(keys, m)) for m in missing[:5]],
                     "removed_but_served": len(stale),
                     "removed_examples": stale[:5]}
    return out


def _not_online(paths, store, view, keys: list[str], expected: pl.DataFrame) -> list[tuple]:
    """The expected entity keys the online store has no row for. SQLite is read directly
    (every entity, by Feast's serialized key); another store is asked through Feast."""
    online_db = local_online_db(paths)
    if online_db is None:
        found = []
        for start in range(0, expected.height, 1_000):
            chunk = expected.slice(start, 1_000)
            values = store.get_online_features(features=[f"{view.name}:{f.name}" for f in view.features],
                                               entity_rows=chunk.to_dicts()).to_dict()
            found += [any(values[f.name][i] is not None for f in view.features)
                      for i in range(chunk.height)]
        return [row for row, ok in zip(expected.iter_rows(), found) if not ok]
    from feast.infra.online_stores.sqlite import _table_id

    version = store.config.entity_key_serialization_version
    with sqlite3.connect(f"file:{online_db}?mode=ro", uri=True) as con:
        try:
            held = {r[0] for r in con.execute(
                f'select distinct entity_key from "{_table_id(store.project, view)}"')}
        except sqlite3.OperationalError:
            held = set()
    return [row for row in expected.iter_rows() if _entity_key_bytes(keys, row, version) not in held]


def _served_removals(paths, store, name: str, keys: list[str], view) -> list[dict]:
    """Entities removed from the lake (tombstoned) that the online store still answers for."""
    history = read_history(paths, name)
    if history is None:
        return []
    removed = latest(history, keys).filter(~pl.col(PRESENT)).select(keys)
    if removed.is_empty():
        return []
    values = store.get_online_features(features=[f"{name}:{f.name}" for f in view.features],
                                       entity_rows=removed.to_dicts()).to_dict()
    return [entity for i, entity in enumerate(removed.iter_rows(named=True))
            if any(values[f.name][i] is not None for f in view.features)]


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
        present, keys = _present(paths, name)
        if present.is_empty():
            continue
        rows = present.select(keys)
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
