"""Compound feature benchmark: standardize + all properties + Morgan fingerprints.

    PYTHONPATH=. python bench/bench_compounds.py [--n 20000] [--workers 2] [--batch-size 2000]

The same N molecules (the 2,628 ChEMBL approved drugs repeated to N) go through a plain
single-process loop (``compute_structures``: RDKit standardization, descriptors, alerts,
scaffold, fingerprint, one molecule after the other) and through the spawn process pool
(``compute_structures_parallel``; pool start-up included). Both results must be identical.
Writes bench/results/compounds.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rdkit  # noqa: E402

from orchestration.chem.properties import (compute_structures,  # noqa: E402
                                           compute_structures_parallel)
from orchestration.chem.reference_data import load_approved_drugs  # noqa: E402


def molecules(n: int) -> list[str]:
    """The approved-drug SMILES repeated (in order) to exactly n."""
    drugs = load_approved_drugs()["smiles"].to_list()
    return (drugs * (n // len(drugs) + 1))[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()

    smiles = molecules(args.n)
    compute_structures(smiles[:20])  # load catalogs/SA tables outside the timed loop

    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    serial = compute_structures(smiles)
    t_serial, cpu_serial = time.perf_counter() - t0, time.process_time() - c0

    # Worker CPU is only visible once the pool's children are reaped (RUSAGE_CHILDREN).
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.perf_counter(), time.process_time()
    parallel = compute_structures_parallel(smiles, workers=args.workers,
                                           batch_size=args.batch_size)
    t_parallel = time.perf_counter() - t0
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_parallel = (time.process_time() - c0 + kids_after.ru_utime - kids.ru_utime
                    + kids_after.ru_stime - kids.ru_stime)
    load_after = os.getloadavg()

    identical = parallel.equals(serial)
    failed = int(serial["error"].is_not_null().sum())
    result = {
        "n": args.n,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(),
        "rdkit": rdkit.__version__,
        "python": platform.python_version(),
        "serial_s": round(t_serial, 3),
        "parallel_s": round(t_parallel, 3),
        "serial_mol_per_s": round(args.n / t_serial, 1),
        "parallel_mol_per_s": round(args.n / t_parallel, 1),
        "speedup": round(t_serial / t_parallel, 3),
        "serial_cpu_s": round(cpu_serial, 3),
        "parallel_cpu_s": round(cpu_parallel, 3),
        # > 1 = CPU the parallel path spends beyond the serial loop (spawn, imports, pickling)
        "parallel_cpu_overhead": round(cpu_parallel / cpu_serial, 3),
        "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "identical_results": identical,
        "standardization_failures": failed,
    }
    print(f"| path | workers | wall s | molecules/s |\n|---|---|---|---|\n"
          f"| plain single-process RDKit loop | 1 | {t_serial:.1f} | {args.n / t_serial:,.0f} |\n"
          f"| compute_structures_parallel | {args.workers} | {t_parallel:.1f} "
          f"| {args.n / t_parallel:,.0f} |\n\n"
          f"speed-up {t_serial / t_parallel:.2f}x on {os.cpu_count()} CPUs, N={args.n}, "
          f"identical results: {identical}, failures: {failed}\n"
          f"CPU s: serial {cpu_serial:.1f}, parallel (all processes) {cpu_parallel:.1f}; "
          f"1-min load average before/after {load_before[0]:.2f}/{load_after[0]:.2f} "
          "(other processes on the machine lower the wall-clock speed-up)")
    out = REPO / "bench" / "results" / "compounds.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if not identical:
        sys.exit("parallel and serial results differ")


if __name__ == "__main__":
    main()
