"""Hit calling against the simulator's hidden truth, with and without positional bias.

    python bench/bench_hits.py [--seeds 7 11 13 17 19] [--workers 1] [--keep]

For each seed and each plate setting (positional bias on: edge evaporation, gradients and
a dispenser fault, as the generator writes by default; off: none of them), a fresh lake in
a temp folder gets the screening campaign (``generate_screening``: libraries, the primary
run in duplicate with one failed plate, the FLUC counter-screen, dose-response), then the
real pipeline builds everything ``hts_compound_calls`` and ``hts_well_results`` need
(ingest, dbt staging/intermediate/marts, plate normalization and the compound assets: the
same Dagster assets a refresh runs, in a subprocess with its own ORPHANLAKE_HOME; the
patient path, the models and the feature store are not built, they are not inputs of the
hit calls). Patients are not simulated (the target gene is GBA1).

Measured on the primary run against "true effect >= 50 %" (the compound's true percent
inhibition of the target at the primary concentration, truth only; interferers are not
true positives):

- ``hit_class == 'hit'`` of the mart ``hts_compound_calls``;
- the same, leaving out compounds the mart flags ``likely_interferer``;
- plain NPI >= 50 %: median NPI of the compound's wells on plates that passed QC (no
  positional correction, no significance test);
- compounds with a valid replicate left without a class (must be 0), inconclusive and
  needs_retest counts, and how the compounds with one replicate on the failed plate fared;
- interference flags against the truth (frequent_hitter vs is_frequent_hitter,
  likely_interferer vs is_interferer).

Mean ± sd over seeds. Writes bench/results/hits.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

POTENT = 50.0
TARGETS = ("hts_compound_calls", "hts_well_results")


# --------------------------------------------------------------------------- building
def build(home: Path) -> None:
    """Materialize the upstream of the hit-call marts in the lake at ``home`` (run in a
    subprocess whose ORPHANLAKE_HOME is ``home``)."""
    import dagster as dg

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    needed = dg.AssetSelection.assets(*TARGETS).upstream().resolve(graph)
    # multi-assets that cannot run a subset (e.g. the reference data) come whole
    needed = dg.AssetSelection.assets(*needed).required_multi_asset_neighbors().resolve(graph)
    with contextlib.redirect_stdout(sys.stderr):
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=sorted(needed, key=lambda k: k.to_user_string()),
            instance=dg.DagsterInstance.get(), raise_on_error=False)
    if not result.success:
        failed = sorted({e.step_key for e in result.all_events if e.is_step_failure})
        raise SystemExit(f"building the screening lake at {home} failed in {', '.join(failed)}")


def _build_subprocess(home: Path) -> float:
    env = {**os.environ, "ORPHANLAKE_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster"),
           "HF_HUB_OFFLINE": "1"}
    (home / ".dagster").mkdir(parents=True, exist_ok=True)
    (home / ".dagster" / "dagster.yaml").touch()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--build-only", str(home)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise RuntimeError(f"build of {home} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- metrics
def _prf(called: set, positives: set) -> dict:
    tp = len(called & positives)
    p = tp / len(called) if called else 0.0
    r = tp / len(positives) if positives else float("nan")
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"called": len(called), "tp": tp, "precision": p, "recall": r, "f1": f1}


def evaluate(home: Path) -> dict:
    truth_dir = next(home.glob("truth/*/screening"))
    meta = json.loads((truth_dir / "plates.json").read_text())
    primary = next(r for r in meta["runs"] if r.startswith("PRIMARY") and not r.endswith("_bad"))
    truth = pl.read_parquet(truth_dir / "compound_activity.parquet").filter(
        pl.col("library") == "chembl_approved")
    screened = set(truth["compound_id"])
    positives = set(truth.filter(pl.col("true_effect_pct") >= POTENT)["compound_id"])
    interferers = set(truth.filter("is_interferer")["compound_id"])
    frequent = set(truth.filter("is_frequent_hitter")["compound_id"])

    calls = pl.read_parquet(home / "marts" / "hts_compound_calls.parquet").filter(
        pl.col("run_id") == primary)
    wells = pl.read_parquet(home / "marts" / "hts_well_results.parquet").filter(
        (pl.col("run_id") == primary) & (pl.col("role") == "sample"))
    valid = wells.filter(pl.col("plate_passed") & pl.col("npi").is_not_null())
    n_failing = wells.filter(~pl.col("plate_passed"))["plate_id"].n_unique()
    npi = valid.group_by("compound_id").agg(pl.col("npi").median().alias("median_npi"))
    with_valid = set(npi["compound_id"])

    classed = calls.filter(pl.col("hit_class").is_not_null())
    uncalled = (with_valid - set(classed["compound_id"]))
    ours = set(calls.filter(pl.col("hit_class") == "hit")["compound_id"])
    flagged = set(calls.filter(pl.col("likely_interferer").fill_null(False))["compound_id"])
    fh_called = set(calls.filter(pl.col("frequent_hitter").fill_null(False))["compound_id"])
    plain = set(npi.filter(pl.col("median_npi") >= POTENT)["compound_id"])
    split = set(meta["runs"][primary].get("one_replicate_on_failed_plate", []))
    split_calls = calls.filter(pl.col("compound_id").is_in(sorted(split)))
    inconclusive = calls.filter(pl.col("hit_class") == "inconclusive")
    # the reason text carries the numbers of each compound; group by its kind (before ':')
    reasons = (inconclusive.group_by(pl.col("inconclusive_reason").str.split(":").list.first())
               .len().sort("inconclusive_reason").iter_rows())
    counter_run = (meta.get("counter_screen") or {}).get("run_id")
    counter_tested = set()
    if counter_run:
        counter_tested = set(pl.read_parquet(home / "marts" / "hts_well_results.parquet").filter(
            (pl.col("run_id") == counter_run) & (pl.col("role") == "sample"))["compound_id"])
    return {
        "primary_run": primary, "n_screened": len(screened), "n_true_potent": len(positives),
        "n_true_weak": int(truth.filter(pl.col("true_effect_pct").is_between(10, POTENT, closed="left")).height),
        "n_interferers": len(interferers),
        "methods": {
            "hit_class == 'hit'": _prf(ours, positives),
            "hit and not frequent_hitter": _prf(ours - fh_called, positives),
            "hit and not likely_interferer": _prf(ours - flagged, positives),
            "plain NPI >= 50% (median, passing plates)": _prf(plain, positives),
        },
        "classes": dict(calls.group_by("hit_class").len().sort("hit_class").iter_rows()),
        "n_with_valid_replicate": len(with_valid),
        "uncalled_with_valid_replicate": len(uncalled),
        "screened_missing_from_mart": len(screened - set(calls["compound_id"])),
        "inconclusive": inconclusive.height,
        "inconclusive_reasons": {str(k): v for k, v in reasons},
        "inconclusive_true_potent": len(set(inconclusive["compound_id"]) & positives),
        "needs_retest": int(calls["needs_retest"].fill_null(False).sum()),
        "plates_failing_qc": n_failing,
        "one_replicate_on_failed_plate": {
            "n": len(split), "classed": int(split_calls["hit_class"].is_not_null().sum()),
            "inconclusive": int((split_calls["hit_class"] == "inconclusive").sum()),
            "needs_retest": int(split_calls["needs_retest"].fill_null(False).sum()),
            "recall_of_true_potent": _prf(ours & split, positives & split)["recall"]},
        "interference": {
            "n_counter_screened": len(counter_tested),
            "frequent_hitter_vs_truth": _prf(fh_called, frequent & counter_tested),
            "likely_interferer_vs_truth": _prf(flagged, interferers),
            "true_potent_flagged_likely_interferer": len((flagged & positives) - interferers)},
    }


def run_one(seed: int, bias: bool, keep: bool) -> dict:
    from orchestration.simulate.screening import generate_screening

    home = Path(tempfile.mkdtemp(prefix=f"orphanlake-bench-hits-{seed}-{int(bias)}-"))
    t0 = time.perf_counter()
    generate_screening(home, seed=seed, with_bad_files=False, positional_bias=bias)
    gen_s = time.perf_counter() - t0
    build_s = _build_subprocess(home)
    out = {"seed": seed, "positional_bias": bias, "generate_s": round(gen_s, 1),
           "build_s": round(build_s, 1), **evaluate(home)}
    if keep:
        out["home"] = str(home)
    else:
        shutil.rmtree(home, ignore_errors=True)
    print(f"seed {seed} bias {bias}: " + ", ".join(
        f"{k} F1 {m['f1']:.3f}" for k, m in out["methods"].items())
        + f"; uncalled {out['uncalled_with_valid_replicate']} ({build_s:.0f} s)", file=sys.stderr)
    return out


def _ms(values: list[float]) -> str:
    vals = [v for v in values if v == v]
    if not vals:
        return "n/a"
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.mean(vals):.3f} ± {sd:.3f}"


def _mi(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


def summarize(results: list[dict]) -> dict:
    out = {}
    for bias in (False, True):
        rs = [r for r in results if r["positional_bias"] == bias]
        if not rs:
            continue
        key = "positional bias" if bias else "no positional bias"
        out[key] = {
            "seeds": [r["seed"] for r in rs],
            "methods": {m: {k: _ms([r["methods"][m][k] for r in rs])
                            for k in ("precision", "recall", "f1")}
                        | {"called": _mi([r["methods"][m]["called"] for r in rs])}
                        for m in rs[0]["methods"]},
            "n_true_potent": _mi([r["n_true_potent"] for r in rs]),
            "uncalled_with_valid_replicate": sum(r["uncalled_with_valid_replicate"] for r in rs),
            "inconclusive": _mi([r["inconclusive"] for r in rs]),
            "inconclusive_true_potent": _mi([r["inconclusive_true_potent"] for r in rs]),
            "needs_retest": _mi([r["needs_retest"] for r in rs]),
            "plates_failing_qc": _mi([r["plates_failing_qc"] for r in rs]),
            "frequent_hitter": {k: _ms([r["interference"]["frequent_hitter_vs_truth"][k] for r in rs])
                                for k in ("precision", "recall")},
            "likely_interferer": {k: _ms([r["interference"]["likely_interferer_vs_truth"][k] for r in rs])
                                  for k in ("precision", "recall")},
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 13, 17, 19])
    ap.add_argument("--bias", choices=["both", "on", "off"], default="both")
    ap.add_argument("--workers", type=int, default=1, help="lakes built at once")
    ap.add_argument("--keep", action="store_true", help="keep the temp lakes")
    ap.add_argument("--build-only", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "hits.json"))
    args = ap.parse_args()
    if args.build_only:
        build(Path(args.build_only))
        return 0
    # the code the lakes are built with: HEAD when the run starts, and whether the pipeline
    # had uncommitted changes then
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "dbt_project",
                            "models/plates", "orchestration"], capture_output=True, text=True).stdout
    biases = {"both": (False, True), "on": (True,), "off": (False,)}[args.bias]
    jobs = [(s, b) for s in args.seeds for b in biases]
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(lambda j: run_one(j[0], j[1], args.keep), jobs))
    summary = summarize(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"potent_cutoff_pct": POTENT, "commit": head,
                               "uncommitted_pipeline_changes": bool(dirty.strip()),
                               "summary": summary,
                               "runs": results}, indent=2, default=float) + "\n")

    print(f"\nHit calling vs true effect >= {POTENT:g} % (mean ± sd over seeds "
          f"{', '.join(map(str, args.seeds))})\n")
    print("| plates | method | called | precision | recall | F1 |")
    print("|---|---|---|---|---|---|")
    for setting, s in summary.items():
        for m, v in s["methods"].items():
            print(f"| {setting} | {m} | {v['called']} | {v['precision']} | {v['recall']} | {v['f1']} |")
    print("\n| plates | true potent | uncalled with a valid replicate (sum) | inconclusive "
          "(true potent among them) | needs_retest | primary plates failing QC | "
          "frequent_hitter P / R | likely_interferer P / R |")
    print("|---|---|---|---|---|---|---|---|")
    for setting, s in summary.items():
        print(f"| {setting} | {s['n_true_potent']} | {s['uncalled_with_valid_replicate']} | "
              f"{s['inconclusive']} ({s['inconclusive_true_potent']}) | {s['needs_retest']} | "
              f"{s['plates_failing_qc']} | "
              f"{s['frequent_hitter']['precision']} / {s['frequent_hitter']['recall']} | "
              f"{s['likely_interferer']['precision']} / {s['likely_interferer']['recall']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
