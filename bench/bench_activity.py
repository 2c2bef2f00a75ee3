"""Activity models against the simulator's hidden truth: untested-compound enrichment of
potent actives, ours vs a plain XGBoost/ECFP4 classifier, over several generator seeds.

    python bench/bench_activity.py [--seeds 1 2 3 4 5] [--workdir DIR] [--chemprop-epochs N]
                                   [--warm-lake LAKE] [--timing]

For each seed: a fresh lake, ``generate_screening(home, seed=s)`` (continuous potencies,
activity cliffs, interferers, plate artefacts, a failed plate, dose-response of the
strongest hits and a sample of weak ones), then the real ``orphanlake refresh``. From the
lake:

- ours: the shipped activity model (the family scaffold CV chose among XGBoost, MLP and
  Chemprop, refit on all pIC50 labels) scores the compounds without a label for the target;
- baseline: a plain XGBoost classifier (binary:logistic, 300 rounds, depth 6, eta 0.1,
  scale_pos_weight n_neg/n_pos) on ECFP4 (2048-bit Morgan radius 2, from the SMILES)
  trained on the same screen's labels, label = measured pIC50 >= 5 (>= 50 % effect at
  10 µM, or an IC50 <= 10 µM), scoring the same untested compounds;
- both against the truth: potent active = true pIC50 >= 5; EF1%, EF5%, ROC-AUC, PR-AUC,
  Spearman of the score with the true pIC50.

Also each family's held-out-scaffold CV figures and training seconds (from the model's
metadata) and, with --timing, Chemprop vs XGBoost training and inference time per 1,000
compounds on the first seed (the refresh's settings, 2 threads). Each new lake after the
first is seeded with the first lake's solubility model and ADMET-AI cache (structure-keyed,
not activity). Writes bench/results/activity.json and prints markdown.
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

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from models.compounds import activity  # noqa: E402  (sets OMP before xgboost loads)
from models.compounds.chemprop_model import ChempropRegressor  # noqa: E402
from models.compounds.labels import ACTIVE_PIC50  # noqa: E402
from orchestration.truth_eval import INERT_PIC50, untested_metrics  # noqa: E402

BASELINE_PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
                   "eta": 0.1, "max_depth": 6, "subsample": 0.8, "colsample_bytree": 0.5,
                   "nthread": 2}
BASELINE_ROUNDS = 300
KEYS = ("ef1", "ef5", "roc_auc", "pr_auc", "spearman")


def _seed_caches(home: Path, warm: Path | None) -> None:
    """Copy a warm lake's structure-keyed caches into a new lake before its first refresh:
    the solubility model (same shipped data, reused by fingerprint) and ADMET-AI's
    predictions (keyed by InChIKey + version). Neither touches the activity models."""
    import shutil

    if warm is None:
        return
    for rel in ("models/solubility", "models/admet"):
        src = warm / rel
        if src.is_dir() and not (home / rel).exists():
            shutil.copytree(src, home / rel)


def _refresh(home: Path, epochs: int | None) -> float:
    env = {**os.environ, "ORPHANLAKE_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster")}
    if epochs:
        env["ORPHANLAKE_CHEMPROP_EPOCHS"] = str(epochs)
    (home / ".dagster").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "orphanlake"), "refresh"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ecfp4(smiles: list[str]) -> np.ndarray:
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    out = np.zeros((len(smiles), 2048), dtype=np.float32)
    for i, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(smi) if smi else None
        if mol is not None:
            out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


def baseline_scores(train_smiles, train_label, test_smiles, seed: int) -> np.ndarray:
    import xgboost as xgb

    y = np.asarray(train_label, dtype=np.float32)
    n_pos = float(y.sum())
    params = {**BASELINE_PARAMS, "seed": seed, "scale_pos_weight": (y.size - n_pos) / max(n_pos, 1.0)}
    booster = xgb.train(params, xgb.DMatrix(ecfp4(train_smiles), label=y, nthread=2),
                        num_boost_round=BASELINE_ROUNDS)
    return booster.inplace_predict(ecfp4(test_smiles)).astype(np.float64)


def one_seed(home: Path, seed: int, epochs: int | None, timing: bool, warm: Path | None = None) -> dict:
    from orchestration.assets.compound_models import activity_models
    from orchestration.settings import LakePaths
    from orchestration.simulate.screening import generate_screening
    from orchestration.truth_eval import compound_truth

    t0 = time.perf_counter()
    gen = generate_screening(home, seed=seed, target_gene="GBA1", with_bad_files=False)
    generate_s = time.perf_counter() - t0
    _seed_caches(home, warm)
    refresh_s = _refresh(home, epochs)
    paths = LakePaths(home)
    labels = pl.read_parquet(paths.evidence / "compound_activity_labels.parquet")
    props = pl.read_parquet(paths.evidence / "compound_properties.parquet")
    if "smiles" not in props.columns:
        from orchestration.lake.io import read_model
        props = props.join(read_model(paths, "int_compounds").select("inchikey", "smiles"),
                           on="inchikey", how="left")
    target = "GBA1"
    art = activity.load(activity_models(paths)[target])
    tl = labels.filter(pl.col("target_gene") == target)
    truth = compound_truth(paths, target)
    untested = (truth.join(tl.select("inchikey"), on="inchikey", how="anti")
                .join(props, on="inchikey").sort("inchikey"))
    y = untested["true_active"].to_numpy()
    tp = untested["true_pic50"].fill_null(INERT_PIC50).to_numpy()
    ours = untested_metrics(y, tp, activity.predict(art, untested)[0])
    train = tl.join(props.select("inchikey", "smiles"), on="inchikey").sort("inchikey")
    base_label = (train["pic50"] >= ACTIVE_PIC50).fill_null(False) if "pic50" in train.columns \
        else train["label"] == 1
    base = untested_metrics(y, tp, baseline_scores(train["smiles"].to_list(), base_label.to_numpy(),
                                                   untested["smiles"].to_list(), seed))
    m = art.metrics
    out = {"seed": seed, "generate_s": round(generate_s, 1), "refresh_s": round(refresh_s, 1),
           "n_labelled": m["n_compounds"], "n_potent_labelled": m["n_positives"],
           "n_untested": int(y.size), "n_true_potent_untested": int(y.sum()),
           "chosen_family": art.family, "ours": ours, "xgb_ecfp4_classifier": base,
           "heldout_scaffold_cv": {f: {"pooled": r["pooled"], "fold_mean": r["mean"],
                                       "train_seconds": r.get("train_seconds")}
                                   for f, r in m["families"].items()},
           "generator": {k: gen[k] for k in ("n_true_actives",) if k in gen}}
    if timing:
        out["timing_per_1k"] = time_families(train, props)
    return out


def time_families(train: pl.DataFrame, props: pl.DataFrame) -> dict:
    """Seconds per 1,000 compounds: one Chemprop fit (refresh settings) and one XGBoost
    regressor fit on the labelled set; inference of each on 1,000 library compounds."""
    import xgboost as xgb

    from models.compounds.features import fit_feature_spec
    from orchestration.assets.compound_models import chemprop_config

    data = train.join(props.drop("smiles"), on="inchikey").drop_nulls("pic50")
    n = data.height
    t0 = time.perf_counter()
    cp = ChempropRegressor(config=chemprop_config(), seed=0).fit(
        data["smiles"].to_list(), data["pic50"].to_numpy(), data["censored"].fill_null(False).to_numpy())
    cp_fit = time.perf_counter() - t0
    spec = fit_feature_spec(data)
    t0 = time.perf_counter()
    x = spec.transform(data)
    booster = xgb.train({**activity.XGB_PARAMS, "seed": 0}, xgb.DMatrix(x, label=data["pic50"].to_numpy()),
                        num_boost_round=activity.XGB_ROUNDS)
    xgb_fit = time.perf_counter() - t0
    lib = props.head(1000)
    t0 = time.perf_counter()
    cp.predict(lib["smiles"].to_list())
    cp_pred = time.perf_counter() - t0
    t0 = time.perf_counter()
    booster.inplace_predict(spec.transform(lib))
    xgb_pred = time.perf_counter() - t0
    k = 1000.0 / n
    return {"n_train": n, "chemprop_epochs_run": cp.best_epoch,
            "chemprop_max_epochs": cp.config.max_epochs,
            "chemprop_train_s_per_1k": round(cp_fit * k, 2), "xgboost_train_s_per_1k": round(xgb_fit * k, 2),
            "chemprop_predict_s_per_1k": round(cp_pred * 1000.0 / lib.height, 2),
            "xgboost_predict_s_per_1k": round(xgb_pred * 1000.0 / lib.height, 3)}


def _summary(rows: list[dict], key: str) -> dict:
    out = {}
    for k in KEYS:
        vals = np.array([r[key][k] for r in rows if r[key].get(k) is not None], dtype=float)
        vals = vals[~np.isnan(vals)]
        out[k] = {"mean": round(float(vals.mean()), 3) if vals.size else None,
                  "sd": round(float(vals.std(ddof=1)), 3) if vals.size > 1 else None,
                  "n": int(vals.size)}
    return out


def _paired(rows: list[dict]) -> dict:
    """Per seed, ours minus the baseline on the same untested compounds: mean ± sd of the
    difference and on how many seeds ours is ahead (both saw the same screen and truth)."""
    out = {}
    for k in KEYS:
        d = np.array([r["ours"][k] - r["xgb_ecfp4_classifier"][k] for r in rows
                      if r["ours"].get(k) is not None and r["xgb_ecfp4_classifier"].get(k) is not None],
                     dtype=float)
        d = d[~np.isnan(d)]
        out[k] = {"mean": round(float(d.mean()), 3) if d.size else None,
                  "sd": round(float(d.std(ddof=1)), 3) if d.size > 1 else None,
                  "ahead": int((d > 0).sum()), "tied": int((d == 0).sum()), "n": int(d.size)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--warm-lake", type=Path, default=None,
                    help="a lake whose solubility model and ADMET cache seed each new lake")
    ap.add_argument("--timing", action="store_true",
                    help="also time Chemprop vs XGBoost fit/predict per 1k on the first seed")
    ap.add_argument("--chemprop-epochs", type=int, default=None,
                    help="ORPHANLAKE_CHEMPROP_EPOCHS for the refreshes (default: the refresh's)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_activity_"))
    rows = []
    for i, seed in enumerate(args.seeds):
        home = work / f"seed_{seed}"
        rows.append(one_seed(home, seed, args.chemprop_epochs, timing=args.timing and i == 0,
                             warm=args.warm_lake or (work / f"seed_{args.seeds[0]}" if i else None)))
        r = rows[-1]
        print(f"seed {seed}: chosen {r['chosen_family']}, ours EF1 {r['ours']['ef1']:.2f} "
              f"EF5 {r['ours']['ef5']:.2f} AUC {r['ours']['roc_auc']:.3f} | baseline EF1 "
              f"{r['xgb_ecfp4_classifier']['ef1']:.2f} EF5 {r['xgb_ecfp4_classifier']['ef5']:.2f} "
              f"AUC {r['xgb_ecfp4_classifier']['roc_auc']:.3f} (refresh {r['refresh_s']:.0f} s)",
              flush=True)
    result = {"seeds": args.seeds, "chemprop_epochs": args.chemprop_epochs or "refresh default",
              "potent_active": f"true pIC50 >= {ACTIVE_PIC50:g}",
              "baseline": {"model": "XGBoost classifier on ECFP4 (2048-bit Morgan r=2)",
                           "params": BASELINE_PARAMS, "rounds": BASELINE_ROUNDS,
                           "label": "measured pIC50 >= 5 of the same screen"},
              "ours": _summary(rows, "ours"), "xgb_ecfp4_classifier": _summary(rows, "xgb_ecfp4_classifier"),
              "ours_minus_baseline": _paired(rows), "per_seed": rows}
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "results" / "activity.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"\n### Untested-compound enrichment of potent actives (true pIC50 >= 5), "
          f"{len(rows)} seeds, mean ± sd\n")
    print("| model | EF1% | EF5% | ROC-AUC | PR-AUC | Spearman |")
    print("|---|---|---|---|---|---|")
    for key, name in (("ours", "ours (scaffold-CV chosen: " + ", ".join(sorted({r['chosen_family'] for r in rows})) + ")"),
                      ("xgb_ecfp4_classifier", "XGBoost classifier / ECFP4")):
        s = result[key]
        print(f"| {name} | " + " | ".join(
            f"{s[k]['mean']} ± {s[k]['sd']}" for k in KEYS) + " |")
    d = result["ours_minus_baseline"]
    print("| ours − baseline, same seed (mean ± sd; seeds ahead) | " + " | ".join(
        f"{d[k]['mean']:+} ± {d[k]['sd']} ({d[k]['ahead']}/{d[k]['n']})" for k in KEYS) + " |")
    print("\n### Held-out scaffold CV per family (pooled, mean over seeds)\n")
    print("| family | RMSE | Spearman | ROC-AUC | PR-AUC | EF1% | EF5% | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for fam in rows[0]["heldout_scaffold_cv"]:
        vals = [r["heldout_scaffold_cv"][fam] for r in rows]
        cells = [np.nanmean([v["pooled"][k] if v["pooled"][k] is not None else np.nan for v in vals])
                 for k in ("rmse", "spearman", "roc_auc", "pr_auc", "ef1", "ef5")]
        secs = np.mean([v["train_seconds"] or np.nan for v in vals])
        print(f"| {fam} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {secs:.0f} |")
    if "timing_per_1k" in rows[0]:
        print("\n### Time per 1,000 compounds (seed", rows[0]["seed"], ")\n")
        print(json.dumps(rows[0]["timing_per_1k"], indent=2))


if __name__ == "__main__":
    main()
