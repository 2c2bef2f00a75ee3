"""The current rows of every feature table and label set, built from the lake's models.

What each table is (its keys, columns and their types, the lake assets it is built from,
its stage and how a change is dated) is declared in the feature contract
(``features/contract.py``); this module holds only how each table is computed. Each
builder returns one row per entity (the join keys and the values the contract declares),
an empty frame with those columns when its source model is empty, and None when the model
does not exist yet. A builder reads its sources through a ``Sources`` that refuses any
model the contract does not list for it, and ``build`` checks its output against the
contract's columns and dtypes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from features import contract as C
from orchestration.lake.io import read_model
from orchestration.settings import LakePaths

RANKER_FEATURES = C.GENE_RANKER_FEATURES
DESCRIPTORS = C.COMPOUND_DESCRIPTORS

POLARS_DTYPES: dict[str, pl.DataType] = {C.FLOAT64: pl.Float64, C.INT64: pl.Int64,
                                         C.STRING: pl.String, C.BOOL: pl.Boolean,
                                         C.BYTES: pl.Binary}


def polars_schema(name: str) -> dict[str, pl.DataType]:
    """The contract's columns of table ``name`` (join keys first) as a polars schema."""
    t = C.table(name)
    return {**{k: pl.String for k in t.keys}, **{c.name: POLARS_DTYPES[c.dtype] for c in t.columns}}


def check_frame(name: str, frame: pl.DataFrame) -> None:
    """Raise ContractError when ``frame`` lacks a column of table ``name``, has one the
    contract does not declare, or holds one in another dtype (an all-null column is fine)."""
    want = polars_schema(name)
    missing = [c for c in want if c not in frame.columns]
    extra = [c for c in frame.columns if c not in want]
    wrong = [f"{c} is {frame.schema[c]}, the contract says {want[c]}" for c in want
             if c in frame.columns and frame.schema[c] != want[c] and frame.schema[c] != pl.Null]
    if missing or extra or wrong:
        raise C.ContractError(
            f"feature table {name} differs from features/contract.py: "
            + "; ".join([*([f"missing {missing}"] if missing else []),
                         *([f"undeclared {extra}"] if extra else []), *wrong]))


class Sources:
    """The lake assets one table may read: the contract's ``sources`` of that table."""

    def __init__(self, paths: LakePaths, name: str):
        self.paths, self.name = paths, name
        self.declared = C.table(name).sources

    def _allowed(self, source: str) -> None:
        if source not in self.declared:
            raise C.ContractError(f"feature table {self.name} reads {source!r}, which "
                                  f"features/contract.py does not list among its sources "
                                  f"{list(self.declared)}")

    def model(self, name: str) -> pl.DataFrame | None:
        """A dbt model's rows, or None when it has not been built in this lake."""
        self._allowed(name)
        return _read(self.paths, name)

    def evidence(self, name: str) -> pl.DataFrame | None:
        """An evidence file's rows (``evidence/<name>.parquet``), None when absent."""
        self._allowed(name)
        path = self.paths.evidence_file(name)
        return pl.read_parquet(path) if path.exists() else None

    def evidence_columns(self, name: str, columns: list[str]) -> pl.DataFrame | None:
        self._allowed(name)
        path = self.paths.evidence_file(name)
        return pl.read_parquet(path, columns=columns) if path.exists() else None


@dataclass(frozen=True)
class Table:
    """A feature table (a Feast view's source) or a label set (a training entity frame):
    its contract declaration and its builder."""

    name: str
    builder: Callable[[Sources], pl.DataFrame | None]

    @property
    def spec(self) -> C.View | C.LabelSet:
        return C.table(self.name)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.spec.keys)

    @property
    def restate(self) -> str:
        return self.spec.restate

    @property
    def stage(self) -> str:
        return self.spec.stage

    @property
    def feature_view(self) -> bool:
        return self.name in C.VIEWS

    def build(self, paths: LakePaths) -> pl.DataFrame | None:
        """The table's current rows, checked against the contract; None while a source is missing."""
        frame = self.builder(Sources(paths, self.name))
        if frame is not None:
            check_frame(self.name, frame)
        return frame


def _read(paths: LakePaths, name: str) -> pl.DataFrame | None:
    """A dbt model's rows, or None when it has not been built in this lake."""
    import duckdb

    if not (paths.marts / f"{name}.parquet").exists() and not paths.build_db.exists():
        return None
    try:
        return read_model(paths, name)
    except duckdb.CatalogException:  # neither its Parquet nor its view exists yet
        return None


def patient_gene_evidence(src: Sources) -> pl.DataFrame | None:
    features = src.model("int_patient_gene_features")
    if features is None:
        return None
    return features.select(
        "patient_id", "gene_symbol",
        *[pl.col(c).cast(pl.Float64) for c in RANKER_FEATURES],
        pl.col("best_disease_id").cast(pl.String))


def gene_ranker_labels(src: Sources) -> pl.DataFrame | None:
    """One row per solved patient: its diagnosed genes (';'-joined, sorted; empty when the
    diagnosis names none, which still counts as a miss for every candidate)."""
    patients, diagnoses = src.model("stg_patients"), src.model("stg_diagnoses")
    if patients is None or diagnoses is None:
        return None
    genes = (diagnoses.filter((pl.col("progress_status") == "SOLVED")
                              & pl.col("gene_symbol").is_not_null())
             .group_by("patient_id")
             .agg(pl.col("gene_symbol").unique().sort().str.join(";").alias("causal_genes")))
    return (patients.filter(pl.col("is_solved")).select("patient_id")
            .join(genes, on="patient_id", how="left")
            .with_columns(pl.col("causal_genes").fill_null("")))


def compound_properties(src: Sources) -> pl.DataFrame | None:
    compounds = src.model("int_compounds")
    if compounds is None:
        return None
    fps = src.evidence_columns("compound_properties", ["inchikey", "morgan_fp"])
    fps = (fps.unique("inchikey") if fps is not None else
           pl.DataFrame(schema={"inchikey": pl.String, "morgan_fp": pl.Binary}))
    return (compounds.select(
        "inchikey", "compound_id", "name", "smiles",
        *[pl.col(c).cast(pl.Float64) for c in DESCRIPTORS],
        pl.col("lipinski_violations").cast(pl.Int64), "lipinski_pass", "veber_pass",
        pl.col("n_pains").cast(pl.Int64), pl.col("n_brenk").cast(pl.Int64),
        pl.col("pains_alerts").list.join("; ").alias("pains_alerts"), "scaffold")
        .join(fps, on="inchikey", how="left"))


def compound_activity_labels(src: Sources) -> pl.DataFrame | None:
    """gene_symbol (the target), inchikey, pic50 (the one potency scale), pic50_source
    ('curve' | 'single_point'), censored, label (pic50 >= 5), source, evidence: the activity
    models' labels, primary calls overridden by dose-response fits (models.compounds.labels)."""
    from models.compounds.labels import activity_labels

    calls, runs, ids = (src.model(m) for m in ("int_hts_compound_calls", "stg_plate_runs",
                                                   "int_compound_ids"))
    if calls is None or runs is None or ids is None:
        return None
    fits = src.evidence("dose_response_fits")
    labels = activity_labels(calls, fits if fits is not None else pl.DataFrame(), runs, ids)
    return labels.select(pl.col("target_gene").alias("gene_symbol"), "inchikey",
                         pl.col("pic50").cast(pl.Float64), "pic50_source",
                         pl.col("censored").cast(pl.Boolean),
                         pl.col("label").cast(pl.Int64), "source", "evidence")


def patient_profile(src: Sources) -> pl.DataFrame | None:
    patients = src.model("patients")
    if patients is None:
        return None
    rankings = src.model("patient_gene_rankings")
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


def gene_target(src: Sources) -> pl.DataFrame | None:
    targets = src.model("ranked_targets")
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
    rankings = src.model("patient_gene_rankings")
    if rankings is not None:
        top1 = (rankings.filter(pl.col("rank") == 1).group_by("gene_symbol")
                .agg(pl.len().cast(pl.Int64).alias("n_top1_patients")))
        best = best.join(top1, on="gene_symbol", how="left")
    else:
        best = best.with_columns(pl.lit(None, dtype=pl.Int64).alias("n_top1_patients"))
    scores = src.model("compound_scores")
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


def compound_target_scores(src: Sources) -> pl.DataFrame | None:
    scores = src.model("compound_scores")
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


def designed_compounds(src: Sources) -> pl.DataFrame | None:
    designs = src.model("designed_compounds")
    if designs is None:
        return None
    # a structure proposed in several rounds of a target: its newest round
    newest = designs.sort("round", descending=True).unique(["inchikey", "target_gene"], keep="first")
    ints = ("round", "rank", "pareto_rank", "n_admet_flags")
    floats = ("predicted_pic50", "uncertainty", "max_sim_train", "sa_score", "qed", "novelty",
              "desirability", "acquisition")
    return newest.select(
        "inchikey", pl.col("target_gene").alias("gene_symbol"),
        *[pl.col(c).cast(pl.String) for c in ("design_id", "smiles", "method", "parent_compound_id")],
        *[pl.col(c).cast(pl.Int64) for c in ints[:3]], pl.col("selected").cast(pl.Boolean),
        *[pl.col(c).cast(pl.Float64) for c in floats[:3]], pl.col("in_domain").cast(pl.Boolean),
        pl.col("n_admet_flags").cast(pl.Int64), *[pl.col(c).cast(pl.Float64) for c in floats[3:]],
        pl.col("passes_gate").cast(pl.Boolean), pl.col("model_version").cast(pl.String)
    ).sort("gene_symbol", "inchikey")


# how each table of the contract is computed (the contract says what it is)
BUILDERS: dict[str, Callable[[Sources], pl.DataFrame | None]] = {
    "patient_gene_evidence": patient_gene_evidence,
    "gene_ranker_labels": gene_ranker_labels,
    "compound_properties": compound_properties,
    "compound_activity_labels": compound_activity_labels,
    "patient_profile": patient_profile,
    "gene_target": gene_target,
    "compound_target_scores": compound_target_scores,
    "designed_compounds": designed_compounds,
}
TABLES: tuple[Table, ...] = tuple(Table(t.name, BUILDERS[t.name]) for t in C.tables())
FEATURE_VIEWS = tuple(t.name for t in TABLES if t.feature_view)


def table(name: str) -> Table:
    return next(t for t in TABLES if t.name == name)
