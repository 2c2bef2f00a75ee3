"""Who is in a batch: pseudonymous id, sex, true disease/gene/mode, solved or not, difficulty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.simulate.catalog import Catalog

HARD_FRACTION = 0.10


@dataclass
class Patient:
    patient_id: str
    sex: str                 # MALE | FEMALE
    disease_id: str
    disease_name: str
    gene_symbol: str
    ncbi_gene_id: str
    mode: str                # AD | AR | XD | XL | XR
    solved: bool
    hard: bool
    haploid_x: bool          # caller writes male chrX genotypes as haploid ("1")
    defect: str = ""         # set for the extra patients that carry a bad file

    @property
    def male(self) -> bool:
        return self.sex == "MALE"


def patient_id(seed: int, index: int) -> str:
    """Pseudonymous id, unique across seeds: OL-P + 4-digit seed + 4-digit index."""
    return f"OL-P{seed:04d}{index + 1:04d}"


def plan_cohort(rng: np.random.Generator, cat: Catalog, seed: int, n: int,
                solved_fraction: float, first_index: int = 0) -> list[Patient]:
    """n patients, each with a (disease, gene) pair drawn uniformly from the catalog."""
    pairs = cat.pairs
    x_genes = set(cat.genes.filter(cat.genes["x_linked"])["gene_symbol"])
    rows = rng.choice(pairs.height, size=n, replace=True)
    n_solved = int(round(n * solved_fraction))
    solved = np.zeros(n, dtype=bool)
    solved[rng.choice(n, size=n_solved, replace=False)] = True
    out = []
    for k, r in enumerate(rows):
        row = pairs.row(int(r), named=True)
        modes = row["modes"]
        mode = modes[int(rng.integers(len(modes)))]
        if row["gene_symbol"] in x_genes and not mode.startswith("X"):
            mode = {"AD": "XD", "AR": "XR"}[mode]
        male = mode == "XR" or bool(rng.random() < 0.5)
        out.append(Patient(
            patient_id=patient_id(seed, first_index + k), sex="MALE" if male else "FEMALE",
            disease_id=row["disease_id"], disease_name=row["disease_name"] or "",
            gene_symbol=row["gene_symbol"], ncbi_gene_id=row["ncbi_gene_id"], mode=mode,
            solved=bool(solved[k]), hard=bool(rng.random() < HARD_FRACTION),
            haploid_x=bool(rng.random() < 0.3)))
    return out
