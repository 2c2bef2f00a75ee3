"""Bundled reference compound sets: ChEMBL approved drugs and the RDKit solubility set.

Both ship in ``orchestration/reference/data`` (see ATTRIBUTION.md there); nothing is
downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import polars as pl
from rdkit import Chem, RDLogger, rdBase

RDLogger.DisableLog("rdApp.*")

REFERENCE_DATA_DIR = Path(__file__).resolve().parents[1] / "reference" / "data"

APPROVED_DRUGS_FILE = "chembl_approved_drugs.csv"
SOLUBILITY_FILES = {"train": "solubility.train.sdf", "test": "solubility.test.sdf"}


@lru_cache(maxsize=1)
def _approved_drugs() -> pl.DataFrame:
    raw = pl.read_csv(REFERENCE_DATA_DIR / APPROVED_DRUGS_FILE, schema={
        "first_approval": pl.Float64, "molecule_chembl_id": pl.String,
        "molecule_type": pl.String, "pref_name": pl.String, "smiles": pl.String})
    return raw.select(
        pl.col("molecule_chembl_id").alias("chembl_id"),
        pl.col("pref_name").alias("name"),
        pl.col("first_approval").cast(pl.Int32, strict=False).alias("first_approval"),
        pl.col("smiles"),
    )


def load_approved_drugs() -> pl.DataFrame:
    """ChEMBL approved small-molecule drugs: chembl_id, name, first_approval (year|null), smiles."""
    return _approved_drugs().clone()


def _prop(mol: Chem.Mol, *names: str) -> str | None:
    for name in names:
        if mol.HasProp(name):
            value = mol.GetProp(name).strip()
            if value:
                return value
    return None


@lru_cache(maxsize=1)
def _solubility() -> pl.DataFrame:
    rows = []
    for split, filename in SOLUBILITY_FILES.items():
        with rdBase.CaptureErrorLog():
            supplier = Chem.SDMolSupplier(str(REFERENCE_DATA_DIR / filename))
            for i, mol in enumerate(supplier, start=1):
                if mol is None:
                    raise ValueError(f"{filename}: record {i} is not a valid molecule")
                sol = _prop(mol, "SOL")
                rows.append({
                    "compound_id": _prop(mol, "ID") or f"{split}:{i}",
                    "name": _prop(mol, "NAME") or (mol.GetProp("_Name").strip() or None),
                    # the molblock is the record; its `smiles` property is hand-written and
                    # 18 of them (e.g. 'n(H)' for pyrrole NH) do not parse
                    "smiles": Chem.MolToSmiles(mol),
                    "logS": float(sol) if sol is not None else None,
                    "split": split,
                })
    return pl.DataFrame(rows, schema={"compound_id": pl.String, "name": pl.String,
                                      "smiles": pl.String, "logS": pl.Float64,
                                      "split": pl.String})


def load_solubility() -> pl.DataFrame:
    """Aqueous solubility set (Huuskonen via RDKit): compound_id, name, smiles, logS, split."""
    return _solubility().clone()
