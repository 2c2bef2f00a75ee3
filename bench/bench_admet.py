"""ADMET-AI benchmark: its solubility head against ours, and its throughput against the
XGBoost path.

    PYTHONPATH=. python bench/bench_admet.py [--n 1000]

1. Solubility on the shipped Huuskonen test split (257 compounds): our model (the recipe of
   the ``solubility_model`` asset: family chosen by scaffold CV on the 1,025-compound
   training split, refitted, never tuned on the test split) against ADMET-AI's
   ``Solubility_AqSolDB`` head, both on the same standardized structures: RMSE, MAE, R².
   ADMET-AI was trained on AqSolDB; test compounds that are in AqSolDB should be removed
   first. No installed or installable package we checked ships the AqSolDB compound list
   (``AQSOLDB_CHECKED``) and it is never downloaded at run time, so the comparison runs on the
   full test split and says so (``aqsoldb_overlap_removed: false``): ADMET-AI's figure is an
   upper bound, since AqSolDB merges public solubility sets and may hold test compounds.
2. Throughput per ``--n`` compounds (ChEMBL approved drugs repeated to n), each path in its
   own subprocess so its peak RSS is its own: ADMET-AI (model load, then all 41 endpoints
   from SMILES) and the XGBoost path (RDKit standardization + descriptors + fingerprints,
   then the saved XGBoost solubility model; an activity model adds one XGBoost booster per
   CV fold on the same features).

Writes bench/results/admet.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

AQSOLDB_CHECKED = [
    "admet-ai 2.0.1 wheel and sdist: models, admet.csv (endpoint metadata) and "
    "drugbank_approved.csv only; its scripts/prepare_tdc_admet_all.py downloads TDC data",
    "chemprop 2.2.4 (installed): no data sets",
    "PyTDC (pytdc on PyPI): downloads AqSolDB from Harvard Dataverse at run time, ships none",
    "soltrannet 1.0.0, molsol 0.0.3, MSCSol 1.0.5, wsppchem 1.0 (PyPI, trained on aqueous "
    "solubility data): model weights only",
    "every file under .venv/site-packages mentioning 'aqsol': only admet-ai's metadata and "
    "the TDC preparation script",
]


def _rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident set in MB. Not ru_maxrss: a
    child started by fork+exec inherits its parent's peak there."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _molecules(n: int) -> list[str]:
    from orchestration.chem.reference_data import load_approved_drugs

    drugs = load_approved_drugs()["smiles"].to_list()
    return (drugs * (n // len(drugs) + 1))[:n]


def part_admet(n: int) -> dict:
    """ADMET-AI alone in this process: load, then every endpoint for n SMILES."""
    smiles = _molecules(n)
    rss0 = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    from models.compounds import admet

    admet.model()
    load_s = time.perf_counter() - t0
    rss_loaded = _rss_mb("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    out = admet.predict(smiles)
    predict_s = time.perf_counter() - t0
    return {"path": "admet-ai (41 endpoints + flags)", "n": n, "load_s": round(load_s, 2),
            "predict_s": round(predict_s, 2), "cpu_s": round(time.process_time() - c0, 2),
            "mol_per_s": round(n / predict_s, 1), "s_per_1k": round(predict_s * 1000 / n, 2),
            "not_predicted": int(out["herg"].null_count()),
            "peak_rss_mb": round(_rss_mb(), 1), "rss_before_load_mb": round(rss0, 1),
            "rss_after_load_mb": round(rss_loaded, 1)}


def part_xgb(n: int, model_dir: str) -> dict:
    """The XGBoost path alone in this process: RDKit features, then the solubility model."""
    from models.compounds import solubility
    from orchestration.chem.properties import compute_structures

    smiles = _molecules(n)
    t0 = time.perf_counter()
    artifact = solubility.load(Path(model_dir))
    load_s = time.perf_counter() - t0
    compute_structures(smiles[:20])   # RDKit catalogs and SA tables, outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    props = compute_structures(smiles)
    features_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    ok = props.filter(pl.col("inchikey").is_not_null())
    solubility.predict_logS(artifact, ok)
    predict_s = time.perf_counter() - t1
    total = features_s + predict_s
    return {"path": f"RDKit features + XGBoost logS ({artifact.family})", "n": n,
            "load_s": round(load_s, 2), "features_s": round(features_s, 2),
            "predict_s": round(predict_s, 3), "cpu_s": round(time.process_time() - c0, 2),
            "mol_per_s": round(n / total, 1), "s_per_1k": round(total * 1000 / n, 2),
            "features_s_per_1k": round(features_s * 1000 / n, 2),
            "xgb_predict_s_per_1k": round(predict_s * 1000 / n, 3),
            "not_featurized": n - ok.height, "peak_rss_mb": round(_rss_mb(), 1)}


def solubility_comparison() -> tuple[dict, object]:
    from models.compounds import admet, solubility
    from models.compounds.metrics import regression_metrics
    from orchestration.assets.compound_models import _solubility_set

    data = _solubility_set()
    train, test = data.filter(pl.col("split") == "train"), data.filter(pl.col("split") == "test")
    t0 = time.perf_counter()
    ours = solubility.train_solubility(train, test)
    train_s = time.perf_counter() - t0
    test = test.filter(pl.col("logS").is_not_null())
    pred_ours = solubility.predict_logS(ours, test)
    pred_admet = admet.predict_endpoints(test["smiles"].to_list())["solubility_logs"].to_numpy()
    y = test["logS"].to_numpy()
    keep = ~pl.Series(pred_admet).is_nan().to_numpy()
    r = {"n_test_split": int(test.height), "n_compared": int(keep.sum()),
         "aqsoldb_overlap_removed": False,
         "aqsoldb_blocker": "no offline source of the AqSolDB compound list (see checked); "
                            "compared on the full test split, ADMET-AI's figure is an upper bound",
         "aqsoldb_checked": AQSOLDB_CHECKED,
         "ours": {**{k: round(v, 4) if isinstance(v, float) else v
                     for k, v in regression_metrics(y[keep], pred_ours[keep]).items()},
                  "family": ours.family, "model_version": ours.model_version,
                  "train_s": round(train_s, 1),
                  "training": "Huuskonen train split (1,025), family by scaffold CV"},
         "admet_ai": {**{k: round(v, 4) if isinstance(v, float) else v
                         for k, v in regression_metrics(y[keep], pred_admet[keep]).items()},
                      "head": "Solubility_AqSolDB", "version": admet.admet_version(),
                      "training": "AqSolDB (TDC), ~9,982 compounds"}}
    return r, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--part", choices=["admet", "xgb"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(REPO / "bench/results/admet.json"))
    args = parser.parse_args()
    if args.part:   # a child: one path, its own peak RSS
        result = part_admet(args.n) if args.part == "admet" else part_xgb(args.n, args.model_dir)
        print(json.dumps(result))
        return

    from models.compounds import solubility

    load_before = os.getloadavg()
    comparison, ours = solubility_comparison()
    with tempfile.TemporaryDirectory() as tmp:
        model = ours
        if ours.family != "xgboost":   # the throughput row is about the XGBoost path
            from orchestration.assets.compound_models import _solubility_set

            data = _solubility_set()
            model = solubility.train_solubility(data.filter(pl.col("split") == "train"),
                                                data.filter(pl.col("split") == "test"),
                                                families=("xgboost",))
        solubility.save(model, Path(tmp))
        runs = {}
        for part in ("admet", "xgb"):
            cmd = [sys.executable, __file__, "--part", part, "--n", str(args.n), "--model-dir", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO)})
            runs[part] = json.loads(done.stdout.strip().splitlines()[-1])
    a, x = runs["admet"], runs["xgb"]
    result = {
        "solubility_huuskonen_test": comparison,
        "throughput": {"admet_ai": a, "xgboost": x,
                       "admet_over_xgboost_time": round(a["s_per_1k"] / x["s_per_1k"], 2)},
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
