"""Compound library files for the screening simulation (SDF V2000/V3000, CSV, SMILES).

Each writer returns the records it wrote as (compound_id, name, smiles) tuples so the
caller can score them against the hidden SAR; bad-file writers return their planted
defects with the granularity the ingest step is expected to quarantine them at.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDepictor

from orchestration.chem.reference_data import load_approved_drugs
from orchestration.chem.reference_data import load_solubility as reference_solubility
from orchestration.simulate import sar

RDLogger.DisableLog("rdApp.*")

Record = tuple[str, str, str]  # compound_id, name, smiles

_SUBSTITUENTS = ("F", "Cl", "C", "OC")


def load_approved() -> list[Record]:
    """ChEMBL approved small-molecule drugs, in file order."""
    return list(load_approved_drugs().select("chembl_id", "name", "smiles").iter_rows())


def load_solubility() -> list[Record]:
    """Huuskonen solubility set (train then test), SMILES canonicalised by RDKit."""
    return list(reference_solubility().select("compound_id", "name", "smiles").iter_rows())


def _mol_2d(smiles: str) -> Chem.Mol | None:
    mol = Chem.MolFromSmiles(smiles)
    if mol is not None:
        rdDepictor.Compute2DCoords(mol)
    return mol


def write_sdf(path: Path, records: list[Record], v3000: bool = False) -> list[Record]:
    """Write records as an SDF (2D coords, props compound_id and name); skip unparseable."""
    written = []
    writer = Chem.SDWriter(str(path))
    writer.SetForceV3000(v3000)
    for cid, name, smi in records:
        mol = _mol_2d(smi)
        if mol is None:
            continue
        mol.SetProp("_Name", cid)
        mol.SetProp("compound_id", cid)
        mol.SetProp("name", name or "")
        writer.write(mol)
        written.append((cid, name, smi))
    writer.close()
    return written


def write_approved(folder: Path, records: list[Record], rng: np.random.Generator,
                   v3000_fraction: float = 0.1) -> dict:
    """Split the drugs between a V2000 and a V3000 SDF; each compound in exactly one."""
    folder.mkdir(parents=True, exist_ok=True)
    ok = [Chem.MolFromSmiles(r[2]) is not None for r in records]
    parseable = [r for r, good in zip(records, ok) if good]
    skipped = [r[0] for r, good in zip(records, ok) if not good]
    in_v3 = rng.random(len(parseable)) < v3000_fraction
    v2 = write_sdf(folder / "approved_drugs.sdf", [r for r, f in zip(parseable, in_v3) if not f])
    v3 = write_sdf(folder / "approved_drugs_v3000.sdf",
                   [r for r, f in zip(parseable, in_v3) if f], v3000=True)
    return {"records": v2 + v3, "n_v2000": len(v2), "n_v3000": len(v3), "skipped": skipped}


def write_solubility_csv(path: Path, records: list[Record]) -> tuple[list[Record], list[dict]]:
    """CSV library; the source set repeats ID 1237, which ingest must quarantine (keep first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kept, defects, seen = [], [], set()
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["compound_id", "smiles", "name"])
        for line, (cid, name, smi) in enumerate(records, start=2):
            w.writerow([cid, smi, name])
            if cid in seen:
                defects.append({"file": _rel(path), "defect": "duplicate_compound_id",
                                "granularity": "record", "locator": f"line {line} (ID {cid})"})
            else:
                seen.add(cid)
                kept.append((cid, name, smi))
    return kept, defects


def _substitute(mol: Chem.Mol, atoms: tuple[int, ...], groups: tuple[str, ...]) -> str | None:
    rw = Chem.RWMol(mol)
    for idx, group in zip(atoms, groups):
        prev = idx
        for sym in ("O", "C") if group == "OC" else (group,):
            new = rw.AddAtom(Chem.Atom(sym))
            rw.AddBond(prev, new, Chem.BondType.SINGLE)
            prev = new
    try:
        Chem.SanitizeMol(rw)
    except Exception:  # noqa: BLE001 - an odd valence case is simply not an analog
        return None
    return Chem.MolToSmiles(rw)


def enumerate_analogs(smiles: str, doubles_needed: bool = True) -> tuple[list[str], list[str]]:
    """Single and double F/Cl/CH3/OCH3 swaps on aromatic C-H (canonical, sorted, unique)."""
    mol = sar.parent(Chem.MolFromSmiles(smiles))
    sites = [a.GetIdx() for a in mol.GetAtoms()
             if a.GetIsAromatic() and a.GetSymbol() == "C" and a.GetTotalNumHs() == 1]
    base = Chem.MolToSmiles(mol)
    singles = {_substitute(mol, (i,), (g,)) for i in sites for g in _SUBSTITUENTS}
    doubles = set()
    if doubles_needed:
        doubles = {_substitute(mol, (i, j), (g, h)) for k, i in enumerate(sites)
                   for j in sites[k + 1:] for g in _SUBSTITUENTS for h in _SUBSTITUENTS}
    singles.discard(None)
    doubles.discard(None)
    doubles -= singles
    return sorted(singles - {base}), sorted(doubles - {base})


def make_analogs(drugs: list[Record], rng: np.random.Generator, seed: int,
                 n_active_parents: int = 5, n_near_parents: int = 5,
                 per_parent: int = 40) -> tuple[list[Record], dict[str, str]]:
    """Vendor analogs of a few actives and near-miss inactives, with their parent ids.

    Parents sit near the activity threshold so that substituent swaps flip some analogs
    across it (activity cliffs both ways) rather than copying the parent's label.
    """
    candidates, seen = [], set()
    for cid, name, smi in drugs:  # all parseable: written by write_approved
        raw = sar.raw_pic50_smiles(smi, seed)
        if not sar.ACTIVE_PIC50 - 1.0 <= raw < sar.ACTIVE_PIC50 + 0.6:
            continue
        psmi = sar.parent_smiles(smi)
        p = Chem.MolFromSmiles(psmi)
        n_ch = sum(a.GetIsAromatic() and a.GetSymbol() == "C" and a.GetTotalNumHs() == 1
                   for a in p.GetAtoms())
        # Salt forms share a parent; one analog series per parent structure.
        if n_ch >= 4 and 18 <= p.GetNumHeavyAtoms() <= 40 and psmi not in seen:
            seen.add(psmi)
            candidates.append((cid, name, smi, raw))
    actives = [c for c in candidates if c[3] >= sar.ACTIVE_PIC50]
    near = [c for c in candidates if c[3] < sar.ACTIVE_PIC50 - 0.4]
    parents = ([actives[i] for i in rng.choice(len(actives), n_active_parents, replace=False)]
               + [near[i] for i in rng.choice(len(near), n_near_parents, replace=False)])
    existing = {sar.parent_smiles(s) for _, _, s in drugs}
    out, parent_of, taken = [], {}, set(existing)
    for cid, name, smi, _ in parents:
        singles, _ = enumerate_analogs(smi, doubles_needed=False)
        if len(singles) < per_parent:
            singles, doubles = enumerate_analogs(smi)
        else:
            doubles = []
        singles = [s for s in singles if s not in taken]
        doubles = [s for s in doubles if s not in taken]
        picked = list(rng.permutation(singles))[:per_parent]
        if len(picked) < per_parent and doubles:
            k = min(per_parent - len(picked), len(doubles))
            picked += [doubles[i] for i in rng.choice(len(doubles), k, replace=False)]
        stem = (name or cid).replace(" ", "_")
        for k, s in enumerate(picked, start=1):
            aid = f"VA-{len(out) + 1:05d}"
            out.append((aid, f"{stem}_analog_{k:02d}", str(s)))
            parent_of[aid] = cid
            taken.add(s)
    return out, parent_of


def write_smi(path: Path, records: list[Record]) -> None:
    """SMILES file with a header line: SMILES, id, name (tab separated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["SMILES\tcompound_id\tname"] + [f"{s}\t{c}\t{n}" for c, n, s in records]
    path.write_text("\n".join(lines) + "\n")


_PENTAVALENT = """{cid}
  orphanlake-sim

  6  5  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
   -1.5000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000    1.5000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000   -1.5000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.0000    1.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  1  3  1  0
  1  4  1  0
  1  5  1  0
  1  6  1  0
M  END
>  <compound_id>
{cid}

>  <name>
pentavalent carbon

$$$$
"""


def _truncated_block(smiles: str, cid: str) -> str:
    # Counts line promises every atom, but the atom block stops half way through.
    mol = _mol_2d(smiles)
    lines = Chem.MolToMolBlock(mol).splitlines()
    n_atoms = mol.GetNumAtoms()
    body = lines[:4 + n_atoms // 2] + lines[4 + n_atoms:]  # bond block and M  END follow
    body[0] = cid
    return "\n".join(body) + f"\n>  <compound_id>\n{cid}\n\n$$$$\n"


# Header and counts line are junk but the record still ends in its own $$$$, so a
# sequential reader that skips to the next $$$$ loses only this record.
_GARBAGE = """%PDF-1.4 this is not a molfile
<<< binary junk 0xDEADBEEF >>>
lorem ipsum dolor sit amet
this line stands where the counts line should be
consectetur adipiscing elit
$$$$
"""


def write_broken(folder: Path, good: list[Record]) -> tuple[list[Record], list[dict]]:
    """20 good records with 3 broken ones in the middle, plus a CSV without SMILES."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "broken.sdf"
    blocks, kept, defects = [], [], []
    bad_at = {8: "pentavalent_carbon", 13: "truncated_atom_block", 18: "garbage_record"}
    goods = iter(good)
    for rec in range(1, len(good) + len(bad_at) + 1):
        if rec in bad_at:
            cid = f"VB-BAD-{len(defects) + 1}"
            kind = bad_at[rec]
            if kind == "pentavalent_carbon":
                blocks.append(_PENTAVALENT.format(cid=cid))
            elif kind == "truncated_atom_block":
                blocks.append(_truncated_block(good[0][2], cid))
            else:
                blocks.append(_GARBAGE)
            loc = f"record {rec}" if kind == "garbage_record" else f"record {rec} (ID {cid})"
            defects.append({"file": _rel(path), "defect": kind, "granularity": "record",
                            "locator": loc})
            continue
        cid, name, smi = next(goods)
        mol = _mol_2d(smi)
        mol.SetProp("_Name", cid)
        mol.SetProp("compound_id", cid)
        mol.SetProp("name", name)
        blocks.append(Chem.MolToMolBlock(mol) + f">  <compound_id>\n{cid}\n\n>  <name>\n{name}\n\n$$$$\n")
        kept.append((cid, name, smi))
    path.write_text("".join(blocks))
    nosmi = folder / "no_smiles_column.csv"
    with nosmi.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["compound_id", "name"])
        for cid, name, _ in good[:10]:
            w.writerow([cid.replace("VB-", "VBX-"), name])
    defects.append({"file": _rel(nosmi), "defect": "no_smiles_column", "granularity": "file",
                    "locator": "header"})
    return kept, defects


def _rel(path: Path) -> str:
    # Locator relative to landing/ so truth stays valid if the lake home moves.
    parts = path.parts
    return "/".join(parts[parts.index("landing") + 1:]) if "landing" in parts else path.name
