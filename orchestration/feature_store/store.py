"""Open the feature repository (``features/``) against one lake.

The repo's ``feature_store.yaml`` names the default lake; ``config_dict`` points the
registry and the SQLite online store at the lake in use, and ``apply_repo`` applies the
Feast objects built from the feature contract for that lake
(``definitions.build_definitions(paths)``), so every source path is that lake's. The lake
is always an argument: nothing here reads or sets the process environment's lake.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import yaml

from orchestration.settings import REPO_ROOT, LakePaths

FEATURE_REPO = REPO_ROOT / "features"
FEATURE_STORE_YAML = FEATURE_REPO / "feature_store.yaml"
# what the applied objects are made of: the contract and the code turning it into Feast objects
DEFINITION_FILES = (FEATURE_REPO / "contract.py", Path(__file__).with_name("definitions.py"))
APPLIED_STAMP = ".applied.sha256"


def feature_dir(paths: LakePaths) -> Path:
    d = paths.features
    (d / "offline").mkdir(parents=True, exist_ok=True)
    return d


def offline_table(paths: LakePaths, name: str) -> Path:
    """The Parquet feature table (the offline source) of a view or label set."""
    return feature_dir(paths) / "offline" / f"{name}.parquet"


@contextlib.contextmanager
def feast_lock(paths: LakePaths) -> Iterator[None]:
    """One Feast writer per lake: the file registry and the SQLite online store are
    read-modify-write, so a second refresh waits here instead of interleaving."""
    path = feature_dir(paths) / ".feast.lock"
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def config_dict(paths: LakePaths) -> dict:
    """feature_store.yaml with this lake's registry and online store paths."""
    raw = yaml.safe_load(os.path.expandvars(FEATURE_STORE_YAML.read_text()))
    d = feature_dir(paths)
    registry = raw.get("registry")
    registry = dict(registry) if isinstance(registry, dict) else {}
    raw["registry"] = {**registry, "path": str(d / "registry.db")}
    online = dict(raw.get("online_store") or {"type": "sqlite"})
    if online.get("type", "sqlite") == "sqlite":  # a Redis or other store keeps its own address
        online["path"] = str(d / "online_store.db")
    raw["online_store"] = online
    return raw


def local_online_db(paths: LakePaths) -> Path | None:
    """The SQLite online store file, or None when the store is elsewhere (Redis)."""
    online = config_dict(paths)["online_store"]
    return Path(online["path"]) if online.get("type", "sqlite") == "sqlite" else None


def write_lake_yaml(paths: LakePaths) -> Path:
    """``<lake>/features/feature_store.yaml``: the repo's config with this lake's
    paths, for ``feast -c features -f <it> ...`` on a lake other than the default."""
    target = feature_dir(paths) / "feature_store.yaml"
    text = ("# written by orphanlake for this lake; use with: feast -c "
            f"{FEATURE_REPO} -f {target} <command>\n"
            + yaml.safe_dump(config_dict(paths), sort_keys=False))
    if not target.exists() or target.read_text() != text:
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
    return target


def feature_store(paths: LakePaths):
    """A FeatureStore on this lake's registry, offline tables and online store."""
    from feast import FeatureStore, RepoConfig

    config = RepoConfig(**config_dict(paths))
    config.repo_path = FEATURE_REPO
    return FeatureStore(config=config)


def _definitions_hash(paths: LakePaths) -> str:
    import feast

    h = hashlib.sha256()
    for p in (*DEFINITION_FILES, FEATURE_STORE_YAML):
        h.update(p.read_bytes())
    h.update(str(paths.home).encode())
    h.update(feast.__version__.encode())
    return h.hexdigest()


def apply_repo(paths: LakePaths, force: bool = False) -> dict:
    """``feast apply`` of the contract's objects for this lake, skipped when neither the
    definitions nor the lake moved since the last apply. Objects no longer declared are
    removed from the registry. Call under ``feast_lock``."""
    stamp = feature_dir(paths) / APPLIED_STAMP
    digest = _definitions_hash(paths)
    write_lake_yaml(paths)
    registry_file = feature_dir(paths) / "registry.db"
    online_db = local_online_db(paths)  # apply creates its tables
    store_lost = online_db is not None and not online_db.exists()
    if (not force and registry_file.exists() and not store_lost and stamp.exists()
            and stamp.read_text() == digest):
        return {"applied": False}
    from orchestration.feature_store.definitions import build_definitions

    store = feature_store(paths)
    objects = build_definitions(paths).objects()
    declared = {(type(o).__name__, o.name) for o in objects}
    stale = []
    if registry_file.exists():
        for existing in (store.list_feature_services() + store.list_on_demand_feature_views()
                         + store.list_feature_views() + store.list_entities()):
            if (type(existing).__name__, existing.name) not in declared:
                stale.append(existing)
    if store_lost:
        # apply creates an empty store: whatever the last sync recorded is not in it
        (feature_dir(paths) / "online_state.json").unlink(missing_ok=True)
    store.apply(objects, objects_to_delete=stale, partial=False)
    tmp = stamp.with_name(f".{stamp.name}.tmp")
    tmp.write_text(digest)
    os.replace(tmp, stamp)
    return {"applied": True, "objects": len(objects), "removed": [o.name for o in stale]}
