"""BRICS fragment replacement: analogs of each parent with one retrosynthetically cleavable
piece swapped for a piece of another potent compound (RDKit ``BRICS``, Degen et al. 2008).

Each parent is cut at one BRICS bond at a time; when one side is a small piece (at most
``MAX_LEAF_HEAVY`` heavy atoms) the other side is a core with one BRICS attachment. The pool is
every one-attachment BRICS fragment (at most ``MAX_LEAF_HEAVY`` heavy atoms) of the parents and
the most potent corpus compounds, sorted and then shuffled with the run's seed. ``BRICSBuild``
joins each core to every compatible pool fragment (BRICS' own reaction rules, so every join is
a bond type BRICS considers synthetically accessible). Products are taken round-robin over
(parent, core) so every parent gets analogs before the ``limit``; products outside
``MIN_HEAVY``..``MAX_HEAVY`` heavy atoms are dropped.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import BRICS

RDLogger.DisableLog("rdApp.*")

MAX_LEAF_HEAVY = 12
MIN_HEAVY = 12
MAX_HEAVY = 45


def _n_dummies(mol: Chem.Mol) -> int:
    return sum(1 for a in mol.GetAtoms() if a.GetAtomicNum() == 0)


def pool(sources: Sequence[str]) -> list[str]:
    """Sorted unique one-attachment BRICS fragments of the sources (small pieces only)."""
    out: set[str] = set()
    for smi in sources:
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            continue
        for frag in BRICS.BRICSDecompose(mol, minFragmentSize=1):
            fm = Chem.MolFromSmiles(frag)
            if fm is not None and _n_dummies(fm) == 1 and fm.GetNumHeavyAtoms() - 1 <= MAX_LEAF_HEAVY:
                out.add(frag)
    return sorted(out)


def cores(parent: str) -> list[str]:
    """The parent with one small BRICS piece cut off (one attachment left), sorted."""
    mol = Chem.MolFromSmiles(parent)
    if mol is None:
        return []
    out: set[str] = set()
    for bond in BRICS.FindBRICSBonds(mol):
        broken = BRICS.BreakBRICSBonds(mol, bonds=[bond])
        frags = sorted(Chem.GetMolFrags(broken, asMols=True), key=lambda f: f.GetNumHeavyAtoms())
        if len(frags) == 2 and frags[0].GetNumHeavyAtoms() - 1 <= MAX_LEAF_HEAVY:
            out.add(Chem.MolToSmiles(frags[1]))
    return sorted(out)


def build(parents: Sequence[str], sources: Sequence[str], limit: int, seed: int, deadline: float
          ) -> list[tuple[str, str]]:
    """Up to ``limit`` (canonical SMILES, parent) fragment-replacement analogs (module doc)."""
    with rdBase.CaptureErrorLog():
        frags = pool(list(parents) + list(sources))
        random.Random(seed).shuffle(frags)
        frag_mols = [m for m in (Chem.MolFromSmiles(f) for f in frags) if m is not None]
        queues: list[tuple[str, list[str]]] = []
        known = set(parents)
        for parent in parents:
            for core in cores(parent):
                if time.monotonic() > deadline:
                    break
                products = []
                for prod in BRICS.BRICSBuild(frag_mols, seeds=[Chem.MolFromSmiles(core)],
                                             scrambleReagents=False, maxDepth=1, onlyCompleteMols=True):
                    try:
                        prod.UpdatePropertyCache(strict=False)
                        Chem.SanitizeMol(prod)
                    except Exception:  # noqa: BLE001 - an unsanitizable join is no candidate
                        continue
                    if MIN_HEAVY <= prod.GetNumHeavyAtoms() <= MAX_HEAVY:
                        products.append(Chem.MolToSmiles(prod))
                queues.append((parent, products))
    out: list[tuple[str, str]] = []
    seen = set(known)
    depth = 0
    while len(out) < limit and any(depth < len(q) for _, q in queues):
        for parent, q in queues:
            if depth < len(q) and q[depth] not in seen and len(out) < limit:
                seen.add(q[depth])
                out.append((q[depth], parent))
        depth += 1
    return out
