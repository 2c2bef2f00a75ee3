"""The hidden structure-activity rule ("nature") behind the simulated screen.

A compound's potency is a weighted sum of pharmacophore motifs plus a smooth
lipophilicity/polarity term and a small structure-seeded jitter. Everything is a
function of the parent structure, so a model on fingerprints and descriptors can
learn it, and the same structure in two libraries gets the same potency. Nothing
here imports pipeline code: the pipeline has to discover this rule from plates.

Potency is continuous: most compounds are inert (no measurable pIC50), a tail is weak
(pIC50 4-5, i.e. about 10-50 % inhibition at 10 uM) and a few are potent (pIC50 >= 5).
Activity cliffs: a single small substituent switches potency (a methyl or methoxy ortho
to a biaryl bond twists the biaryl and costs ~1.6 log units; a chlorine next to a ring
nitrogen gains ~1.2), so close analogs differ by 10-fold and more.

Interference ("nature" of the assay, not of the target): catechols and quinones (redox
cycling), rhodanines (thiol-reactive) and some greasy polyaromatics (colloidal
aggregators) read active whatever the target; most of them also in an unrelated
counter-screen (frequent hitters). Only a seeded share of each class interferes, as in
real screens where a PAINS alert is a warning, not a verdict.
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
WEAK_RAW = 3.9      # raw scores in [WEAK_RAW, ACTIVE_PIC50) are weak binders (pIC50 4-5)
WEAK_FLOOR_PIC50 = 4.0
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
# Activity cliffs: (name, SMARTS, weight); a single substituent flips the compound.
CLIFFS: tuple[tuple[str, str, float], ...] = (
    ("ortho_biaryl_twist", "[$([CH3]),$([OX2][CH3])]-c:c-!@a", -1.6),
    ("chloro_next_to_ring_n", "Clc:n", 1.2),
)
_CLIFF_PATTERNS = tuple((n, Chem.MolFromSmarts(s), w) for n, s, w in CLIFFS)
# Interference classes: (mechanism, SMARTS, share of matching structures that interfere).
INTERFERENCE: tuple[tuple[str, str, float], ...] = (
    ("redox_catechol", "c([OX2H1])c[OX2H1]", 0.5),
    ("redox_quinone", "[#6]1(=O)[#6]=,:[#6][#6](=O)[#6]=,:[#6]1", 0.6),
    ("thiol_reactive_rhodanine", "S=C1SC(=*)C(=O)N1", 0.8),
    ("thiol_reactive_rhodanine", "C1(=S)SCC(=O)N1", 0.8),
)
_INTERF_PATTERNS = tuple((n, Chem.MolFromSmarts(s), f) for n, s, f in INTERFERENCE)
AGGREGATOR_LOGP, AGGREGATOR_RINGS = 5.0, 3
FREQUENT_SHARE = 0.8      # interferers that also read active in an unrelated assay
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


@lru_cache(maxsize=None)
def _parent_mol(psmi: str) -> Chem.Mol | None:
    """The parent molecule parsed once per canonical parent SMILES (cached)."""
    return Chem.MolFromSmiles(psmi) if psmi else None


@lru_cache(maxsize=None)
def _logp(psmi: str) -> float:
    return Crippen.MolLogP(_parent_mol(psmi))


def motif_hits(mol: Chem.Mol) -> dict[str, bool]:
    """Which pharmacophore motifs the molecule carries."""
    return {name: mol.HasSubstructMatch(patt) for name, patt, _ in _PATTERNS}


def _jitter(smiles: str, seed: int) -> float:
    # A seeded, structure-keyed Gaussian: stable across processes (unlike hash()).
    digest = hashlib.blake2b(f"{seed}|{smiles}".encode(), digest_size=16).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
    u2 = (int.from_bytes(digest[8:], "big") + 0.5) / 2**64
    return JITTER_SD * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _uniforms(smiles: str, seed: int, tag: str, n: int) -> list[float]:
    """n seeded, structure-keyed uniforms in (0, 1) for one purpose (tag)."""
    digest = hashlib.blake2b(f"{seed}|{tag}|{smiles}".encode(), digest_size=8 * n).digest()
    return [(int.from_bytes(digest[8 * i:8 * i + 8], "big") + 0.5) / 2**64 for i in range(n)]


def cliff_features(mol: Chem.Mol) -> list[str]:
    """Names of the activity-cliff features the (parent) molecule carries."""
    return [name for name, patt, _ in _CLIFF_PATTERNS if mol.HasSubstructMatch(patt)]


def cliff_features_smiles(smiles: str) -> list[str]:
    """cliff_features of the parent of a SMILES ([] when it does not parse)."""
    p = _parent_mol(parent_smiles(smiles))
    return cliff_features(p) if p is not None else []


@lru_cache(maxsize=None)
def curve_shape(smiles: str, seed: int = 7) -> dict:
    """The 4PL shape of a compound's true concentration-response (structure-keyed)."""
    u = _uniforms(parent_smiles(smiles), seed, "curve", 3)
    return {"hill": round(0.8 + 0.7 * u[0], 3), "top": round(95.0 + 5.0 * u[1], 2),
            "bottom": round(5.0 * u[2], 2)}


@lru_cache(maxsize=None)
def interference(smiles: str, seed: int = 7) -> dict | None:
    """How the compound interferes with the assay readout, or None.

    mechanism; primary_pct: apparent % inhibition at 10 uM in the target assay (whatever
    the target); counter_pct: the same in an unrelated assay of the same readout (0 when the
    interference is specific to the target assay's format); hill: steepness of the
    apparent curve (colloidal aggregators are steep).
    """
    psmi = parent_smiles(smiles)
    p = _parent_mol(psmi)
    if p is None:
        return None
    u = _uniforms(psmi, seed, "interference", 5)
    mech = None
    for name, patt, share in _INTERF_PATTERNS:
        if p.HasSubstructMatch(patt):
            mech = name if u[0] < share else None
            break
    else:
        logp = _logp(psmi)
        if logp >= AGGREGATOR_LOGP and rdMolDescriptors.CalcNumAromaticRings(p) >= AGGREGATOR_RINGS:
            share = min(0.3, 0.08 + 0.06 * (logp - AGGREGATOR_LOGP))
            mech = "aggregator" if u[0] < share else None
    if mech is None:
        return None
    steep = mech == "aggregator"
    return {"mechanism": mech,
            "primary_pct": round(30.0 + 60.0 * u[1], 2),
            "counter_pct": round(25.0 + 65.0 * u[3], 2) if u[2] < FREQUENT_SHARE else 0.0,
            "hill": round((2.0 + 2.0 * u[4]) if steep else (0.8 + 0.7 * u[4]), 3)}


def raw_pic50(mol: Chem.Mol, seed: int = 7) -> float:
    """Continuous potency score for any molecule (also for inactives, below ACTIVE_PIC50)."""
    return raw_pic50_smiles(Chem.MolToSmiles(mol), seed)


@lru_cache(maxsize=None)
def raw_pic50_smiles(smiles: str, seed: int = 7) -> float:
    """raw_pic50 keyed by SMILES (cached: libraries repeat structures)."""
    psmi = parent_smiles(smiles)
    p = _parent_mol(psmi)
    hits = motif_hits(p)
    score = BASE_PIC50 + sum(w for (name, _, w) in MOTIFS if hits[name])
    # Co-occurrence bonus: an aromatic halogen next to an aromatic N-heterocycle or
    # sulfonamide is the "privileged" pair of this target.
    if hits["aryl_halide"] and (hits["heteroaromatic_n"] or hits["sulfonamide"]):
        score += 0.5
    logp = _logp(psmi)
    tpsa = rdMolDescriptors.CalcTPSA(p)
    heavy = p.GetNumHeavyAtoms()
    score += 0.6 - 0.12 * (logp - 3.5) ** 2          # optimum lipophilicity near 3.5
    score -= 0.012 * max(0.0, tpsa - 90.0)           # polar compounds lose cell activity
    score -= 0.05 * max(0, 18 - heavy)               # fragments are weak
    score -= 0.02 * max(0, heavy - 45)               # so are very large molecules
    score += sum(w for _, patt, w in _CLIFF_PATTERNS if p.HasSubstructMatch(patt))
    return score + _jitter(psmi, seed)


def pic50_from_raw(v: float) -> float | None:
    """Map a raw score to the true pIC50: None (inert) below WEAK_RAW, weak (4-5) up to
    ACTIVE_PIC50, potent above."""
    if v < WEAK_RAW:
        return None
    if v < ACTIVE_PIC50:
        return round(WEAK_FLOOR_PIC50 + (ACTIVE_PIC50 - WEAK_FLOOR_PIC50)
                     * (v - WEAK_RAW) / (ACTIVE_PIC50 - WEAK_RAW), 3)
    # Stretch the active tail so potencies span ~5-7.5 (a usable dose-response range).
    return round(min(ACTIVE_PIC50 + ACTIVE_STRETCH * (v - ACTIVE_PIC50), 9.0), 3)


def true_pic50(mol: Chem.Mol, seed: int = 7) -> float | None:
    """True pIC50 (capped at 9) when the compound binds at all (weak or potent), else None."""
    return pic50_from_raw(raw_pic50(mol, seed))
