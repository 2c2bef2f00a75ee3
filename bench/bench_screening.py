"""Science of the screening path, judged against the simulator's hidden truth.

    python bench/bench_screening.py [--seeds 7 11] [--patients 40]

For each seed: a fresh lake in a temp folder, `orphanlake generate` (patients, libraries,
primary + dose-response runs with edge evaporation, gradients, a dispenser fault and a
failed plate), `orphanlake refresh`, then from the marts:

- which score to threshold: precision / recall of the primary run against the truly
  active compounds (pIC50 ≥ 5) for a significance-only rule (≥ 2 replicate wells at a score
  of 3, the rule before issue 11) applied to the shipped score (B-score where the bias test
  fires, else robust z), to robust z only and to the B-score on every plate, per compound
  and per single well; plus the shipped mart's potency-aware `hit` class
  (`compound_is_hit`). The hit classes themselves are judged by bench/bench_hits.py;
- dose-response: IC50 error against the true IC50 of actives, and how often a truly
  inactive pick is called active;
- the activity model on held-out scaffolds (its own CV) and on the untested library
  compounds against the truth; the solubility model on the Huuskonen test split.

Writes bench/results/screening.json and prints markdown tables.
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

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.compounds.metrics import enrichment_factor, pr_auc, roc_auc  # noqa: E402

# the significance-only ablation rule (not the shipped hit classes: see bench_hits.py)
THRESHOLD, MIN_REPLICATES = 3.0, 2


def _cli(home: Path, *args: str) -> float:
    env = {**os.environ, "ORPHANLAKE_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster")}
    (home / ".dagster").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "orphanlake"), *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _pr(called: set, actives: set) -> dict:
    tp = len(called & actives)
    return {"called": len(called), "true_positives": tp,
            "precision": tp / len(called) if called else float("nan"),
            "recall": tp / len(actives) if actives else float("nan")}


def hit_metrics(wells: pl.DataFrame, actives: set) -> dict:
    """Calls under each score with the significance-only ablation rule (replicates needed =
    min(MIN_REPLICATES, wells the compound was tested in); wells on failed plates do not
    count), plus the well-level view (every sample well on a passing plate on its own)."""
    samples = wells.filter(pl.col("role") == "sample")
    out = {"shipped mart (compound_is_hit)": {"compound": _pr(set(
        samples.filter(pl.col("compound_is_hit").fill_null(False))["compound_id"].to_list()), actives)}}
    for label, col in (("B-score where biased (shipped)", "corrected"),
                       ("robust z only (no B-score)", "robust_z"), ("B-score always", "b_score")):
        ok = pl.col("plate_passed") & pl.col(col).is_not_null()
        per = samples.group_by("compound_id").agg(
            pl.len().alias("n"), ok.sum().alias("valid"),
            (ok & (pl.col(col) >= THRESHOLD)).sum().alias("above"),
            pl.col(col).filter(pl.col("plate_passed")).median().alias("median"))
        need = pl.min_horizontal(pl.lit(MIN_REPLICATES), pl.col("n"))
        is_hit = (pl.col("valid") >= need) & (pl.col("above") >= need) & (pl.col("median") >= THRESHOLD)
        inconclusive = ~is_hit & ((pl.col("valid") == 0) | ((pl.col("valid") < need) & (pl.col("above") > 0)))
        per = per.with_columns(is_hit.fill_null(False).alias("hit"),
                               inconclusive.fill_null(False).alias("inconclusive"))
        called = set(per.filter("hit")["compound_id"].to_list())
        unsure = set(per.filter("inconclusive")["compound_id"].to_list())
        conclusive_actives = actives - unsure
        passed = samples.filter(pl.col("plate_passed"))
        well_called = passed.filter(pl.col(col) >= THRESHOLD)
        well_tp = well_called.filter(pl.col("compound_id").is_in(sorted(actives))).height
        n_active_wells = passed.filter(pl.col("compound_id").is_in(sorted(actives))).height
        out[label] = {"compound": {**_pr(called, actives),
                                   "inconclusive": len(unsure),
                                   "inconclusive_true_actives": len(actives & unsure),
                                   "recall_of_conclusive": len(called & conclusive_actives)
                                   / max(len(conclusive_actives), 1)},
                      "well": {"precision": well_tp / max(well_called.height, 1),
                               "recall": well_tp / max(n_active_wells, 1),
                               "called": well_called.height}}
    return out


def dose_response_metrics(dr: pl.DataFrame, truth: dict) -> dict:
    potency = {c: v.get("true_pic50") for run in truth["runs"].values()
               if isinstance(run.get("compounds"), dict) for c, v in run["compounds"].items()}
    rows = []
    for r in dr.iter_rows(named=True):
        true = potency.get(r["compound_id"])
        called = r["curve_class"][:1] in ("1", "2") and (r["ic50_um"] or 1e9) <= 10
        rows.append({"true_pic50": true, "pic50": r["pic50"], "called_active": called})
    df = pl.DataFrame(rows, schema={"true_pic50": pl.Float64, "pic50": pl.Float64,
                                    "called_active": pl.Boolean})
    both = df.drop_nulls(["true_pic50", "pic50"])
    inactive = df.filter(pl.col("true_pic50").is_null() | (pl.col("true_pic50") < 5))
    active = df.filter(pl.col("true_pic50") >= 5)
    return {"curves": df.height,
            "median_abs_log10_ic50_error": float((both["pic50"] - both["true_pic50"]).abs().median())
            if both.height else None,
            "true_actives_confirmed": float(active["called_active"].mean()) if active.height else None,
            "true_inactives_called_active": float(inactive["called_active"].mean()) if inactive.height else None}


def model_metrics(home: Path, target: str) -> dict:
    meta = json.loads((home / "models" / "compound_activity" / target / "activity_meta.json").read_text())
    fam = meta["metrics"]["families"]
    heldout = {f: {k: fam[f]["pooled"][k] for k in ("roc_auc", "pr_auc", "ef1", "ef5")} for f in fam}
    scores = pl.read_parquet(home / "marts" / "compound_scores.parquet").filter(
        (pl.col("target_gene") == target) & ~pl.col("tested"))
    truth = pl.read_parquet(next(home.glob("truth/*/screening/compound_activity.parquet")))
    import duckdb
    with duckdb.connect(str(home / "lake.duckdb"), read_only=True) as con:
        records = con.sql("select distinct library, compound_id, inchikey from raw_compound_records").pl()
    t = (truth.join(records.select("library", "compound_id", "inchikey"), on=["library", "compound_id"])
         .group_by("inchikey").agg(pl.col("true_active").any()))
    joined = scores.join(t, on="inchikey")
    y, p = joined["true_active"].to_numpy().astype(int), joined["p_active"].to_numpy()
    untested = {"n": int(y.size), "actives": int(y.sum()), "roc_auc": roc_auc(y, p),
                "pr_auc": pr_auc(y, p), "ef1": enrichment_factor(y, p, 0.01),
                "ef5": enrichment_factor(y, p, 0.05)}
    # the priority rank as a scientist would use it: actives among the top 50 untested
    top = joined.sort("rank").head(50).join(
        pl.read_parquet(home / "marts" / "compounds.parquet").select("inchikey", "scaffold"),
        on="inchikey", how="left")
    untested["actives_in_top50_by_rank"] = int(top["true_active"].sum())
    untested["scaffolds_in_top50_by_rank"] = int(top["scaffold"].n_unique())
    sol = json.loads((home / "models" / "solubility" / "solubility_meta.json").read_text())["metrics"]
    return {"chosen": meta["metrics"]["chosen"], "heldout_scaffolds": heldout,
            "untested_vs_truth": untested, "solubility_test": sol["test"],
            "solubility_cv": {f: sol["cv"][f]["rmse"] for f in sol["cv"]}}


def run_seed(seed: int, patients: int, keep: bool) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"orphanlake-bench-screen-{seed}-"))
    gen = _cli(home, "generate", "--patients", str(patients), "--seed", str(seed),
               "--background-variants", "3000", "--with-bad-files")
    refresh = _cli(home, "refresh")
    truth = json.loads(next(home.glob("truth/*/screening/plates.json")).read_text())
    target = truth["target_gene"]
    primary = next(r for r in truth["runs"] if r.startswith("PRIMARY") and not r.endswith("_bad"))
    wells = pl.read_parquet(home / "marts" / "hts_well_results.parquet").filter(pl.col("run_id") == primary)
    dr = pl.read_parquet(home / "marts" / "dose_response.parquet")
    result = {"seed": seed, "home": str(home), "target": target,
              "generate_s": round(gen, 1), "refresh_s": round(refresh, 1),
              "n_true_actives_primary": len(truth["runs"][primary]["true_actives"]),
              "hits": hit_metrics(wells, set(truth["runs"][primary]["true_actives"])),
              "dose_response": dose_response_metrics(dr, truth),
              "models": model_metrics(home, target)}
    if not keep:
        import shutil
        shutil.rmtree(home, ignore_errors=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    ap.add_argument("--patients", type=int, default=40)
    ap.add_argument("--keep", action="store_true", help="keep the temp lakes")
    args = ap.parse_args()
    results = [run_seed(s, args.patients, args.keep) for s in args.seeds]
    out = REPO / "bench" / "results" / "screening.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))

    print("\n| seed | target | true actives | scores | compound precision | compound recall | "
          "inconclusive (true actives) | recall of conclusive | well precision | well recall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for label, m in r["hits"].items():
            c, w = m["compound"], m.get("well")
            if w is None:
                print(f"| {r['seed']} | {r['target']} | {r['n_true_actives_primary']} | {label} | "
                      f"{c['precision']:.3f} | {c['recall']:.3f} | | | | |")
                continue
            print(f"| {r['seed']} | {r['target']} | {r['n_true_actives_primary']} | {label} | "
                  f"{c['precision']:.3f} | {c['recall']:.3f} | {c['inconclusive']} "
                  f"({c['inconclusive_true_actives']}) | {c['recall_of_conclusive']:.3f} | "
                  f"{w['precision']:.3f} | {w['recall']:.3f} |")
    print("\n| seed | family | held-out ROC-AUC | PR-AUC | EF1% | EF5% |")
    print("|---|---|---|---|---|---|")
    for r in results:
        for fam, m in r["models"]["heldout_scaffolds"].items():
            mark = " (chosen)" if fam == r["models"]["chosen"] else ""
            print(f"| {r['seed']} | {fam}{mark} | {m['roc_auc']:.3f} | {m['pr_auc']:.3f} | "
                  f"{m['ef1']:.1f} | {m['ef5']:.1f} |")
    print("\n| seed | untested n (actives) | ROC-AUC | PR-AUC | EF1% | EF5% | actives in top 50 by rank | scaffolds in top 50 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        u = r["models"]["untested_vs_truth"]
        print(f"| {r['seed']} | {u['n']} ({u['actives']}) | {u['roc_auc']:.3f} | {u['pr_auc']:.3f} | "
              f"{u['ef1']:.1f} | {u['ef5']:.1f} | {u['actives_in_top50_by_rank']} | "
              f"{u['scaffolds_in_top50_by_rank']} |")
    print("\n| seed | DR curves | median abs log10 IC50 error | true actives confirmed | true inactives called active | solubility test RMSE | R² |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        d, s = r["dose_response"], r["models"]["solubility_test"]
        print(f"| {r['seed']} | {d['curves']} | {d['median_abs_log10_ic50_error']:.3f} | "
              f"{d['true_actives_confirmed']:.3f} | {d['true_inactives_called_active']:.3f} | "
              f"{s['rmse']:.3f} | {s['r2']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
