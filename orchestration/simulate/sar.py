"""The hidden structure-activity rule ("nature") behind the simulated screen.

A compound's potency is a weighted sum of pharmacophore motifs plus a smooth
lipophilicity/polarity term and a small structure-seeded jitter. Everything is a
function of the parent structure, so a model on fingerprints and descriptors can
learn it, and the same structure in two libraries gets the same potency. Nothing
here imports pipeline code: the pipeline has to discover this rule from plates.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

from rdkit import Chem, RDLogger
from rdkit.Chem import Crippen, rdMolDescriptors
from rdkit.Chem.MolStandardize import rdMolStandardize

RDLogger.DisableLog("rdApp.*")

ACTIVE_PIC50 = 5.0  # IC50 <= 10 uM
BASE_PIC50 = 1.9
JITTER_SD = 0.25
ACTIVE_STRETCH = 1.6

# (name, SMARTS, weight). Weights favour sulfonyl/biaryl/halogenated heteroaromatics
# and penalise acids, so actives cluster in a chemically plausible corner of space.
MOTIFS: tuple[tuple[str, str, float], ...] = (
    ("sulfonamide", "[SX4](=O)(=O)[NX3]", 1.1),
    ("aryl_halide", "c[F,Cl,Br,I]", 0.9),
    ("basic_amine", "[NX3;H2,H1,H0;+0;!$(N-[C,S,P]=[O,S,N]);!$(N-a);!$(N#*);!$(N=*);!$(N-N)]", 0.7),
    ("carboxylic_acid", "[CX3](=O)[OX2H1,OX1-]", -1.3),
    ("biaryl", "a-!@a", 1.0),
    ("phenol", "c[OX2H1]", 0.4),
    ("amide", "[CX3](=O)[NX3]", 0.3),
    ("heteroaromatic_n", "[n;r6,r5]", 0.6),
)
_PATTERNS = tuple((n, Chem.MolFromSmarts(s), w) for n, s, w in MOTIFS)
_CHOOSER = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
_UNCHARGER = rdMolStandardize.Uncharger()


def parent(mol: Chem.Mol) -> Chem.Mol:
    """Largest organic fragment, neutralized: the species that acts on the target."""
    m = _CHOOSER.choose(mol) if len(Chem.GetMolFrags(mol)) > 1 else mol
    if any(a.GetFormalCharge() for a in m.GetAtoms()):
        m = _UNCHARGER.uncharge(m)
    return m


@lru_cache(maxsize=None)
def parent_smiles(smiles: str) -> str:
    """Canonical SMILES of parent(); cached. "" when RDKit cannot parse the SMILES."""
    mol = Chem.MolFromSmiles(smiles)
    return "" if mol is None else Chem.MolToSmiles(parent(mol))


def motif_hits(mol: Chem.Mol) -> dict[str, bool]:
    """Which pharmacophore motifs the molecule carries."""
    return {name: mol.HasSubstructMatch(patt) for name, patt, _ in _PATTERNS}


def _jitter(smiles: str, seed: int) -> float:
    # A seeded, structure-keyed Gaussian: stable across processes (unlike hash()).
    digest = hashlib.blake2b(f"{seed}|{smiles}".encode(), digest_size=16).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
    u2 = (int.from_bytes(digest[8:], "big") + 0.5) / 2**64
    return JITTER_SD * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def raw_pic50(mol: Chem.Mol, seed: int = 7) -> float:
    """Continuous potency score for any molecule (also for inactives, below ACTIVE_PIC50)."""
    return raw_pic50_smiles(Chem.MolToSmiles(mol), seed)


@lru_cache(maxsize=None)
def raw_pic50_smiles(smiles: str, seed: int = 7) -> float:
    """raw_pic50 keyed by SMILES (cached: libraries repeat structures)."""
    psmi = parent_smiles(smiles)
    p = Chem.MolFromSmiles(psmi)
    hits = motif_hits(p)
    score = BASE_PIC50 + sum(w for (name, _, w) in MOTIFS if hits[name])
    # Co-occurrence bonus: an aromatic halogen next to an aromatic N-heterocycle or
    # sulfonamide is the "privileged" pair of this target.
    if hits["aryl_halide"] and (hits["heteroaromatic_n"] or hits["sulfonamide"]):
        score += 0.5
    logp = Crippen.MolLogP(p)
    tpsa = rdMolDescriptors.CalcTPSA(p)
    heavy = p.GetNumHeavyAtoms()
    score += 0.6 - 0.12 * (logp - 3.5) ** 2          # optimum lipophilicity near 3.5
    score -= 0.012 * max(0.0, tpsa - 90.0)           # polar compounds lose cell activity
    score -= 0.05 * max(0, 18 - heavy)               # fragments are weak
    score -= 0.02 * max(0, heavy - 45)               # so are very large molecules
    return score + _jitter(psmi, seed)


def pic50_from_raw(v: float) -> float | None:
    """Map a raw score to the reported true pIC50 (None below ACTIVE_PIC50)."""
    if v < ACTIVE_PIC50:
        return None
    # Stretch the active tail so potencies span ~5-7.5 (a usable dose-response range).
    return round(min(ACTIVE_PIC50 + ACTIVE_STRETCH * (v - ACTIVE_PIC50), 9.0), 3)


def true_pic50(mol: Chem.Mol, seed: int = 7) -> float | None:
    """True pIC50 (capped at 9) when the compound is active (>= ACTIVE_PIC50), else None."""
    return pic50_from_raw(raw_pic50(mol, seed))
