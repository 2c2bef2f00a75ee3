"""One shared population of sites per seed, and each patient's background genotypes.

Common sites recur across patients with Hardy-Weinberg genotypes at their allele
frequency, so a batch looks like a cohort; rare sites come from a larger pool sampled
per patient (weighted towards the less rare), so most are private.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.simulate.genome import CHROM_ORDER
from orchestration.simulate.sites import (COMMON_MIX, RARE_BENIGN_MIX, RARE_PROTEIN_MIX,
                                          concat, draw_sites)

RARE_SHARE = 0.05            # of a patient's background calls
PROTEIN_SHARE_OF_RARE = 0.25  # ~300 rare protein-altering calls per 25,000
CHRX = CHROM_ORDER["chrX"]


@dataclass
class Population:
    sites: dict        # common sites then rare sites (unsorted)
    n_common: int


def _common_afs(rng: np.random.Generator, n: int) -> np.ndarray:
    band = rng.choice(3, size=n, p=[0.10, 0.72, 0.18])
    low = np.exp(rng.uniform(np.log(0.01), np.log(0.05), n))
    mid = rng.uniform(0.05, 0.5, n)
    high = rng.uniform(0.5, 0.999, n)
    return np.choose(band, [low, mid, high])


def _rare_afs(rng: np.random.Generator, n: int) -> np.ndarray:
    af = np.exp(rng.uniform(np.log(1e-6), np.log(0.0099), n))
    af[rng.random(n) < 0.35] = np.nan
    return af


def build_population(rng: np.random.Generator, layout: dict, background_variants: int,
                     n_patients: int) -> Population:
    """Common sites sized so a genome carries ~95% of background_variants, plus a rare pool."""
    common_target = background_variants * (1 - RARE_SHARE)
    afs = _common_afs(rng, int(common_target / 0.3) + 16)
    carriers = np.cumsum(1 - (1 - afs) ** 2)
    n_common = int(np.searchsorted(carriers, common_target)) + 1
    common = draw_sites(rng, layout, n_common, COMMON_MIX, afs[:n_common], kind=0)
    rare_per = rare_per_patient(background_variants)
    n_rare = rare_per * max(3, int(np.ceil(n_patients * 0.6)))
    n_prot = int(round(n_rare * PROTEIN_SHARE_OF_RARE))
    prot = draw_sites(rng, layout, n_prot, RARE_PROTEIN_MIX, _rare_afs(rng, n_prot), kind=1)
    benign = draw_sites(rng, layout, n_rare - n_prot, RARE_BENIGN_MIX,
                        _rare_afs(rng, n_rare - n_prot), kind=1)
    return Population(sites=concat([common, prot, benign]), n_common=n_common)


def rare_per_patient(background_variants: int) -> int:
    """How many rare background calls one patient carries."""
    return max(8, int(round(background_variants * RARE_SHARE)))


def patient_background(rng: np.random.Generator, pop: Population, male: bool,
                       background_variants: int) -> tuple[np.ndarray, np.ndarray]:
    """(site indices into pop.sites, genotype codes 1=het 2=hom) for one patient."""
    s = pop.sites
    nc = pop.n_common
    p = s["af"][:nc]
    u = rng.random(nc)
    on_x = s["chrom_idx"][:nc] == CHRX
    code = np.where(u < p * p, 2, np.where(u < 2 * p - p * p, 1, 0)).astype(np.int8)
    if male:
        # One X copy outside the PARs: carried with probability p, always homozygous-looking.
        code[on_x] = np.where(u[on_x] < p[on_x], 2, 0)
    common_idx = np.flatnonzero(code)
    n_pool = len(p := s["af"][nc:])
    w = np.sqrt(np.nan_to_num(p, nan=1e-6))
    k = min(rare_per_patient(background_variants), n_pool)
    rare_idx = nc + rng.choice(n_pool, size=k, replace=False, p=w / w.sum())
    rare_code = np.where(rng.random(k) < 0.02, 2, 1).astype(np.int8)
    if male:
        rare_code[s["chrom_idx"][rare_idx] == CHRX] = 2
    return (np.concatenate([common_idx, rare_idx]),
            np.concatenate([code[common_idx], rare_code]))
