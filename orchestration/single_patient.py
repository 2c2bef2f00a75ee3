"""Rank one new patient's genes with the trained model, without touching the lake.

The patient's files go into a scratch lake that links the main lake's reference data and
trained model and copies its expression cohort (for the z-scores), and the same assets a
refresh runs — ingest, dbt staging, phenotype scoring, dbt intermediate, scoring — are
materialized there. No logic is duplicated for the single-patient path.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import polars as pl

from orchestration.ingest.runner import register_copies
from orchestration.settings import Evidence, LakePaths

_STEPS = ["raw_variants", "raw_variant_sites", "raw_no_calls", "raw_pedigrees", "raw_patients",
          "raw_phenotypes", "raw_diagnoses",
          "raw_family_pedigrees", "raw_expression",
          "phenotype_evidence", "patient_disease_matches", "feature_registry",
          "gene_scores"]

OUTPUT_COLUMNS = ["rank", "gene_symbol", "score", "variant_score", "pheno_score", "expr_z",
                  "var_moi_consistent", "known_modes", "best_disease_id", "candidate_variants",
                  "top_reasons", "ranking_method"]


def rank_single_patient(main: LakePaths, vcf: Path, phenopacket: Path,
                        expression: Path | None = None) -> pl.DataFrame:
    """Gene ranking for one patient as a table (rank 1 = best), Exomiser-genes-TSV style."""
    from orchestration.assets.models import RANKER_DIR

    if not (main.models / RANKER_DIR).exists():
        raise FileNotFoundError(f"no trained model in {main.models}: run `orphanlake demo` "
                                "or `orphanlake refresh` first")
    with tempfile.TemporaryDirectory(prefix="orphanlake-patient-") as tmp:
        scratch = LakePaths(Path(tmp)).ensure()
        for link, target in ((scratch.reference, main.reference), (scratch.models, main.models)):
            link.rmdir()
            link.symlink_to(target, target_is_directory=True)
        _drop(vcf, scratch.landing_domain("genomic") / "single")
        _drop(phenopacket, scratch.landing_domain("clinical") / "single")
        if expression is not None:
            _drop(expression, scratch.landing_domain("expression") / "single")
        # the cohort the expression z-scores are measured against (copied: DuckDB's
        # recursive glob does not follow symlinks)
        cohort = main.raw_table("expression")
        if cohort.exists():
            for batch in cohort.iterdir():
                if batch.is_dir():
                    shutil.copytree(batch, scratch.raw_table("expression") / f"cohort_{batch.name}")
            # in the scratch ledger, or its ingest moves them aside as planted files
            register_copies(scratch, "expression",
                            sorted(scratch.raw_table("expression").glob("cohort_*/*.parquet")))
        _materialize(scratch)
        scores = pl.read_parquet(scratch.evidence_file(Evidence.GENE_SCORES))
        quarantined = list(scratch.raw_table("quarantine").rglob("*.parquet"))
        problems = pl.read_parquet(quarantined) if quarantined else pl.DataFrame()
    if scores.height == 0:
        reasons = "; ".join(problems["reason"].to_list()) if problems.height else "no candidate genes"
        raise ValueError(f"nothing to rank for this patient: {reasons}")
    return scores.sort("rank").select([c for c in OUTPUT_COLUMNS if c in scores.columns])


def _drop(src: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, folder / src.name)


def _materialize(scratch: LakePaths) -> None:
    import dagster as dg

    from orchestration.assets.features import feature_tables_model_inputs
    from orchestration.assets.transforms import dbt_intermediate, dbt_staging
    from orchestration.definitions import build_definitions
    from orchestration.resources import LakeResource

    defs = build_definitions(LakeResource(home=str(scratch.home)))
    # only the dbt models the patient's features are built from (not the screening path)
    needed = dg.AssetSelection.assets("int_patient_gene_features").upstream().resolve(
        defs.resolve_asset_graph())
    dbt_models = (set(dbt_staging.keys) | set(dbt_intermediate.keys)) & needed
    # the patient is scored through the feature service, like every patient of a refresh
    selection = ({dg.AssetKey(k) for k in _STEPS} | dbt_models
                 | set(feature_tables_model_inputs.keys))
    # dbt's progress goes to stdout; stdout is reserved for the ranking TSV
    with contextlib.redirect_stdout(sys.stderr):
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=sorted(selection, key=lambda k: k.to_user_string()),
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    if not result.success:
        failed = sorted({e.step_key for e in result.all_events if e.is_step_failure})
        raise ValueError(f"ranking this patient failed in {', '.join(failed)}; see the log above")
