"""Writing and reading model artifacts: a metadata JSON written last, atomically, so a
reader sees the previous model or the new one, never half of one."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_safe(o):
    """JSON-safe copy: NaN → None (strict JSON has no NaN), numpy scalars → Python."""
    if isinstance(o, dict):
        return {k: json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return None if math.isnan(o) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    return o


def read_meta(directory: Path, meta_file: str, format_version: int, what: str) -> dict:
    """The artifact's metadata; FileNotFoundError when absent, ValueError when written by
    another format version."""
    meta_path = Path(directory) / meta_file
    if not meta_path.is_file():
        raise FileNotFoundError(f"no {what} metadata at {meta_path}")
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") != format_version:
        raise ValueError(f"{meta_path}: format_version {meta.get('format_version')!r}, "
                         f"expected {format_version}")
    return meta


def saved_fingerprint(directory: Path, meta_file: str) -> str | None:
    """The training fingerprint recorded in a saved artifact's metadata, or None when there
    is no readable metadata (nothing saved yet, or written before fingerprints existed)."""
    try:
        meta = json.loads((Path(directory) / meta_file).read_text())
    except (OSError, ValueError):
        return None
    return meta.get("fingerprint") if isinstance(meta, dict) else None


def reuse_saved(directory: Path, meta_file: str, expected: str, load: Callable[[Path], T],
                load_errors: tuple[type[BaseException], ...]) -> T | None:
    """The artifact saved in ``directory`` when it was trained on exactly what ``expected``
    fingerprints, else None (nothing saved, trained on something else, or unreadable: a
    damaged artifact is retrained rather than trusted)."""
    if not expected or saved_fingerprint(directory, meta_file) != expected:
        return None
    try:
        return load(directory)
    except (OSError, ValueError, KeyError, *load_errors):
        return None


def member(directory: Path, name: object) -> Path:
    """``directory / name`` for a file name read from metadata; ValueError when the name is
    anything but a plain file name (a path, "..", hidden), so an altered metadata file
    cannot make a load read outside its artifact folder."""
    if (not isinstance(name, str) or not name or name.startswith(".")
            or Path(name).name != name or "\\" in name):
        raise ValueError(f"{Path(directory)}: metadata names model file {name!r}, "
                         "which is not a plain file name")
    return Path(directory) / name
