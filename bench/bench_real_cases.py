"""Benchmark: the gene ranker on replayed published cases and on simulated patients.

1. Real cases. Every replayable case of phenopacket-store (5,963 of 6,392; 465 genes) is
   written as a landing batch over a simulated exome (``simulate.replay``) and built into a
   lake by the refresh's own assets; so are 450 simulated solved patients (300 normal, 150
   hard). The ranker is measured by 5-fold cross-validation grouped by causal gene (no gene on
   both sides) on the published cases, next to phenotype-only (the lake's pheno_score),
   variant-only (variant_score), an Exomiser-style peer (frequency × pathogenicity, PhenoDigm
   with Resnik, Exomiser's logistic weights; ``models.exomiser_style``) and that peer's
   phenotype score alone, all on the same cases, with 95 % gene-bootstrap intervals and the
   paired difference ranker − peer. Every 10th case is replayed again with 2 observed terms and
   no excluded ones, and with no excluded terms; those copies are only scored, by the fold
   model that never saw their gene. Breakdowns: observed terms, consequence class, source,
   case variant. Calibration (Brier, ECE, reliability) of the held-out scores.
2. Simulated patients (regression check). ``orphanlake generate`` batches (seed 4242, normal
   and all-hard), half solved: their unsolved patients ranked by (a) the ranker as it was
   before this benchmark's issue (XGBoost trained in the lake on its solved patients), (b) the
   shipped ranker with the lake's refinement decision, (c) the Exomiser-style peer.

    PYTHONPATH=. .venv/bin/python bench/bench_real_cases.py --workdir build/ranker-training

The training lakes are cached in --workdir (the first run builds them: about an hour on 2
cores); ``orphanlake train-ranker`` uses the same lakes and writes the shipped model, after
which ``--reuse-metrics`` reports its cross-validation and runs only part 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from models import ranker  # noqa: E402  (sets OMP_WAIT_POLICY before xgboost loads)
import polars as pl  # noqa: E402

from models.ranker_eval import evaluate_topk, rank_within_patient  # noqa: E402
from orchestration import ranker_training  # noqa: E402

SIM_EVAL = ({"name": "eval_simulated", "hard": 0.1}, {"name": "eval_simulated_hard", "hard": 1.0})


def simulated_regression(workdir: Path, shipped: ranker.RankerArtifact, n: int = 120,
                         seed: int = 4242) -> dict:
    """Top-k on the unsolved patients of fresh simulated batches: before vs now vs peer."""
    from orchestration.simulate import cohort
    from orchestration.simulate.batch import generate_batch

    out = {}
    for spec in SIM_EVAL:
        def write(home: Path, spec=spec) -> None:
            saved, cohort.HARD_FRACTION = cohort.HARD_FRACTION, spec["hard"]
            try:
                generate_batch(home, n_patients=n, seed=seed, solved_fraction=0.5,
                               background_variants=6_000, batch_id=spec["name"])
            finally:
                cohort.HARD_FRACTION = saved
        features, paths = ranker_training._lake(workdir, spec["name"], write)
        features = ranker_training._with_baselines(features)
        truth = pl.read_csv(next(paths.truth.glob("*/truth.tsv")), separator="\t")
        causal = truth.select("patient_id", pl.col("gene_symbol").alias("truth_gene"))
        unsolved = (features.filter(~pl.col("is_training"))
                    .join(causal, on="patient_id")
                    .with_columns((pl.col("gene_symbol") == pl.col("truth_gene")).alias("is_causal")))
        solved = features.filter(pl.col("is_training"))
        before = ranker.train(solved, seed=0)         # the in-lake model of the old product
        now, decision = ranker.refine(shipped, solved)
        res = {"n_unsolved": unsolved["patient_id"].n_unique(), "lake_decision": decision["why"],
               "before (in-lake xgboost)": evaluate_topk(ranker.score(before, unsolved)),
               f"now ({decision['model']})": evaluate_topk(ranker.score(now, unsolved)),
               "exomiser_style": evaluate_topk(rank_within_patient(unsolved, "exomiser_score"))}
        out[spec["name"]] = res
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default=str(ROOT / "build" / "ranker-training"))
    ap.add_argument("--max-cases", type=int)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", default=str(HERE / "results" / "real_cases.json"))
    ap.add_argument("--reuse-metrics", action="store_true",
                    help="take part 1 from the last `orphanlake train-ranker` run on this workdir "
                         "(its metrics.json) instead of training again")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    t0 = time.time()
    if args.reuse_metrics:
        m = json.loads((workdir / "metrics.json").read_text())
    else:
        m = ranker_training.train(workdir, save=False, n_boot=args.bootstrap,
                                  max_cases=args.max_cases).metrics
    print("\n".join(ranker_training.summary_lines(m)))
    cal = m["calibration"]
    print(f"calibration, held out: top gene Brier {cal['top1']['brier']:.3f} ECE "
          f"{cal['top1']['ece']:.3f}; all candidates Brier {cal['all_candidates']['brier']:.5f} "
          f"ECE {cal['all_candidates']['ece']:.5f}")
    for by, groups in m.get("breakdown", {}).items():
        print(f"\nby {by}: n, top-1 ranker / exomiser_style / phenotype_only, top-10 ranker / exomiser_style")
        for value, r in groups.items():
            rk, ex, ph = r["ranker"], r.get("exomiser_style", {}), r.get("phenotype_only", {})
            if not rk.get("n_patients"):
                continue
            print(f"  {value:<36} {rk['n_patients']:>5}  {rk['top1']['value']:.3f} / "
                  f"{ex.get('top1', {}).get('value', float('nan')):.3f} / "
                  f"{ph.get('top1', {}).get('value', float('nan')):.3f}   "
                  f"{rk['top10']['value']:.3f} / {ex.get('top10', {}).get('value', float('nan')):.3f}")
    shipped = ranker.load(ranker_training.SHIPPED_DIR)
    sim = simulated_regression(workdir, shipped)
    for name, res in sim.items():
        print(f"\n{name}: {res['n_unsolved']} unsolved patients; lake: {res['lake_decision']}")
        for method, r in res.items():
            if isinstance(r, dict):
                print(f"  {method:<30} {r['recall_at_1']:.3f} / {r['recall_at_5']:.3f} / "
                      f"{r['recall_at_10']:.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"real_cases": m, "simulated": sim,
                               "seconds": round(time.time() - t0, 1)}, indent=1, default=str))
    print(f"\nwritten {out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
