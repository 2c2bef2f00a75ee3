"""Refresh cost as the lake grows: a full build, one new batch of 1% of the patients, and
everything rebuilt, side by side on the same lake (issue 15).

For each size (patients; the demo has 80): generate the patients, compound libraries,
screening runs and trials into a fresh lake and time `orphanlake refresh` (the build from
an empty lake); then drop one more patient batch of 1% of the patients (at least one) and
time `orphanlake refresh` (what a new batch costs: the ingest of that batch and what
depends on it) beside `orphanlake refresh --full` on a copy of the lake that got the same
batch (everything rebuilt from the same data, as every refresh did before issue 15; models
whose training data did not change are still not retrained), then a refresh with nothing
new. Each refresh runs in its own process; its step
times come from `--json`.

    python bench/bench_scale.py --sizes 80 800
    python bench/bench_scale.py --sizes 80 --variants 5000 --keep   # a quick look
    python bench/bench_scale.py --reuse /tmp/orphanlake-scale-800-x/lake  # a kept lake again

With ``--reuse``, a lake kept by an earlier run (``--keep``) is refreshed once untimed (so
that a new orphanlake version's rebuild is not counted), then gets one more new batch and
the same three timed refreshes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _cli(home: Path, *args: str) -> tuple[float, dict | None]:
    env = {**os.environ, "ORPHANLAKE_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster")}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "orchestration.cli", *args], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode not in (0, 1):       # 1: a step failed in isolation; still timed
        raise RuntimeError(f"orphanlake {' '.join(args)} exited {out.returncode}")
    parsed = None
    if "--json" in args:
        parsed = json.loads(out.stdout)
    return seconds, parsed


def _steps(summary: dict | None) -> dict[str, float]:
    times = (summary or {}).get("run", {}).get("step_times", [])
    return {s["step"]: s["seconds"] for s in times if s.get("seconds") is not None}


def run_size(n: int, variants: int, seed: int, keep: bool, reuse: Path | None = None) -> dict:
    if reuse is None:
        home = Path(tempfile.mkdtemp(prefix=f"orphanlake-scale-{n}-")) / "lake"
        (home / ".dagster").mkdir(parents=True)
        (home / ".dagster" / "dagster.yaml").touch()
    else:
        home, keep = reuse, True
    twin = home.parent / "lake-full"
    batch = max(1, n // 100)
    row: dict = {"patients": n, "batch_patients": batch, "variants_per_patient": variants,
                 "load_before": os.getloadavg()[0]}
    try:
        if reuse is None:
            row["generate_s"], _ = _cli(home, "generate", "--patients", str(n), "--seed",
                                        str(seed), "--background-variants", str(variants))
            row["build_s"], first = _cli(home, "refresh", "--json")
        else:
            row["settle_s"], first = _cli(home, "refresh", "--json")
            seed += len(list((home / "landing" / "genomic").iterdir()))   # a new batch's seed
        # the same new batch in a copy of the lake: there `refresh --full` rebuilds
        # everything (ranker retrained, online store rewritten where values changed) from the
        # same data the plain refresh sees, side by side
        shutil.rmtree(twin, ignore_errors=True)
        shutil.copytree(home, twin, symlinks=True)
        for lake in (home, twin):
            _cli(lake, "generate", "--patients", str(batch), "--seed", str(seed + 1000),
                 "--background-variants", str(variants), "--no-screening", "--no-trials")
        row["new_batch_s"], incr = _cli(home, "refresh", "--json")
        row["full_s"], full = _cli(twin, "refresh", "--full", "--json")
        row["nothing_new_s"], _ = _cli(home, "refresh", "--json")
        row["steps"] = {"build": _steps(first), "new_batch": _steps(incr), "full": _steps(full)}
        row["new_batch_notes"] = (incr or {}).get("run", {}).get("notes", [])
        row["load_after"] = os.getloadavg()[0]
        row["batch_vs_full"] = round(row["new_batch_s"] / row["full_s"], 3)
        if "build_s" in row:
            row["batch_vs_build"] = round(row["new_batch_s"] / row["build_s"], 3)
    finally:
        shutil.rmtree(twin, ignore_errors=True)      # a copy: never kept
        if not keep:
            shutil.rmtree(home.parent, ignore_errors=True)
        else:
            row["home"] = str(home)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[80, 800])
    ap.add_argument("--variants", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the lakes (their paths are printed)")
    ap.add_argument("--reuse", type=Path, help="a lake kept by --keep: time a new batch there "
                    "(its size: --sizes, one value)")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        rows.append(run_size(n, args.variants, args.seed, args.keep, args.reuse))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "steps"}), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(rows, indent=1))
    print("\n| patients | new batch | build from empty s | new batch s | --full s | nothing new s "
          "| new batch / --full | new batch / build |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        build = f"{r['build_s']:.1f}" if "build_s" in r else "(reused)"
        vs_build = f"{r['batch_vs_build']:.2f}" if "batch_vs_build" in r else "–"
        print(f"| {r['patients']} | {r['batch_patients']} | {build} | {r['new_batch_s']:.1f} "
              f"| {r['full_s']:.1f} | {r['nothing_new_s']:.1f} | {r['batch_vs_full']:.2f} "
              f"| {vs_build} |")
    for r in rows:
        print(f"\nslowest steps at {r['patients']} patients (s): build / new batch / --full")
        steps = r["steps"]
        for step in sorted(steps["full"], key=lambda s: -steps["full"][s])[:15]:
            print(f"  {step:40s} {steps['build'].get(step, 0):7.1f} {steps['new_batch'].get(step, 0):7.1f} "
                  f"{steps['full'].get(step, 0):7.1f}")


if __name__ == "__main__":
    main()
