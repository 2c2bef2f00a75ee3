"""Standardization of candidate structures, cached per process.

Every structure a design run touches (parents, corpus, each generator's products, the
oracle's and ``score_designs``' inputs) goes through ``orchestration.chem.standardize``; the
InChIKey is its main cost, and the same SMILES come back many times (the GA re-submits its
population, the objective re-standardizes what the oracle standardized, a second round sees
the same corpus), so results are cached by input string.
"""

from __future__ import annotations

from functools import lru_cache

from orchestration.chem.standardize import StructureError, standardize_smiles


@lru_cache(maxsize=200_000)
def standardized(smiles: str | None) -> tuple[str, str] | None:
    """(parent SMILES, InChIKey), or None when the structure cannot be standardized."""
    try:
        s = standardize_smiles(smiles or "")
    except StructureError:
        return None
    return s.smiles, s.inchikey
