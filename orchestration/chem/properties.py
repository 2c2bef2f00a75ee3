"""Per-structure physchem descriptors, drug-likeness rules, structural alerts and fingerprints.

Input SMILES are already-standardized parents (see ``standardize``). One row per input;
a molecule RDKit cannot handle yields nulls in the computed columns instead of failing
the batch. Expensive RDKit objects (filter catalogs, fingerprint generator, SA fragment
scores) are built once per process.
"""

from __future__ import annotations

import importlib.util
import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Sequence

import numpy as np
import polars as pl
from rdkit import Chem, RDConfig, RDLogger, rdBase
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams
from rdkit.Chem.Scaffolds import MurckoScaffold

from orchestration.chem.standardize import StructureError, standardize_smiles

RDLogger.DisableLog("rdApp.*")

FP_BITS = 2048
FP_BYTES = FP_BITS // 8
MORGAN_RADIUS = 2

PROPERTY_SCHEMA: dict[str, pl.DataType] = {
    "inchikey": pl.String,
    "smiles": pl.String,
    "mw": pl.Float64,
    "clogp": pl.Float64,
    "tpsa": pl.Float64,
    "hbd": pl.Int32,
    "hba": pl.Int32,
    "rotatable_bonds": pl.Int32,
    "aromatic_rings": pl.Int32,
    "fraction_csp3": pl.Float64,
    "heavy_atoms": pl.Int32,
    "qed": pl.Float64,
    "sa_score": pl.Float64,
    "lipinski_violations": pl.Int32,
    "lipinski_pass": pl.Boolean,
    "veber_pass": pl.Boolean,
    "pains_alerts": pl.List(pl.String),
    "brenk_alerts": pl.List(pl.String),
    "n_pains": pl.Int32,
    "n_brenk": pl.Int32,
    "scaffold": pl.String,
    "morgan_fp": pl.Binary,
}
PROPERTY_COLUMNS: list[str] = list(PROPERTY_SCHEMA)

# Numeric columns a model can take as features directly.
DESCRIPTOR_COLUMNS: list[str] = [
    "mw", "clogp", "tpsa", "hbd", "hba", "rotatable_bonds", "aromatic_rings",
    "fraction_csp3", "heavy_atoms", "qed", "sa_score", "lipinski_violations",
    "n_pains", "n_brenk",
]

# Extra columns of the standardize-then-compute path (``compute_structures*``).
STRUCTURE_SCHEMA: dict[str, pl.DataType] = {
    "input_smiles": pl.String,
    "standardization": pl.String,
    "error": pl.String,
    **PROPERTY_SCHEMA,
}

_CACHE: dict[str, object] = {}


def _sascorer():
    if "sa" not in _CACHE:
        # The SA_Score contrib module ships inside the RDKit wheel, not as a package.
        path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
        spec = importlib.util.spec_from_file_location("_rdkit_contrib_sascorer", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.readFragmentScores()
        _CACHE["sa"] = module
    return _CACHE["sa"]


def _catalog(which: str) -> FilterCatalog:
    key = f"catalog_{which}"
    if key not in _CACHE:
        params = FilterCatalogParams()
        if which == "pains":
            for cat in (FilterCatalogParams.FilterCatalogs.PAINS_A,
                        FilterCatalogParams.FilterCatalogs.PAINS_B,
                        FilterCatalogParams.FilterCatalogs.PAINS_C):
                params.AddCatalog(cat)
        else:
            params.AddCatalog(FilterCatalogParams.FilterCatalogs.BRENK)
        _CACHE[key] = FilterCatalog(params)
    return _CACHE[key]


def morgan_generator():
    """The one radius-2, 2048-bit Morgan generator (stored bits, counts, similarities), built
    once per process."""
    if "morgan" not in _CACHE:
        _CACHE["morgan"] = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS,
                                                                     fpSize=FP_BITS)
    return _CACHE["morgan"]


def alerts(mol: Chem.Mol, which: str) -> list[str]:
    """Unique sorted alert names ('pains' = PAINS A+B+C, 'brenk') that match ``mol``."""
    return sorted({m.GetDescription() for m in _catalog(which).GetMatches(mol)})


def morgan_bytes(mol: Chem.Mol) -> bytes:
    """2048-bit radius-2 Morgan fingerprint packed big-endian into 256 bytes."""
    bits = morgan_generator().GetFingerprintAsNumPy(mol).astype(np.uint8, copy=False)
    return np.packbits(bits).tobytes()


def morgan_count_matrix(smiles: Sequence[str | None]) -> np.ndarray:
    """(n, 2048) uint16 matrix of the same radius-2 Morgan recipe as ``morgan_bytes``, but
    counting how often each (folded) environment occurs instead of only whether it does; a
    missing or unparseable SMILES gives a row of zeros. Non-zero exactly where the stored
    bit is set."""
    out = np.zeros((len(smiles), FP_BITS), dtype=np.uint16)
    gen = morgan_generator()
    with rdBase.CaptureErrorLog():
        for i, smi in enumerate(smiles):
            mol = Chem.MolFromSmiles(smi) if smi else None
            if mol is not None:
                out[i] = gen.GetCountFingerprintAsNumPy(mol)
    return out


def fingerprint_matrix(fps: Sequence[bytes | None] | pl.Series) -> np.ndarray:
    """(n, 2048) uint8 0/1 matrix from packed fingerprints; a null gives a row of zeros."""
    values = fps.to_list() if isinstance(fps, pl.Series) else list(fps)
    zero = bytes(FP_BYTES)
    for i, v in enumerate(values):
        if v is not None and len(v) != FP_BYTES:
            raise ValueError(f"fingerprint {i} has {len(v)} bytes, expected {FP_BYTES}")
    packed = np.frombuffer(b"".join(v if v is not None else zero for v in values),
                           dtype=np.uint8).reshape(len(values), FP_BYTES)
    return np.unpackbits(packed, axis=1)


def _null_row(smiles: str | None, inchikey: str | None) -> dict:
    row = dict.fromkeys(PROPERTY_COLUMNS)
    row["smiles"], row["inchikey"] = smiles, inchikey
    return row


def mol_properties(mol: Chem.Mol, smiles: str | None, inchikey: str | None) -> dict:
    """One row of ``PROPERTY_SCHEMA`` for a sanitized molecule."""
    mw = Descriptors.MolWt(mol)
    clogp = Crippen.MolLogP(mol)
    tpsa = rdMolDescriptors.CalcTPSA(mol)
    hbd = Lipinski.NumHDonors(mol)
    hba = Lipinski.NumHAcceptors(mol)
    rotb = rdMolDescriptors.CalcNumRotatableBonds(mol)
    violations = int(mw > 500) + int(clogp > 5) + int(hbd > 5) + int(hba > 10)
    pains = alerts(mol, "pains")
    brenk = alerts(mol, "brenk")
    try:
        qed = QED.qed(mol)
    except Exception:  # QED's own property code can fail on exotic valences
        qed = None
    try:
        sa = _sascorer().calculateScore(mol)
    except Exception:
        sa = None
    scaffold_mol = MurckoScaffold.GetScaffoldForMol(mol)
    scaffold = Chem.MolToSmiles(scaffold_mol) if scaffold_mol.GetNumAtoms() else ""
    return {
        "inchikey": inchikey,
        "smiles": smiles,
        "mw": mw,
        "clogp": clogp,
        "tpsa": tpsa,
        "hbd": hbd,
        "hba": hba,
        "rotatable_bonds": rotb,
        "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings(mol),
        "fraction_csp3": rdMolDescriptors.CalcFractionCSP3(mol),
        "heavy_atoms": mol.GetNumHeavyAtoms(),
        "qed": qed,
        "sa_score": sa if sa is None or math.isfinite(sa) else None,
        "lipinski_violations": violations,
        "lipinski_pass": violations <= 1,
        "veber_pass": rotb <= 10 and tpsa <= 140,
        "pains_alerts": pains,
        "brenk_alerts": brenk,
        "n_pains": len(pains),
        "n_brenk": len(brenk),
        "scaffold": scaffold,
        "morgan_fp": morgan_bytes(mol),
    }


def _row(smiles: str | None, inchikey: str | None) -> dict:
    if not smiles:
        return _null_row(smiles, inchikey)
    with rdBase.CaptureErrorLog():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return _null_row(smiles, inchikey)
        try:
            return mol_properties(mol, smiles, inchikey)
        except Exception:  # one odd molecule must not sink a batch of thousands
            return _null_row(smiles, inchikey)


def _frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def compute_properties(smiles: Sequence[str | None], inchikeys: Sequence[str | None]
                       ) -> pl.DataFrame:
    """Properties of standardized SMILES in this process; one row per input, in order."""
    if len(smiles) != len(inchikeys):
        raise ValueError(f"{len(smiles)} SMILES but {len(inchikeys)} InChIKeys")
    return _frame([_row(s, k) for s, k in zip(smiles, inchikeys)], PROPERTY_SCHEMA)


def compute_structures(raw_smiles: Sequence[str | None]) -> pl.DataFrame:
    """Standardize raw SMILES and compute properties in this process (``STRUCTURE_SCHEMA``).

    A structure that fails standardization keeps its ``input_smiles`` and gets the reason
    in ``error`` with every property null.
    """
    rows = []
    for raw in raw_smiles:
        try:
            std = standardize_smiles(raw or "")
        except StructureError as exc:
            row = _null_row(None, None)
            row.update(input_smiles=raw, standardization=None, error=str(exc))
        else:
            row = _row(std.smiles, std.inchikey)
            row.update(input_smiles=raw, standardization="; ".join(std.notes) or None,
                       error=None)
        rows.append(row)
    return _frame(rows, STRUCTURE_SCHEMA)


def _properties_batch(args: tuple[list, list]) -> pl.DataFrame:
    return compute_properties(*args)


def _structures_batch(raw: list) -> pl.DataFrame:
    return compute_structures(raw)


def _plan(n: int, workers: int | None, batch_size: int) -> tuple[int, int]:
    workers = max(1, workers or os.cpu_count() or 1)
    # Shrink batches so every worker gets some; never below 1.
    size = max(1, min(batch_size, math.ceil(n / workers)))
    return workers, size


def _run_parallel(func, payloads: list, workers: int, schema: dict) -> pl.DataFrame:
    # spawn: RDKit/polars state must not be forked mid-use; workers import this module once
    # and keep their catalogs/SA tables for every batch they get.
    workers = min(workers, len(payloads))
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(func, payloads))
    return pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=schema)


def compute_properties_parallel(smiles: Sequence[str | None], inchikeys: Sequence[str | None],
                                workers: int | None = None, batch_size: int = 1000
                                ) -> pl.DataFrame:
    """``compute_properties`` over batches in a spawn process pool (in-process when small)."""
    if len(smiles) != len(inchikeys):
        raise ValueError(f"{len(smiles)} SMILES but {len(inchikeys)} InChIKeys")
    n = len(smiles)
    workers, size = _plan(n, workers, batch_size)
    if workers == 1 or n <= batch_size:
        return compute_properties(smiles, inchikeys)
    smiles, inchikeys = list(smiles), list(inchikeys)
    payloads = [(smiles[i:i + size], inchikeys[i:i + size]) for i in range(0, n, size)]
    return _run_parallel(_properties_batch, payloads, workers, PROPERTY_SCHEMA)


def compute_structures_parallel(raw_smiles: Sequence[str | None], workers: int | None = None,
                                batch_size: int = 1000) -> pl.DataFrame:
    """``compute_structures`` (standardize + properties) over batches in a spawn process pool."""
    n = len(raw_smiles)
    workers, size = _plan(n, workers, batch_size)
    if workers == 1 or n <= batch_size:
        return compute_structures(raw_smiles)
    raw = list(raw_smiles)
    payloads = [raw[i:i + size] for i in range(0, n, size)]
    return _run_parallel(_structures_batch, payloads, workers, STRUCTURE_SCHEMA)
