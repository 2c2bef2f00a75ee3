"""Feature store benchmark: Feast online retrieval and materialization vs plain SQLite.

    PYTHONPATH=. python bench/bench_features.py            # --scale 10 --source-lake data_lake

The demo lake's offline feature tables (``features/offline/<view>.parquet``, every feature
view) are replicated ``--scale`` times into a temporary lake, each copy with distinct keys:
the first join key of every view gets the suffix ``-r{i}`` (patient_id for
patient_gene_evidence and patient_profile, inchikey for compound_properties and
compound_target_scores, gene_symbol for gene_target), so copy i of a patient is a
different patient with the same genes. ``apply_repo`` registers the repo against that lake.
When the source lake has no offline tables, a demo lake is generated first
(``orphanlake --home TMP demo``, a few minutes).

1. Materialization, each contender into an empty store, the whole lake (every view):
   * Feast's own ``store.materialize(start, end)`` (DuckDB offline store → SQLite);
   * orphanlake's ``sync_online(paths, store, full=True)``;
   * orphanlake's incremental ``sync_online`` after 1 % of every view's entities changed
     (``append_history`` with a later ``as_of``): what a typical refresh costs;
   * Feast's ``materialize_incremental`` after another 1 % change (last, as the stores then
     diverge): its time, and how many changed entities it serves with the new value;
   * peer: DuckDB reads the same latest rows from the Parquet tables (``QUALIFY
     row_number()``), Python ``sqlite3`` ``executemany`` inserts them into a plain wide
     table per view (one row per entity, one column per feature, PRIMARY KEY on the join
     keys), one transaction per view, SQLite defaults (journal_mode=DELETE,
     synchronous=FULL, 4 KiB pages). For the incremental step the peer upserts (``INSERT
     OR REPLACE``) the rows created after the previous sync.
2. Online retrieval latency, p50 and p99 of each request, 1 and 100 random entities per
   request (fixed seed; each contender gets the same requests, interleaved, after a
   warm-up), against the populated stores:
   * Feast ``store.get_online_features(features=<service>, entity_rows=...).to_dict()``;
   * peer (a) the wide table: ``SELECT ... WHERE key IN (...)`` (for composite keys a join
     on a VALUES list), rows put back in request order as Python values;
   * peer (b) Feast's own SQLite table read directly: serialize the entity keys, ``SELECT
     ... WHERE entity_key IN (...)``, parse each ValueProto into a Python value.
   Feast's answer to the first request of each size is checked equal to the wide table's.

Writes bench/results/features.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

import duckdb
import feast  # before the warning filters in main(): importing it installs its own
import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestration.feature_store.history import (CREATED, EVENT, PRESENT,  # noqa: E402
                                                 append_history, latest)
from orchestration.feature_store.store import (apply_repo, feast_lock, feature_dir,  # noqa: E402
                                               feature_store, offline_table)
from orchestration.feature_store.sync import now_utc, sync_online  # noqa: E402
from orchestration.feature_store.tables import FEATURE_VIEWS, table  # noqa: E402
from orchestration.lake.io import write_parquet_atomic  # noqa: E402
from orchestration.settings import LakePaths  # noqa: E402

# (label, feature service, view, join keys)
LOOKUPS = [
    ("compound", "compound_lookup_v1", "compound_properties", ("inchikey",)),
    ("patient_gene", "patient_gene_lookup_v1", "patient_gene_evidence",
     ("patient_id", "gene_symbol")),
]
CHANGED_FRACTION = 0.01


# --------------------------------------------------------------------------- the lakes
def source_offline(source: Path, work: Path) -> Path:
    """The offline feature tables to replicate: the source lake's, or a fresh demo's."""
    offline = source / "features" / "offline"
    if all((offline / f"{v}.parquet").exists() for v in FEATURE_VIEWS):
        return offline
    home = work / "demo"
    print(f"{offline} lacks feature tables: generating a demo lake in {home} (a few minutes)",
          flush=True)
    exe = Path(sys.executable).with_name("orphanlake")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestration.cli"]
    log = work / "demo.log"
    with open(log, "w") as fh:
        done = subprocess.run([*cmd, "--home", str(home), "demo"], cwd=REPO, stdout=fh,
                              stderr=subprocess.STDOUT,
                              env={**os.environ, "ORPHANLAKE_HOME": str(home),
                                   "DAGSTER_HOME": str(home / ".dagster")})
    if done.returncode:
        sys.exit("orphanlake demo failed:\n" + "\n".join(log.read_text().splitlines()[-30:]))
    return home / "features" / "offline"


def build_scaled_lake(offline: Path, home: Path, scale: int) -> tuple[LakePaths, dict]:
    paths = LakePaths(home).ensure()
    sizes = {}
    for name in FEATURE_VIEWS:
        history = pl.read_parquet(offline / f"{name}.parquet")
        key = table(name).keys[0]
        scaled = pl.concat([history.with_columns(pl.col(key) + f"-r{i}") for i in range(scale)])
        path = offline_table(paths, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(scaled, path)
        sizes[name] = {"history_rows": scaled.height,
                       "entities": latest(scaled, list(table(name).keys)).height}
    return paths, sizes


def reset_online(paths: LakePaths):
    """An empty online store (tables created by the apply) and a fresh FeatureStore."""
    d = feature_dir(paths)
    for f in ("online_store.db", "online_state.json"):
        (d / f).unlink(missing_ok=True)
    with feast_lock(paths):
        apply_repo(paths, force=True)
    return feature_store(paths)


def feast_table_counts(paths: LakePaths, store) -> dict[str, int]:
    from feast.infra.online_stores.sqlite import _table_id

    out = {}
    with sqlite3.connect(feature_dir(paths) / "online_store.db") as con:
        for name in FEATURE_VIEWS:
            t = _table_id(store.project, store.get_feature_view(name))
            out[name] = con.execute(f'select count(distinct entity_key) from "{t}"').fetchone()[0]
    return out


# --------------------------------------------------------------------------- the peer
def _features(store, name: str) -> list[str]:
    return [f.name for f in store.get_feature_view(name).features]


def _sqlite_type(dtype: pl.DataType) -> str:
    if dtype.is_integer() or dtype == pl.Boolean:
        return "INTEGER"
    if dtype.is_float():
        return "REAL"
    if dtype == pl.Binary:
        return "BLOB"
    return "TEXT"


def _latest_sql(path: Path, cols: list[str], keys: list[str], where: str = "") -> str:
    cols_sql = ", ".join(f'"{c}"' for c in cols)
    part = ", ".join(f'"{k}"' for k in keys)
    return (f"select {cols_sql} from read_parquet('{path}') {where} qualify row_number() over "
            f"(partition by {part} order by {EVENT} desc, {CREATED} desc) = 1")


def peer_materialize(paths: LakePaths, store, db: Path, since=None) -> dict[str, int]:
    """DuckDB latest rows → sqlite3 executemany into one wide table per view. ``since``:
    only rows created after it, upserted (the incremental step)."""
    fresh = since is None
    if fresh:
        db.unlink(missing_ok=True)
    con = sqlite3.connect(db)
    duck = duckdb.connect()
    written = {}
    for name in FEATURE_VIEWS:
        keys, feats = list(table(name).keys), _features(store, name)
        path = offline_table(paths, name)
        if fresh:
            schema = pl.read_parquet_schema(path)
            cols = ", ".join(f'"{c}" {_sqlite_type(schema[c])}' for c in [*keys, *feats])
            con.execute(f'create table "{name}" ({cols}, primary key ({", ".join(keys)}))')
        where = "" if fresh else f"where {CREATED} > '{since.isoformat()}'::timestamptz"
        rows = duck.execute(_latest_sql(path, [*keys, *feats], keys, where)).fetchall()
        verb = "insert" if fresh else "insert or replace"
        marks = ", ".join("?" * (len(keys) + len(feats)))
        with con:
            con.executemany(f'{verb} into "{name}" values ({marks})', rows)
        written[name] = len(rows)
    con.close()
    return written


# --------------------------------------------------------------------------- incremental
def change_slice(paths: LakePaths, fraction: float, seed: int) -> dict[str, dict]:
    """Change one value of ``fraction`` of every view's present entities and append the
    change to its history with a later ``as_of`` (restated or changed as the view's rule
    says); every other entity stays as it is."""
    rng = np.random.default_rng(seed)
    as_of = now_utc() + timedelta(seconds=1)
    out = {}
    for name in FEATURE_VIEWS:
        t = table(name)
        keys = list(t.keys)
        history = pl.read_parquet(offline_table(paths, name))
        current = latest(history, keys).filter(pl.col(PRESENT))
        col = next(c for c, d in current.schema.items()
                   if d == pl.Float64 and c not in keys)
        pick = pl.Series(rng.random(current.height) < fraction)
        current = current.with_columns(
            pl.when(pick).then(pl.col(col).fill_null(0.0).fill_nan(0.0) + 1.0)
            .otherwise(pl.col(col)).alias(col))
        new_history, _, change = append_history(history, current.drop(PRESENT, EVENT, CREATED),
                                                keys, as_of, t.restate)
        write_parquet_atomic(new_history, offline_table(paths, name))
        out[name] = {"column": col, "appended": change.appended, "removed": change.removed}
    return out


def served_fresh(store, paths: LakePaths, changed: dict[str, dict]) -> dict[str, dict]:
    """Per view: the entities of the last appended slice, and how many of them the online
    store now serves with the value that slice changed."""
    out = {}
    for name, info in changed.items():
        t, col = table(name), info["column"]
        history = pl.read_parquet(offline_table(paths, name))
        new = latest(history.filter(pl.col(CREATED) == history[CREATED].max()), list(t.keys))
        rows = [dict(zip(t.keys, r)) for r in new.select(t.keys).rows()]
        got = store.get_online_features(features=[f"{name}:{col}"], entity_rows=rows).to_dict()[col]
        fresh = sum(_same(g, w) for g, w in zip(got, new[col].to_list()))
        out[name] = {"restate": t.restate, "changed": new.height, "fresh": fresh}
    return out


# --------------------------------------------------------------------------- lookups
def _py(v):
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def _same(a, b) -> bool:
    a, b = _py(a), _py(b)
    if a is None or b is None:
        return (a is None or (isinstance(a, float) and math.isnan(a))) and \
               (b is None or (isinstance(b, float) and math.isnan(b)))
    if isinstance(a, float) or isinstance(b, float):
        return (math.isnan(float(a)) and math.isnan(float(b))) or float(a) == float(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    return a == b


class WidePeer:
    """Peer (a): the plain wide table, queried by primary key."""

    def __init__(self, db: Path, name: str, keys: tuple[str, ...], feats: list[str]):
        self.con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        self.keys, self.feats, self.name = keys, feats, name
        self._sql: dict[int, str] = {}

    def sql(self, n: int) -> str:
        if n not in self._sql:
            cols = ", ".join(f'"{c}"' for c in [*self.keys, *self.feats])
            if len(self.keys) == 1:
                self._sql[n] = (f'select {cols} from "{self.name}" '
                                f'where "{self.keys[0]}" in ({", ".join("?" * n)})')
            else:
                # SQLite 3.40 scans the whole table for `(a, b) IN (VALUES ...)`; a join
                # against the VALUES list uses the primary key
                one = "(" + ", ".join("?" * len(self.keys)) + ")"
                q = ", ".join(f"q{i}" for i in range(len(self.keys)))
                on = " and ".join(f't."{k}" = q.q{i}' for i, k in enumerate(self.keys))
                cols = ", ".join(f't."{c}"' for c in [*self.keys, *self.feats])
                self._sql[n] = (f'with q({q}) as (values {", ".join([one] * n)}) '
                                f'select {cols} from q join "{self.name}" t on {on}')
        return self._sql[n]

    def __call__(self, rows: list[dict]) -> list:
        nk = len(self.keys)
        params = [row[k] for row in rows for k in self.keys]
        found = {r[:nk]: r[nk:] for r in self.con.execute(self.sql(len(rows)), params)}
        return [found.get(tuple(row[k] for k in self.keys)) for row in rows]


class FeastTablePeer:
    """Peer (b): Feast's own SQLite table, read by serialized entity key."""

    def __init__(self, paths: LakePaths, store, name: str, keys: tuple[str, ...]):
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.sqlite import _table_id
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        self.con = sqlite3.connect(f"file:{feature_dir(paths) / 'online_store.db'}?mode=ro",
                                   uri=True, check_same_thread=False)
        self.table = _table_id(store.project, store.get_feature_view(name))
        self.keys, self.version = list(keys), store.config.entity_key_serialization_version
        self.ser, self.EntityKey, self.Value = serialize_entity_key, EntityKey, Value
        self.to_py = feast_value_type_to_python_type

    def __call__(self, rows: list[dict]) -> list:
        eks = [self.ser(self.EntityKey(join_keys=self.keys, entity_values=[
                            self.Value(string_val=row[k]) for k in self.keys]),
                        entity_key_serialization_version=self.version) for row in rows]
        got: dict[bytes, dict] = {}
        sql = (f'select entity_key, feature_name, value from "{self.table}" '
               f'where entity_key in ({", ".join("?" * len(eks))})')
        for ek, feature, blob in self.con.execute(sql, eks):
            v = self.Value()
            v.ParseFromString(blob)
            got.setdefault(ek, {})[feature] = self.to_py(v)
        return [got.get(ek) for ek in eks]


def feast_lookup(store, service):
    def call(rows: list[dict]) -> dict:
        return store.get_online_features(features=service, entity_rows=rows).to_dict()
    return call


def check_equal(feast_out: dict, wide_out: list, feats: list[str]) -> int:
    """Disagreeing (entity, feature) values between Feast's answer and the wide table."""
    bad = 0
    for i, row in enumerate(wide_out):
        for j, f in enumerate(feats):
            if not _same(feast_out[f][i], None if row is None else row[j]):
                bad += 1
    return bad


def latency(paths: LakePaths, store, peer_db: Path, reps: dict[int, int], warmup: int,
            seed: int) -> dict:
    out = {}
    for label, service_name, view, keys in LOOKUPS:
        service = store.get_feature_service(service_name)
        feats = _features(store, view)
        entities = (latest(pl.read_parquet(offline_table(paths, view)), list(keys))
                    .filter(pl.col(PRESENT)).select(keys).rows())
        contenders = {
            "feast": feast_lookup(store, service),
            "wide_sqlite": WidePeer(peer_db, view, keys, feats),
            "feast_sqlite_direct": FeastTablePeer(paths, store, view, keys),
        }
        rng = np.random.default_rng(seed)
        for n, n_reps in reps.items():
            requests = [[dict(zip(keys, entities[i]))
                         for i in rng.choice(len(entities), n, replace=False)]
                        for _ in range(warmup + n_reps)]
            mism = check_equal(contenders["feast"](requests[0]),
                               contenders["wide_sqlite"](requests[0]), feats)
            if mism:
                raise SystemExit(f"{label}: Feast and the wide table disagree on {mism} values")
            times = {c: [] for c in contenders}
            order = list(contenders)
            for r, req in enumerate(requests):
                for c in order[r % 3:] + order[:r % 3]:        # rotate who goes first
                    t0 = time.perf_counter()
                    contenders[c](req)
                    if r >= warmup:
                        times[c].append(time.perf_counter() - t0)
            stats = {c: {"p50_ms": 1e3 * float(np.percentile(t, 50)),
                         "p99_ms": 1e3 * float(np.percentile(t, 99)),
                         "mean_ms": 1e3 * float(np.mean(t))} for c, t in times.items()}
            out[f"{label}:{n}"] = {"service": service_name, "entities": n, "reps": n_reps,
                                   "features": len(feats), "checked_equal_values": n * len(feats),
                                   **stats}
    return out


# --------------------------------------------------------------------------- main
def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=10, help="copies of the demo feature tables")
    ap.add_argument("--source-lake", type=Path, default=REPO / "data_lake")
    ap.add_argument("--reps-1", type=int, default=300, help="requests of 1 entity")
    ap.add_argument("--reps-100", type=int, default=100, help="requests of 100 entities")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, help="kept afterwards (default: a temp dir, removed)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "features.json")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="orphanlake-bench-features-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        offline = source_offline(args.source_lake, work)
        (work / "lake").exists() and shutil.rmtree(work / "lake")
        paths, sizes = build_scaled_lake(offline, work / "lake", args.scale)
        entities = sum(s["entities"] for s in sizes.values())
        print(f"scale {args.scale}×: {entities:,} entities "
              f"({sum(s['history_rows'] for s in sizes.values()):,} history rows) in "
              f"{len(sizes)} views: "
              + ", ".join(f"{k} {v['entities']:,}" for k, v in sizes.items()),
              flush=True)
        peer_db = work / "peer_wide.db"
        mat = {}

        # Feast's own materialize, into an empty store
        store = reset_online(paths)
        start = min(pl.read_parquet(offline_table(paths, v), columns=[EVENT])[EVENT].min()
                    for v in FEATURE_VIEWS) - timedelta(seconds=1)
        end = now_utc() + timedelta(seconds=1)
        with contextlib.redirect_stdout(io.StringIO()):          # its per-view progress lines
            _, s = timed(lambda: store.materialize(start, end))
        counts = feast_table_counts(paths, store)
        mat["feast_materialize"] = {"s": s, "rows": sum(counts.values()), "per_view": counts}
        print(f"feast materialize: {s:.1f} s, {sum(counts.values()):,} entities", flush=True)

        # orphanlake full sync, into an empty store
        store = reset_online(paths)
        with feast_lock(paths):
            report, s = timed(lambda: sync_online(paths, store, full=True))
        rows = sum(r["rows_written"] for r in report.values())
        mat["sync_online_full"] = {"s": s, "rows": rows, "report": report}
        print(f"sync_online full: {s:.1f} s, {rows:,} rows", flush=True)
        assert feast_table_counts(paths, store) == counts, "sync_online wrote other entities"

        # the peer, into an empty database
        written, s = timed(lambda: peer_materialize(paths, store, peer_db))
        mat["peer_full"] = {"s": s, "rows": sum(written.values()), "per_view": written}
        print(f"peer DuckDB → sqlite3 executemany: {s:.1f} s, {sum(written.values()):,} rows",
              flush=True)
        assert written == counts, f"the peer wrote other rows: {written} vs {counts}"
        since = max(pl.read_parquet(offline_table(paths, v), columns=[CREATED])[CREATED].max()
                    for v in FEATURE_VIEWS)

        # incremental: 1 % of every view changed, then sync (ours) / upsert (peer)
        changed = change_slice(paths, CHANGED_FRACTION, args.seed)
        with feast_lock(paths):
            report, s = timed(lambda: sync_online(paths, store))
        rows = sum(r["rows_written"] for r in report.values())
        mat["sync_online_incremental"] = {"s": s, "rows": rows, "report": report,
                                          "changes": changed}
        print(f"sync_online incremental: {s:.2f} s, {rows:,} rows", flush=True)
        written, s = timed(lambda: peer_materialize(paths, store, peer_db, since=since))
        mat["peer_incremental"] = {"s": s, "rows": sum(written.values()), "per_view": written}
        print(f"peer incremental upsert: {s:.2f} s, {sum(written.values()):,} rows", flush=True)
        for m in mat.values():
            m["rows_per_s"] = m["rows"] / m["s"]

        # latency, against the populated stores
        store = feature_store(paths)
        lat = latency(paths, store, peer_db, {1: args.reps_1, 100: args.reps_100}, args.warmup,
                      args.seed)
        online_mib = (feature_dir(paths) / "online_store.db").stat().st_size / 2**20
        peer_mib = peer_db.stat().st_size / 2**20

        # Feast's own incremental path after another 1 % change (last: the stores diverge)
        changed = change_slice(paths, CHANGED_FRACTION, args.seed + 1)
        end = now_utc() + timedelta(seconds=2)
        with contextlib.redirect_stdout(io.StringIO()):
            _, s = timed(lambda: store.materialize_incremental(end_date=end))
        fresh = served_fresh(store, paths, changed)
        mat["feast_materialize_incremental"] = {"s": s, "served_fresh": fresh}
        print(f"feast materialize_incremental: {s:.2f} s; changed entities served with their new "
              "value: "
              + ", ".join(f"{k} {v['fresh']:,}/{v['changed']:,}" for k, v in fresh.items()),
              flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    peer = mat["peer_full"]["rows_per_s"]
    print(f"\nMaterialization, scale {args.scale}× ({entities:,} entity rows, 5 views); "
          f"online store {online_mib:,.0f} MiB (Feast) vs {peer_mib:,.0f} MiB (wide tables)\n")
    print("| path | rows | s | rows/s | peer rows/s ÷ this |")
    print("|---|---:|---:|---:|---:|")
    labels = {"feast_materialize": "Feast `store.materialize` (all views)",
              "sync_online_full": "orphanlake `sync_online(full=True)`",
              "peer_full": "peer: DuckDB → sqlite3 executemany, wide tables",
              "sync_online_incremental":
                  f"orphanlake `sync_online`, {CHANGED_FRACTION:.0%} changed",
              "peer_incremental": f"peer upsert, {CHANGED_FRACTION:.0%} changed"}
    for k, label in labels.items():
        m = mat[k]
        ref = mat["peer_incremental" if "incremental" in k else "peer_full"]["rows_per_s"]
        print(f"| {label} | {m['rows']:,} | {m['s']:.2f} | {m['rows_per_s']:,.0f} "
              f"| {ref / m['rows_per_s']:.1f}× |")
    inc = mat["feast_materialize_incremental"]
    print(f"\nFeast `materialize_incremental` after another {CHANGED_FRACTION:.0%} change: "
          f"{inc['s']:.2f} s; changed entities it serves with the new value, per view "
          "(restate rule): " + ", ".join(f"{k} ({v['restate']}) {v['fresh']:,}/{v['changed']:,}"
                                         for k, v in inc["served_fresh"].items()))
    print("\nOnline retrieval latency (ms)\n")
    print("| lookup | entities | Feast p50 | p99 | wide SQLite p50 | p99 | Feast table direct p50 "
          "| p99 | Feast ÷ wide (p50) | Feast ÷ direct (p50) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, r in lat.items():
        f, w, d = r["feast"], r["wide_sqlite"], r["feast_sqlite_direct"]
        print(f"| {r['service']} | {r['entities']} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} "
              f"| {w['p50_ms']:.3f} | {w['p99_ms']:.3f} | {d['p50_ms']:.2f} | {d['p99_ms']:.2f} "
              f"| {f['p50_ms'] / w['p50_ms']:.0f}× | {f['p50_ms'] / d['p50_ms']:.1f}× |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "scale": args.scale, "source_lake": str(args.source_lake), "views": sizes,
        "entities": entities, "feast": feast.__version__, "duckdb": duckdb.__version__,
        "sqlite": sqlite3.sqlite_version, "python": platform.python_version(),
        "online_store_mib": online_mib, "peer_db_mib": peer_mib,
        "materialize": mat, "latency": lat, "peer_rows_per_s": peer,
    }, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
