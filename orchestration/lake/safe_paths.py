"""File names from data, safely: the one mapping every data value goes through before it
becomes part of a path, and the check that every write lands inside the lake.

Ids come from landing files (plate ids, compound ids, target genes, run names): they may
hold "/", "..", control characters or thousands of characters. ``safe_name`` keeps a
readable slug of the value and adds a digest of the *whole* value, so two ids never share
a file (no collisions, even when their slugs agree) and the same id always maps to the
same file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from orchestration.settings import LakePaths

SLUG_CHARS = 40
DIGEST_CHARS = 32
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutsideLake(ValueError):
    """A write would land outside the lake."""


def safe_name(value: object) -> str:
    """``<slug>-<digest>``: letters, digits, ``.``, ``_``, ``-`` only, at most 73 characters,
    never ``.``/``..`` nor hidden; distinct values give distinct names."""
    text = str(value)
    slug = _UNSAFE.sub("_", text)[:SLUG_CHARS].strip("._-") or "id"
    # 128 bits: no two ids a landing writer could craft share a file
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]
    return f"{slug}-{digest}"


def inside_lake(paths: LakePaths, path: Path) -> Path:
    """``path`` resolved, or OutsideLake when it (or a symlink on the way) leaves the lake."""
    home = paths.home.resolve()
    resolved = Path(path).resolve()
    if resolved != home and home not in resolved.parents:
        raise OutsideLake(f"refusing to write {path}: it resolves to {resolved}, outside the "
                          f"lake {home}")
    return resolved


def lake_file(paths: LakePaths, folder: Path, *ids: object, suffix: str = "") -> Path:
    """``folder/<safe_name(id0)>/…/<safe_name(idN)><suffix>``, checked to stay in the lake."""
    if not ids:
        raise ValueError("lake_file needs at least one id")
    parts = [safe_name(i) for i in ids]
    parts[-1] += suffix
    return inside_lake(paths, folder.joinpath(*parts))
