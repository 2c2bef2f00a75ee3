"""Gene-grouped cross-validation and gene-bootstrap intervals for the gene ranker.

A ranker that has seen cases of a gene learns that gene's phenotype and variant quirks; the
product is judged on genes it never saw. So folds are made of genes (every patient whose
causal gene is G is on the same side), and confidence intervals resample genes, not
patients: cases of one gene are not independent evidence.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def gene_folds(patient_gene: pl.DataFrame, k: int, seed: int) -> dict[str, int]:
    """patient_id → fold (0..k-1), every causal gene wholly inside one fold.

    ``patient_gene`` has patient_id and gene_symbol (the causal gene; a digenic patient's
    first gene alphabetically decides). Genes are dealt to folds in a seeded order, largest
    first, to the fold with the fewest patients so far, so folds have similar sizes.
    """
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    first = patient_gene.group_by("patient_id").agg(pl.col("gene_symbol").min())
    sizes = first.group_by("gene_symbol").len().sort("gene_symbol")
    rng = np.random.default_rng(seed)
    sizes = sizes.with_columns(pl.Series("tie", rng.permutation(sizes.height)))
    fold_of_gene, load = {}, np.zeros(k, dtype=np.int64)
    for gene, n, _ in sizes.sort(["len", "tie"], descending=[True, False]).iter_rows():
        f = int(np.argmin(load))
        fold_of_gene[gene] = f
        load[f] += n
    return {pid: fold_of_gene[g] for pid, g in first.iter_rows()}


def best_causal_rank(scored: pl.DataFrame, rank_col: str = "rank") -> pl.DataFrame:
    """patient_id, best_rank (null when the causal gene is not a candidate) of solved patients."""
    return (scored.filter(pl.col("is_causal").is_not_null().any().over("patient_id"))
            .group_by("patient_id")
            .agg(pl.col(rank_col).filter(pl.col("is_causal").fill_null(False)).min()
                 .alias("best_rank")))


def topk_with_ci(ranks: pl.DataFrame, gene_of: pl.DataFrame, ks=(1, 5, 10), n_boot: int = 1000,
                 seed: int = 0) -> dict:
    """Recall@k with a 95 % gene-bootstrap interval: {"top1": {"value", "lo", "hi"}, ..., "n"}.

    ``ranks``: patient_id, best_rank; ``gene_of``: patient_id, gene_symbol.
    """
    hits, genes = _hit_matrix(ranks, gene_of, ks)
    out: dict = {"n_patients": int(hits.shape[0]), "n_genes": int(len(np.unique(genes)))}
    boot = _bootstrap_means(hits, genes, n_boot, seed)
    for j, k in enumerate(ks):
        lo, hi = np.percentile(boot[:, j], [2.5, 97.5]) if len(boot) else (np.nan, np.nan)
        out[f"top{k}"] = {"value": float(hits[:, j].mean()) if len(hits) else None,
                          "lo": float(lo), "hi": float(hi)}
    return out


def paired_difference(ranks_a: pl.DataFrame, ranks_b: pl.DataFrame, gene_of: pl.DataFrame,
                      ks=(1, 5, 10), n_boot: int = 1000, seed: int = 0) -> dict:
    """Recall@k of A minus B on the same patients, with a 95 % gene-bootstrap interval of the
    difference (both methods resampled together)."""
    both = ranks_a.join(ranks_b, on="patient_id", suffix="_b")
    a, genes = _hit_matrix(both.select("patient_id", "best_rank"), gene_of, ks)
    b, _ = _hit_matrix(both.select("patient_id", pl.col("best_rank_b").alias("best_rank")),
                       gene_of, ks)
    boot = _bootstrap_means(a - b, genes, n_boot, seed)
    out = {}
    for j, k in enumerate(ks):
        lo, hi = np.percentile(boot[:, j], [2.5, 97.5])
        out[f"top{k}"] = {"value": float((a[:, j] - b[:, j]).mean()), "lo": float(lo),
                          "hi": float(hi)}
    return out


def _hit_matrix(ranks: pl.DataFrame, gene_of: pl.DataFrame, ks) -> tuple[np.ndarray, np.ndarray]:
    first = gene_of.group_by("patient_id").agg(pl.col("gene_symbol").min())
    joined = ranks.join(first, on="patient_id", how="left").sort("patient_id")
    r = joined["best_rank"].fill_null(10**9).to_numpy()
    hits = np.column_stack([(r <= k).astype(np.float64) for k in ks]) if len(r) else \
        np.zeros((0, len(ks)))
    return hits, joined["gene_symbol"].fill_null("").to_numpy()


def _bootstrap_means(values: np.ndarray, genes: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``values`` (patients × metrics) over gene-resampled sets of patients."""
    if len(values) == 0:
        return np.zeros((0, values.shape[1] if values.ndim == 2 else 0))
    uniq, inv = np.unique(genes, return_inverse=True)
    sums = np.zeros((len(uniq), values.shape[1]))
    np.add.at(sums, inv, values)
    counts = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
    w = np.zeros((n_boot, len(uniq)))
    for i in range(n_boot):
        w[i] = np.bincount(draws[i], minlength=len(uniq))
    return (w @ sums) / (w @ counts)[:, None]
