"""A patient's HPO profile drawn from a disease's annotations, the way simulation studies do.

Terms are sampled by annotated frequency, some made less precise (an ancestor), some
unrelated noise terms added, a few excluded terms drawn from outside the disease, and a
few ids written as an alt_id or an obsolete id, as clinical files from other releases do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.reference.hpo import PHENOTYPIC_ABNORMALITY
from orchestration.simulate.catalog import Catalog

IMPRECISION = 0.30
ALIAS_RATE = 0.18   # of terms that have an alias; ~5% of all written terms end up aliased


@dataclass(frozen=True)
class Feature:
    hpo_id: str          # as written in the phenopacket
    primary_id: str      # the live term it stands for
    label: str
    excluded: bool
    origin: str          # annotated | imprecise | noise | excluded
    alias: str           # primary | alt_id | obsolete


def _ancestor(rng: np.random.Generator, cat: Catalog, term: str) -> str:
    """Walk 1-2 random is_a steps up, staying below HP:0000118."""
    cur = term
    for _ in range(int(rng.integers(1, 3))):
        parents = sorted(p for p in cat.ontology.terms[cur].parents if p in cat.phenotypic)
        if not parents:
            break
        cur = parents[int(rng.integers(len(parents)))]
    return cur


def _unrelated(rng: np.random.Generator, cat: Catalog, closure: set[str], annotated: set[str],
               taken: set[str], k: int) -> list[str]:
    out: list[str] = []
    for _ in range(k * 20):
        if len(out) == k:
            break
        t = str(cat.term_pool[int(rng.integers(len(cat.term_pool)))])
        if t in closure or t in taken or cat.ontology.ancestors[t] & annotated:
            continue
        out.append(t)
        taken.add(t)
    return out


def _written(rng: np.random.Generator, cat: Catalog, term: str) -> tuple[str, str, str]:
    onto = cat.ontology
    aliases = cat.aliases.get(term, ())
    if aliases and rng.random() < ALIAS_RATE:
        alias = aliases[int(rng.integers(len(aliases)))]
        if alias in onto.obsolete:
            label = onto.obsolete[alias].name.removeprefix("obsolete ")
            return alias, label, "obsolete"
        return alias, onto.terms[term].name, "alt_id"
    return term, onto.terms[term].name, "primary"


def sample_features(rng: np.random.Generator, cat: Catalog, disease_id: str,
                    hard: bool = False) -> list[Feature]:
    """Observed and excluded phenotypic features for one patient with disease_id."""
    terms, freq = cat.disease_terms[disease_id]
    target = int(rng.integers(3, 6)) if hard else int(rng.integers(3, 13))
    chosen = np.flatnonzero(rng.random(len(terms)) < freq)
    if len(chosen) > target:
        w = freq[chosen] / freq[chosen].sum()
        chosen = np.sort(rng.choice(chosen, size=target, replace=False, p=w))
    if len(chosen) < 3:
        rest = np.setdiff1d(np.arange(len(terms)), chosen)
        w = freq[rest] / freq[rest].sum()
        extra = rng.choice(rest, size=min(3 - len(chosen), len(rest)), replace=False, p=w)
        chosen = np.sort(np.concatenate([chosen, extra]))

    annotated = set(terms.tolist())
    closure = set().union(*(cat.ontology.ancestors[t] for t in annotated))
    imprecision = 0.5 if hard else IMPRECISION
    present: list[tuple[str, str]] = []
    seen: set[str] = set()
    for t in terms[chosen]:
        origin = "annotated"
        if rng.random() < imprecision:
            up = _ancestor(rng, cat, str(t))
            if up != t and up != PHENOTYPIC_ABNORMALITY:
                t, origin = up, "imprecise"
        if t not in seen:
            seen.add(str(t))
            present.append((str(t), origin))
    n_noise = int(rng.integers(2, 4)) if hard else int(rng.integers(1, 4))
    taken = set(seen)
    present += [(t, "noise") for t in _unrelated(rng, cat, closure, annotated, taken, n_noise)]
    excluded = _unrelated(rng, cat, closure, annotated, taken, int(rng.integers(0, 3)))

    out = []
    for term, origin in present + [(t, "excluded") for t in excluded]:
        written, label, alias = _written(rng, cat, term)
        out.append(Feature(written, term, label, origin == "excluded", origin, alias))
    order = rng.permutation(len(out))
    return [out[i] for i in order]
