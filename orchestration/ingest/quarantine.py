"""What a parser hands back, and how refused input is recorded.

Parsers never write anything: they return a ``ParseResult`` (tables as streams of Arrow
batches plus the sub-file quarantine records) or raise ``FileRejected`` — possibly
half-way through the stream, e.g. when a gzip turns out to be truncated — and the
runner turns that into a file-level quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import pyarrow as pa

# "batch": a whole folder not read (a linked or misnamed batch, a folder outside the domains)
GRANULARITIES = ("batch", "file", "record", "term", "sample", "well", "plate", "variable",
                 "value")


class FileRejected(Exception):
    """The whole file is refused; the message is the readable reason (never the PII itself)."""


@dataclass(frozen=True)
class QuarantineRecord:
    """One refused part of a file. ``locator`` and ``reason`` are for people; code that
    needs to know *which* plate or well was refused reads the structured fields, never
    the text: ``plate_id`` and ``well`` are set by the plate parser on the readings and
    plates of a signal export it refuses (None elsewhere, and on plate-map rows, which
    are refused by line)."""
    granularity: str          # record | term | sample | well | plate (file: FileRejected;
                              # batch and file for landing entries: landing.Refusal)
    locator: str | None       # e.g. "line 58", "HP:0000000", a sample id
    reason: str
    plate_id: str | None = None   # the refused plate (granularity plate or well)
    well: str | None = None       # the refused reading's well, e.g. "B07" (granularity well)

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"unknown quarantine granularity {self.granularity!r}")


@dataclass
class ParseResult:
    """Per-table streams of Arrow batches (no lineage columns) and sub-file quarantine.

    ``quarantine`` may grow while the table streams are consumed, so read it only after
    every stream has been exhausted.
    """
    tables: dict[str, Iterable[pa.RecordBatch | pa.Table]] = field(default_factory=dict)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
