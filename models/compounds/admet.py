"""Developability from ADMET-AI: 41 TDC ADMET endpoints predicted by the pretrained
Chemprop ensembles that the ``admet-ai`` wheel ships (no download: the weights are package
files; ``HF_HUB_OFFLINE`` is set all the same).

``predict(smiles)`` gives one row per input SMILES (same order) with the endpoints as
snake_case columns (one mapping, ``ENDPOINTS``), then the safety flags:

* **flags** (``herg_flag``, ``ames_flag``, ``dili_flag``, ``clintox_flag``): the predicted
  probability is at least ``max(0.5, the 90th percentile of the same prediction over the
  2,845 DrugBank-approved drugs that admet-ai ships)``. A flag therefore says both "more
  likely positive than not" and "worse than 90% of marketed drugs": at 0.5 alone, 37% of
  approved drugs would carry a hERG flag and 44% a DILI flag, which says little about a
  screening compound. With admet-ai 2.0.1 the cuts are hERG 0.932, AMES 0.667, DILI 0.947,
  ClinTox 0.5 (its 90th percentile, 0.45, is below 0.5); ``flag_thresholds()`` computes
  them from the shipped reference, so they follow the pinned version.
* ``n_safety_flags``: how many of the four are set.
* ``safety_factor`` = ``max(SAFETY_FLOOR, SAFETY_PENALTY ** n_safety_flags)``: 1 without a
  flag, 0.5 with one, 0.25 with two, 0.125 with three, 0.1 (the floor) with four. It
  multiplies a compound's priority, so a flagged compound drops down the plate list but a
  potent one is never removed outright. A structure admet-ai cannot featurize has null
  predictions, null flags and ``safety_factor`` 1 (no evidence either way), and says so in
  ``safety_summary``.
* ``safety_summary``: the flags with their probabilities and cuts, or ``no safety flag``.

The models are loaded once per process (``model()``); inference runs the ensembles directly
(eval mode, no Lightning Trainer, so no progress bars) over batches of ``BATCH_SIZE``
molecules so memory stays flat; the result equals ``ADMETModel.predict`` (tested).
``update_cache`` keeps predictions by (InChIKey, admet-ai version) and predicts only what is
missing; an approved drug that admet-ai ships predictions for (its DrugBank table, made by
the same models) takes those instead of a second run (about half of a library of approved
drugs).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import logging
import os
import warnings
from collections.abc import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# see models/ranker.py: busy-waiting OpenMP threads on a shared 2-core box made 400
# predictions take 24.9 s instead of 9.4 s (measured with another job running)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

__all__ = ["ENDPOINTS", "ENDPOINT_COLUMNS", "FLAGGED", "FLAG_COLUMNS", "SAFETY_COLUMNS",
           "SAFETY_PENALTY", "SAFETY_FLOOR", "admet_version", "flag_thresholds", "model",
           "predict", "predict_endpoints", "add_safety", "schema"]

# TDC endpoint id (admet-ai's task name) → (our column, unit or meaning). One definition:
# every column name elsewhere comes from here.
ENDPOINTS: dict[str, tuple[str, str]] = {
    # absorption
    "HIA_Hou": ("hia", "P(human intestinal absorption)"),
    "Bioavailability_Ma": ("bioavailability", "P(oral bioavailability F ≥ 20%)"),
    "Solubility_AqSolDB": ("solubility_logs", "aqueous solubility, log10(mol/L) (AqSolDB)"),
    "Lipophilicity_AstraZeneca": ("lipophilicity", "logD at pH 7.4 (AstraZeneca)"),
    "HydrationFreeEnergy_FreeSolv": ("hydration_free_energy", "hydration free energy, kcal/mol"),
    "Caco2_Wang": ("caco2", "Caco-2 permeability, log10(cm/s)"),
    "PAMPA_NCATS": ("pampa", "P(high PAMPA permeability)"),
    "Pgp_Broccatelli": ("pgp", "P(P-glycoprotein inhibitor)"),
    # distribution
    "BBB_Martins": ("bbb", "P(blood-brain barrier penetration)"),
    "PPBR_AZ": ("ppbr", "plasma protein binding rate, %"),
    "VDss_Lombardo": ("vdss", "volume of distribution at steady state, L/kg"),
    # excretion
    "Half_Life_Obach": ("half_life", "half-life, h"),
    "Clearance_Hepatocyte_AZ": ("clearance_hepatocyte", "hepatocyte clearance, µL/min/10^6 cells"),
    "Clearance_Microsome_AZ": ("clearance_microsome", "microsomal clearance, µL/min/mg"),
    # metabolism
    "CYP1A2_Veith": ("cyp1a2_inhibition", "P(CYP1A2 inhibitor)"),
    "CYP2C19_Veith": ("cyp2c19_inhibition", "P(CYP2C19 inhibitor)"),
    "CYP2C9_Veith": ("cyp2c9_inhibition", "P(CYP2C9 inhibitor)"),
    "CYP2D6_Veith": ("cyp2d6_inhibition", "P(CYP2D6 inhibitor)"),
    "CYP3A4_Veith": ("cyp3a4_inhibition", "P(CYP3A4 inhibitor)"),
    "CYP2C9_Substrate_CarbonMangels": ("cyp2c9_substrate", "P(CYP2C9 substrate)"),
    "CYP2D6_Substrate_CarbonMangels": ("cyp2d6_substrate", "P(CYP2D6 substrate)"),
    "CYP3A4_Substrate_CarbonMangels": ("cyp3a4_substrate", "P(CYP3A4 substrate)"),
    # toxicity
    "hERG": ("herg", "P(hERG blocker)"),
    "ClinTox": ("clintox", "P(failed clinical trials for toxicity)"),
    "AMES": ("ames", "P(Ames mutagenic)"),
    "DILI": ("dili", "P(drug-induced liver injury)"),
    "Carcinogens_Lagunin": ("carcinogens", "P(carcinogen)"),
    "LD50_Zhu": ("ld50", "acute oral toxicity in rat, log10(1/(mol/kg))"),
    "Skin_Reaction": ("skin_reaction", "P(skin reaction)"),
    "NR-AR": ("tox21_nr_ar", "P(Tox21 androgen receptor, full length, active)"),
    "NR-AR-LBD": ("tox21_nr_ar_lbd", "P(Tox21 androgen receptor LBD active)"),
    "NR-AhR": ("tox21_nr_ahr", "P(Tox21 aryl hydrocarbon receptor active)"),
    "NR-Aromatase": ("tox21_nr_aromatase", "P(Tox21 aromatase inhibitor)"),
    "NR-ER": ("tox21_nr_er", "P(Tox21 estrogen receptor, full length, active)"),
    "NR-ER-LBD": ("tox21_nr_er_lbd", "P(Tox21 estrogen receptor LBD active)"),
    "NR-PPAR-gamma": ("tox21_nr_ppar_gamma", "P(Tox21 PPAR-gamma active)"),
    "SR-ARE": ("tox21_sr_are", "P(Tox21 antioxidant response element active)"),
    "SR-ATAD5": ("tox21_sr_atad5", "P(Tox21 ATAD5 genotoxicity active)"),
    "SR-HSE": ("tox21_sr_hse", "P(Tox21 heat shock response active)"),
    "SR-MMP": ("tox21_sr_mmp", "P(Tox21 mitochondrial membrane potential disrupted)"),
    "SR-p53": ("tox21_sr_p53", "P(Tox21 p53 response active)"),
}
ENDPOINT_COLUMNS: list[str] = [col for col, _ in ENDPOINTS.values()]
# the serious liabilities that are flagged: column → the name used in summaries
FLAGGED: dict[str, str] = {"herg": "hERG", "ames": "AMES", "dili": "DILI", "clintox": "ClinTox"}
FLAG_COLUMNS: list[str] = [f"{c}_flag" for c in FLAGGED]
# what other modules (compound_scores) carry from compound_admet, joined by inchikey
SAFETY_COLUMNS: list[str] = [*FLAG_COLUMNS, "n_safety_flags", "safety_factor", "safety_summary"]

FLAG_MIN_PROBABILITY = 0.5
FLAG_DRUGBANK_QUANTILE = 0.9
SAFETY_PENALTY = 0.5
SAFETY_FLOOR = 0.1
BATCH_SIZE = 1_000          # molecules featurized and predicted at once
LOADER_BATCH = 64           # admet-ai's own batch size for the ensembles

_QUIET_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                  "chemprop")


def _drugbank_table() -> str:
    """The DrugBank-approved reference table inside the admet-ai package, found without
    importing admet-ai (which imports torch, chemprop and lightning: seconds a refresh with
    everything cached does not need)."""
    import importlib.util

    spec = importlib.util.find_spec("admet_ai")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("admet-ai is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "resources", "data",
                        "drugbank_approved.csv")


def admet_version() -> str:
    """``admet-ai <version>``: the cache key beside the InChIKey."""
    return f"admet-ai {importlib.metadata.version('admet-ai')}"


def schema() -> dict[str, pl.DataType]:
    """The columns of ``predict`` after ``inchikey`` (and of the evidence file)."""
    return {"admet_version": pl.String, **{c: pl.Float64 for c in ENDPOINT_COLUMNS},
            **{c: pl.Boolean for c in FLAG_COLUMNS}, "n_safety_flags": pl.Int32,
            "safety_factor": pl.Float64, "safety_summary": pl.String}


@functools.cache
def model():
    """admet-ai's ensembles, loaded once per process, quietly (no DrugBank table, no
    physicochemical block: we compute those with RDKit elsewhere)."""
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from admet_ai import ADMETModel

        loaded = ADMETModel(include_physchem=False, drugbank_path=None, num_workers=0)
    for models in loaded.model_lists:
        for m in models:
            m.eval()
    return loaded


@functools.cache
def flag_thresholds() -> dict[str, float]:
    """Flag cut per flagged column: max(FLAG_MIN_PROBABILITY, the FLAG_DRUGBANK_QUANTILE of
    the prediction over the DrugBank-approved drugs shipped with admet-ai)."""
    tdc_of = {col: tdc for tdc, (col, _) in ENDPOINTS.items()}
    drugbank = pl.read_csv(_drugbank_table(), columns=[tdc_of[c] for c in FLAGGED])
    return {c: max(FLAG_MIN_PROBABILITY,
                   float(drugbank[tdc_of[c]].quantile(FLAG_DRUGBANK_QUANTILE, "linear")))
            for c in FLAGGED}


def _predict_mols(mols: list) -> np.ndarray:
    """Ensemble means, shape (len(mols), len(ENDPOINTS)), columns in ENDPOINTS order."""
    import torch
    from chemprop.data import MoleculeDatapoint, MoleculeDataset
    from chemprop.data.dataloader import build_dataloader

    loaded = model()
    loader = build_dataloader(MoleculeDataset([MoleculeDatapoint(mol=m) for m in mols]),
                              batch_size=LOADER_BATCH, num_workers=0, shuffle=False,
                              # chemprop drops a last batch of one molecule by default (for
                              # batch norm in training), which would lose a molecule here
                              drop_last=False)
    batches = list(loader)
    index = {tdc: i for i, tdc in enumerate(ENDPOINTS)}
    out = np.full((len(mols), len(ENDPOINTS)), np.nan)
    with torch.inference_mode():
        for tasks, models in zip(loaded.task_lists, loaded.model_lists):
            mean = torch.stack([torch.cat([m(b.bmg, b.V_d, b.X_d) for b in batches])
                                for m in models]).mean(dim=0).numpy()
            if mean.shape[0] != len(mols):
                raise RuntimeError(f"{mean.shape[0]} predictions for {len(mols)} molecules")
            for i, task in enumerate(tasks):
                out[:, index[task]] = mean[:, i]
    return out


def predict_endpoints(smiles: Sequence[str | None], batch_size: int = BATCH_SIZE) -> pl.DataFrame:
    """The 41 endpoints for each SMILES (input order); a SMILES RDKit or the featurizer
    cannot read gives a row of nulls."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    values = np.full((len(smiles), len(ENDPOINTS)), np.nan)
    for start in range(0, len(smiles), batch_size):
        chunk = smiles[start:start + batch_size]
        mols = [Chem.MolFromSmiles(s) if s else None for s in chunk]
        ok = [i for i, m in enumerate(mols) if m is not None and m.GetNumAtoms() > 0]
        if not ok:
            continue
        try:
            values[[start + i for i in ok]] = _predict_mols([mols[i] for i in ok])
        except Exception:  # noqa: BLE001 - one molecule the featurizer refuses stays null
            for i in ok:
                try:
                    values[start + i] = _predict_mols([mols[i]])[0]
                except Exception:  # noqa: BLE001
                    pass
    frame = pl.DataFrame(values, schema=ENDPOINT_COLUMNS, orient="row")
    return frame.with_columns(pl.all().fill_nan(None))


def add_safety(frame: pl.DataFrame) -> pl.DataFrame:
    """Flags, their count, the priority multiplier and the summary from the endpoint
    columns (see the module doc for the cuts and the formula)."""
    cuts = flag_thresholds()
    frame = frame.with_columns([(pl.col(c) >= cuts[c]).alias(f"{c}_flag") for c in FLAGGED])
    predicted = pl.col("herg").is_not_null()
    n_flags = pl.sum_horizontal([pl.col(f).cast(pl.Int32) for f in FLAG_COLUMNS])
    parts = [pl.when(pl.col(f"{c}_flag"))
             .then(pl.format(f"{name} {{}} (≥ {cuts[c]:.2f})", pl.col(c).round(2)))
             for c, name in FLAGGED.items()]
    summary = pl.concat_str(parts, separator="; ", ignore_nulls=True)
    return frame.with_columns(
        pl.when(predicted).then(n_flags).otherwise(None).cast(pl.Int32).alias("n_safety_flags"),
        pl.when(predicted)
        .then(pl.max_horizontal(pl.lit(SAFETY_FLOOR), pl.lit(SAFETY_PENALTY).pow(n_flags)))
        .otherwise(1.0).cast(pl.Float64).alias("safety_factor"),
        pl.when(~predicted).then(pl.lit("no ADMET prediction: structure not featurized"))
        .when(n_flags == 0).then(pl.lit("no safety flag"))
        .otherwise(summary).alias("safety_summary"),
    )


def predict(smiles: Sequence[str | None], batch_size: int = BATCH_SIZE) -> pl.DataFrame:
    """Endpoints and safety columns for each SMILES, in input order, with admet_version."""
    frame = predict_endpoints(list(smiles), batch_size)
    return add_safety(frame.with_columns(pl.lit(admet_version()).alias("admet_version"))
                      ).select(list(schema()))


def cache_schema() -> dict[str, pl.DataType]:
    """The prediction cache: raw endpoints keyed by (inchikey, admet_version); the flags
    are derived on every read, so a change of cut needs no new prediction."""
    return {"inchikey": pl.String, "admet_version": pl.String,
            **{c: pl.Float64 for c in ENDPOINT_COLUMNS}}


def _canonical(smiles: str | None) -> str | None:
    """RDKit canonical SMILES, the key shared with admet-ai's shipped DrugBank table; None
    when RDKit cannot read it."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    return Chem.MolToSmiles(mol) if mol is not None else None


@functools.cache
def _shipped_predictions() -> pl.DataFrame:
    """admet-ai's own predictions for the 2,845 DrugBank-approved drugs it ships (same
    models: they equal ``predict_endpoints`` to float32 precision, tested), keyed by the
    RDKit canonical SMILES of the structure they were made from."""
    table = pl.read_csv(_drugbank_table(), columns=["smiles", *ENDPOINTS])
    return (table.with_columns(pl.col("smiles").map_elements(_canonical, return_dtype=pl.String)
                               .alias("canonical"))
            .filter(pl.col("canonical").is_not_null())
            .unique("canonical", keep="first")
            .select("canonical", *[pl.col(t).cast(pl.Float64).alias(c)
                                   for t, (c, _) in ENDPOINTS.items()]))


def update_cache(cache: pl.DataFrame | None, structures: pl.DataFrame,
                 batch_size: int = BATCH_SIZE) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Predict only the structures (``inchikey``, ``smiles``) that ``cache`` has no row for
    under the installed admet-ai version; one whose SMILES is (canonically) a DrugBank drug
    that admet-ai ships predictions for takes those predictions instead of running the
    models again. Returns the grown cache (it keeps structures no longer in any library,
    and other versions' rows), the current structures' rows (one per InChIKey, with the
    safety columns, ordered by InChIKey) and counts: ``predicted`` (run now),
    ``from_shipped`` (taken from admet-ai's DrugBank table), ``cached`` (already cached)."""
    version = admet_version()
    cache = (cache if cache is not None and cache.height
             else pl.DataFrame(schema=cache_schema())).select(list(cache_schema()))
    structures = (structures.select("inchikey", "smiles")
                  .filter(pl.col("inchikey").is_not_null())
                  .unique("inchikey", keep="first", maintain_order=True))
    current = cache.filter(pl.col("admet_version") == version)
    todo = structures.join(current.select("inchikey"), on="inchikey", how="anti")
    n_shipped = 0
    if todo.height:
        todo = todo.with_columns(pl.col("smiles").map_elements(_canonical, return_dtype=pl.String)
                                 .alias("canonical"))
        shipped = todo.join(_shipped_predictions(), on="canonical", how="inner")
        todo = todo.join(shipped.select("inchikey"), on="inchikey", how="anti")
        n_shipped = shipped.height
        fresh = pl.concat([todo.select("inchikey", pl.lit(version).alias("admet_version")),
                           predict_endpoints(todo["smiles"].to_list(), batch_size)],
                          how="horizontal")
        seeded = shipped.select("inchikey", pl.lit(version).alias("admet_version"),
                                *ENDPOINT_COLUMNS)
        cache = (pl.concat([cache, fresh.cast(cache_schema()), seeded.cast(cache_schema())])
                 .sort("admet_version", "inchikey"))
    rows = (structures.select("inchikey")
            .join(cache.filter(pl.col("admet_version") == version), on="inchikey", how="left")
            .sort("inchikey"))
    counts = {"predicted": todo.height, "from_shipped": n_shipped,
              "cached": structures.height - todo.height - n_shipped}
    return cache, add_safety(rows).select("inchikey", *schema()), counts
