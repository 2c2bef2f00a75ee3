"""The read-side catalog: ``lake.duckdb`` holds only views over the lake's Parquet.

dbt writes into its own build database, so the catalog is never held by a writer. A
refresh writes a fresh catalog next to the old one and renames it into place, so a
reader sees the previous catalog or the new one, never a half-written file. The marts
(which dbt rewrites in place) and the evidence they were built from are first copied into
``published/<stamp>/`` and the views point there, so one publication is consistent; the
previous one is kept for readers still using it.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from orchestration.settings import RAW_TABLES, LakePaths


def _sql_path(p: Path | str) -> str:
    return str(p).replace("'", "''")


KEEP_PUBLICATIONS = 2


def catalog_views(paths: LakePaths, published: Path) -> dict[str, str]:
    """View name → the SQL the view selects from (marts and evidence from ``published``)."""
    views: dict[str, str] = {}
    for table in RAW_TABLES:
        glob = paths.raw_table(table) / "**" / "*.parquet"
        if paths.raw_table(table).exists():
            views[f"raw_{table}"] = (
                f"select * from read_parquet('{_sql_path(glob)}', union_by_name = true)")
    # reference files are only ever replaced by rename, so they are safe to read in place
    for folder in (paths.reference, published):
        for f in sorted(folder.glob("*.parquet")):
            views[f.stem] = f"select * from read_parquet('{_sql_path(f)}')"
    # the feature store's history tables, also only ever replaced by rename
    for f in sorted((paths.features / "offline").glob("*.parquet")):
        views[f"feature_{f.stem}"] = f"select * from read_parquet('{_sql_path(f)}')"
    return views


def publish_catalog(paths: LakePaths) -> dict[str, int]:
    """Rebuild ``lake.duckdb`` and swap it in atomically; returns rows per view."""
    now = datetime.now(timezone.utc)
    published = paths.home / "published" / now.strftime("%Y%m%dT%H%M%S%fZ")
    published.mkdir(parents=True)
    for folder in (paths.evidence, paths.marts):
        for f in sorted(folder.glob("*.parquet")):
            shutil.copy2(f, published / f.name)
    tmp = paths.catalog.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    rows: dict[str, int] = {}
    with duckdb.connect(str(tmp)) as con:
        for name, select in catalog_views(paths, published).items():
            con.execute(f'create or replace view "{name}" as {select}')
            rows[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
        con.execute("create table _catalog (view_name varchar, n_rows bigint, published_at timestamptz)")
        con.executemany("insert into _catalog values (?, ?, ?)",
                        [(k, v, now) for k, v in rows.items()])
    os.replace(tmp, paths.catalog)
    for old in sorted((paths.home / "published").iterdir())[:-KEEP_PUBLICATIONS]:
        shutil.rmtree(old, ignore_errors=True)
    return rows


def connect_readonly(paths: LakePaths) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog (safe while a refresh runs)."""
    if not paths.catalog.exists():
        raise FileNotFoundError(
            f"no catalog at {paths.catalog}: run `orphanlake demo` or `orphanlake refresh` first")
    return duckdb.connect(str(paths.catalog), read_only=True)
