"""BRICS recombination: new molecules from the retrosynthetically cleavable pieces of the
parents and the most potent tested compounds (RDKit ``BRICS``, Degen et al. 2008).

Fragments are the BRICS decomposition of each source; the fragment list is sorted, then
shuffled with the run's seed so ``BRICSBuild`` (which enumerates in input order) is
deterministic for a seed and does not always start from the same fragment. Enumeration stops
at ``limit`` products or the deadline; products outside ``MIN_HEAVY``..``MAX_HEAVY`` heavy atoms are dropped
(two small pieces make no drug-like analog).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import BRICS

RDLogger.DisableLog("rdApp.*")

MAX_HEAVY = 40
MIN_HEAVY = 15
MAX_DEPTH = 2
MIN_FRAGMENT_HEAVY = 2


def fragments(sources: Sequence[str]) -> list[str]:
    """Sorted unique BRICS fragments (with their [n*] dummies) of the source SMILES."""
    out: set[str] = set()
    with rdBase.CaptureErrorLog():
        for smi in sources:
            mol = Chem.MolFromSmiles(smi)
            if mol is None:
                continue
            for frag in BRICS.BRICSDecompose(mol, minFragmentSize=MIN_FRAGMENT_HEAVY):
                out.add(frag)
    return sorted(out)


def build(sources: Sequence[str], limit: int, seed: int, deadline: float) -> list[str]:
    """Up to ``limit`` canonical SMILES recombined from the sources' BRICS fragments."""
    frags = fragments(sources)
    if len(frags) < 2:
        return []
    random.Random(seed).shuffle(frags)
    mols = [Chem.MolFromSmiles(f) for f in frags]
    mols = [m for m in mols if m is not None]
    known = set(sources)
    out: list[str] = []
    seen: set[str] = set()
    with rdBase.CaptureErrorLog():
        for prod in BRICS.BRICSBuild(mols, onlyCompleteMols=True, scrambleReagents=False,
                                     maxDepth=MAX_DEPTH, uniquify=True):
            if len(out) >= limit or time.monotonic() > deadline:
                break
            try:
                prod.UpdatePropertyCache(strict=False)
                Chem.SanitizeMol(prod)
            except Exception:  # noqa: BLE001 - an unsanitizable product is no candidate
                continue
            if not MIN_HEAVY <= prod.GetNumHeavyAtoms() <= MAX_HEAVY:
                continue
            smi = Chem.MolToSmiles(prod)
            if smi not in seen and smi not in known:
                seen.add(smi)
                out.append(smi)
    return out
