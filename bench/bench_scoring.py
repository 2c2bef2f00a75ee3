"""Benchmark: score a 100k-compound library with a trained activity model, streamed vs in memory.

1. Library: ChEMBL approved drugs (``reference_data.load_approved_drugs``, largest fragment) plus deterministic
   analogues — one methyl/fluoro/chloro/methoxy/trifluoromethyl/cyano on an aromatic C–H,
   then two, taken round-robin over the drugs — until N unique standardized structures.
   Standardization + properties run in ``orchestration.chem.properties.compute_structures_parallel``
   (standardize + ``compute_properties`` in one spawn pool; the library's raw SMILES are not
   standardized yet) in chunks appended to one Parquet file. Cached in --workdir.
2. Model: ``models.compounds.activity.train_activity`` on 3,000 library compounds labelled by a
   substructure rule (sulfonamide, nitro or carboxylic acid = active), both families, scaffold CV.
3. Scoring, each measurement in a fresh subprocess so ``ru_maxrss`` covers scoring only:
   * stream: ``ParquetFile.iter_batches(5,000)`` → ``score_batches`` → ``ParquetWriter``,
     at 10k and N rows;
   * whole: ``pl.read_parquet`` of all N rows → one ``predict`` call → ``write_parquet``.
   Reported: compounds/s, RSS after imports + model load, peak RSS (``ru_maxrss``), peak RSS
   sampled every 20 ms during the scoring loop, and tracemalloc's peak of Python allocations.

    PYTHONPATH=. .venv/bin/python bench/bench_scoring.py --n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

BATCH = 5_000
# families the model may choose from (env BENCH_SCORING_FAMILIES, comma-separated; default all)
FAMILIES = tuple(f for f in os.environ.get("BENCH_SCORING_FAMILIES", "").split(",") if f)
SUBSTITUENTS = ["C", "F", "Cl", "OC", "C(F)(F)F", "C#N"]
ACTIVE_SMARTS = ["S(=O)(=O)[NX3]", "[N+](=O)[O-]", "C(=O)[OX2H1]"]
N_TRAIN = 3_000


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class RssSampler:
    """Highest RSS seen every ``interval`` seconds while running."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = _rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


# ------------------------------------------------------------------ library

def enumerate_smiles(n: int):
    """Yield RDKit-canonical SMILES: the drugs, then single, then double aromatic C–H substitutions."""
    from rdkit import Chem, RDLogger

    from orchestration.chem.reference_data import load_approved_drugs

    RDLogger.DisableLog("rdApp.*")
    frags = [Chem.MolFromSmiles(s) for s in SUBSTITUENTS]
    seen: set[str] = set()
    parents = []
    for smi in load_approved_drugs()["smiles"].to_list():
        mol = Chem.MolFromSmiles(smi) if smi else None
        if mol is None:
            continue
        # parent only: a variant on a counter-ion (e.g. a methylated besylate) standardizes
        # back to the same parent and would be wasted work
        mol = max(Chem.GetMolFrags(mol, asMols=True), key=lambda m: m.GetNumHeavyAtoms())
        can = Chem.MolToSmiles(mol)
        if can not in seen:
            seen.add(can)
            parents.append(mol)
            yield can

    def variants(mol):
        sites = [a.GetIdx() for a in mol.GetAtoms()
                 if a.GetIsAromatic() and a.GetSymbol() == "C" and a.GetTotalNumHs() == 1]
        for idx in sites:
            for frag in frags:
                rw = Chem.RWMol(Chem.CombineMols(mol, frag))
                rw.AddBond(idx, mol.GetNumAtoms(), Chem.BondType.SINGLE)
                try:
                    new = rw.GetMol()
                    Chem.SanitizeMol(new)
                except Exception:  # noqa: BLE001 - an odd valence just skips this variant
                    continue
                yield new

    # round-robin over parents so a small library is as diverse as a large one
    generation = parents
    while generation:
        iters = [variants(m) for m in generation]
        next_gen = []
        while iters:
            alive = []
            for it in iters:
                mol = next(it, None)
                if mol is None:
                    continue
                alive.append(it)
                can = Chem.MolToSmiles(mol)
                if can in seen:
                    continue
                seen.add(can)
                if len(next_gen) < 4 * n:
                    next_gen.append(mol)
                yield can
            iters = alive
        generation = next_gen


def build_library(n: int, path: Path, chunk: int = 20_000) -> dict:
    """Write N unique standardized structures with properties to ``path``; returns timing."""
    import polars as pl
    import pyarrow.parquet as pq

    from orchestration.chem.properties import compute_structures_parallel

    t0 = time.perf_counter()
    gen = enumerate_smiles(n)
    seen: set[str] = set()
    writer = None
    written = n_failed = n_dup = 0
    t_props = 0.0
    tmp = path.with_suffix(".tmp")
    while written < n:
        raw = [s for _, s in zip(range(chunk), gen)]
        if not raw:
            break
        t = time.perf_counter()
        part = compute_structures_parallel(raw, batch_size=1000)
        t_props += time.perf_counter() - t
        ok = part.filter(pl.col("error").is_null())
        n_failed += part.height - ok.height
        fresh = ok.unique("inchikey", keep="first", maintain_order=True)
        fresh = fresh.filter(~pl.col("inchikey").is_in(list(seen)))
        n_dup += ok.height - fresh.height
        fresh = fresh.head(n - written)
        seen.update(fresh["inchikey"].to_list())
        table = fresh.drop("input_smiles", "standardization", "error").to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
        written += fresh.height
        print(f"  library: {written:,}/{n:,} compounds ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    if writer is not None:
        writer.close()
    tmp.replace(path)
    return {"n": written, "n_failed_standardization": n_failed, "n_duplicate_after_standardization": n_dup,
            "seconds_total": time.perf_counter() - t0, "seconds_properties": t_props,
            "properties_per_s": written / t_props if t_props else None}


# ------------------------------------------------------------------ model

def train_model(library: Path, out: Path) -> dict:
    import polars as pl
    from rdkit import Chem

    from models.compounds import activity

    props = pl.read_parquet(library)
    if props.height > N_TRAIN:
        props = props.sample(n=N_TRAIN, seed=0)
    pats = [Chem.MolFromSmarts(s) for s in ACTIVE_SMARTS]
    labels = [int(any(Chem.MolFromSmiles(s).HasSubstructMatch(p) for p in pats)) for s in props["smiles"]]
    from models.compounds.labels import single_point_pic50
    from orchestration.assets.compound_models import chemprop_config as refresh_chemprop

    # potency labels: a potent active (pIC50 6) or inert (censored at the single-point floor)
    floor = single_point_pic50(0.0)
    t = time.perf_counter()
    art = activity.train_activity(props, pl.DataFrame({
        "inchikey": props["inchikey"], "pic50": [6.0 if a else floor for a in labels],
        "censored": [not a for a in labels]}), families=FAMILIES or activity.FAMILIES,
        chemprop_config=refresh_chemprop())  # the refresh's Chemprop budget
    seconds = time.perf_counter() - t
    activity.save(art, out)
    fams = {f: {k: art.metrics["families"][f]["pooled"][k] for k in ("rmse", "roc_auc", "pr_auc", "ef1", "ef5")}
            for f in art.metrics["families"]}
    return {"n_train": props.height, "n_positives": int(sum(labels)), "seconds": seconds,
            "chosen": art.family, "model_version": art.model_version, "pooled_oof": fams}


# ------------------------------------------------------------------ scoring (child process)

def score_child(args) -> None:
    """Runs in its own process; prints one JSON line."""
    import polars as pl
    import pyarrow.parquet as pq

    from models.compounds import activity

    art = activity.load(Path(args.artifact))
    rss_loaded = _rss_mb()
    out = Path(args.out)
    tracemalloc.start()
    with RssSampler() as sampler:
        t = time.perf_counter()
        if args.mode == "stream":
            pf = pq.ParquetFile(args.library)
            writer, done = None, 0

            def batches():
                nonlocal done
                for rb in pf.iter_batches(batch_size=BATCH):
                    if done >= args.rows:
                        return
                    rb = rb.slice(0, args.rows - done)
                    done += rb.num_rows
                    yield rb

            for frame in activity.score_batches(art, batches()):
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
            writer.close()
            n = done
        else:
            props = pl.read_parquet(args.library, n_rows=args.rows)
            pred, unc, p = activity.predict_potency(art, props)
            pl.DataFrame({"inchikey": props["inchikey"], "predicted_pic50": pred, "pic50_uncertainty": unc,
                          "p_active": p}).write_parquet(out)
            n = props.height
        seconds = time.perf_counter() - t
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"mode": args.mode, "rows": n, "seconds": seconds, "compounds_per_s": n / seconds,
                      "rss_after_load_mb": rss_loaded, "peak_rss_sampled_mb": sampler.peak,
                      "ru_maxrss_mb": _maxrss_mb(), "tracemalloc_peak_mb": traced_peak / 2**20,
                      "family": art.family}))


# ------------------------------------------------------------------ main

def run_stage(*argv: str) -> dict:
    """Run one stage in a fresh interpreter (so this parent stays small: a child's ru_maxrss
    starts from the RSS of the process it was forked from) and return its last JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"stage {argv[:2]} failed with exit code {res.returncode}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="library size (default 100000)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/orphanlake-bench-scoring"))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "scoring.json")
    ap.add_argument("--skip-whole", action="store_true", help="skip the in-memory comparison")
    # stage arguments (internal)
    ap.add_argument("--stage", choices=["library", "train", "score"], help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["stream", "whole"], help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--library", help=argparse.SUPPRESS)
    ap.add_argument("--artifact", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage == "library":
        info = build_library(args.n, Path(args.library))
        print(json.dumps(info))
        return 0
    if args.stage == "train":
        print(json.dumps(train_model(Path(args.library), Path(args.artifact))))
        return 0
    if args.stage == "score":
        score_child(args)
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    library = args.workdir / f"library_{args.n}.parquet"
    lib_info_path = library.with_suffix(".json")
    if library.is_file() and lib_info_path.is_file():
        lib_info = {**json.loads(lib_info_path.read_text()), "cached": True}
        print(f"library: cached {library}", flush=True)
    else:
        print(f"library: building {args.n:,} compounds", flush=True)
        lib_info = run_stage("--stage", "library", "--n", str(args.n), "--library", str(library))
        lib_info_path.write_text(json.dumps(lib_info))
        lib_info["cached"] = False
    n = lib_info["n"]

    artifact = args.workdir / "activity_model"
    print("model: training", flush=True)
    model_info = run_stage("--stage", "train", "--library", str(library), "--artifact", str(artifact))

    common = ["--library", str(library), "--artifact", str(artifact)]
    runs = []
    for rows in sorted({min(10_000, n), n}):
        print(f"scoring: streamed, {rows:,} rows", flush=True)
        runs.append(run_stage("--stage", "score", "--mode", "stream", "--rows", str(rows), *common,
                              "--out", str(args.workdir / f"scores_stream_{rows}.parquet")))
    if not args.skip_whole:
        print(f"scoring: whole, {n:,} rows", flush=True)
        runs.append(run_stage("--stage", "score", "--mode", "whole", "--rows", str(n), *common,
                              "--out", str(args.workdir / f"scores_whole_{n}.parquet")))

    result = {"library": lib_info, "model": model_info, "batch_size": BATCH, "scoring": runs,
              "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg(),
              "command": f"PYTHONPATH=. .venv/bin/python bench/bench_scoring.py --n {args.n}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))

    print(f"\nlibrary: {n:,} compounds; standardize + properties {lib_info.get('properties_per_s') or 0:,.0f}/s "
          f"({'cached' if lib_info['cached'] else 'built now'}); model {model_info['chosen']} "
          f"trained on {model_info['n_train']:,} in {model_info['seconds']:.0f} s\n")
    print("| scoring | rows | compounds/s | RSS after load (MB) | peak RSS sampled (MB) | ru_maxrss (MB) "
          "| tracemalloc peak (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        label = f"streamed, batches of {BATCH:,}" if r["mode"] == "stream" else "whole library in memory"
        print(f"| {label} | {r['rows']:,} | {r['compounds_per_s']:,.0f} | {r['rss_after_load_mb']:,.0f} | "
              f"{r['peak_rss_sampled_mb']:,.0f} | {r['ru_maxrss_mb']:,.0f} | {r['tracemalloc_peak_mb']:,.1f} |")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
