"""Content addresses for model training: one digest of exactly what a model is fitted on.

A model is retrained only when its fingerprint changes, and its ``model_version`` is built
from the fingerprint, so a refresh with nothing new loads the saved model (same files, same
version, bit-identical scores) instead of refitting it. The fingerprint covers the training
rows in a canonical order (sorted by their keys, so the order a query returned them in does
not matter), the hyperparameters, feature list and seed, a recipe number bumped when the
training code changes, and the versions of the libraries whose upgrade changes results.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata

import polars as pl

# Characters of the fingerprint shown in a model_version: 48 bits, enough that two
# different trainings of one model never share a version in practice.
VERSION_CHARS = 12
# What a model asset reports when the fingerprint matched and the saved model was loaded.
UNCHANGED = "unchanged: not retrained"


def frame_digest(frame: pl.DataFrame, keys: list[str]) -> str:
    """sha256 of ``frame`` sorted by ``keys`` (which must identify a row): column names,
    types, null masks and values; the same rows in any order give the same digest."""
    frame = frame.sort(keys, nulls_last=True)
    h = hashlib.sha256()
    h.update(json.dumps([[name, str(dtype)] for name, dtype in frame.schema.items()]).encode())
    h.update(frame.height.to_bytes(8, "little"))
    for name in frame.columns:
        series = frame[name]
        h.update(series.is_null().to_numpy().tobytes())
        h.update(_value_bytes(series))
    return h.hexdigest()


def _value_bytes(series: pl.Series) -> bytes:
    dtype = series.dtype
    if dtype == pl.Boolean:
        return series.fill_null(False).cast(pl.UInt8).to_numpy().tobytes()
    if dtype in (pl.Int128, pl.UInt128) or isinstance(dtype, pl.Decimal):
        # no NumPy form (DuckDB sums and decimal literals give these): their exact text
        return _value_bytes(series.cast(pl.String))
    if dtype.is_numeric() or dtype.is_temporal():
        # the physical values (a datetime's integer), nulls as 0 beside the null mask;
        # little-endian whatever the machine, so a digest travels between hosts
        values = series.to_physical().fill_null(0).to_numpy()
        return values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
    if dtype in (pl.String, pl.Binary, pl.Categorical, pl.Enum):
        items = series.cast(pl.String) if dtype != pl.Binary else series
        parts = []
        for value in items.to_list():
            raw = b"" if value is None else value if isinstance(value, bytes) else value.encode()
            parts.append(len(raw).to_bytes(8, "little") + raw)
        return b"".join(parts)
    # nested types: their JSON text (rare in a training frame; exactness over speed)
    return json.dumps(series.to_list(), default=str).encode()


def library_versions(*names: str) -> dict[str, str]:
    """Installed version of each distribution (``"absent"`` when not installed)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def fingerprint(**parts: object) -> str:
    """sha256 of the JSON of ``parts`` (keys sorted): a training's content address."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
