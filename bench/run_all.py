"""Run every benchmark in one go, in the order BENCHMARKS.md reports them.

    python bench/run_all.py            # VCF ingest, phenotype ranking, whole demo (80 and 800
                                       # patients), compound features, plate normalization,
                                       # library scoring at 100k, screening science,
                                       # hit classes, activity enrichment, ADMET-AI,
                                       # feature store (Feast) at 10x the demo's features,
                                       # the refresh from the UI vs the CLI
    python bench/run_all.py --quick    # smaller sizes, for a smoke run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = [
        ["bench_vcf_ingest.py", "--records", *(["30000"] if args.quick else ["30000", "300000", "1000000"])],
        ["bench_phenotype.py", "--patients", "5" if args.quick else "20"],
        ["bench_phenotype_real.py", *(["--sample", "300"] if args.quick else [])],
        ["bench_real_cases.py", *(["--max-cases", "300", "--bootstrap", "200"] if args.quick else [])],
        ["bench_demo.py", "--sizes", *(["20"] if args.quick else ["80", "800"])],
        ["bench_compounds.py", "--n", "2000" if args.quick else "20000"],
        ["bench_plates.py", "--plates", "100" if args.quick else "1000"],
        ["bench_scoring.py", "--n", "5000" if args.quick else "100000"],
        ["bench_screening.py", "--seeds", *(["7"] if args.quick else ["7", "11"])],
        ["bench_hits.py", "--seeds", *(["7"] if args.quick else ["7", "11", "13", "17", "19"])],
        ["bench_activity.py", "--seeds", *(["1"] if args.quick else ["1", "2", "3", "4", "5"])],
        ["bench_admet.py", "--n", "200" if args.quick else "1000"],
        ["bench_features.py", "--scale", "1" if args.quick else "10",
         *(["--reps-1", "100", "--reps-100", "30"] if args.quick else [])],
        ["bench_ui_refresh.py", *(["--patients", "20"] if args.quick else ["--pairs", "2"])],
        ["bench_trials.py", "--parts", "coverage", "ingest",
         *(["--n-trials", "20", "--ingest-subjects", "1000", "--lb-records", "100000", "--repeat", "1"]
           if args.quick else [])],
    ]
    failed = 0
    for script, *rest in runs:
        print(f"\n### {script} {' '.join(rest)}\n", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *rest]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
