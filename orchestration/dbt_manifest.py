"""dbt's manifest, parsed once per code version and kept out of the source tree.

Dagster builds the dbt assets from ``manifest.json``. dagster-dbt's default
(``DbtProject.prepare_if_dev``) re-runs ``dbt parse`` in every process that loads the code
location under ``dagster dev`` (the code server and every run worker) and writes the result
into ``dbt_project/target/``. Here the manifest is parsed once per *code version*: the
folder is named by a hash of every file of the dbt project (models, macros, tests,
``dbt_project.yml``, ``profiles.yml``) and of the dbt-core, dbt-duckdb and dagster-dbt
versions, and lives in the user's cache (``$XDG_CACHE_HOME/orphanlake/dbt-manifest/<key>``,
default ``~/.cache``). The CLI, the UI's code server and its run workers all read the same
folder; a change to any dbt file makes a new key, so ``dagster dev`` still picks edits up on
reload.

The manifest is parsed with the lake root set to the literal ``<lake_home>``: the sources'
``external_location`` in it reads ``read_parquet('<lake_home>/raw/...')`` whichever lake is
in use, so one parse serves every lake. Dagster only takes the asset
graph from it; each ``dbt build`` parses the project itself against the run's lake, with
its artifacts in that lake (:func:`dbt_target_path`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, LakePaths

# what the lake root, {{ var('lake_home') }}, renders to in the cached manifest
PARSE_HOME = "<lake_home>"
# dbt's own outputs inside a project folder: never part of the code version
_NOT_SOURCES = {"target", "logs", "dbt_packages", ".user.yml"}
_VERSIONED = ("dbt-core", "dbt-duckdb", "dagster-dbt")
_KEEP = 8  # manifests of older code versions kept in the cache


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/orphanlake/dbt-manifest`` (``~/.cache`` by default), or a folder in
    the temporary directory when the home folder is not writable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = base / "orphanlake" / "dbt-manifest"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:
        root = Path(tempfile.gettempdir()) / f"orphanlake-{os.getuid()}" / "dbt-manifest"
        root.mkdir(parents=True, exist_ok=True)
        return root


def project_files(project_dir: Path) -> list[Path]:
    """Every file of the dbt project that dbt reads (dbt's own outputs left out, and not
    walked: an old ``target/`` may hold thousands of files)."""
    files = []
    for top, dirs, names in os.walk(project_dir):
        if Path(top) == project_dir:
            dirs[:] = [d for d in dirs if d not in _NOT_SOURCES]
            names = [n for n in names if n not in _NOT_SOURCES]
        files += [Path(top) / n for n in names]
    return sorted(files)


def manifest_key(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """Hash of the dbt project's files (names and contents) and the dbt versions."""
    h = hashlib.sha256()
    for p in project_files(project_dir):
        h.update(p.relative_to(project_dir).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    for dist in _VERSIONED:
        try:
            h.update(f"{dist}=={version(dist)}\0".encode())
        except PackageNotFoundError:
            h.update(f"{dist}==none\0".encode())
    return h.hexdigest()[:20]


def _dbt_executable() -> str:
    # `.venv/bin/orphanlake` runs without the venv activated: dbt lives beside this interpreter
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def _parse(project_dir: Path, into: Path) -> None:
    env = {**os.environ,
           "DBT_TARGET_PATH": str(into), "DBT_LOG_PATH": str(into),
           "DBT_PROFILES_DIR": str(project_dir), "DBT_PROJECT_DIR": str(project_dir),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    lake_vars = json.dumps({"lake_home": PARSE_HOME})
    done = subprocess.run([_dbt_executable(), "parse", "--quiet", "--vars", lake_vars],
                          cwd=project_dir, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0 or not (into / "manifest.json").exists():
        raise RuntimeError(f"dbt parse failed ({done.returncode}):\n{done.stdout[-4000:]}"
                           f"\n{done.stderr[-4000:]}")


def _prune(root: Path, keep: Path) -> None:
    older = sorted((d for d in root.iterdir() if d.is_dir() and d != keep and not d.name.startswith(".")),
                   key=lambda d: d.stat().st_mtime, reverse=True)
    for d in older[_KEEP - 1:]:
        shutil.rmtree(d, ignore_errors=True)


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR, root: Path | None = None) -> Path:
    """The folder holding ``manifest.json`` for this code version, parsing it first if no
    process has yet. Processes that start together (the UI's code server, the daemon, run
    workers, the CLI) wait on one lock and parse once; the folder appears complete or not
    at all (parsed into a temporary folder, then renamed)."""
    root = root or cache_root()
    final = root / manifest_key(project_dir)
    if (final / "manifest.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".parse.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / "manifest.json").exists():
            tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}-"))
            try:
                _parse(project_dir, tmp)
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            _prune(root, final)
    return final


def fresh_dbt_target(paths: LakePaths, step: str) -> Path:
    """Where a dbt step's ``dbt build`` writes its artifacts and log: inside the lake
    (``build/dbt/<step>/``), one folder per step, emptied before each build (refreshes of a
    lake never overlap: they hold its writer lock) except for dbt's partial parse, which the
    next build reuses."""
    target = paths.build_db.parent / "dbt" / step
    target.mkdir(parents=True, exist_ok=True)
    for p in target.iterdir():
        if p.name != "partial_parse.msgpack":
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return target
