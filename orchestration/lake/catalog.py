"""The read-side catalog: ``lake.duckdb`` holds only views over the lake's Parquet.

dbt writes into its own build database, so the catalog is never held by a writer. A
refresh writes a fresh catalog next to the old one and renames it into place, so a
reader sees the previous catalog or the new one, never a half-written file.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from orchestration.settings import RAW_TABLES, LakePaths


def _sql_path(p: Path | str) -> str:
    return str(p).replace("'", "''")


def catalog_views(paths: LakePaths) -> dict[str, str]:
    """View name → the SQL the view selects from."""
    views: dict[str, str] = {}
    for table in RAW_TABLES:
        glob = paths.raw_table(table) / "**" / "*.parquet"
        if paths.raw_table(table).exists():
            views[f"raw_{table}"] = (
                f"select * from read_parquet('{_sql_path(glob)}', union_by_name = true)")
    for folder in (paths.reference, paths.evidence, paths.marts):
        for f in sorted(folder.glob("*.parquet")):
            views[f.stem] = f"select * from read_parquet('{_sql_path(f)}')"
    return views


def publish_catalog(paths: LakePaths) -> dict[str, int]:
    """Rebuild ``lake.duckdb`` and swap it in atomically; returns rows per view."""
    tmp = paths.catalog.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    rows: dict[str, int] = {}
    with duckdb.connect(str(tmp)) as con:
        for name, select in catalog_views(paths).items():
            con.execute(f'create or replace view "{name}" as {select}')
            rows[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
        con.execute("create table _catalog (view_name varchar, n_rows bigint, published_at timestamptz)")
        now = datetime.now(timezone.utc)
        con.executemany("insert into _catalog values (?, ?, ?)",
                        [(k, v, now) for k, v in rows.items()])
    os.replace(tmp, paths.catalog)
    return rows


def connect_readonly(paths: LakePaths) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog (safe while a refresh runs)."""
    if not paths.catalog.exists():
        raise FileNotFoundError(
            f"no catalog at {paths.catalog}: run `orphanlake demo` or `orphanlake refresh` first")
    return duckdb.connect(str(paths.catalog), read_only=True)
