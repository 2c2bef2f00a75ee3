"""Phenotype-only gene ranking on the 6,392 published cases of phenopacket-store.

For each case, its observed and excluded HPO terms (resolved like ingest: alt and obsolete
ids mapped, unknown ids dropped, a term both observed and excluded dropped) are scored
against every gene of the HPO index, and the causal gene's rank is read off among

* all genes of the index (~5.1k), and
* a candidate set: the causal gene(s) plus 150 other genes drawn at random (seeded, per
  case) from the index -- a stand-in for the genes carrying a rare protein-altering
  variant in an exome.

Ties count as expected under random tie-breaking: a gene tied with t others, g genes
strictly ahead, is in the top k with probability clip((k - g) / (t + 1), 0, 1). A causal
gene absent from the index is a miss. 95% intervals bootstrap over causal genes.

Scorers: the shipped Resnik ``pheno_score`` (and its two raw parts), and the LIRICAL-style
likelihood ratio of ``models.phenotype_lr`` over a small grid of settings. The LR setting
reported as "LR (CV)" is chosen by 5-fold cross-validation grouped by causal gene: each
fold's cases are scored with the setting that did best on the other folds' genes, so no
gene is on both sides. Robustness: the same with every case cut to 2 observed terms
(seeded draw) and no excluded terms.

    .venv/bin/python bench/bench_phenotype_real.py            # ~5 min on 2 cores
    .venv/bin/python bench/bench_phenotype_real.py --limit 500 --json out.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections import defaultdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.hpo_index import PhenotypeIndex  # noqa: E402
from models import phenotype, phenotype_lr  # noqa: E402
from models.phenotype_lr import DEFAULT_SOURCES, LRParams, LRTables  # noqa: E402
from orchestration.reference.hpo import load_ontology  # noqa: E402

CASES = Path(__file__).resolve().parents[1] / \
    "orchestration/reference/data/phenopacket-store/cases.jsonl.gz"
CACHE = Path(os.environ.get("PHENO_BENCH_CACHE", "/tmp/pheno"))
N_CANDIDATES = 150
KS = (1, 5, 10)
BUCKETS = ((0, 0, "0"), (1, 3, "1-3"), (4, 7, "4-7"), (8, 15, "8-15"), (16, 10**6, "16+"))
# LR settings (sources, default_freq, partial, no_match, excluded_floor, size_penalty).
# A one-axis-at-a-time exploration on 400 random cases ("axes"), then a 12-setting grid on
# all cases, found partial matches and excluded terms over-weighted, an Occam penalty on
# heavily annotated diseases useful and Orphanet diseases worth keeping; the default grid
# spans the neighbourhood of that optimum, plus the paper's setting for reference.
_C = (None, 1.0, 0.5, 0.01, 0.01, 0.0)
GRIDS = {
    "axes": [_C] + [_C[:i] + (v,) + _C[i + 1:] for i, vals in enumerate(
        [(("OMIM",),), (0.5,), (1.0, 0.1, 0.03), (0.05, 0.2), (0.1, 0.3), (0.5, 1.0)])
        for v in vals],
    "default": [(None, 1.0, p, 0.01, e, z) for p in (0.01, 0.003) for e in (0.3, 1.0)
                for z in (1.0, 2.0, 4.0)],
}
LIRICAL = (None, 1.0, 1.0, 0.01, 0.01, 0.0)
_P = LRParams()
SHIPPED = (DEFAULT_SOURCES, _P.default_freq, _P.partial, _P.no_match, _P.excluded_floor,
           _P.size_penalty)
# the shipped Resnik score with other weights of its excluded-term penalty (0.5 shipped)
PENALTY_WEIGHTS = (0.0, 0.1, 0.25, 0.5)
# Resnik (penalty weight w) + gamma · (shipped LR per observed term)
COMBOS = [(w, g) for w in (0.0, 0.1) for g in (0.01, 0.03, 0.1, 0.3)]


def _lr_key(g: tuple) -> str:
    src = "+".join(g[0]) if g[0] else "all"
    return "lr|" + "|".join([src] + [str(v) for v in g[1:]])


# ------------------------------------------------------------------ corpus
def load_cases(onto, limit: int | None = None) -> tuple[list[dict], dict]:
    """Cases with resolved terms and causal gene symbols, plus counts of what was left out."""
    cases, counts = [], defaultdict(int)
    with gzip.open(CASES, "rt", encoding="utf-8") as fh:
        for line in fh:
            pkt = json.loads(line)
            counts["read"] += 1
            genes = sorted({
                gi.get("variantInterpretation", {}).get("variationDescriptor", {})
                .get("geneContext", {}).get("symbol")
                for it in pkt.get("interpretations", [])
                for gi in it.get("diagnosis", {}).get("genomicInterpretations", [])} - {None})
            if not genes:
                counts["no causal gene symbol (left out)"] += 1
                continue
            obs, exc = {}, {}
            for f in pkt.get("phenotypicFeatures", []):
                hpo, _how = onto.resolve(f["type"]["id"])
                if hpo is None:
                    counts["terms unresolved (dropped)"] += 1
                    continue
                (exc if f.get("excluded") else obs).setdefault(hpo, None)
            both = set(obs) & set(exc)
            counts["terms observed and excluded (dropped)"] += len(both)
            cases.append({"id": pkt["id"], "genes": genes,
                          "present": [t for t in obs if t not in both],
                          "excluded": [t for t in exc if t not in both]})
            if limit and len(cases) >= limit:
                break
    return cases, dict(counts)


# ------------------------------------------------------------------ scoring (workers)
_W: dict = {}


def _init(index_path: str, grid: list[tuple]) -> None:
    index = PhenotypeIndex.load(index_path)
    _W["index"] = index
    _W["grid"] = grid
    _W["tables"] = {(g[0], g[1]): LRTables(index, g[1], g[0]) for g in grid}
    _W["gene_pos"] = {g: i for i, g in enumerate(index.genes)}


def _gene_best(tables: LRTables, dis: np.ndarray) -> np.ndarray:
    """Best disease value per gene (``_row_best`` without the argmax, for speed)."""
    links = tables.gene_diseases
    out = np.full(links.shape[0], -np.inf)
    if links.nnz:
        starts = links.indptr[:-1][np.diff(links.indptr) > 0]
        out[np.diff(links.indptr) > 0] = np.maximum.reduceat(dis[links.indices], starts)
    return out


def _rank_stats(scores: np.ndarray, causal: np.ndarray, cand: np.ndarray
                ) -> tuple[int, int, int, int]:
    """(ahead, tied) among all genes and among the candidate genes, for the best causal gene."""
    if len(causal) == 0:
        return len(scores), 0, len(cand), 0
    s = scores[causal].max()
    mask = np.ones(len(scores), dtype=bool)
    mask[causal] = False
    others = scores[mask]
    c = scores[cand]
    return (int((others > s).sum()), int((others == s).sum()),
            int((c > s).sum()), int((c == s).sum()))


def _score_case(args: tuple[int, dict, int]) -> dict:
    k, case, seed = args
    index, gene_pos = _W["index"], _W["gene_pos"]
    causal = np.array(sorted(gene_pos[g] for g in case["genes"] if g in gene_pos), dtype=int)
    rng = np.random.default_rng([seed, k])
    pool = np.setdiff1d(np.arange(len(index.genes)), causal)
    cand = rng.choice(pool, size=min(N_CANDIDATES, len(pool)), replace=False)
    variants = {"full": (case["present"], case["excluded"])}
    if len(case["present"]) > 2:
        pick = rng.choice(len(case["present"]), size=2, replace=False)
        variants["two"] = ([case["present"][i] for i in sorted(pick)], [])
    else:
        variants["two"] = (case["present"], [])
    out: dict[str, tuple] = {}
    for name, (present, excluded) in variants.items():
        frame = phenotype._score(index, present, excluded, "gene", "funSimAvg",
                                 with_lr=False)[0]
        for col in ("pheno_gene_bma", "pheno_disease_bma"):
            v = frame[col].fill_null(0.0).to_numpy()
            out[f"{name}|{col}"] = _rank_stats(v, causal, cand)
        pen = frame["pheno_excluded_penalty"].to_numpy()
        raw = frame["pheno_score"].to_numpy() / (1 - phenotype.EXCLUDED_WEIGHT * pen)
        p_pos, _ = index.split_known(present)
        x_pos, _ = index.split_known(excluded)
        shipped = None
        for tkey, tables in _W["tables"].items():
            parts = phenotype_lr.term_parts(tables, tables.F, p_pos, x_pos, tables.F_size)
            orphan = phenotype_lr.term_parts(tables, tables.G, p_pos, x_pos, tables.G_size) \
                if len(tables.orphan_genes) else None
            for g in _W["grid"]:
                if (g[0], g[1]) != tkey:
                    continue
                params = LRParams(*g[1:])
                best = _gene_best(tables, phenotype_lr.combine(parts, params))
                if orphan is not None:
                    best[tables.orphan_genes] = phenotype_lr.combine(orphan, params)
                out[f"{name}|{_lr_key(g)}"] = _rank_stats(best, causal, cand)
                if g == SHIPPED:
                    shipped = best
        out[f"{name}|shipped_lr"] = out[f"{name}|{_lr_key(SHIPPED)}"]
        lr_per_term = shipped / max(len(p_pos), 1)
        for w in PENALTY_WEIGHTS:
            resnik = raw * (1 - w * pen)
            out[f"{name}|resnik|{w}"] = _rank_stats(resnik, causal, cand)
            for w2, g in COMBOS:
                if w2 == w:
                    out[f"{name}|combo|{w}|{g}"] = _rank_stats(resnik + g * lr_per_term,
                                                               causal, cand)
    return {"k": k, "n_present": len(case["present"]), "stats": out}


# ------------------------------------------------------------------ metrics
def hits(ahead: np.ndarray, tied: np.ndarray, k: int) -> np.ndarray:
    return np.clip((k - ahead) / (tied + 1), 0.0, 1.0)


def boot_ci(values: np.ndarray, groups: np.ndarray, reps: int, seed: int) -> tuple[float, float]:
    """95% interval of the case mean when causal genes are resampled with replacement."""
    uniq, inv = np.unique(groups, return_inverse=True)
    sums = np.bincount(inv, weights=values, minlength=len(uniq))
    cnts = np.bincount(inv, minlength=len(uniq)).astype(float)
    rng = np.random.default_rng(seed)
    w = rng.multinomial(len(uniq), np.full(len(uniq), 1 / len(uniq)), size=reps)
    est = (w @ sums) / (w @ cnts)
    return float(np.percentile(est, 2.5)), float(np.percentile(est, 97.5))


def gene_folds(groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(uniq, rng.permutation(len(uniq)) % n_folds))
    return np.array([fold_of[g] for g in groups])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="first N usable cases only")
    ap.add_argument("--sample", type=int, default=None, help="N cases drawn at random")
    ap.add_argument("--grid", choices=sorted(GRIDS), default="default")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1000, help="bootstrap replicates")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    t0 = time.time()

    index_path = CACHE / "phenotype_index.npz"
    if index_path.exists():
        try:
            PhenotypeIndex.load(index_path)
        except (ValueError, KeyError):
            index_path.unlink()
    if not index_path.exists():
        PhenotypeIndex.build().save(index_path)
    onto = load_ontology()
    cases, counts = load_cases(onto, args.limit)
    if args.sample and args.sample < len(cases):
        keep = np.random.default_rng(args.seed).choice(len(cases), args.sample, replace=False)
        cases = [cases[i] for i in sorted(keep)]
    grid = GRIDS[args.grid] + [g for g in (LIRICAL, SHIPPED) if g not in GRIDS[args.grid]]
    print(f"{len(cases)} cases ({counts}); HPO {onto.version}", flush=True)

    jobs = [(k, c, args.seed) for k, c in enumerate(cases)]
    if args.workers > 1:
        with get_context("fork").Pool(args.workers, _init, (str(index_path), grid)) as pool:
            results = pool.map(_score_case, jobs, chunksize=32)
    else:
        _init(str(index_path), grid)
        results = [_score_case(j) for j in jobs]
    print(f"scored in {time.time() - t0:.0f}s", flush=True)

    index_genes = set(PhenotypeIndex.load(index_path).genes)
    groups = np.array([c["genes"][0] for c in cases])
    n_present = np.array([r["n_present"] for r in results])
    keys = list(results[0]["stats"])
    S = {key: np.array([r["stats"][key] for r in results]) for key in keys}

    def metrics(key: str, scope: str) -> dict[int, np.ndarray]:
        a = S[key][:, 0 if scope == "all" else 2]
        t = S[key][:, 1 if scope == "all" else 3]
        return {k: hits(a, t, k) for k in KS}

    folds = gene_folds(groups, 5, args.seed)
    scorable = np.array([bool(set(c["genes"]) & index_genes) for c in cases])

    def cv(family: str, variant: str, scope: str) -> tuple[dict[int, np.ndarray], list[str]]:
        """Held-out hits of the family's setting chosen on the other folds' genes, always on
        all-terms cases and the candidate set (criterion: mean of top-1/5/10), then applied
        to this fold's cases of ``variant`` in ``scope``."""
        settings = sorted({k.split("|", 1)[1] for k in keys
                           if k.startswith(f"full|{family}|")})
        crit = {st: np.mean([metrics(f"full|{st}", "cand")[kk] for kk in KS], axis=0)
                for st in settings}
        out = {k: np.zeros(len(cases)) for k in KS}
        chosen = []
        for f in range(5):
            train, test = folds != f, folds == f
            best = max(settings, key=lambda st: (crit[st][train].mean(), st))
            chosen.append(best)
            m = metrics(f"{variant}|{best}", scope)
            for k in KS:
                out[k][test] = m[k][test]
        return out, chosen

    report: dict = {"cases": len(cases), "counts": counts,
                    "causal_gene_not_in_index": int(sum(
                        not (set(c["genes"]) & index_genes) for c in cases)),
                    "genes": int(len(np.unique(groups))), "hpo": onto.version,
                    "n_candidates": N_CANDIDATES, "rows": [], "cv_choices": {}}
    now = float(phenotype.EXCLUDED_WEIGHT)
    named = [(f"Resnik, excluded-term penalty {w:g}"
              + (" = pheno_score today" if w == now else "")
              + (" (pheno_score before issue 10)" if w == 0.5 else ""), f"|resnik|{w}")
             for w in dict.fromkeys((0.5, now, 0.0))]
    named += [("Resnik gene BMA (pheno_gene_bma)", "|pheno_gene_bma"),
              ("Resnik best-disease BMA (pheno_disease_bma)", "|pheno_disease_bma")]
    if LIRICAL in grid:
        named.append(("LR, LIRICAL's settings", "|" + _lr_key(LIRICAL)))
    named += [("LR shipped (pheno_lr_log10; pheno_lr_post ranks the same)", "|shipped_lr")]
    families = [("Resnik, penalty weight chosen by gene-grouped CV", "resnik"),
                ("LR, setting chosen by gene-grouped CV", "lr"),
                ("Resnik + γ·LR per term, chosen by gene-grouped CV", "combo")]
    for variant in ("full", "two"):
        for scope in ("all", "cand"):
            rows = [(name, metrics(variant + suffix, scope)) for name, suffix in named]
            for name, fam in families:
                m, chosen = cv(fam, variant, scope)
                rows.append((name, m))
                report["cv_choices"][fam] = chosen
            for name, m in rows:
                row = {"variant": variant, "scope": scope, "scorer": name}
                for k in KS:
                    lo, hi = boot_ci(m[k], groups, args.reps, args.seed + k)
                    row[f"top{k}"] = float(m[k].mean())
                    row[f"top{k}_ci"] = [lo, hi]
                for lo_n, hi_n, label in BUCKETS:
                    sel = (n_present >= lo_n) & (n_present <= hi_n)
                    row[f"by_terms_{label}"] = {"n": int(sel.sum()), **{
                        f"top{k}": float(m[k][sel].mean()) if sel.any() else None for k in KS}}
                # cases whose causal gene this HPO release annotates at all (the others are
                # misses for any annotation-based scorer)
                for k in KS:
                    lo, hi = boot_ci(m[k][scorable], groups[scorable], args.reps, args.seed + k)
                    row[f"scorable_top{k}"] = float(m[k][scorable].mean())
                    row[f"scorable_top{k}_ci"] = [lo, hi]
                report["rows"].append(row)
    report["grid"] = {k: {f"top{kk}": round(float(metrics(k, "cand")[kk].mean()), 4)
                          for kk in KS} for k in keys}
    report["seconds"] = round(time.time() - t0, 1)

    for variant in ("full", "two"):
        for scope in ("all", "cand"):
            title = {"full": "all terms", "two": "2 observed terms, no excluded"}[variant]
            where = {"all": f"among all {len(index_genes)} index genes",
                     "cand": f"among causal + {N_CANDIDATES} random genes"}[scope]
            print(f"\n## {title}, {where}")
            print(f"| scorer | top-1 | top-5 | top-10 |\n|---|---|---|---|")
            for row in report["rows"]:
                if row["variant"] == variant and row["scope"] == scope:
                    cells = [f"{row[f'top{k}']:.3f} ({row[f'top{k}_ci'][0]:.2f}–"
                             f"{row[f'top{k}_ci'][1]:.2f})" for k in KS]
                    print(f"| {row['scorer']} | " + " | ".join(cells) + " |")
    print(f"\n## all terms, candidate set, the {int(scorable.sum())} cases whose causal gene "
          f"has HPO annotations in {onto.version}")
    print("| scorer | top-1 | top-5 | top-10 |\n|---|---|---|---|")
    for row in report["rows"]:
        if row["variant"] == "full" and row["scope"] == "cand":
            cells = [f"{row[f'scorable_top{k}']:.3f} ({row[f'scorable_top{k}_ci'][0]:.2f}–"
                     f"{row[f'scorable_top{k}_ci'][1]:.2f})" for k in KS]
            print(f"| {row['scorer']} | " + " | ".join(cells) + " |")
    print("\n## by observed terms (all terms, candidate set): top-1 / top-10")
    for row in report["rows"]:
        if row["variant"] == "full" and row["scope"] == "cand":
            cells = []
            for _, _, lab in BUCKETS:
                b = row[f"by_terms_{lab}"]
                cells.append(f"{lab} (n={b['n']}): "
                             + (f"{b['top1']:.2f} / {b['top10']:.2f}" if b["n"] else "-"))
            print(f"- {row['scorer']}: " + "; ".join(cells))
    print(f"\nCV choices (per fold): {report['cv_choices']}")
    print(f"done in {report['seconds']}s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
