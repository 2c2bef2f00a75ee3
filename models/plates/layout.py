"""Microplate geometry: formats, well names and their 0-based (row, column) indices.

Rows are lettered A..Z then AA..AF (1536-well plates have 32 rows); columns are numbered
from 1 and written with two digits (``A01``, ``P24``, ``AF48``).
"""

from __future__ import annotations

import re

# wells -> (rows, cols)
PLATE_FORMATS: dict[int, tuple[int, int]] = {96: (8, 12), 384: (16, 24), 1536: (32, 48)}

_WELL_RE = re.compile(r"^\s*([A-Za-z]{1,2})\s*0*(\d{1,3})\s*$")


def row_label(row: int) -> str:
    """0-based row index -> letter(s): 0 -> 'A', 25 -> 'Z', 26 -> 'AA', 31 -> 'AF'."""
    if row < 0 or row >= 26 * 27:
        raise ValueError(f"row index {row} out of range")
    return chr(65 + row) if row < 26 else chr(64 + row // 26) + chr(65 + row % 26)


def row_index(label: str) -> int:
    """Row letter(s) -> 0-based index ('A' -> 0, 'AF' -> 31); case-insensitive."""
    s = label.strip().upper()
    if not s.isalpha() or not 1 <= len(s) <= 2 or not s.isascii():
        raise ValueError(f"{label!r} is not a row letter")
    if len(s) == 1:
        return ord(s) - 65
    return (ord(s[0]) - 64) * 26 + ord(s[1]) - 65


def parse_well(text: str) -> tuple[int, int]:
    """'A1', 'A01', 'a01', 'AF48' -> (row_idx, col_idx), both 0-based; ValueError otherwise."""
    m = _WELL_RE.match(text or "")
    if not m or int(m.group(2)) < 1:
        raise ValueError(f"{text!r} is not a well id (expected e.g. A01, P24, AF48)")
    return row_index(m.group(1)), int(m.group(2)) - 1


def well_name(row: int, col: int) -> str:
    """(0-based row, 0-based col) -> 'A01'."""
    if col < 0:
        raise ValueError(f"column index {col} out of range")
    return f"{row_label(row)}{col + 1:02d}"


def format_for_dims(rows: int, cols: int) -> int | None:
    """The plate format (96/384/1536) with exactly these dimensions, else None."""
    for wells, dims in PLATE_FORMATS.items():
        if dims == (rows, cols):
            return wells
    return None


def smallest_format_holding(max_row: int, max_col: int) -> int | None:
    """Smallest format whose grid contains the 0-based indices (max_row, max_col); None if none."""
    for wells, (r, c) in sorted(PLATE_FORMATS.items()):
        if max_row < r and max_col < c:
            return wells
    return None
