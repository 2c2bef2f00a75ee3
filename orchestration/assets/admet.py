"""Developability from ADMET-AI (41 TDC endpoints) for every library structure, cached by
InChIKey: the predictions depend only on the structure and the admet-ai version."""

import time
from pathlib import Path

import dagster as dg
import polars as pl

from models.compounds import admet
from orchestration.assets.isolation import isolated
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.resources import LakeResource
from orchestration.settings import Evidence, evidence_relpath

CACHE_DIR = "admet"
CACHE_FILE = "predictions_cache.parquet"


def cache_path(paths) -> Path:
    """The prediction cache, inside the lake (every write stays in the lake): it outlives
    the libraries, so a structure that leaves and comes back is not predicted again."""
    return paths.models / CACHE_DIR / CACHE_FILE


def _no_admet(paths) -> None:
    """A lake that never predicted: an empty, typed evidence file so the mart still builds."""
    write_parquet_atomic(pl.DataFrame(schema={"inchikey": pl.String, **admet.schema()}),
                         paths.evidence_file(Evidence.COMPOUND_ADMET_PREDICTIONS))


# The Python asset is not called compound_admet: that key is the dbt mart's.
@dg.asset(group_name="compounds", kinds={"pytorch", "parquet"}, deps=["int_compounds"])
@isolated("compounds", [evidence_relpath(Evidence.COMPOUND_ADMET_PREDICTIONS)], fallback=_no_admet)
def compound_admet_predictions(context: dg.AssetExecutionContext,
                               lake: LakeResource) -> dg.MaterializeResult:
    """ADMET-AI's pretrained Chemprop ensembles (hERG, AMES, DILI, ClinTox, CYP
    inhibition, BBB, solubility, … : 41 endpoints) for every structure in
    ``int_compounds``, with the safety flags and the ``safety_factor`` that multiplies a
    compound's priority (models/compounds/admet.py documents the cuts and the formula).
    Predictions are cached by (InChIKey, admet-ai version) under models/admet/: a refresh
    predicts only structures it has not seen (an approved drug whose structure admet-ai
    ships predictions for takes those); structures no longer in any library leave the
    output but stay cached."""
    paths = lake.paths
    structures = read_model(paths, "int_compounds").select("inchikey", "smiles")
    cache_file = cache_path(paths)
    cache = pl.read_parquet(cache_file) if cache_file.exists() else None
    started = time.perf_counter()
    cache, out, counts = admet.update_cache(cache, structures)
    seconds = time.perf_counter() - started
    if counts["predicted"] or counts["from_shipped"]:
        write_parquet_atomic(cache, cache_file)
    write_parquet_atomic(out, paths.evidence_file(Evidence.COMPOUND_ADMET_PREDICTIONS))
    context.log.info("ADMET-AI: %d structures: %d predicted now, %d from admet-ai's shipped "
                     "DrugBank predictions, %d from the cache (%.1f s)", out.height,
                     counts["predicted"], counts["from_shipped"], counts["cached"], seconds)
    flags = {f: int(out[f].sum() or 0) for f in admet.FLAG_COLUMNS}
    top = (out.filter(pl.col("n_safety_flags") > 0)
           .sort(["n_safety_flags", "herg"], descending=True, nulls_last=True)
           .select("inchikey", "n_safety_flags", "safety_factor", "herg", "ames", "dili",
                   "clintox", "safety_summary"))
    return dg.MaterializeResult(metadata={
        "admet_version": admet.admet_version(),
        "compounds": out.height,
        "predicted_now": counts["predicted"],
        "from_shipped_drugbank": counts["from_shipped"],
        "from_cache": counts["cached"],
        "cached_total": cache.height,
        "not_predicted": int(out["herg"].null_count()),
        "seconds": round(seconds, 2),
        **flags,
        "with_any_flag": int((out["n_safety_flags"] > 0).sum() or 0),
        "flag_thresholds": dg.MetadataValue.json(admet.flag_thresholds()),
        "most_flagged": dg.MetadataValue.md(markdown_preview(top, n=10) if top.height
                                            else "no flagged structure"),
    })
