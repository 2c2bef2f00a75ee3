"""The raw layer checked against the ingest ledger, so changes made outside orphanlake are
found and undone.

Every ledger row (one per landing file) lists the raw Parquet files its ingest wrote and
their sha256. Before an ingest skips an unchanged landing file it checks those files: one
that is missing, replaced by a link or holds other bytes makes the landing file ingest
again (the landing file is the source of truth and is never modified). A Parquet file in
a domain's raw tables that no ledger row accounts for was put there by something else;
it would be read as data, so it is moved aside to ``quarantine/_tampered/<stamp>/`` under
its path in the lake (kept, never deleted) and reported.

Ledgers written before outputs were recorded are adopted as they are: each row's outputs
are the files at the names its ingest writes, hashed as found (trust on first use).
Re-ingesting every landing file instead would cost a full ingest (minutes for a large
genomic landing zone) and rewrite every row's ``ingested_at``; the files found at the
ingest's own names are what that lake has been serving, and from then on every change is
caught. A file at any other name is still moved aside.

Only this domain's files are hashed, on every ingest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from orchestration.ingest.landing import LANDING_DOMAINS, ROOT
from orchestration.settings import LakePaths

OUTPUTS_TYPE = pa.list_(pa.struct([("path", pa.string()), ("sha256", pa.string())]))
TAMPERED = "_tampered"           # under quarantine/: files moved out of raw/
SCHEMA_FILE = "_schema.parquet"  # raw/<table>/_schema.parquet: zero rows, written by ingest
LANDING_REFUSALS = "_landing"    # raw/quarantine/_landing/<domain>.parquet: refused entries


def sha256_of(path: Path, open_file: Callable[[Path], BinaryIO] = lambda p: open(p, "rb")) -> str:
    """Hex sha256 of a file's bytes, read in chunks (``open_file``: e.g. landing's
    ``open_landing``, which refuses links)."""
    h = hashlib.sha256()
    with open_file(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record(paths: LakePaths, files: list[Path]) -> list[dict]:
    """Ledger entries (path relative to the lake, sha256) for those of ``files`` that exist."""
    return [{"path": f.relative_to(paths.home).as_posix(), "sha256": sha256_of(f)}
            for f in files if f.is_file() and not f.is_symlink()]


def problems(paths: LakePaths, outputs: list[dict]) -> list[str]:
    """What is wrong with recorded outputs now, one line per file; [] when all are intact."""
    found = []
    for out in outputs:
        f = paths.home / out["path"]
        if f.is_symlink():
            found.append(f"{out['path']} was replaced by a link outside orphanlake")
        elif not f.is_file():
            found.append(f"{out['path']} was deleted outside orphanlake")
        elif sha256_of(f) != out["sha256"]:
            found.append(f"{out['path']} was modified outside orphanlake (its sha256 is not the "
                         "one its ingest recorded)")
    return found


def _owner(rel: Path) -> str | None:
    """Who writes a file under raw/quarantine: the domain of ``<batch>/<domain>__<file>``,
    "" for the landing refusals (``_landing/<domain or landing>.parquet``, checked by the
    landing scan), None for a file nobody writes (any domain's ingest moves it aside)."""
    if rel.parts[0] == LANDING_REFUSALS:
        return "" if len(rel.parts) == 2 and rel.stem in (*LANDING_DOMAINS, ROOT) else None
    prefix = rel.name.split("__", 1)[0] if "__" in rel.name else None
    return prefix if len(rel.parts) == 2 and prefix in LANDING_DOMAINS else None


def strays(paths: LakePaths, domain: str, tables: list[str], known: set[str]) -> list[Path]:
    """Parquet files in this domain's raw tables (and raw/quarantine files of this domain
    or of none) that no ledger row accounts for (``known``: paths relative to the lake)."""
    found = []
    for table in [*tables, "quarantine"]:
        root = paths.raw_table(table)
        for f in sorted(root.glob("**/*.parquet")) if root.is_dir() else ():
            rel = f.relative_to(root)
            if rel.as_posix() == SCHEMA_FILE or f.relative_to(paths.home).as_posix() in known:
                continue
            if table == "quarantine" and _owner(rel) not in (domain, None):
                continue
            found.append(f)
    return found


def move_aside(paths: LakePaths, files: list[Path], now: datetime) -> list[str]:
    """Move ``files`` to quarantine/_tampered/<stamp>/<their path in the lake>; one report
    line per file."""
    folder = paths.quarantine / TAMPERED / now.strftime("%Y%m%dT%H%M%S%fZ")
    lines = []
    for f in files:
        rel = f.relative_to(paths.home)
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, target)
        lines.append(f"{rel.as_posix()} was put in the raw layer outside orphanlake (no ingest "
                     f"wrote it); moved to {target.relative_to(paths.home).as_posix()}")
    return lines
