"""Morgan radius-2 Tanimoto similarity (the recipe of ``orchestration.chem.properties``).

Used for the applicability domain (max similarity to the training compounds), novelty
(against every library), the nearest parent of a candidate and the batch diversity rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem, DataStructs, RDLogger, rdBase

from orchestration.chem.properties import morgan_generator

RDLogger.DisableLog("rdApp.*")


def fingerprints(smiles: Sequence[str | None]) -> list:
    """One RDKit bit vector per SMILES; None where the SMILES does not parse."""
    out, gen = [], morgan_generator()
    with rdBase.CaptureErrorLog():
        for smi in smiles:
            mol = Chem.MolFromSmiles(smi) if smi else None
            out.append(gen.GetFingerprint(mol) if mol is not None else None)
    return out


def max_similarity(query: Sequence, reference: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(max Tanimoto of each query fingerprint to the reference set, index of that nearest
    reference); 0 and -1 for a missing fingerprint or an empty reference."""
    ref = [fp for fp in reference if fp is not None]
    ref_index = [i for i, fp in enumerate(reference) if fp is not None]
    best = np.zeros(len(query))
    where = np.full(len(query), -1, dtype=np.int64)
    if not ref:
        return best, where
    for i, fp in enumerate(query):
        if fp is None:
            continue
        sims = np.asarray(DataStructs.BulkTanimotoSimilarity(fp, ref))
        j = int(sims.argmax())
        best[i], where[i] = sims[j], ref_index[j]
    return best, where
