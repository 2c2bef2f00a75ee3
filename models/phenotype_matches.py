"""Which patient term matched which disease term: the explanation behind a Resnik score.

For each observed patient term p, the best-matching term s of the target (a disease's or
a gene's annotations) is the one whose most informative common ancestor (MICA) with p has
the highest information content: Resnik(p, s) = max IC(a) over a in anc(p) ∩ anc(s).
This is the patient side of the best-match average ``models.phenotype`` scores, per
term, so a clinician can see which findings carried the match and which did not.

An excluded term counts against the target when the target is annotated to it or to a
term below it (the same rule as ``models.phenotype``'s excluded-term penalty).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from models.hpo_index import PhenotypeIndex


@dataclass(frozen=True)
class TermMatch:
    """One observed patient term and its best match among the target's terms.

    ``target_term``/``common_ancestor`` are None when the term is not in the index
    (``known`` False) or shares nothing informative (IC 0) with the target."""

    patient_term: str
    target_term: str | None
    common_ancestor: str | None
    ic: float
    known: bool = True


@dataclass(frozen=True)
class ExcludedHit:
    """An excluded patient term the target is annotated to (at or below it)."""

    excluded_term: str
    target_terms: tuple[str, ...]   # the target's annotations at or below the excluded term
    ic: float                       # IC of the excluded term: its weight in the penalty


def disease_terms(index: PhenotypeIndex, disease_id: str) -> list[str]:
    """The disease's direct phenotype annotations in ``index`` ([] when unknown)."""
    try:
        row = index.diseases.index(disease_id)
    except ValueError:
        return []
    return _row_terms(index, index.disease_terms, row)


def gene_terms(index: PhenotypeIndex, gene: str) -> list[str]:
    """The gene's direct annotations in ``index`` ([] when unknown)."""
    try:
        row = index.genes.index(gene)
    except ValueError:
        return []
    return _row_terms(index, index.gene_terms, row)


def _row_terms(index: PhenotypeIndex, matrix, row: int) -> list[str]:
    cols = matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]
    return [index.terms[c] for c in sorted(cols)]


def term_matches(index: PhenotypeIndex, patient_terms: Iterable[str],
                 target_terms: Iterable[str], *, kind: str = "gene") -> list[TermMatch]:
    """Per patient term (input order, duplicates dropped) its best-matching target term.

    Ties on IC go to the target term equal to the patient term, then to the least
    specific target term (lowest own IC: the closest to the shared ancestor), then by id,
    so the same input always explains itself the same way."""
    ic = index.ic[kind]
    target_pos, _ = index.split_known(target_terms)
    target_pos = np.asarray(target_pos, dtype=np.int64)
    # target term x term: True where the column is an ancestor of (or is) the target term
    target_anc = index.anc[target_pos] if len(target_pos) else None
    out: list[TermMatch] = []
    seen: set[str] = set()
    for term in patient_terms:
        if term in seen:
            continue
        seen.add(term)
        p = index.term_pos.get(term)
        if p is None:
            out.append(TermMatch(term, None, None, 0.0, known=False))
            continue
        if target_anc is None:
            out.append(TermMatch(term, None, None, 0.0))
            continue
        p_anc = index.anc.indices[index.anc.indptr[p]:index.anc.indptr[p + 1]]
        shared = target_anc[:, p_anc].toarray()              # target term x anc(p)
        weighted = np.where(shared, ic[p_anc], -1.0)
        best_anc = weighted.argmax(axis=1)                    # per target term: its MICA
        best_ic = weighted[np.arange(len(target_pos)), best_anc]
        top = best_ic.max()
        if top <= 0:
            out.append(TermMatch(term, None, None, 0.0))
            continue
        tied = np.flatnonzero(best_ic == top)
        pick = min(tied, key=lambda j: (target_pos[j] != p, ic[target_pos[j]],
                                        index.terms[target_pos[j]]))
        out.append(TermMatch(term, index.terms[target_pos[pick]],
                             index.terms[p_anc[best_anc[pick]]], float(top)))
    return out


def excluded_hits(index: PhenotypeIndex, excluded_terms: Iterable[str],
                  target_terms: Iterable[str], *, kind: str = "gene") -> list[ExcludedHit]:
    """The excluded terms the target has (annotated at or below them), input order."""
    ic = index.ic[kind]
    target_pos, _ = index.split_known(target_terms)
    out: list[ExcludedHit] = []
    seen: set[str] = set()
    for term in excluded_terms:
        e = index.term_pos.get(term)
        if e is None or term in seen:
            continue
        seen.add(term)
        # column e of the ancestor matrix: every term at or below e
        at_or_below = set(index.anc_csc.indices[index.anc_csc.indptr[e]:index.anc_csc.indptr[e + 1]])
        below = [index.terms[t] for t in target_pos if t in at_or_below]
        if below:
            out.append(ExcludedHit(term, tuple(sorted(below)), float(ic[e])))
    return out
