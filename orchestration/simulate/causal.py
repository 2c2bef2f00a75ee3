"""Causal variants in the disease gene, consistent with the mode of inheritance.

AD/XD: one heterozygous, de novo-like (absent from gnomAD); AR: homozygous or two
heterozygous (compound); X-linked in males: hemizygous. Consequences are damaging but
not always maximal, and "hard" patients get weaker evidence.
"""

from __future__ import annotations

import numpy as np

from orchestration.simulate.cohort import Patient
from orchestration.simulate.sites import concat, draw_sites

LOF_MIX = {"stop_gained": 0.45, "frameshift_variant": 0.35,
           "splice_donor_variant": 0.1, "splice_acceptor_variant": 0.1}


def _one(rng: np.random.Generator, layout: dict, gene: int, hard: bool, af: float) -> dict:
    lof = rng.random() < (0.35 if hard else 0.55)
    mix = LOF_MIX if lof else {"missense_variant": 1.0}
    site = draw_sites(rng, layout, 1, mix, np.array([af]), kind=2, genes=np.array([gene]))
    if not lof:
        lo, hi = (0.3, 0.55) if hard else ((0.8, 0.98) if rng.random() < 0.7 else (0.5, 0.8))
        revel = rng.uniform(lo, hi)
        site["revel"][:] = revel
        site["cadd"][:] = np.clip(8 + 22 * revel + rng.normal(0, 2), 5, 40)
    return site


def _rare_af(rng: np.random.Generator, hard: bool, p_absent: float) -> float:
    if hard and rng.random() < 0.5:
        return float(rng.uniform(5e-4, 3e-3))
    return np.nan if rng.random() < p_absent else float(rng.uniform(1e-5, 2e-4))


def causal_variants(rng: np.random.Generator, layout: dict, gene: int, patient: Patient,
                    taken: set[tuple[int, int]]) -> tuple[dict, np.ndarray]:
    """(site table, genotype codes 1=het 2=hom) of the patient's causal variant(s)."""
    hemi = patient.male and patient.mode.startswith("X")
    if patient.mode == "AR" or (patient.mode == "XR" and not patient.male):
        if rng.random() < 0.4:
            sites, codes = [_one(rng, layout, gene, patient.hard,
                                 _rare_af(rng, patient.hard, 0.6))], [2]
        else:
            sites = [_one(rng, layout, gene, patient.hard, _rare_af(rng, patient.hard, 0.5))
                     for _ in range(2)]
            codes = [1, 1]
    else:
        sites, codes = [_one(rng, layout, gene, patient.hard, np.nan)], [2 if hemi else 1]
    table = concat(sites)
    for i in range(len(codes)):
        # Keep causal sites distinct from each other across the batch.
        while (int(table["chrom_idx"][i]), int(table["pos"][i])) in taken:
            table["pos"][i] += 1
        taken.add((int(table["chrom_idx"][i]), int(table["pos"][i])))
    return table, np.array(codes, dtype=np.int8)
