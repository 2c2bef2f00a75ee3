"""Medicinal-chemistry sanity rules a generated structure must pass before it is scored.

Graph GA mutations and BRICS joins can write bonds no chemist would make; PAINS and Brenk
(``orchestration.chem.properties``) flag reactive or assay-interfering groups but not all of
these. A structure is refused (never scored, costs no oracle call) when it carries an isotope label
(a radiotracer such as [18F] in the corpus is not a design: its fingerprint equals the
unlabelled compound's), has a radical, a ring smaller than 3 or larger than ``MAX_RING``
atoms, or matches one of ``FORBIDDEN``.
"""

from __future__ import annotations

from rdkit import Chem

MAX_RING = 7
FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("heteroatom-halogen bond", "[!#6;!#1]~[F,Cl,Br,I]"),
    ("peroxide / disulfide / sulfenate", "[OX2,SX2]-[OX2,SX2]"),
    ("sulfenamide", "[SX2]-[#7]"),
    ("acyclic N-N-N chain", "[#7;!R]~[#7;!R]~[#7;!R]"),
    ("allene / cumulene", "[#6]=[#6]=[#6]"),
    ("ketene / isocyanate-like cumulene", "[#6,#7]=[#6]=[#8,#16]"),
    ("triple bond to a heteroatom other than nitrile", "[!#6;!#7]#*"),
    ("hypervalent halogen", "[Cl,Br,I;X2,X3,X4,X5]"),
    ("acyclic aminal / hemiaminal ether", "[#7X3]-[CX4;!R;!$(C(F)(F))]-[#7X3,#8X2]"),
)
_PATTERNS = tuple((name, Chem.MolFromSmarts(s)) for name, s in FORBIDDEN)


def refusal(mol: Chem.Mol) -> str | None:
    """Why ``mol`` is refused, or None when it passes."""
    if any(a.GetIsotope() for a in mol.GetAtoms()):
        return "isotope label"
    if any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
        return "radical"
    sizes = [len(r) for r in mol.GetRingInfo().AtomRings()]
    if sizes and (min(sizes) < 3 or max(sizes) > MAX_RING):
        return f"ring of {max(sizes) if max(sizes) > MAX_RING else min(sizes)} atoms"
    for name, patt in _PATTERNS:
        if mol.HasSubstructMatch(patt):
            return name
    return None
