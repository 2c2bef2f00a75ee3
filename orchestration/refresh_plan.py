"""What a refresh rebuilds: only what depends on data that changed since the last complete build.

A refresh runs in two steps (``cli.run_refresh``). First the ingest: every ``raw_*`` asset
and the HPO reference, idempotent per landing file, so with nothing new it rewrites
nothing. Then the assets downstream of the raw tables whose files differ from those the
last complete build was made from, the steps still failing from an earlier refresh, and
the catalog (alone, too, when ``lake.duckdb`` is missing or reads a publication that is
gone). A raw table's fingerprint is its files' names, sizes and modification times
(the ingest only ever adds a file or replaces one by renaming a new one over it, so an
unchanged table keeps all three). The fingerprints the last complete build saw are kept
in ``build/refresh_state.json``, written when both steps succeed; a refresh that stopped
half way therefore leaves the old record, and the next one rebuilds what it missed.

Everything is rebuilt when there is no record, or when the code, the shipped data, the
reference tables or an ``ORPHANLAKE_*`` setting changed since: a new release or a new
HPO release must not leave old results beside new ones.

A batch of new patients thus rebuilds the patient side, the models that must see every
patient (ranker training, cohort targets) and the catalog, and leaves the compound,
screening and design steps alone; a new plate run leaves the patients alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from models.hpo_index import INDEX_FILENAME
from orchestration.lake.io import write_text_atomic
from orchestration.settings import (NOT_SETTINGS, NOT_SETTINGS_PREFIXES, RAW_TABLES, REPO_ROOT,
                                    LakePaths)

STATE_VERSION = 1
# where the code and the data shipped with it live (a change in any of them rebuilds all)
CODE_DIRS = ("orchestration", "models", "features", "dbt_project/models", "dbt_project/macros",
             "dbt_project/tests")
CODE_FILES = ("dbt_project/dbt_project.yml", "dbt_project/profiles.yml", "pyproject.toml")
# written by the HPO reference step (assets/reference.py): the release's version and its
# source files' sizes and modification times
HPO_RELEASE_FILES = ("release.json", f"{INDEX_FILENAME}.source.json")
# the one dbt model that reads the raw quarantine table (written by every domain's ingest)
QUARANTINE_READER = "stg_quarantine"


def state_file(paths: LakePaths) -> Path:
    return paths.build_db.parent / "refresh_state.json"


def _digest(items) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(repr(item).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def table_fingerprint(paths: LakePaths, table: str) -> str:
    """A raw table's files: names, sizes and modification times ('' when it has none)."""
    root = paths.raw_table(table)
    if not root.is_dir():
        return ""
    files = []
    for f in sorted(root.rglob("*.parquet")):
        if f.name.startswith(".") or not f.is_file():     # writers' temporary files
            continue
        st = f.stat()
        files.append((f.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return _digest(files) if files else ""


def reference_fingerprint(paths: LakePaths) -> str:
    """Which HPO release the reference tables were made from (by content: the first step
    rewrites them every refresh). Only the files naming the release: the tables follow
    from it and the code, and other steps keep files of their own in reference/."""
    h = hashlib.sha256()
    for name in HPO_RELEASE_FILES:
        f = paths.reference / name
        h.update(name.encode())
        h.update(f.read_bytes() if f.is_file() else b"")
    return h.hexdigest()[:32]


def code_fingerprint(root: Path = REPO_ROOT) -> str:
    """The code and shipped data (``CODE_DIRS``, ``CODE_FILES``) by content."""
    h = hashlib.sha256()
    files = [root / f for f in CODE_FILES]
    for d in CODE_DIRS:
        files += sorted(p for p in (root / d).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for f in files:
        if f.is_file():
            h.update(f.relative_to(root).as_posix().encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:32]


def settings_fingerprint(environ=None) -> str:
    env = os.environ if environ is None else environ
    return _digest(sorted((k, v) for k, v in env.items()
                          if k.startswith("ORPHANLAKE_") and k not in NOT_SETTINGS
                          and not k.startswith(NOT_SETTINGS_PREFIXES)))


def current_state(paths: LakePaths) -> dict:
    return {"version": STATE_VERSION, "code": code_fingerprint(),
            "settings": settings_fingerprint(), "reference": reference_fingerprint(paths),
            "tables": {t: table_fingerprint(paths, t) for t in RAW_TABLES}}


def read_state(paths: LakePaths) -> dict | None:
    try:
        state = json.loads(state_file(paths).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("version") == STATE_VERSION else None


def write_state(paths: LakePaths, state: dict) -> None:
    write_text_atomic(state_file(paths), json.dumps(state, indent=1, sort_keys=True))


@dataclass
class Plan:
    """What the second step of a refresh rebuilds. ``rebuild_all``: everything, for
    ``reason``; else the assets downstream of ``changed_tables`` and ``failing_steps``."""

    rebuild_all: bool
    reason: str
    changed_tables: list[str] = field(default_factory=list)
    failing_steps: list[str] = field(default_factory=list)
    # lake.duckdb is missing or names a publication that is gone: publish it again
    stale_catalog: bool = False

    @property
    def nothing(self) -> bool:
        return not (self.rebuild_all or self.changed_tables or self.failing_steps
                    or self.stale_catalog)

    def describe(self) -> str:
        if self.rebuild_all:
            return f"rebuilding everything: {self.reason}"
        if self.nothing:
            return "nothing changed since the last complete build: nothing to rebuild"
        parts = []
        if self.changed_tables:
            parts.append("new or changed raw tables " + ", ".join(self.changed_tables))
        if self.failing_steps:
            parts.append("steps failing since an earlier refresh " + ", ".join(self.failing_steps))
        if self.stale_catalog:
            parts.append("the catalog (lake.duckdb is missing or reads a publication that is gone)")
        return "rebuilding what depends on " + "; ".join(parts)


def catalog_is_current(paths: LakePaths) -> bool:
    """``lake.duckdb`` exists and every ``published/<stamp>/`` its views read is on disk.
    Not so when the catalog was deleted, or when a publication was discarded after it (an
    object-store working copy drops what a failed push left; lake/objectstore.py)."""
    import duckdb

    from orchestration.lake.catalog import PUBLISHED

    if not paths.catalog.is_file():
        return False
    try:
        with duckdb.connect(str(paths.catalog), read_only=True) as con:
            sql = " ".join(r[0] for r in con.execute(
                "select sql from duckdb_views() where not internal").fetchall())
    except duckdb.Error:
        return False
    stamps = set(re.findall(rf"{PUBLISHED}/([0-9]{{8}}T[0-9]+Z)/", sql))
    return all((paths.home / PUBLISHED / stamp).is_dir() for stamp in stamps)


def plan_rebuild(previous: dict | None, current: dict, failing: list[str],
                 catalog_current: bool = True) -> Plan:
    """Compare the state the last complete build saw with the lake's state after ingest."""
    if previous is None:
        return Plan(True, "no record of a complete build of this lake")
    for part, what in (("code", "the code or its shipped data"),
                       ("settings", "an ORPHANLAKE_* setting"),
                       ("reference", "the HPO reference")):
        if previous.get(part) != current[part]:
            return Plan(True, f"{what} changed since the last complete build")
    before = previous.get("tables", {})
    changed = sorted(t for t, fp in current["tables"].items() if before.get(t, "") != fp)
    return Plan(False, "", changed, sorted(failing), stale_catalog=not catalog_current)


def changed_asset_roots(plan: Plan) -> list[str]:
    """The asset keys whose downstream the plan rebuilds (raw tables by their asset;
    the quarantine table by the model that reads it)."""
    return [QUARANTINE_READER if t == "quarantine" else f"raw_{t}" for t in plan.changed_tables]
