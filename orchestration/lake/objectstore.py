"""The lake on S3-compatible object storage: the bucket is the system of record, a refresh
works in a local working copy, and this module is the one filesystem layer between them.

``ORPHANLAKE_HOME=s3://bucket/prefix`` (or ``--home s3://…``) names such a lake. The
bucket holds, under the prefix:

- ``landing/…``: the inbox. Instruments and people write here; orphanlake only reads it.
- ``data/<stamp>/<path>``: immutable objects, each a file of the lake as a refresh left it
  (``raw/…``, ``evidence/…``, ``models/…``, ``features/…``, ``published/<stamp>/…``). A
  push uploads only content the previous publication does not already hold (by sha256);
  a file whose content is unchanged keeps naming the object an earlier push uploaded.
- ``catalogs/<stamp>.duckdb``: the publication's catalog, views over ``data/…`` objects.
- ``publications/<stamp>.json``: the manifest, every lake path → object key, size, ETag,
  sha256.
- ``_publication.json``: the pointer, naming the current manifest. Written last, by one
  PUT (atomic on S3): readers and the next refresh follow it only, so an upload that
  failed half-way shows nothing, and the next refresh pulls the last good publication
  and uploads again. Objects no kept manifest names (an earlier failed upload's,
  publications older than the previous one) are deleted after the pointer moves.

A refresh (``refresh_on_object_store``): ``pull`` the pointer's state and the landing
objects into the working copy (changed ones only, by key, size and ETag; local files the
pointer does not name are removed, so a failed refresh's leftovers are discarded), run the
unchanged refresh on it, and ``push`` what it published. The working copy is a cache:
deleting it costs one full download. ``connect_published`` opens the current publication
read-only (DuckDB with s3fs registered as its filesystem; DuckDB's httpfs extension is not
needed).

Configuration is the standard AWS one (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``,
``AWS_PROFILE``, ``~/.aws/config`` and ``credentials``, instance roles), plus
``ORPHANLAKE_S3_ADDRESSING_STYLE`` (``path``/``virtual``/``auto``, else botocore's own
``s3.addressing_style`` from the AWS config), ``ORPHANLAKE_S3_CONNECT_TIMEOUT`` (s, default
5), ``ORPHANLAKE_S3_READ_TIMEOUT`` (s, default 60) and ``ORPHANLAKE_S3_ATTEMPTS`` (default
3). Nothing of it is written into the lake: the catalog names objects relative to the lake
root (a variable set by the reader), the manifest names keys relative to the prefix.
One writer at a time: the working copy's writer lock covers one machine only; across
machines a push refuses to move a pointer another refresh has moved since this one pulled
(a conditional PUT, ``If-Match`` the pulled ETag; ``ORPHANLAKE_S3_CONDITIONAL_WRITES=0``
where a store rejects those, leaving a re-read just before the PUT).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from orchestration.settings import LakePaths, workdir_for

POINTER = "_publication.json"
MANIFESTS = "publications"
CATALOGS = "catalogs"
DATA = "data"
LANDING = "landing"
SYNC_RECORD = ".orphanlake-sync.json"
FORMAT = 1
# Working-copy entries that are never uploaded: the inbox (pulled, never pushed), the
# simulator's hidden truth, dbt's build database, Dagster's home, logs, the local catalog
# (the bucket gets its own) and the sync record.
LOCAL_ONLY = frozenset({LANDING, "truth", "build", ".dagster", "logs", "lake.duckdb",
                        "lake.duckdb.tmp", SYNC_RECORD})


class ObjectStoreError(RuntimeError):
    """An object-store operation failed: the message names endpoint, bucket, key, reason."""


class UnsafeKey(ValueError):
    """An object key that cannot become a path in the working copy."""


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def safe_relpath(rel: str) -> str:
    """``rel`` when it is a plain relative path (``a/b/c``); UnsafeKey when it is absolute,
    has an empty, ``.`` or ``..`` part, a backslash or a control character."""
    if not rel:
        raise UnsafeKey("empty key")
    if rel.startswith("/") or "\\" in rel:
        raise UnsafeKey(f"{rel!r}: absolute or has a backslash")
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        raise UnsafeKey(f"{rel!r}: has a control character")
    if any(part in ("", ".", "..") for part in rel.split("/")):
        raise UnsafeKey(f"{rel!r}: has an empty, '.' or '..' part")
    return rel


def local_path(home: Path, rel: str) -> Path:
    """The working-copy path of lake path ``rel``, checked to stay inside ``home``."""
    path = home.joinpath(*safe_relpath(rel).split("/"))
    root = home.resolve()
    resolved = path.resolve()
    if root not in resolved.parents:
        raise UnsafeKey(f"{rel!r} resolves to {resolved}, outside the working copy {root}")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Manifest:
    """One publication: lake path → {key, size, etag, sha256} (keys relative to the prefix)."""

    stamp: str | None = None
    files: dict[str, dict] = field(default_factory=dict)
    catalog: str | None = None
    published_at: str | None = None

    def as_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "stamp": self.stamp, "published_at": self.published_at,
                           "catalog": self.catalog, "files": self.files},
                          indent=1, sort_keys=True).encode()

    @classmethod
    def parse(cls, data: bytes) -> "Manifest":
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown manifest format {doc.get('format')!r}")
        for rel, entry in doc["files"].items():
            safe_relpath(rel)
            safe_relpath(entry["key"])
        safe_relpath(doc["catalog"])
        return cls(doc["stamp"], doc["files"], doc["catalog"], doc.get("published_at"))


@dataclass
class Pulled:
    """What a pull left in the working copy."""

    manifest: Manifest
    pointer_etag: str | None = None   # the pointer's ETag when pulled (None: no pointer yet)
    downloaded: int = 0
    kept: int = 0
    removed: int = 0
    landing_downloaded: int = 0
    landing_kept: int = 0
    bytes_downloaded: int = 0
    refused: list[str] = field(default_factory=list)


class ObjectStore:
    """One lake on an S3-compatible store: ``s3://bucket/prefix``."""

    def __init__(self, uri: str, fs=None):
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri}")
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri}")
        self.uri = uri.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            safe_relpath(self.prefix)
        self.fs = fs if fs is not None else self._filesystem()

    @staticmethod
    def _filesystem():
        try:
            import s3fs
        except ImportError as exc:     # the `scale` extra
            raise ObjectStoreError("a lake on object storage needs s3fs: pip install "
                                   "'orphanlake[scale]'") from exc
        connect = _env_float("ORPHANLAKE_S3_CONNECT_TIMEOUT", 5)
        read = _env_float("ORPHANLAKE_S3_READ_TIMEOUT", 60)
        attempts = int(_env_float("ORPHANLAKE_S3_ATTEMPTS", 3))
        config = {"connect_timeout": connect, "read_timeout": read,
                  "retries": {"max_attempts": attempts, "mode": "standard"}}
        style = os.environ.get("ORPHANLAKE_S3_ADDRESSING_STYLE")
        if style:
            if style not in ("path", "virtual", "auto"):
                raise ValueError(f"ORPHANLAKE_S3_ADDRESSING_STYLE must be path, virtual or auto, "
                                 f"not {style!r}")
            config["s3"] = {"addressing_style": style}
        # endpoint, region and credentials: botocore's own chain (AWS_ENDPOINT_URL,
        # AWS_DEFAULT_REGION, AWS_PROFILE, ~/.aws/config and credentials, roles)
        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False,
                               config_kwargs=config)
        fs.retries = attempts            # s3fs's own retry loop around each call
        fs.connect_timeout, fs.read_timeout = connect, read
        return fs

    # -- naming ------------------------------------------------------------------------
    def key(self, rel: str) -> str:
        """``bucket/prefix/rel`` as s3fs names it."""
        return "/".join(p for p in (self.bucket, self.prefix, rel) if p)

    def url(self, rel: str = "") -> str:
        return "s3://" + self.key(rel)

    @property
    def endpoint(self) -> str:
        endpoint = getattr(self.fs, "endpoint_url", None) or (self.fs.client_kwargs or {}).get("endpoint_url")
        if not endpoint and getattr(self.fs, "_s3", None) is not None:
            endpoint = self.fs._s3.meta.endpoint_url      # what botocore resolved
        return endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
            "AWS_ENDPOINT_URL") or "the default AWS endpoint"

    @contextlib.contextmanager
    def calling(self, what: str, rel: str | None = None) -> Iterator[None]:
        """Turn a failure of ``what`` on ``rel`` into one ObjectStoreError naming the endpoint,
        bucket and key and the likely reason."""
        try:
            yield
        except ObjectStoreError:
            raise
        except Exception as exc:     # noqa: BLE001 - every failure gets the same framing
            where = f"endpoint {self.endpoint}, bucket {self.bucket}"
            if rel is not None:
                where += f", key {self.key(rel)[len(self.bucket) + 1:]}"
            raise ObjectStoreError(f"object store: {what} failed ({where}): "
                                   f"{_reason(exc)}") from exc

    # -- checks and small objects ------------------------------------------------------
    def check(self) -> None:
        """The endpoint answers, the bucket exists and the credentials are accepted."""
        from fsspec.asyn import sync

        with self.calling("checking the bucket"):
            try:
                sync(self.fs.loop, self.fs._call_s3, "head_bucket", Bucket=self.bucket)
            except FileNotFoundError as exc:
                raise ObjectStoreError(
                    f"object store: the bucket {self.bucket} does not exist at endpoint "
                    f"{self.endpoint} (create it, or fix the bucket in {self.uri})") from exc

    def read_bytes(self, rel: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        with self.calling("reading", rel):
            try:
                return self.fs.cat_file(self.key(rel))
            except FileNotFoundError:
                return None

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.calling("writing", rel):
            self.fs.pipe_file(self.key(rel), data)

    def list(self, rel: str) -> dict[str, dict]:
        """Objects under ``rel/``: path relative to the prefix → {size, etag}."""
        base = self.key(rel)
        with self.calling("listing", rel + "/"):
            found = self.fs.find(base, detail=True)
        start = len(self.key("")) + 1
        return {path[start:]: {"size": int(info["size"]), "etag": info.get("ETag")}
                for path, info in found.items()
                if info.get("type") == "file" and not path.endswith("/")}

    # -- the current publication -------------------------------------------------------
    def pointer_etag(self) -> str | None:
        with self.calling("reading", POINTER):
            try:
                return self.fs.info(self.key(POINTER))["ETag"]
            except FileNotFoundError:
                return None

    def move_pointer(self, data: bytes, expected_etag: str | None) -> None:
        """PUT the pointer, on condition that it is still the one pulled (``If-Match`` its
        ETag, or ``If-None-Match: *`` before the first publication), so that of two refreshes
        racing to publish one is refused. ``ORPHANLAKE_S3_CONDITIONAL_WRITES=0`` for a store
        that rejects conditional writes (the pointer is then re-read before the PUT only)."""
        from fsspec.asyn import sync

        conditions = {}
        if os.environ.get("ORPHANLAKE_S3_CONDITIONAL_WRITES", "1") != "0":
            conditions = {"IfMatch": expected_etag} if expected_etag else {"IfNoneMatch": "*"}
        key = self.key(POINTER)[len(self.bucket) + 1:]
        with self.calling("moving the publication pointer", POINTER):
            try:
                sync(self.fs.loop, self.fs._call_s3, "put_object", Bucket=self.bucket, Key=key,
                     Body=data, **conditions)
            except (OSError, ValueError) as exc:
                if "PreconditionFailed" in repr(exc.__cause__) or "pre-conditions" in str(exc):
                    raise ObjectStoreError(
                        f"object store: another refresh moved {self.key(POINTER)} while this one "
                        f"ran (endpoint {self.endpoint}); this refresh's upload was not "
                        "published (run the refresh again)") from exc
                raise

    def current(self) -> Manifest:
        """The manifest the pointer names (an empty one before the first publication)."""
        pointer = self.read_bytes(POINTER)
        if pointer is None:
            return Manifest()
        try:
            name = json.loads(pointer)["manifest"]
            safe_relpath(name)
        except (ValueError, KeyError, TypeError) as exc:
            raise ObjectStoreError(f"object store: the pointer {self.key(POINTER)} at endpoint "
                                   f"{self.endpoint} is not a publication pointer: {exc}") from exc
        data = self.read_bytes(name)
        if data is None:
            raise ObjectStoreError(f"object store: the pointer names {self.key(name)}, which is "
                                   f"missing (endpoint {self.endpoint})")
        try:
            return Manifest.parse(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ObjectStoreError(f"object store: the manifest {self.key(name)} is unreadable: "
                                   f"{exc}") from exc

    # -- pull --------------------------------------------------------------------------
    def pull(self, paths: LakePaths) -> Pulled:
        """Make the working copy the current publication's state plus the bucket's landing
        objects (see module doc)."""
        home = paths.home
        record = _load_record(home, self.uri)
        self.check()
        etag = self.pointer_etag()
        manifest = self.current()
        pulled = Pulled(manifest, etag)
        wanted: dict[Path, str] = {}
        for rel in manifest.files:
            wanted[local_path(home, rel)] = rel
        old_files = record.get("files", {})
        have_sha: dict[str, Path] = {}
        todo: list[tuple[str, Path, dict]] = []
        for path, rel in sorted(wanted.items()):
            entry = manifest.files[rel]
            if _unchanged(path, old_files.get(rel), entry["key"]):
                pulled.kept += 1
                have_sha.setdefault(entry["sha256"], path)
            else:
                todo.append((rel, path, entry))
        todo_rels = {t[0] for t in todo}
        new_files = {rel: old_files[rel] for rel in manifest.files
                     if rel in old_files and rel not in todo_rels}
        # remove what the publication does not name (a failed refresh's outputs, old
        # publications) before downloading, so nothing stale is left beside the new files
        for path in _synced_files(home):
            if path not in wanted:
                path.unlink()
                pulled.removed += 1
        # one download per content: a file whose sha256 is already here, or is being
        # downloaded, is made from it: hard-linked where a local publication links (raw,
        # reference, feature history: their writers replace files by renaming), copied
        # elsewhere (dbt rewrites marts in place)
        downloads: list[tuple[str, Path, dict]] = []
        links: list[tuple[Path, str]] = []
        for rel, path, entry in todo:
            path.parent.mkdir(parents=True, exist_ok=True)
            if entry["sha256"] in have_sha:
                links.append((path, entry["sha256"]))
            else:
                downloads.append((rel, path, entry))
                have_sha[entry["sha256"]] = path
        self._download([(entry["key"], path) for _, path, entry in downloads])
        pulled.bytes_downloaded += sum(entry["size"] for _, _, entry in downloads)
        for rel, path, entry in downloads:
            if path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
                path.unlink()
                raise ObjectStoreError(f"object store: {self.key(entry['key'])} (for {rel}) does not "
                                       f"match its manifest (endpoint {self.endpoint}): size or "
                                       "sha256 differ")
        for path, sha in links:
            _replace_with_link(have_sha[sha], path, link=_linkable(home, path)
                               and _linkable(home, have_sha[sha]))
        for rel, path, entry in todo:
            new_files[rel] = {**entry, "mtime_ns": path.stat().st_mtime_ns}
            pulled.downloaded += 1
        _remove_empty_dirs(home)
        paths.ensure()
        landing = self._pull_landing(paths, record.get("landing", {}), pulled)
        _save_record(home, {"uri": self.uri, "stamp": manifest.stamp, "files": new_files,
                            "landing": landing})
        return pulled

    def _pull_landing(self, paths: LakePaths, old: dict, pulled: Pulled) -> dict:
        objects = self.list(LANDING)
        landing: dict[str, dict] = {}
        wanted: set[Path] = set()
        todo = []
        for rel_key, info in sorted(objects.items()):
            rel = rel_key[len(LANDING) + 1:]
            try:
                path = local_path(paths.landing, rel)
            except UnsafeKey as exc:
                pulled.refused.append(f"landing object {self.key(rel_key)} not pulled: {exc}")
                continue
            wanted.add(path)
            seen = old.get(rel)
            if (seen and seen.get("etag") == info["etag"] and seen.get("size") == info["size"]
                    and path.is_file() and path.stat().st_size == info["size"]
                    and path.stat().st_mtime_ns == seen.get("mtime_ns")):
                landing[rel] = seen
                pulled.landing_kept += 1
            else:
                todo.append((rel, rel_key, path, info))
        for path in (p for p in paths.landing.rglob("*") if p.is_file()) if paths.landing.is_dir() else ():
            if path not in wanted:       # removed from the bucket's inbox
                path.unlink()
        for _, _, path, _ in todo:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._download([(rel_key, path) for _, rel_key, path, _ in todo])
        for rel, _, path, info in todo:
            landing[rel] = {**info, "mtime_ns": path.stat().st_mtime_ns}
            pulled.landing_downloaded += 1
            pulled.bytes_downloaded += info["size"]
        return landing

    def _download(self, pairs: list[tuple[str, Path]]) -> None:
        """Each object to a temporary name beside its target, then renamed into place."""
        if not pairs:
            return
        tmps = [path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part") for _, path in pairs]
        try:
            with self.calling(f"downloading {len(pairs)} objects", pairs[0][0]):
                self.fs.get([self.key(k) for k, _ in pairs], [str(t) for t in tmps])
            for tmp, (_, path) in zip(tmps, pairs):
                os.replace(tmp, path)
        finally:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)

    # -- push --------------------------------------------------------------------------
    def push(self, paths: LakePaths, pulled: Pulled,
             log: Callable[[str], None] = lambda _m: None) -> Manifest | None:
        """Upload the working copy's newest publication and the state beside it, then move
        the pointer; None when the refresh published nothing new."""
        home = paths.home
        # the pull left only the pulled publication in published/: any other is this
        # refresh's (not compared by time: another machine's clock may run ahead)
        stamps = sorted(d.name for d in (home / "published").iterdir()
                        if d.is_dir() and d.name != pulled.manifest.stamp) \
            if (home / "published").is_dir() else []
        if not stamps:
            return None
        stamp = stamps[-1]
        record = _load_record(home, self.uri)
        old_files = record.get("files", {})
        by_sha = {e["sha256"]: e for e in pulled.manifest.files.values()}
        files: dict[str, dict] = {}
        uploads: list[tuple[Path, str]] = []
        hashed: dict[tuple[int, int, int], str] = {}
        # published/ last: an object is named after the first path holding its content, so
        # that is raw/…, evidence/…, not the publication's hard link or copy of it
        for path in sorted(_synced_files(home), key=lambda p: p.relative_to(home).parts[0] == "published"):
            rel = path.relative_to(home).as_posix()
            parts = rel.split("/")
            if parts[0] == "published" and parts[1] != stamp:
                continue                  # older local publications: not part of this one
            st = path.stat()
            seen = old_files.get(rel)
            ident = (st.st_ino, st.st_size, st.st_mtime_ns)
            if seen and seen.get("size") == st.st_size and seen.get("mtime_ns") == st.st_mtime_ns:
                sha = seen["sha256"]
            else:
                sha = hashed.get(ident) or _sha256(path)
            hashed[ident] = sha
            entry = by_sha.get(sha)
            if entry is None:
                entry = {"key": f"{DATA}/{stamp}/{rel}", "size": st.st_size, "sha256": sha,
                         "etag": None}
                by_sha[sha] = entry
                uploads.append((path, entry["key"]))
            files[rel] = {"key": entry["key"], "size": entry["size"], "sha256": sha,
                          "etag": entry.get("etag"), "mtime_ns": st.st_mtime_ns}
        by_dir: dict[str, int] = {}
        for p, _ in uploads:
            top = p.relative_to(home).parts[0]
            by_dir[top] = by_dir.get(top, 0) + p.stat().st_size
        log(f"uploading {len(uploads)} new objects ({_mb(sum(by_dir.values()))}: "
            + ", ".join(f"{d} {_mb(n)}" for d, n in sorted(by_dir.items())) + ") "
            f"of {len(files)} files to {self.url()}")
        upload_files(self, uploads)
        etags = {k: v["etag"] for k, v in self.list(f"{DATA}/{stamp}").items()}
        for entry in files.values():
            if entry["etag"] is None:
                entry["etag"] = etags.get(entry["key"])
                if entry["etag"] is None:
                    raise ObjectStoreError(f"object store: {self.key(entry['key'])} is missing "
                                           f"after its upload (endpoint {self.endpoint})")
        manifest = Manifest(stamp, {rel: {k: v for k, v in e.items() if k != "mtime_ns"}
                                    for rel, e in files.items()},
                            f"{CATALOGS}/{stamp}.duckdb",
                            datetime.now(timezone.utc).isoformat(timespec="seconds"))
        catalog = self._build_catalog(paths, manifest)
        try:
            with self.calling("uploading the catalog", manifest.catalog):
                self.fs.put_file(str(catalog), self.key(manifest.catalog))
        finally:
            catalog.unlink(missing_ok=True)
        manifest_key = f"{MANIFESTS}/{stamp}.json"
        self.write_bytes(manifest_key, manifest.as_json())
        now = self.current()
        if now.stamp != pulled.manifest.stamp:
            raise ObjectStoreError(
                f"object store: another refresh published {now.stamp} at {self.url()} while this "
                f"one ran from {pulled.manifest.stamp}; this refresh's upload was not published "
                "(run the refresh again)")
        # the pointer, last: until this PUT, readers see the previous publication
        self.move_pointer(json.dumps({"format": FORMAT, "stamp": stamp,
                                      "manifest": manifest_key}).encode(), pulled.pointer_etag)
        _save_record(home, {**record, "uri": self.uri, "stamp": stamp, "files": files})
        self.collect_garbage([manifest_key] + ([f"{MANIFESTS}/{pulled.manifest.stamp}.json"]
                                               if pulled.manifest.stamp else []))
        return manifest

    def _build_catalog(self, paths: LakePaths, manifest: Manifest) -> Path:
        """The publication's catalog for the bucket: the local catalog's views, each reading
        the objects the manifest names (relative to a root variable the reader sets)."""
        import duckdb

        from orchestration.lake.catalog import (ROOT_VARIABLE, _lake_file, _literal,
                                                catalog_sources, view_select)

        published = paths.home / "published" / manifest.stamp
        out = paths.build_db.parent / f"objectstore-catalog-{uuid.uuid4().hex}.duckdb"
        out.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(paths.catalog), read_only=True) as local:
            counts = local.execute("select view_name, n_rows, published_at from _catalog").fetchall()
        with duckdb.connect(str(out)) as con, self.calling("building the catalog over", DATA):
            con.register_filesystem(self.fs)
            con.execute(f"set variable {ROOT_VARIABLE} = {_literal(self.url() + '/')}")
            for name, (relative, union) in catalog_sources(paths, published).items():
                if union:
                    rels = sorted(p.relative_to(paths.home).as_posix()
                                  for p in paths.home.glob(relative)
                                  if p.is_file() and not p.name.startswith("."))
                    files = "[" + ", ".join(_lake_file(manifest.files[r]["key"]) for r in rels) + "]"
                else:
                    files = _lake_file(manifest.files[relative]["key"])
                con.execute(f'create or replace view "{name}" as {view_select(files, union)}')
            con.execute("create table _catalog (view_name varchar, n_rows bigint, "
                        "published_at timestamptz)")
            con.executemany("insert into _catalog values (?, ?, ?)", counts)
        return out

    def collect_garbage(self, keep: list[str]) -> int:
        """Delete every object under data/, catalogs/ and publications/ that the manifests
        ``keep`` (the new publication and the one before it, which readers may still be
        using) do not name: older publications, and what failed uploads left."""
        referenced = set(keep)
        for name in keep:
            data = self.read_bytes(name)
            if data is None:
                continue
            m = Manifest.parse(data)
            referenced.update(e["key"] for e in m.files.values())
            referenced.add(m.catalog)
        stale = [k for area in (DATA, CATALOGS, MANIFESTS) for k in self.list(area)
                 if k not in referenced]
        if stale:
            with self.calling(f"deleting {len(stale)} unpublished or old objects", stale[0]):
                self.fs.rm([self.key(k) for k in stale])
        return len(stale)


def upload_files(store: ObjectStore, pairs: list[tuple[Path, str]]) -> None:
    """Upload local files to keys (relative to the prefix), several at a time. A failure
    leaves only unpublished objects (see module doc)."""
    if not pairs:
        return
    with store.calling(f"uploading {len(pairs)} objects", pairs[0][1]):
        store.fs.put([str(p) for p, _ in pairs], [store.key(k) for _, k in pairs])


def _reason(exc: BaseException) -> str:
    """A short why for an exception from s3fs/botocore."""
    name = type(exc).__name__
    text = str(exc) or name
    if isinstance(exc, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        return (f"access denied ({text}): the credentials were refused or lack permission "
                "(check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)")
    if "EndpointConnectionError" in name or "ConnectTimeout" in name or "ConnectionError" in name \
            or isinstance(exc, (ConnectionError, TimeoutError)):
        return f"the endpoint is unreachable ({text})"
    if isinstance(exc, FileNotFoundError):
        return f"not found ({text})"
    return f"{name}: {text}"


def _unchanged(path: Path, seen: dict | None, key: str) -> bool:
    if not seen or seen.get("key") != key or not path.is_file() or path.is_symlink():
        return False
    st = path.stat()
    return st.st_size == seen.get("size") and st.st_mtime_ns == seen.get("mtime_ns")


def _synced_files(home: Path) -> list[Path]:
    """Every file of the working copy that a publication carries (not LOCAL_ONLY, no
    dotfiles: writers' temporary files and locks)."""
    out = []
    for top in sorted(home.iterdir()) if home.is_dir() else ():
        if top.name in LOCAL_ONLY or top.name.startswith("."):
            continue
        if top.is_file():
            out.append(top)
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            out.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return [p for p in out if p.is_file() and not p.is_symlink()]


def _remove_empty_dirs(home: Path) -> None:
    for top in home.iterdir() if home.is_dir() else ():
        if top.name in LOCAL_ONLY or not top.is_dir() or top.name.startswith("."):
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                Path(dirpath).rmdir()


def _linkable(home: Path, path: Path) -> bool:
    """Whether ``path`` may share its inode with another file of the same content: the
    files ``catalog.snapshot`` hard-links (written only by renaming a new file over them)."""
    parts = path.relative_to(home).parts
    if parts[0] == "published" and len(parts) > 2:
        return parts[2] in ("raw", "reference", "features")
    return parts[0] in ("raw", "reference") or parts[:2] == ("features", "offline")


def _replace_with_link(src: Path, dst: Path, link: bool = True) -> None:
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.link")
    try:
        if not link:
            raise OSError("copy")
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def _load_record(home: Path, uri: str) -> dict:
    """The working copy's sync record; refuses a folder that is not a working copy of ``uri``
    (a pull deletes files: never in someone's own folder)."""
    path = home / SYNC_RECORD
    if path.is_file():
        record = json.loads(path.read_text())
        if record.get("uri") != uri:
            raise ObjectStoreError(f"{home} is the working copy of {record.get('uri')}, not {uri}")
        return record
    if home.is_dir() and any(f.is_file() for top in home.iterdir()
                             if top.name not in (".dagster", "build", "logs")
                             for f in ([top] if top.is_file() else top.rglob("*"))):
        raise ObjectStoreError(f"{home} is not empty and not a working copy of {uri}: choose "
                               "another ORPHANLAKE_WORKDIR")
    return {"uri": uri}


def _save_record(home: Path, record: dict) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f"{SYNC_RECORD}.tmp"
    tmp.write_text(json.dumps(record, sort_keys=True))
    os.replace(tmp, home / SYNC_RECORD)


# -- reading ---------------------------------------------------------------------------
def connect_published(uri: str, store: ObjectStore | None = None):
    """A read-only DuckDB connection to the current publication of the lake at ``uri``: the
    pointer's catalog, its views reading the pointer's objects through s3fs, file access
    limited to the lake's data/ objects and the configuration locked (users' SQL still
    goes through ``sql_guard.run_read_only``)."""
    import duckdb

    from orchestration.lake.catalog import ROOT_VARIABLE, _literal

    store = store or ObjectStore(uri)
    store.check()
    manifest = store.current()
    if manifest.stamp is None:
        raise FileNotFoundError(f"no publication at {store.url()} (no {POINTER}): run "
                                f"`orphanlake refresh --home {store.uri}` first")
    scratch = Path(tempfile.mkdtemp(prefix="orphanlake-objectstore-"))
    catalog = scratch / "lake.duckdb"
    with store.calling("downloading the catalog", manifest.catalog):
        store.fs.get_file(store.key(manifest.catalog), str(catalog))
    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False,
                                             "autoinstall_known_extensions": False})
    try:
        con.register_filesystem(store.fs)
        con.execute(f"set variable {ROOT_VARIABLE} = {_literal(store.url() + '/')}")
        spill = Path(tempfile.gettempdir()) / f"orphanlake-sql-{uuid.uuid4().hex}"
        con.execute(f"set temp_directory = {_literal(spill.as_posix())}")
        con.execute(f"attach {_literal(str(catalog))} as lake (read_only)")
        con.execute("use lake")
        con.execute(f"set allowed_directories = [{_literal(store.url(DATA) + '/')}]")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    # the catalog file is open (attached); on Linux it may be unlinked now
    shutil.rmtree(scratch, ignore_errors=True)
    return con


# -- a refresh -------------------------------------------------------------------------
def working_copy(uri: str) -> LakePaths:
    """The local working copy of the lake at ``uri`` (see ``settings.workdir_for``)."""
    return LakePaths(workdir_for(uri))


def refresh_on_object_store(uri: str, paths: LakePaths, refresh: Callable[[LakePaths], int],
                            out=None, store: ObjectStore | None = None) -> int:
    """Pull, ``refresh(paths)`` (the normal refresh on the working copy), push; the
    refresh's exit code (an ObjectStoreError when pulling or pushing fails). Progress lines
    go to ``out`` (default: this moment's ``sys.stderr``)."""
    from orchestration.lake.lock import writer_lock

    out = out or sys.stderr
    import time

    store = store or ObjectStore(uri)
    with writer_lock(paths, f"a refresh of {uri}", on_wait=lambda m: print(m, file=out)):
        start = time.monotonic()
        pulled = store.pull(paths)
        print(f"object store: pulled {store.url()} publication {pulled.manifest.stamp or '(none yet)'} "
              f"into {paths.home} in {time.monotonic() - start:.1f} s: {pulled.downloaded} files "
              f"downloaded, {pulled.kept} unchanged, {pulled.removed} local leftovers removed; "
              f"landing {pulled.landing_downloaded} new, {pulled.landing_kept} unchanged; "
              f"{_mb(pulled.bytes_downloaded)} in all", file=out)
        for line in pulled.refused:
            print(f"object store: {line}", file=out)
        code = refresh(paths)
        start = time.monotonic()
        manifest = store.push(paths, pulled, log=lambda m: print(f"object store: {m}", file=out))
        if manifest is None:
            print(f"object store: nothing new was published; {store.url()} still serves "
                  f"{pulled.manifest.stamp or 'nothing'}", file=out)
        else:
            print(f"object store: published {manifest.stamp} to {store.url()} "
                  f"({len(manifest.files)} files) in {time.monotonic() - start:.1f} s", file=out)
    return code


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


__all__ = ["ObjectStore", "ObjectStoreError", "UnsafeKey", "connect_published",
           "refresh_on_object_store", "safe_relpath", "working_copy"]
