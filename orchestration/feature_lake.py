"""Build a lake only as far as the gene ranker's inputs, for training and evaluating it.

The shipped ranker is trained, and measured, on the candidate table
(``int_patient_gene_features``) of lakes filled with replayed published cases and simulated
patients. Those lakes are built by the same assets a refresh runs — ingest, dbt staging,
phenotype scoring, dbt intermediate — so the features a model learns from are the features
every lake computes; nothing of the feature logic is duplicated here. The feature store,
the models and the screening path are not built (they are not inputs of the ranker).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import polars as pl

from orchestration.lake.io import read_model
from orchestration.settings import LakePaths

_STEPS = ["raw_variants", "raw_variant_sites", "raw_no_calls", "raw_pedigrees", "raw_patients",
          "raw_phenotypes", "raw_diagnoses",
          "raw_family_pedigrees", "raw_expression",
          "phenotype_evidence", "patient_disease_matches"]


def build_features(home: Path) -> pl.DataFrame:
    """Materialize the ranker's inputs in the lake at ``home`` (its landing batches must be in
    place) and return ``int_patient_gene_features``."""
    import dagster as dg

    from orchestration.assets.transforms import dbt_intermediate, dbt_staging
    from orchestration.definitions import build_definitions
    from orchestration.resources import LakeResource

    paths = LakePaths(Path(home)).ensure()
    defs = build_definitions(LakeResource(home=str(paths.home)))
    graph = defs.resolve_asset_graph()
    needed = dg.AssetSelection.assets("int_patient_gene_features").upstream().resolve(graph)
    dbt_models = (set(dbt_staging.keys) | set(dbt_intermediate.keys)) & needed
    # reference data (HPO release, gene-disease links) comes whole: its asset is not subsettable
    reference = dg.AssetSelection.groups("reference").resolve(graph) & needed
    reference = dg.AssetSelection.assets(*reference).required_multi_asset_neighbors().resolve(graph)
    selection = {dg.AssetKey(k) for k in _STEPS} | dbt_models | reference
    with contextlib.redirect_stdout(sys.stderr):
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=sorted(selection, key=lambda k: k.to_user_string()),
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    if not result.success:
        failed = sorted({e.step_key for e in result.all_events if e.is_step_failure})
        raise RuntimeError(f"building the feature lake at {home} failed in {', '.join(failed)}")
    return read_model(paths, "int_patient_gene_features")
