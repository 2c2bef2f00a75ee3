"""Small read/write helpers shared by the Python assets."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl

from orchestration.settings import LakePaths


def without_empty_marker(df: pl.DataFrame) -> pl.DataFrame:
    """dbt-duckdb writes an external model with no rows as one row of nulls (to keep the
    schema in the file) and filters it out in its own views; readers of the file must too."""
    if df.height == 1 and df.width and all(n == 1 for n in df.null_count().row(0)):
        return df.clear()
    return df


def read_mart(path: Path) -> pl.DataFrame:
    """A dbt model's Parquet file as its rows (see ``without_empty_marker``)."""
    return without_empty_marker(pl.read_parquet(path))


def read_model(paths: LakePaths, name: str) -> pl.DataFrame:
    """Read a dbt model: its Parquet file when materialized externally, else the view in
    dbt's build database (opened read-only; dbt is not running between steps)."""
    parquet = paths.marts / f"{name}.parquet"
    if parquet.exists():
        return read_mart(parquet)
    with duckdb.connect(str(paths.build_db), read_only=True) as con:
        return con.sql(f'select * from "{name}"').pl()


def write_parquet_atomic(df: pl.DataFrame, path: Path) -> Path:
    """Write next to the target and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    df.write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """A small text file written next to its target and renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def markdown_preview(df: pl.DataFrame, n: int = 10) -> str:
    """First rows as a markdown table for Dagster metadata."""
    head = df.head(n)
    cols = head.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join(
            f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)
