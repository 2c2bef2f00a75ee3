"""The current rows of every feature table and label set, built from the lake's models.

Each builder returns one row per entity (the join keys and the values the feature view
declares), an empty frame with those columns when its source model is empty, and None
when the model does not exist yet. Which dbt models feed which view is stated here and
nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from models.compounds.features import DESCRIPTORS
from models.ranker_data import FEATURES as RANKER_FEATURES
from orchestration.lake.io import read_model
from orchestration.settings import LakePaths


@dataclass(frozen=True)
class Table:
    """A feature table (a Feast view's source) or a label set (a training entity frame)."""

    name: str
    keys: tuple[str, ...]
    build: Callable[[LakePaths], pl.DataFrame | None]
    restate: str          # see history.append_history
    stage: str            # "model_inputs" (before the models) | "products" (after the marts)
    feature_view: bool = True


def _read(paths: LakePaths, name: str) -> pl.DataFrame | None:
    """A dbt model's rows, or None when it has not been built in this lake."""
    import duckdb

    if not (paths.marts / f"{name}.parquet").exists() and not paths.build_db.exists():
        return None
    try:
        return read_model(paths, name)
    except duckdb.CatalogException:  # neither its Parquet nor its view exists yet
        return None


def patient_gene_evidence(paths: LakePaths) -> pl.DataFrame | None:
    features = _read(paths, "int_patient_gene_features")
    if features is None:
        return None
    return features.select(
        "patient_id", "gene_symbol",
        *[pl.col(c).cast(pl.Float64) for c in RANKER_FEATURES],
        pl.col("best_disease_id").cast(pl.String))


def gene_ranker_labels(paths: LakePaths) -> pl.DataFrame | None:
    """One row per solved patient: its diagnosed genes (';'-joined, sorted; empty when the
    diagnosis names none, which still counts as a miss for every candidate)."""
    patients, diagnoses = _read(paths, "stg_patients"), _read(paths, "stg_diagnoses")
    if patients is None or diagnoses is None:
        return None
    genes = (diagnoses.filter((pl.col("progress_status") == "SOLVED")
                              & pl.col("gene_symbol").is_not_null())
             .group_by("patient_id")
             .agg(pl.col("gene_symbol").unique().sort().str.join(";").alias("causal_genes")))
    return (patients.filter(pl.col("is_solved")).select("patient_id")
            .join(genes, on="patient_id", how="left")
            .with_columns(pl.col("causal_genes").fill_null("")))


def compound_properties(paths: LakePaths) -> pl.DataFrame | None:
    compounds = _read(paths, "int_compounds")
    props_file = paths.evidence / "compound_properties.parquet"
    if compounds is None:
        return None
    fps = (pl.read_parquet(props_file, columns=["inchikey", "morgan_fp"]).unique("inchikey")
           if props_file.exists() else
           pl.DataFrame(schema={"inchikey": pl.String, "morgan_fp": pl.Binary}))
    return (compounds.select(
        "inchikey", "compound_id", "name", "smiles",
        *[pl.col(c).cast(pl.Float64) for c in DESCRIPTORS],
        pl.col("lipinski_violations").cast(pl.Int64), "lipinski_pass", "veber_pass",
        pl.col("n_pains").cast(pl.Int64), pl.col("n_brenk").cast(pl.Int64),
        pl.col("pains_alerts").list.join("; ").alias("pains_alerts"), "scaffold")
        .join(fps, on="inchikey", how="left"))


def compound_activity_labels(paths: LakePaths) -> pl.DataFrame | None:
    """gene_symbol (the target), inchikey, pic50 (the one potency scale), pic50_source
    ('curve' | 'single_point'), censored, label (pic50 >= 5), source, evidence: the activity
    models' labels, primary calls overridden by dose-response fits (models.compounds.labels)."""
    from models.compounds.labels import activity_labels

    calls, runs, ids = (_read(paths, m) for m in ("int_hts_compound_calls", "stg_plate_runs",
                                                   "int_compound_ids"))
    if calls is None or runs is None or ids is None:
        return None
    fits_path = paths.evidence / "dose_response_fits.parquet"
    labels = activity_labels(calls, pl.read_parquet(fits_path) if fits_path.exists() else pl.DataFrame(),
                             runs, ids)
    return labels.select(pl.col("target_gene").alias("gene_symbol"), "inchikey",
                         pl.col("pic50").cast(pl.Float64), "pic50_source",
                         pl.col("censored").cast(pl.Boolean),
                         pl.col("label").cast(pl.Int64), "source", "evidence")


def patient_profile(paths: LakePaths) -> pl.DataFrame | None:
    patients = _read(paths, "patients")
    if patients is None:
        return None
    rankings = _read(paths, "patient_gene_rankings")
    top = (rankings.filter(pl.col("rank") == 1)
           .select("patient_id", pl.col("gene_symbol").alias("top_gene"),
                   pl.col("score").cast(pl.Float64).alias("top_gene_score"))
           .unique("patient_id") if rankings is not None
           else pl.DataFrame(schema={"patient_id": pl.String, "top_gene": pl.String,
                                     "top_gene_score": pl.Float64}))
    ints = ["n_observed_terms", "n_excluded_terms", "n_remapped_terms", "n_variant_calls",
            "n_candidate_variants", "n_expressed_genes"]
    return (patients.select("patient_id", "sex", "is_solved", "diagnosed_gene",
                            "cohort_disease_id", "cohort_basis",
                            *[pl.col(c).cast(pl.Int64) for c in ints])
            .join(top, on="patient_id", how="left"))


def gene_target(paths: LakePaths) -> pl.DataFrame | None:
    targets = _read(paths, "ranked_targets")
    if targets is None:
        return None
    best = (targets.sort("rank", "score", descending=[False, True])
            .group_by("gene_symbol", maintain_order=True)
            .agg(pl.col("rank").first().cast(pl.Int64).alias("best_rank"),
                 pl.col("score").first().cast(pl.Float64).alias("best_score"),
                 pl.col("disease_id").first().alias("best_disease_id"),
                 pl.col("disease_name").first().alias("best_disease_name"),
                 pl.col("disease_id").n_unique().cast(pl.Int64).alias("n_cohorts"),
                 pl.col("n_patients").max().cast(pl.Int64).alias("n_patients"),
                 pl.col("known_disease_gene").cast(pl.Boolean).any().alias("known_disease_gene")))
    rankings = _read(paths, "patient_gene_rankings")
    if rankings is not None:
        top1 = (rankings.filter(pl.col("rank") == 1).group_by("gene_symbol")
                .agg(pl.len().cast(pl.Int64).alias("n_top1_patients")))
        best = best.join(top1, on="gene_symbol", how="left")
    else:
        best = best.with_columns(pl.lit(None, dtype=pl.Int64).alias("n_top1_patients"))
    scores = _read(paths, "compound_scores")
    if scores is not None:
        screened = (scores.group_by(pl.col("target_gene").alias("gene_symbol"))
                    .agg(pl.col("tested").sum().cast(pl.Int64).alias("n_compounds_tested"),
                         pl.col("observed_active").fill_null(False).sum().cast(pl.Int64)
                         .alias("n_compounds_active"),
                         pl.col("p_active").filter(~pl.col("tested")).max().cast(pl.Float64)
                         .alias("best_untested_p_active")))
        # a screened target outside every cohort ranking is still a gene worth serving
        best = best.join(screened, on="gene_symbol", how="full", coalesce=True)
    else:
        best = best.with_columns(pl.lit(None, dtype=pl.Int64).alias("n_compounds_tested"),
                                 pl.lit(None, dtype=pl.Int64).alias("n_compounds_active"),
                                 pl.lit(None, dtype=pl.Float64).alias("best_untested_p_active"))
    return best.with_columns(pl.col("n_top1_patients").fill_null(0))


def compound_target_scores(paths: LakePaths) -> pl.DataFrame | None:
    scores = _read(paths, "compound_scores")
    if scores is None:
        return None
    # potency, hit class and safety columns arrived with issue 11: null in an older mart
    scores = scores.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in (
        ("predicted_pic50", pl.Float64), ("pic50_uncertainty", pl.Float64), ("hit_class", pl.String),
        ("safety_factor", pl.Float64)) if c not in scores.columns])
    return scores.select(
        "inchikey", pl.col("target_gene").alias("gene_symbol"),
        *[pl.col(c).cast(pl.Float64) for c in ("predicted_pic50", "pic50_uncertainty")],
        *[pl.col(c).cast(pl.Float64) for c in ("p_active", "uncertainty")],
        pl.col("hit_class").cast(pl.String), pl.col("safety_factor").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64) for c in ("score", "priority")],
        pl.col("rank").cast(pl.Int64), "tested", "observed_active",
        *[pl.col(c).cast(pl.Float64) for c in ("predicted_logS", "developability")],
        # content-addressed (<family>-<fingerprint>): retraining an unchanged model keeps it
        "model_version")


TABLES: tuple[Table, ...] = (
    Table("patient_gene_evidence", ("patient_id", "gene_symbol"), patient_gene_evidence,
          restate="never", stage="model_inputs"),
    Table("gene_ranker_labels", ("patient_id",), gene_ranker_labels,
          restate="never", stage="model_inputs", feature_view=False),
    Table("compound_properties", ("inchikey",), compound_properties,
          restate="always", stage="model_inputs"),
    Table("compound_activity_labels", ("gene_symbol", "inchikey"), compound_activity_labels,
          restate="never", stage="model_inputs", feature_view=False),
    Table("patient_profile", ("patient_id",), patient_profile, restate="never", stage="products"),
    Table("gene_target", ("gene_symbol",), gene_target, restate="never", stage="products"),
    Table("compound_target_scores", ("inchikey", "gene_symbol"), compound_target_scores,
          restate="never", stage="products"),
)
FEATURE_VIEWS = tuple(t.name for t in TABLES if t.feature_view)


def table(name: str) -> Table:
    return next(t for t in TABLES if t.name == name)
