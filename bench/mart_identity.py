"""Are the marts the same before and after a change? Build the demo lake at two revisions
with the same seed and compare every mart and evidence table, row for row.

    python bench/mart_identity.py --base REV [--head REV] [--seed 7] [--workdir DIR]

Each revision gets a git worktree (``--head`` defaults to the working tree itself) and a
fresh lake built by its own ``orphanlake demo`` (same venv, the revision's code first on
``PYTHONPATH``). Then every Parquet file under ``marts/`` and ``evidence/`` is compared as a
multiset of rows, ignoring only columns that record *when* something ran (timestamp-typed
columns, ``*_at``, ``run_id``, ``*_seconds``, ...): a table is identical when the same rows
come out, whatever their order. Prints one line per table and exits 1 if any differs (with
the columns whose values differ). Writes bench/results/mart_identity.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# columns that say when or in which run something happened, not what it is
VOLATILE = re.compile(r"(_at|_time|_timestamp|^run_id|^dagster_run_id|_seconds|^published_stamp)$")
TABLE_DIRS = ("marts", "evidence")


def _tree(rev: str | None, work: Path, label: str) -> Path:
    if rev is None:
        return REPO
    dest = work / f"tree_{label}"
    if not dest.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(dest), rev],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return dest


def build(tree: Path, lake: Path, seed: int) -> None:
    """The revision's own `orphanlake demo` into a fresh lake."""
    env = {**os.environ, "PYTHONPATH": str(tree), "ORPHANLAKE_HOME": str(lake),
           "DAGSTER_HOME": str(lake / ".dagster")}
    (lake / ".dagster").mkdir(parents=True, exist_ok=True)
    log = lake.parent / f"{lake.name}.log"
    with open(log, "w") as out:
        subprocess.run([str(VENV_BIN / "orphanlake"), "--home", str(lake), "demo", "--seed", str(seed)],
                       cwd=tree, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)


def _stable(df: pl.DataFrame) -> pl.DataFrame:
    # a timestamp column records when a step ran (refresh_status.at, outputs_from), not data
    keep = [c for c in df.columns
            if not VOLATILE.search(c) and not isinstance(df.schema[c], pl.Datetime)]
    return df.select(sorted(keep))


def _digest(s: pl.Series) -> str:
    """Order-free digest of a column's values."""
    h = pl.DataFrame({"v": s}).hash_rows(seed=0).sort()
    return hashlib.sha256(h.to_numpy().tobytes()).hexdigest()[:16]


def compare(base: Path, head: Path) -> list[dict]:
    rows = []
    names = sorted({str(p.relative_to(lake)) for lake in (base, head) for d in TABLE_DIRS
                    for p in (lake / d).glob("*.parquet")})
    for name in names:
        a, b = base / name, head / name
        row = {"table": name}
        if not a.exists() or not b.exists():
            row.update(identical=False, why="only in " + ("head" if b.exists() else "base"))
            rows.append(row)
            continue
        da, db = _stable(pl.read_parquet(a)), _stable(pl.read_parquet(b))
        row.update(rows_base=da.height, rows_head=db.height)
        if da.columns != db.columns:
            row.update(identical=False, why=f"columns: -{sorted(set(da.columns) - set(db.columns))} "
                                            f"+{sorted(set(db.columns) - set(da.columns))}")
        else:
            differ = [c for c in da.columns if _digest(da[c]) != _digest(db[c])]
            whole = _digest(da.select(pl.struct(da.columns))) == _digest(db.select(pl.struct(db.columns)))
            row.update(identical=whole and not differ,
                       why=f"values differ in {differ}" if differ else ("" if whole else "row pairing differs"))
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="git revision before the change")
    ap.add_argument("--head", default=None, help="git revision after (default: the working tree)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mart_identity_"))
    work.mkdir(parents=True, exist_ok=True)
    lakes = {}
    for label, rev in (("base", args.base), ("head", args.head)):
        lake = work / f"lake_{label}"
        if not (lake / "marts").is_dir():
            print(f"building {label} ({rev or 'working tree'}) in {lake} ...", flush=True)
            tree = _tree(rev, work, label)
            try:
                build(tree, lake, args.seed)
            finally:  # the lake is what is compared; the checkout is not kept registered
                if tree != REPO:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lakes[label] = lake
    rows = compare(lakes["base"], lakes["head"])
    for r in rows:
        mark = "same" if r["identical"] else "DIFFERS"
        print(f"{mark:8s} {r['table']:55s} {r.get('rows_base', '-')!s:>8} {r.get('rows_head', '-')!s:>8}  "
              f"{r.get('why', '')}")
    out = REPO / "bench" / "results" / "mart_identity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"base": args.base, "head": args.head or "working tree", "seed": args.seed,
                               "tables": rows}, indent=2))
    n_bad = sum(not r["identical"] for r in rows)
    print(f"\n{len(rows) - n_bad}/{len(rows)} tables identical (ignored: timestamp columns and names "
          f"matching {VOLATILE.pattern})")
    sys.exit(1 if n_bad else 0)


if __name__ == "__main__":
    main()
