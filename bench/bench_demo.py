"""Whole-demo cost at the default size and at 10x the patients, side by side.

For each size: generate a batch into a fresh lake, run `orphanlake refresh` in a child
process, and report wall time, peak RSS, seconds per patient, and the causal-gene recall
on the UNSOLVED patients scored against the hidden truth (which the pipeline never reads).

    python bench/bench_demo.py                    # 80 and 800 patients
    python bench/bench_demo.py --sizes 80 --variants 25000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def unsolved_recall(home: Path) -> dict:
    """Top-k recall of the true causal gene over unsolved patients, from truth/."""
    truth = list((home / "truth").rglob("truth.tsv"))
    con = duckdb.connect()
    con.execute(f"create view truth as select * from read_csv({[str(t) for t in truth]}, "
                "delim='\t', header=true, all_varchar=true)")
    con.execute(f"create view r as select * from read_parquet('{home}/marts/patient_gene_rankings.parquet')")
    row = con.execute("""
        with u as (select patient_id, gene_symbol from truth
                   where lower(is_solved) in ('false', '0') and coalesce(defect, '') in ('', '""')),
        hit as (select u.patient_id, min(r.rank) as rank from u
                left join r on r.patient_id = u.patient_id and r.gene_symbol = u.gene_symbol
                group by 1)
        select count(*), avg((coalesce(rank, 1e9) <= 1)::int), avg((coalesce(rank, 1e9) <= 5)::int),
               avg((coalesce(rank, 1e9) <= 10)::int), avg((rank is null)::int) from hit
    """).fetchone()
    return {"unsolved_patients": row[0], "top1": row[1], "top5": row[2], "top10": row[3],
            "causal_not_a_candidate": row[4]}


def run_size(n: int, variants: int, seed: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"orphanlake-bench-{n}-"))
    env = {**os.environ, "ORPHANLAKE_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster")}
    (home / ".dagster").mkdir(parents=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c",
                    "import sys; from pathlib import Path; from orchestration.simulate import "
                    f"generate_batch; generate_batch(Path(sys.argv[1]), {n}, {seed}, "
                    f"background_variants={variants})", str(home)], env=env, check=True)
    t_gen = time.perf_counter() - t0
    # a fresh wrapper process reports the peak RSS of the refresh and its dbt children only
    wrapper = ("import resource, subprocess, sys; "
               "subprocess.run([sys.executable, '-m', 'orchestration.cli', 'refresh'], check=True, "
               "stdout=subprocess.DEVNULL); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper], env=env, check=True,
                         stdout=subprocess.PIPE, text=True)
    t_refresh = time.perf_counter() - t0
    peak = int(out.stdout.strip().splitlines()[-1])
    return {"patients": n, "variants_per_patient": variants, "generate_s": round(t_gen, 1),
            "refresh_s": round(t_refresh, 1), "refresh_s_per_patient": round(t_refresh / n, 3),
            "peak_rss_mb": round(peak / 1024), "home": str(home),
            **unsolved_recall(home)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[80, 800])
    ap.add_argument("--variants", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = [run_size(n, args.variants, args.seed) for n in args.sizes]
    print(json.dumps(rows, indent=1))
    print("\n| patients | generate s | refresh s | s/patient | peak RSS MB | unsolved top-1 | top-5 | top-10 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['patients']} | {r['generate_s']} | {r['refresh_s']} | {r['refresh_s_per_patient']} "
              f"| {r['peak_rss_mb']} | {r['top1']:.2f} | {r['top5']:.2f} | {r['top10']:.2f} |")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"\ncost ratio {b['patients']}/{a['patients']} patients: "
              f"{b['refresh_s'] / a['refresh_s']:.2f}x time for {b['patients'] / a['patients']:.0f}x patients")


if __name__ == "__main__":
    main()
