"""Plate layouts and the landing file shapes of a plate run (run.json, plate map, signals).

Control layout (every format): the first two and last two columns hold controls,
alternating so each control type sits on both edges of the plate:
column 1 and column N-1 = neg_ctrl (DMSO), column 2 and column N = pos_ctrl.
On a 384-well plate that is 32 neg and 32 pos wells and 320 sample wells (cols 3-22).
"""

from __future__ import annotations

import csv
import json
import string
from pathlib import Path

import numpy as np

FORMATS = {96: (8, 12), 384: (16, 24), 1536: (32, 48)}
ROLES = ("sample", "neg_ctrl", "pos_ctrl", "blank")


def row_labels(n_rows: int) -> list[str]:
    """A..Z then AA..AF (1536-well plates have 32 rows)."""
    letters = string.ascii_uppercase
    return [letters[i] if i < 26 else "A" + letters[i - 26] for i in range(n_rows)]


def well_ids(plate_format: int) -> np.ndarray:
    """Row-major well ids ('A01', ...) shaped (rows, cols)."""
    n_rows, n_cols = FORMATS[plate_format]
    return np.array([[f"{r}{c + 1:02d}" for c in range(n_cols)] for r in row_labels(n_rows)])


def control_roles(plate_format: int) -> np.ndarray:
    """Role per well (rows, cols): neg in cols 1 and N-1, pos in cols 2 and N, else sample."""
    n_rows, n_cols = FORMATS[plate_format]
    roles = np.full((n_rows, n_cols), "sample", dtype=object)
    roles[:, [0, n_cols - 2]] = "neg_ctrl"
    roles[:, [1, n_cols - 1]] = "pos_ctrl"
    return roles


def sample_positions(plate_format: int) -> np.ndarray:
    """(row, col) of the sample wells in column-major fill order (down a column, then right)."""
    roles = control_roles(plate_format)
    rr, cc = np.nonzero(roles.T == "sample")
    return np.stack([cc, rr], axis=1)


def write_run_json(folder: Path, meta: dict) -> None:
    """run.json with sorted keys (stable bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def write_plate_map(path: Path, rows: list[tuple]) -> None:
    """plate_id,well,compound_id,concentration_um,role (None -> empty cell)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["plate_id", "well", "compound_id", "concentration_um", "role"])
        for plate_id, well, cid, conc, role in rows:
            w.writerow([plate_id, well, cid or "", "" if conc is None else _num(conc), role])


def _num(x: float) -> str:
    return f"{x:.6g}"


def long_rows(plate_id: str, wells: np.ndarray, signals: np.ndarray) -> list[list[str]]:
    """Rows of a long signal file for one plate (signals may be float or preformatted str)."""
    out = []
    for w, s in zip(wells.ravel(), signals.ravel()):
        out.append([plate_id, str(w), s if isinstance(s, str) else f"{s:.1f}"])
    return out


def write_long(path: Path, rows: list[list[str]]) -> None:
    """Long signal CSV: plate_id,well,signal."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["plate_id", "well", "signal"])
        w.writerows(rows)


def envision_block(plate_id: str, matrix: np.ndarray, plate_no: int, rng: np.random.Generator,
                   zero_pad: bool = True) -> str:
    """One plate as an EnVision-style export block (plate info, background, result matrix)."""
    n_rows, n_cols = matrix.shape
    height = 11.0 + rng.random() * 0.6
    temp = 22.0 + rng.random() * 1.5
    header = [f"{c + 1:02d}" if zero_pad else str(c + 1) for c in range(n_cols)]
    lines = [
        "Plate information",
        "Plate,Repeat,Barcode,Measured height,Chamber temperature at start,Formula",
        f"{plate_no},1,{plate_id},{height:.2f},{temp:.2f},Calc 1: Signal = X",
        "",
        "Background information",
        "Plate,Label,Result,Signal,Flashes/Time,Meas. Time",
        f"{plate_no},Fluorescein 485/535,0,{int(rng.integers(80, 140))},100,00:00:00.120",
        "",
        "Results",
        "," + ",".join(header),
    ]
    for label, row in zip(row_labels(max(n_rows, 16))[:n_rows], matrix):
        lines.append(label + "," + ",".join(str(int(round(v))) for v in row))
    return "\n".join(lines) + "\n"


def write_envision(path: Path, blocks: list[str]) -> None:
    """Blocks separated by a blank line."""
    path.write_text("\n".join(blocks))
