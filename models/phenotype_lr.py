"""Likelihood-ratio phenotype evidence in the manner of LIRICAL (Robinson et al. 2020, AJHG
107:403), vectorised over the sparse matrices of ``PhenotypeIndex``.

For a patient term h and a disease D, LR(h, D) = P(h | D) / P(h | not D):

* F[D, t] is the disease's frequency of term t with annotations propagated to ancestors
  (the largest frequency among D's annotations at or below t; an annotation without a
  stated frequency counts ``default_freq``, LIRICAL's 1.0);
* the background P(t) is the mean of F[·, t] over all diseases (at least 1e-4);
* h at or above a D annotation (exact / D's term is a subclass of h): LR = F[D, h] / P(h);
* otherwise the best ancestor a of h that D has (query subclass of a disease term, or a
  sibling through a common ancestor), root and "Phenotypic abnormality" excluded:
  LR = ``partial`` · F[D, a] / P(a) -- LIRICAL's non-root common ancestor rule with a
  discount, because a shared ancestor is weaker evidence than the term itself;
* nothing shared below the root: LR = ``no_match`` (LIRICAL: 0.01), and no rule may go
  below it;
* an excluded patient term x: LR = max(1 - F[D, x], 0.01) / (1 - P(x)) when D has x,
  else 1 / (1 - P(x)).

The composite is log10 of the product over terms (a sum of log10 LRs). A gene gets its best
linked disease; a gene without a disease in the index is scored as one pseudo-disease made of
its own annotations at ``default_freq``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from models.hpo_index import PhenotypeIndex

PHENOTYPIC_ABNORMALITY = "HP:0000118"
MIN_BACKGROUND = 1e-4       # LIRICAL's DEFAULT_BACKGROUND_FREQUENCY
MIN_EXCLUDED_FREQ = 0.01    # LIRICAL's FALSE_NEGATIVE_OBSERVATION_OF_PHENOTYPE_PROB
MAX_BACKGROUND_EXCLUDED = 0.99
# disease sources scored (None: every source of phenotype.hpoa)
DEFAULT_SOURCES: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LRParams:
    """The scorer's knobs. Defaults were chosen by gene-grouped cross-validation on the
    published cases (bench/bench_phenotype_real.py); ``LRParams.lirical()`` is the paper's."""

    default_freq: float = 1.0   # frequency of an annotation that states none
    partial: float = 0.01       # discount on the LR of a shared ancestor (LIRICAL: 1)
    no_match: float = 0.01      # LR floor for a term the disease shares nothing with
    # P(excluded | disease has the term) is at least this (LIRICAL: 0.01). 1.0 makes an
    # excluded term neutral: in published cases excluded terms are mostly features of the
    # true disease that this patient lacks, and penalising them ranked it lower
    excluded_floor: float = 1.0
    size_penalty: float = 2.0   # log10 LR lost per log10 of the disease's annotation count

    @classmethod
    def lirical(cls) -> "LRParams":
        return cls(default_freq=1.0, partial=1.0, no_match=0.01,
                   excluded_floor=MIN_EXCLUDED_FREQ)


class LRTables:
    """Propagated frequencies and background for one index and ``default_freq``; build once
    per index (about a second on the full release), then score patients in milliseconds."""

    def __init__(self, index: PhenotypeIndex, default_freq: float = 1.0,
                 sources: tuple[str, ...] | None = None):
        self.index = index
        self.default_freq = default_freq
        self.sources = sources
        n_terms = len(index.terms)
        freq = np.where(np.isnan(index.disease_freq), default_freq, index.disease_freq)
        # diseases of other sources (e.g. Orphanet's broad groups) neither score nor count in
        # the background: their rows are emptied and their gene links dropped
        keep = np.array([sources is None or d.split(":")[0] in sources
                         for d in index.diseases], dtype=bool)
        dt = sp.csr_array(index.disease_terms)
        row_keep = np.repeat(keep, np.diff(dt.indptr))
        dt = sp.csr_array((np.ones(int(row_keep.sum()), dtype=bool), dt.indices[row_keep],
                           np.concatenate(([0], np.cumsum(np.where(keep, np.diff(dt.indptr),
                                                                   0))))), shape=dt.shape)
        self.F = _propagate(dt, freq[row_keep], index.anc)  # disease × term, csc
        self.F_size = np.log10(1.0 + np.diff(dt.indptr))
        gd = sp.csr_array(index.gene_diseases.astype(float) @ sp.diags(keep.astype(float)))
        gd.eliminate_zeros()
        self.gene_diseases = sp.csr_array(gd.astype(bool))
        self.gene_diseases.sort_indices()
        n_dis = max(int(keep.sum()), 1)
        self.background = np.maximum(
            np.asarray(self.F.sum(axis=0)).ravel() / n_dis, MIN_BACKGROUND)
        # the terms a shared ancestor may not be: roots and "Phenotypic abnormality"
        roots = np.diff(index.anc.indptr) == 1
        self.uninformative = roots.copy()
        pa = index.term_pos.get(PHENOTYPIC_ABNORMALITY)
        if pa is not None:
            self.uninformative[pa] = True
        # genes with no linked disease: their own annotations as one pseudo-disease
        linked = np.diff(self.gene_diseases.indptr) > 0
        self.orphan_genes = np.flatnonzero(~linked)
        sub = sp.csr_array(index.gene_terms[self.orphan_genes])
        self.G = _propagate(sub, np.full(sub.nnz, default_freq), index.anc)
        self.G_size = np.log10(1.0 + np.diff(sub.indptr))
        assert self.F.shape[1] == n_terms


def _propagate(direct: sp.csr_array, freq: np.ndarray, anc: sp.csr_array) -> sp.csc_array:
    """Entity × term matrix of the largest frequency among the entity's annotations at or
    below each term (annotation propagation, as LIRICAL's background and exact matches)."""
    n_rows, n_terms = direct.shape
    if direct.nnz == 0:
        return sp.csc_array((n_rows, n_terms), dtype=np.float64)
    rows = np.repeat(np.arange(n_rows), np.diff(direct.indptr))
    lens = np.diff(anc.indptr)[direct.indices]
    starts = anc.indptr[direct.indices]
    # concatenated ancestor lists of every annotation, without a Python loop
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    cols = anc.indices[np.arange(lens.sum()) + offsets]
    r = np.repeat(rows, lens)
    v = np.repeat(freq, lens)
    key = r.astype(np.int64) * n_terms + cols
    order = np.lexsort((-v, key))         # per key, largest frequency first
    key, v = key[order], v[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, v = key[first], v[first]
    out = sp.csc_array((v, (key // n_terms, key % n_terms)), shape=(n_rows, n_terms))
    out.eliminate_zeros()   # a stated frequency of 0 ("excluded", 0/n) is no annotation
    return out


class Parts:
    """The parameter-free pieces of the LR for every row of a matrix (diseases or
    pseudo-diseases), so that several settings cost one pass: per observed term, log10 F/P of
    the term itself (-inf where the row lacks it) and the best log10 F/P over its informative
    proper ancestors (-inf when none), each row × term; per excluded term, F (row × term)
    and log10(1 - P); and log10(1 + the row's annotation count) for ``size_penalty``."""

    def __init__(self, exact: np.ndarray, best: np.ndarray, Fx: sp.csc_array, neg: np.ndarray,
                 size: np.ndarray):
        self.exact, self.best, self.Fx, self.neg, self.size = exact, best, Fx, neg, size
        self._present: dict[tuple[float, float], np.ndarray] = {}
        self._excluded: dict[float, np.ndarray] = {}

    def present_sum(self, partial: float, no_match: float) -> np.ndarray:
        key = (partial, no_match)
        if key not in self._present:
            floor = np.log10(no_match)
            shared = self.best + np.log10(partial) if partial > 0 else \
                np.full_like(self.best, -np.inf)
            term = np.where(np.isfinite(self.exact), self.exact, shared)
            self._present[key] = np.maximum(term, floor).sum(axis=1)
        return self._present[key]

    def excluded_sum(self, floor: float) -> np.ndarray:
        if floor not in self._excluded:
            # rows without the term contribute 0 - log10(1 - P): only the stored entries
            # (rows that have it) need a log
            Fx = self.Fx
            rows = Fx.indices
            num = np.bincount(rows, weights=np.log10(np.maximum(1.0 - Fx.data, floor)),
                              minlength=Fx.shape[0])
            self._excluded[floor] = num - self.neg.sum()
        return self._excluded[floor]


def term_parts(tables: LRTables, mat: sp.csc_array, present: list[int], excluded: list[int],
               size: np.ndarray | None = None) -> Parts:
    """``Parts`` of the patient's observed and excluded term positions for the rows of
    ``mat``; ``combine`` turns them into composite LRs."""
    index = tables.index
    bg = tables.background
    n = mat.shape[0]
    exact = np.full((n, len(present)), -np.inf)
    best = np.full((n, len(present)), -np.inf)
    if present:
        sub = index.anc[np.asarray(present, dtype=np.int64)]
        U = np.unique(sub.indices)
        # row × U log10 F/P, -inf where the row lacks the term; logs of stored entries only
        cols = sp.csc_array(mat[:, U])
        logLR = np.full((n, len(U)), -np.inf)
        col_of = np.repeat(np.arange(len(U)), np.diff(cols.indptr))
        logLR[cols.indices, col_of] = np.log10(cols.data) - np.log10(bg[U])[col_of]
        anc_only = logLR.copy()
        anc_only[:, tables.uninformative[U]] = -np.inf
        for j, h in enumerate(present):
            cols = np.searchsorted(U, sub.indices[sub.indptr[j]:sub.indptr[j + 1]])
            own = int(np.searchsorted(U, h))
            others = cols[cols != own]
            exact[:, j] = logLR[:, own]
            if len(others):
                best[:, j] = anc_only[:, others].max(axis=1)
    x = np.asarray(excluded, dtype=np.int64)
    Fx = sp.csc_array(mat[:, x]) if excluded else sp.csc_array((n, 0))
    neg = np.log10(1.0 - np.minimum(bg[x], MAX_BACKGROUND_EXCLUDED))
    return Parts(exact, best, Fx, neg, np.zeros(n) if size is None else size)


def combine(parts: Parts, params: LRParams) -> np.ndarray:
    """Composite log10 LR from ``term_parts`` under one setting of ``partial``,
    ``no_match``, ``excluded_floor`` and ``size_penalty``."""
    out = parts.present_sum(params.partial, params.no_match) + \
        parts.excluded_sum(params.excluded_floor)
    if params.size_penalty and parts.exact.shape[1]:
        # an Occam factor: a disease annotated with hundreds of terms matches any patient
        out = out - params.size_penalty * parts.size
    return out


def _term_log10_lr(tables: LRTables, mat: sp.csc_array, size: np.ndarray, present: list[int],
                   excluded: list[int], params: LRParams) -> np.ndarray:
    return combine(term_parts(tables, mat, present, excluded, size), params)


def disease_log10_lr(tables: LRTables, present: list[int], excluded: list[int],
                     params: LRParams = LRParams()) -> np.ndarray:
    """Composite log10 LR of every disease (``index.diseases`` order) for the patient's
    observed and excluded term positions (``index.split_known``)."""
    return _term_log10_lr(tables, tables.F, tables.F_size, present, excluded, params)


def gene_log10_lr(tables: LRTables, present: list[int], excluded: list[int],
                  params: LRParams = LRParams()
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per gene (``index.genes`` order): composite log10 LR of its best disease, that
    disease's column (-1 for a gene scored on its own annotations), and every disease's LR."""
    from models.phenotype import _row_best  # shared helper; late import avoids a cycle

    index = tables.index
    dis = disease_log10_lr(tables, present, excluded, params)
    best_col, best_val = _row_best(tables.gene_diseases, dis)
    if len(tables.orphan_genes):
        best_val[tables.orphan_genes] = _term_log10_lr(tables, tables.G, tables.G_size, present,
                                                       excluded, params)
        best_col[tables.orphan_genes] = -1
    return best_val, best_col, dis


def tables_for(index: PhenotypeIndex, default_freq: float | None = None,
               sources: tuple[str, ...] | None | str = "default") -> LRTables:
    """The LR tables of ``index`` (built on first use and kept on the index object)."""
    f = LRParams().default_freq if default_freq is None else default_freq
    src = DEFAULT_SOURCES if sources == "default" else sources
    cache = index.__dict__.setdefault("_lr_tables", {})
    if (f, src) not in cache:
        cache[(f, src)] = LRTables(index, f, src)
    return cache[(f, src)]


def gene_posterior(log10_lr: np.ndarray) -> np.ndarray:
    """Posterior of each gene under a uniform prior over the given genes (softmax of ln LR)."""
    if len(log10_lr) == 0:
        return np.zeros(0)
    z = log10_lr * np.log(10.0)
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()
