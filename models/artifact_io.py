"""Writing and reading model artifacts: a metadata JSON written last, atomically, so a
reader sees the previous model or the new one, never half of one."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


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
