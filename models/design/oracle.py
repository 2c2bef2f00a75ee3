"""The budgeted oracle every generator goes through.

Each SMILES a generator proposes is standardized like a library compound (``standardize_smiles``:
parent, neutral, canonical) and keyed by its InChIKey. A new InChIKey costs one objective
evaluation (up to ``budget``); a known one, or the same molecule written differently, reuses
its score. A SMILES that cannot be standardized, or that the medicinal-chemistry sanity rules
refuse (``sanity``), costs nothing and scores ``FAILED``. The first
generator to make a molecule is credited with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rdkit import Chem

from models.design.sanity import refusal
from models.design.structures import standardized

FAILED = -1e6  # finite: mol_ga takes quantiles of the scores


@dataclass
class Record:
    smiles: str
    inchikey: str
    score: float
    method: str
    parent: str | None
    order: int


class Oracle:
    def __init__(self, objective: Callable[[list[str]], np.ndarray], budget: int):
        self.objective = objective
        self.budget = budget
        self.used = 0
        self.records: dict[str, Record] = {}   # inchikey -> record
        self._key: dict[str, str | None] = {}  # input SMILES -> inchikey (None: failed)

    def left(self) -> int:
        return max(0, self.budget - self.used)

    def _standardize(self, smi: str) -> tuple[str, str] | None:
        std = standardized(smi)
        if std is None:
            return None
        mol = Chem.MolFromSmiles(std[0])
        if mol is None or refusal(mol) is not None:
            return None
        return std

    def score(self, smiles: list[str], method: str, parents: list[str | None] | None = None
              ) -> list[float]:
        """Scores in input order; new molecules beyond the budget score ``FAILED`` (they are
        taken in sorted-SMILES order, so which ones fit does not depend on input order)."""
        parents = parents or [None] * len(smiles)
        new: dict[str, tuple[str, str | None]] = {}  # inchikey -> (std smiles, parent)
        for smi, parent in sorted(zip(smiles, parents), key=lambda t: (t[0], t[1] or "")):
            if smi not in self._key:
                std = self._standardize(smi)
                self._key[smi] = std[1] if std else None
                if std and std[1] not in self.records and std[1] not in new:
                    new[std[1]] = (std[0], parent)
        keys = sorted(new, key=lambda k: new[k][0])[: self.left()]
        if keys:
            values = np.asarray(self.objective([new[k][0] for k in keys]), dtype=np.float64)
            values = np.where(np.isfinite(values), values, FAILED)
            for k, v in zip(keys, values):
                self.records[k] = Record(new[k][0], k, float(v), method, new[k][1], len(self.records))
            self.used += len(keys)
        out = []
        for smi in smiles:
            key = self._key.get(smi)
            rec = self.records.get(key) if key else None
            out.append(rec.score if rec else FAILED)
        return out
