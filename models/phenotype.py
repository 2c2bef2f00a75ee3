"""Phenotype evidence: Resnik best-match similarity of a patient's HPO terms to every gene
and every disease, vectorised over the sparse matrices of ``PhenotypeIndex``.

The set similarity is pyhpo 4.0's ``HPOSet.similarity(other, kind, method="resnik",
combine=...)``. Two identities make it a few sparse/dense column operations per patient
instead of a loop over term pairs, with P the patient's terms, U = anc(P) and IC >= 0:

* patient side: max_{s in G} Resnik(p, s) = max IC(a) over a in anc(p) ∩ closure(G),
  i.e. a max over the columns anc(p) of the entity × U slice of the closure matrix;
* entity side: max_{p in P} Resnik(s, p) = max IC(a) over a in anc(s) ∩ U =: v(s), one
  vector over all terms, so each entity's sum is a sparse mat-vec ``direct @ v``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl
import scipy.sparse as sp

from models import phenotype_lr
from models.hpo_index import PhenotypeIndex

__all__ = ["PhenotypeIndex", "score_patient", "score_patients", "best_diseases",
           "set_similarity", "COMBINES"]

COMBINES = ("funSimAvg", "funSimMax", "BMA")

SCORE_SCHEMA = {
    "gene_symbol": pl.String,
    "pheno_gene_bma": pl.Float64,
    "pheno_disease_bma": pl.Float64,
    "best_disease_id": pl.String,
    "pheno_score": pl.Float64,
    "pheno_excluded_penalty": pl.Float64,
    "pheno_lr_log10": pl.Float64,
    "pheno_lr_disease_id": pl.String,
    "pheno_lr_post": pl.Float64,
}


class _Query:
    """One patient term set, resolved against the index, with its per-term ancestor columns."""

    def __init__(self, index: PhenotypeIndex, present: Iterable[str], ic: np.ndarray):
        self.pos, self.unknown = index.split_known(present)
        sub = index.anc[np.asarray(self.pos, dtype=np.int64)] if self.pos else None
        if sub is None:
            self.U = np.zeros(0, dtype=np.int64)
            self.cols: list[np.ndarray] = []
        else:
            self.U = np.unique(sub.indices)
            self.cols = [np.searchsorted(self.U, sub.indices[sub.indptr[j]:sub.indptr[j + 1]])
                         for j in range(len(self.pos))]
        self.icU = ic[self.U]
        # v(s) = max IC over anc(s) ∩ U, for every term s
        self.v = np.zeros(len(index.terms), dtype=np.float64)
        if len(self.U):
            desc = index.anc_csc[:, self.U]
            np.maximum.at(self.v, desc.indices, np.repeat(self.icU, np.diff(desc.indptr)))

    @property
    def self_similarity(self) -> float:
        """Similarity of P to itself (equal for all three combines)."""
        if not self.cols:
            return 0.0
        return float(np.mean([self.icU[c].max() for c in self.cols]))


def _similarities(q: _Query, direct: sp.csr_array, rows: np.ndarray, closure: sp.csc_array,
                  combine: str) -> np.ndarray:
    """Set similarity of the query to every row (entity) of ``direct``/``closure``."""
    if combine not in COMBINES:
        raise ValueError(f"unknown combine {combine!r}; expected one of {COMBINES}")
    n_ent = direct.shape[0]
    k = len(q.cols)
    n_terms = np.diff(direct.indptr).astype(np.float64)
    if k == 0:
        return np.zeros(n_ent)
    weighted = closure[:, q.U].toarray(order="F") * q.icU  # entity × U, IC where annotated
    row_max = np.empty((n_ent, k))
    for j, c in enumerate(q.cols):
        row_max[:, j] = weighted[:, c].max(axis=1)
    row_sum = row_max.sum(axis=1)
    col_sum = np.bincount(rows, weights=q.v[direct.indices], minlength=n_ent)
    out = np.zeros(n_ent)
    ok = n_terms > 0  # pyhpo returns 0 for an empty set (ZeroDivisionError)
    if combine == "funSimAvg":
        out[ok] = (row_sum[ok] / k + col_sum[ok] / n_terms[ok]) / 2
    elif combine == "funSimMax":
        out[ok] = np.maximum(row_sum[ok] / k, col_sum[ok] / n_terms[ok])
    else:
        out[ok] = (row_sum[ok] + col_sum[ok]) / (k + n_terms[ok])
    return out


def set_similarity(index: PhenotypeIndex, present: list[str], *, target: str = "gene",
                   kind: str = "gene", combine: str = "funSimAvg") -> np.ndarray:
    """Resnik set similarity (raw IC units) of ``present`` to every gene (``target="gene"``,
    order ``index.genes``) or disease (``target="disease"``, order ``index.diseases``)."""
    q = _Query(index, present, index.ic[kind])
    if target == "gene":
        return _similarities(q, index.gene_terms, index.gene_rows, index.gene_closure, combine)
    if target == "disease":
        return _similarities(q, index.disease_terms, index.disease_rows,
                             index.disease_closure, combine)
    raise ValueError(f"target must be 'gene' or 'disease', got {target!r}")


def _penalty(index: PhenotypeIndex, excluded: Iterable[str], closure: sp.csc_array,
             ic: np.ndarray) -> np.ndarray:
    """Share (0..1) of the excluded terms' IC that the entity is annotated to (at or below)."""
    pos, _ = index.split_known(excluded)
    if not pos:
        return np.zeros(closure.shape[0])
    w = ic[pos]
    total = w.sum()
    if total <= 0:
        return np.zeros(closure.shape[0])
    return (closure[:, pos] @ w) / total


def _row_best(links: sp.csr_array, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a boolean link matrix: column of the largest value (-1 if no links) and it."""
    n = links.shape[0]
    best_col = np.full(n, -1, dtype=np.int64)
    best_val = np.full(n, np.nan)
    counts = np.diff(links.indptr)
    if not links.nnz:
        return best_col, best_val
    has = counts > 0
    starts = links.indptr[:-1][has]
    vals = values[links.indices]
    row_max = np.maximum.reduceat(vals, starts)
    # first position holding the row's maximum; indices are sorted, so ties go to the
    # lowest column (sorted disease ids)
    at_max = vals == np.repeat(row_max, counts[has])
    first = np.minimum.reduceat(np.where(at_max, np.arange(len(vals)), len(vals)), starts)
    best_col[has] = links.indices[first]
    best_val[has] = row_max
    return best_col, best_val


# How much pheno_score loses for excluded terms its best disease has (0: nothing). It was 0.5
# until issue 10: on 6,323 published cases (bench/bench_phenotype_real.py) excluded terms are
# mostly features of the TRUE disease that this patient lacks (case reports list the cohort's
# features), so marking diseases down for them sank the causal gene (candidate-set top-1 0.22
# with 0.5, 0.53 with 0; 0 chosen in every gene-grouped CV fold). pheno_excluded_penalty still
# carries the share for the ranker, and pheno_lr_log10 weighs exclusions by annotated frequency.
EXCLUDED_WEIGHT = 0.0


def score_patient(index: PhenotypeIndex, present: list[str], excluded: list[str], *,
                  kind: str = "gene", combine: str = "funSimAvg") -> pl.DataFrame:
    """Score one patient against every gene: one row per gene (``index.genes`` order).

    pheno_gene_bma: similarity to the gene's union of annotated terms (raw IC units);
    pheno_disease_bma / best_disease_id: the gene's best-matching linked disease (null
    when the gene has no annotated disease); pheno_score: the better of the two divided
    by the patient's self-similarity, clipped to 0..1, times (1 - EXCLUDED_WEIGHT ·
    pheno_excluded_penalty); pheno_excluded_penalty: the
    IC-weighted share of excluded terms that the best disease (else the gene) is annotated
    to. pheno_lr_log10 / pheno_lr_disease_id: LIRICAL-style composite log10 likelihood ratio
    of the observed and excluded terms for the gene's best disease and that disease (null
    when the gene has none and is scored on its own annotations; ``models.phenotype_lr``);
    pheno_lr_post: the gene's posterior under a uniform prior over all index genes. Ids not
    in the index are ignored (``index.split_known`` lists them).
    """
    return _score(index, present, excluded, kind, combine)[0]


def _score(index: PhenotypeIndex, present: list[str], excluded: list[str], kind: str,
           combine: str, with_lr: bool = True) -> tuple[pl.DataFrame, np.ndarray, float]:
    """``score_patient``'s frame plus the raw similarity to every disease and the patient's
    self-similarity, so disease matching reuses them."""
    ic = index.ic[kind]
    q = _Query(index, present, ic)
    gene_sim = _similarities(q, index.gene_terms, index.gene_rows, index.gene_closure, combine)
    dis_sim = _similarities(q, index.disease_terms, index.disease_rows, index.disease_closure,
                            combine)
    best_col, best_val = _row_best(index.gene_diseases, dis_sim)
    has_dis = best_col >= 0

    self_sim = q.self_similarity
    better = np.where(has_dis, np.fmax(gene_sim, best_val), gene_sim)
    score = np.clip(better / self_sim, 0.0, 1.0) if self_sim > 0 else np.zeros_like(better)

    pen_gene = _penalty(index, excluded, index.gene_closure, ic)
    pen_dis = _penalty(index, excluded, index.disease_closure, ic)
    pick = np.where(has_dis, best_col, len(index.diseases))  # sentinel slot when no disease
    penalty = np.where(has_dis, np.append(pen_dis, 0.0)[pick], pen_gene)
    # excluded terms the disease has count against it by EXCLUDED_WEIGHT (see there)
    score = score * (1.0 - EXCLUDED_WEIGHT * penalty)

    best_id = np.asarray(index.diseases + [""], dtype=object)[pick]
    best_id[~has_dis] = None

    if with_lr:
        x_pos, _ = index.split_known(excluded)
        lr_val, lr_col, _ = phenotype_lr.gene_log10_lr(phenotype_lr.tables_for(index), q.pos,
                                                       x_pos, phenotype_lr.LRParams())
    else:  # callers that score the LR themselves (the real-case bench)
        lr_val, lr_col = np.zeros(len(index.genes)), np.full(len(index.genes), -1)
    lr_id = np.asarray(index.diseases + [None], dtype=object)[
        np.where(lr_col >= 0, lr_col, len(index.diseases))]
    frame = pl.DataFrame({
        "gene_symbol": index.genes,
        "pheno_gene_bma": gene_sim,
        "pheno_disease_bma": pl.Series(best_val, nan_to_null=True),
        "best_disease_id": best_id.tolist(),
        "pheno_score": score,
        "pheno_excluded_penalty": penalty,
        "pheno_lr_log10": lr_val,
        "pheno_lr_disease_id": lr_id.tolist(),
        "pheno_lr_post": phenotype_lr.gene_posterior(lr_val),
    }, schema=SCORE_SCHEMA)
    return frame, dis_sim, self_sim


def score_patients(index: PhenotypeIndex, terms: pl.DataFrame, *, kind: str = "gene",
                   combine: str = "funSimAvg") -> pl.DataFrame:
    """Score every patient in ``terms`` (columns patient_id, hpo_id, excluded) against all
    genes: ``score_patient``'s columns with patient_id first."""
    return score_patients_with_matches(index, terms, kind=kind, combine=combine)[0]


def score_patients_with_matches(index: PhenotypeIndex, terms: pl.DataFrame, *, k: int = 5,
                                kind: str = "gene", combine: str = "funSimAvg"
                                ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``score_patients`` plus each patient's ``k`` best-matching diseases (patient_id,
    match_rank, disease_id, similarity as in ``best_diseases``), from one pass."""
    missing = {"patient_id", "hpo_id", "excluded"} - set(terms.columns)
    if missing:
        raise ValueError(f"terms table lacks column(s) {sorted(missing)}")
    pid_type = terms.schema["patient_id"]
    frames, matches = [], []
    for (pid,), sub in terms.group_by(["patient_id"], maintain_order=True):
        excl = sub["excluded"].fill_null(False)
        present = sub.filter(~excl)["hpo_id"].to_list()
        excluded = sub.filter(excl)["hpo_id"].to_list()
        frame, dis_sim, self_sim = _score(index, present, excluded, kind, combine)
        frames.append(frame.select(pl.lit(pid, dtype=pid_type).alias("patient_id"), pl.all()))
        matches += [(pid, r, d, s) for r, (d, s) in
                    enumerate(_top_diseases(index, dis_sim, self_sim, k), start=1)]
    match_schema = {"patient_id": pid_type, "match_rank": pl.Int32, "disease_id": pl.String,
                    "similarity": pl.Float64}
    match_df = pl.DataFrame(matches, schema=match_schema, orient="row")
    if not frames:
        return pl.DataFrame(schema={"patient_id": pid_type, **SCORE_SCHEMA}), match_df
    return pl.concat(frames), match_df


def best_diseases(index: PhenotypeIndex, present: list[str], k: int = 5, *,
                  kind: str = "gene", combine: str = "funSimAvg") -> list[tuple[str, float]]:
    """The ``k`` diseases most similar to ``present``: (disease_id, similarity divided by
    the patient's self-similarity, 0..1), best first, ties by disease id."""
    q = _Query(index, present, index.ic[kind])
    if q.self_similarity <= 0 or not index.diseases:
        return []
    sims = _similarities(q, index.disease_terms, index.disease_rows, index.disease_closure,
                         combine)
    return _top_diseases(index, sims, q.self_similarity, k)


def _top_diseases(index: PhenotypeIndex, sims: np.ndarray, self_sim: float,
                  k: int) -> list[tuple[str, float]]:
    if self_sim <= 0 or not index.diseases:
        return []
    sims = np.clip(sims / self_sim, 0.0, 1.0)
    order = np.lexsort((np.arange(len(sims)), -sims))[:k]
    return [(index.diseases[i], float(sims[i])) for i in order]
