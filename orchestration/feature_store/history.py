"""Append-only feature history: what the lake knew about each entity, and since when.

A refresh compares the current rows of a feature table (built from the marts) with the
latest stored version of each entity and appends only what changed. ``event_timestamp``
is the refresh that learned a value, which is what makes point-in-time joins honest:
a label observed at refresh T is joined to the features as of T, never to what a later
refresh added. Two ways a change is dated (``restate``):

* ``"never"``: every change is new knowledge, dated ``as_of``. This includes changes
  that come from a new HPO release, new annotations or other patients' samples (expression
  z-scores are cohort-relative): a label observed before them must not see them.
* ``"always"``: values are pure functions of the key (a structure's properties), so a
  change is a *restatement*: same ``event_timestamp`` as the version it replaces, later
  ``created_timestamp``, so history is corrected rather than extended.

``event_timestamp`` is when a value was last *changed*, not last confirmed, which is
why the views carry no expiry (TTL 0): an unchanged value is still current.

A column added to a table (a new feature) is null in the versions written before it, so
every entity with a value for it gets a new version: learned now.

An entity that leaves the marts gets a tombstone: a row whose values are all null, so
both a later point-in-time join and the online store stop serving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from features import contract as C

EVENT = "event_timestamp"
CREATED = "created_timestamp"
PRESENT = "present"
TS = pl.Datetime("us", "UTC")
RESTATE = C.RESTATE  # how a change is dated: see the module docstring


@dataclass(frozen=True)
class Change:
    """What one append did."""

    new: int
    changed: int
    restated: int
    removed: int

    @property
    def appended(self) -> int:
        return self.new + self.changed + self.restated + self.removed


def latest(history: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The current version of every entity in a history (tombstones included)."""
    if history.is_empty():
        return history
    return (history.sort([*keys, EVENT, CREATED])
            .unique(subset=keys, keep="last", maintain_order=True))


def _normalized(frame: pl.DataFrame, values: list[str]) -> pl.DataFrame:
    # NaN and null both mean "no value"; comparing NaN != NaN would append forever
    return frame.with_columns([pl.col(c).fill_nan(None) for c in values
                               if frame.schema[c] in (pl.Float32, pl.Float64)])


def append_history(history: pl.DataFrame | None, current: pl.DataFrame, keys: list[str],
                   as_of: datetime, restate: str = "never") -> tuple[pl.DataFrame, pl.DataFrame, Change]:
    """(new history, the rows appended, counts). ``current`` holds the keys and the value
    columns, one row per entity."""
    if restate not in RESTATE:
        raise ValueError(f"restate must be one of {RESTATE}, got {restate!r}")
    dups = current.group_by(keys).len().filter(pl.col("len") > 1)
    if dups.height:
        raise ValueError(f"feature rows are not unique by {keys}: e.g. "
                         f"{dups.drop('len').row(0, named=True)}")
    meta = {EVENT, CREATED, PRESENT}
    values = [c for c in current.columns if c not in keys and c not in meta]
    as_of_lit = pl.lit(as_of).cast(TS)
    cur = _normalized(current, values).with_columns(pl.lit(True).alias(PRESENT))
    columns = [*keys, *values, PRESENT, EVENT, CREATED]

    if history is None or history.is_empty():
        rows = cur.with_columns(as_of_lit.alias(EVENT), as_of_lit.alias(CREATED)).select(columns)
        return rows, rows, Change(new=rows.height, changed=0, restated=0, removed=0)

    # a feature added since the history was written: null in the old versions
    history = history.with_columns([pl.lit(None, dtype=current.schema[c]).alias(c)
                                    for c in values if c not in history.columns])
    prev = latest(history, keys)
    joined = cur.join(prev.rename({c: f"{c}__prev" for c in prev.columns if c not in keys}),
                      on=keys, how="full", coalesce=True)
    was_present = pl.col(f"{PRESENT}__prev").fill_null(False)
    is_present = pl.col(PRESENT).fill_null(False)
    differs = pl.any_horizontal([~pl.col(c).eq_missing(pl.col(f"{c}__prev")) for c in values]) \
        if values else pl.lit(False)
    restated = differs if restate == "always" else pl.lit(False)
    joined = joined.with_columns(
        pl.when(is_present & ~was_present).then(pl.lit("new"))
        .when(is_present & was_present & differs & restated).then(pl.lit("restated"))
        .when(is_present & was_present & differs).then(pl.lit("changed"))
        .when(~is_present & was_present).then(pl.lit("removed"))
        .otherwise(None).alias("_kind"))
    out = joined.filter(pl.col("_kind").is_not_null())
    removed = pl.col("_kind") == "removed"
    out = out.with_columns(
        [pl.when(removed).then(None).otherwise(pl.col(c)).alias(c) for c in values]
        + [(~removed).alias(PRESENT),
           pl.when(pl.col("_kind") == "restated").then(pl.col(f"{EVENT}__prev"))
           .otherwise(as_of_lit).alias(EVENT),
           as_of_lit.alias(CREATED)])
    counts = out["_kind"].value_counts()
    n = dict(zip(counts["_kind"].to_list(), counts["count"].to_list()))
    appended = out.select(columns)
    new_history = pl.concat([history.select(columns), appended], how="vertical_relaxed")
    return new_history, appended, Change(new=n.get("new", 0), changed=n.get("changed", 0),
                                         restated=n.get("restated", 0), removed=n.get("removed", 0))
