"""The read-side catalog: ``lake.duckdb`` holds only views over the lake's Parquet.

dbt writes into its own build database, so the catalog is never held by a writer. A
refresh writes a fresh catalog next to the old one and renames it into place, so a
reader sees the previous catalog or the new one, never a half-written file.

One publication is one point in time. Every file a view reads is first gathered into
``published/<stamp>/``: the marts (which dbt rewrites in place) and the evidence are
copied; the raw layer, the reference tables and the feature history are hard-linked
(their writers only ever replace a file by renaming a new one over it, so a link keeps
the content it had when it was published; a copy where a link fails). A refresh that
fails after ingest therefore changes nothing a reader sees, raw views included, until the
next publication. The previous publication is kept for readers still using it.

The lake is relocatable: views name their files relative to the lake root, as
``coalesce(getvariable('orphanlake_root'), '') || 'published/…'``. orphanlake's own
connections set that variable to the lake they opened; any other DuckDB client reads the
files relative to its working directory or its ``file_search_path``, so
``cd <lake> && duckdb -readonly lake.duckdb`` or ``SET file_search_path = '<lake>'`` works,
and a copied, moved or restored lake reads its own files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from orchestration.lake.io import read_mart
from orchestration.settings import RAW_TABLES, LakePaths

KEEP_PUBLICATIONS = 2
ROOT_VARIABLE = "orphanlake_root"
PUBLISHED = "published"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _lake_file(relative: str) -> str:
    """SQL for a path under the lake root: absolute in orphanlake's connections, relative
    (to the working directory or ``file_search_path``) in any other client."""
    return f"coalesce(getvariable('{ROOT_VARIABLE}'), '') || {_literal(relative)}"


def _root(paths: LakePaths) -> str:
    return paths.home.resolve().as_posix() + "/"


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:          # another file system, or links not supported: copy
        shutil.copy2(src, dst)


def snapshot(paths: LakePaths, published: Path) -> int:
    """Gather into ``published`` every file the catalog's views read (see module doc);
    returns how many files were hard-linked."""
    published.mkdir(parents=True)
    for f in sorted(paths.evidence.glob("*.parquet")):
        shutil.copy2(f, published / f.name)
    for f in sorted(paths.marts.glob("*.parquet")):
        mart = read_mart(f)
        if mart.height:
            shutil.copy2(f, published / f.name)
        else:                   # no dbt-duckdb placeholder row in an empty mart's view
            mart.write_parquet(published / f.name)
    linked = 0
    sources = [(paths.raw_table(t), published / "raw" / t, "**/*.parquet") for t in RAW_TABLES]
    sources += [(paths.reference, published / "reference", "*.parquet"),
                (paths.features / "offline", published / "features", "*.parquet")]
    made: set[Path] = set()
    for src_root, dst_root, pattern in sources:
        for f in sorted(src_root.glob(pattern)) if src_root.is_dir() else ():
            if f.name.startswith(".") or not f.is_file():   # writers' temporary files
                continue
            dst = dst_root / f.relative_to(src_root)
            if dst.parent not in made:
                dst.parent.mkdir(parents=True, exist_ok=True)
                made.add(dst.parent)
            _link_or_copy(f, dst)
            linked += 1
    return linked


def catalog_sources(paths: LakePaths, published: Path) -> dict[str, tuple[str, bool]]:
    """View name → (the file it reads, or for a raw table the glob of its files, relative to
    the lake root; whether it is a raw table's glob, read with ``union_by_name``), all from
    the snapshot ``published``. The object store (``lake/objectstore.py``) builds its
    catalog from the same list."""
    def rel(p: Path) -> str:
        return p.relative_to(paths.home).as_posix()

    sources: dict[str, tuple[str, bool]] = {}
    for table in RAW_TABLES:
        folder = published / "raw" / table
        if folder.is_dir() and any(folder.glob("**/*.parquet")):
            sources[f"raw_{table}"] = (rel(folder) + "/**/*.parquet", True)
    for folder, prefix in ((published / "reference", ""), (published, ""),
                           (published / "features", "feature_")):
        for f in sorted(folder.glob("*.parquet")):
            sources[f"{prefix}{f.stem}"] = (rel(f), False)
    return sources


def view_select(files_sql: str, union_by_name: bool) -> str:
    """A catalog view's query over ``files_sql`` (one path expression or a list of them)."""
    return f"select * from read_parquet({files_sql}{', union_by_name = true' if union_by_name else ''})"


def catalog_views(paths: LakePaths, published: Path) -> dict[str, str]:
    """View name → the SQL the view selects from, all from the snapshot ``published``."""
    return {name: view_select(_lake_file(relative), union)
            for name, (relative, union) in catalog_sources(paths, published).items()}


def publish_catalog(paths: LakePaths) -> dict[str, int]:
    """Snapshot the lake, rebuild ``lake.duckdb`` over it and swap it in atomically;
    returns rows per view. Callers hold the lake's writer lock."""
    now = datetime.now(timezone.utc)
    published = paths.home / PUBLISHED / now.strftime("%Y%m%dT%H%M%S%fZ")
    snapshot(paths, published)
    tmp = paths.catalog.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    rows: dict[str, int] = {}
    with duckdb.connect(str(tmp)) as con:
        con.execute(f"set variable {ROOT_VARIABLE} = {_literal(_root(paths))}")
        for name, select in catalog_views(paths, published).items():
            con.execute(f'create or replace view "{name}" as {select}')
            rows[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
        con.execute("create table _catalog (view_name varchar, n_rows bigint, published_at timestamptz)")
        con.executemany("insert into _catalog values (?, ?, ?)",
                        [(k, v, now) for k, v in rows.items()])
    os.replace(tmp, paths.catalog)
    for old in sorted((paths.home / PUBLISHED).iterdir())[:-KEEP_PUBLICATIONS]:
        shutil.rmtree(old, ignore_errors=True)
    return rows


def published_file(paths: LakePaths, name: str) -> Path | None:
    """``published/<stamp>/<name>.parquet`` of the newest publication that holds it (what
    readers of the lake saw last: a refresh reads its previous results here, never from a
    file it is rewriting), or None when no publication does."""
    root = paths.home / PUBLISHED
    stamps = sorted((d for d in root.iterdir() if d.is_dir()), reverse=True) if root.is_dir() else []
    return next((d / f"{name}.parquet" for d in stamps if (d / f"{name}.parquet").is_file()), None)


def connect_readonly(paths: LakePaths) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog (safe while a refresh runs) that can read
    nothing but the published files: no other file, no extension, no setting change.

    The catalog is attached read-only to a private in-memory database (so this
    connection's settings are its own, not those of another connection to the same file),
    the lake root variable is set, file access is limited to ``published/`` and the
    configuration is locked. Writes through ``COPY``, ``EXPORT`` or ``ATTACH`` into
    ``published/`` are still possible on this connection: run users' SQL through
    ``orchestration.lake.sql_guard.run_read_only``.
    """
    if not paths.catalog.exists():
        raise FileNotFoundError(
            f"no catalog at {paths.catalog}: run `orphanlake demo` or `orphanlake refresh` first")
    root = _root(paths)
    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False,
                                             "autoinstall_known_extensions": False})
    try:
        con.execute(f"set variable {ROOT_VARIABLE} = {_literal(root)}")
        con.execute(f"set file_search_path = {_literal(root)}")
        # DuckDB lets a query read its spill folder, by default .tmp/ in the working
        # directory: give it one of its own that holds nothing else (made only if it spills)
        spill = Path(tempfile.gettempdir()) / f"orphanlake-sql-{uuid.uuid4().hex}"
        con.execute(f"set temp_directory = {_literal(spill.as_posix())}")
        con.execute(f"attach {_literal(str(paths.catalog.resolve()))} as lake (read_only)")
        con.execute("use lake")
        con.execute(f"set allowed_directories = [{_literal(root + PUBLISHED + '/')}]")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
