"""The feature contract: every entity, feature view, label set and feature service, once.

Plain Python (no Feast import), so anything can read it: the Feast objects
(``orchestration.feature_store.definitions.build_definitions``, which ``features/repo.py``
and ``orphanlake refresh`` apply), the feature-table builders and their checks
(``orchestration.feature_store.tables``), the Dagster deps of the feature tables
(``orchestration.assets.features``), the gene ranker's feature list
(``models.ranker_data.FEATURES``), the training and scoring frames read through Feast
(``orchestration.feature_store.training``), the online lookups (``online.ENTITIES``) and the
tests. ``registry_differences`` (in definitions) says how an applied registry differs
from this file; the ``registry_matches_contract`` check runs it after every apply.

To add a feature: add a ``Column`` to its view here and produce it in the view's builder
(``tables.py``; the builder's output is checked against the view's columns and dtypes). To
add a view: declare it here with its sources (the lake assets its builder reads) and write
its builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---- column types (Feast: Float64, Int64, String, Bool, Bytes) -------------------------
FLOAT64, INT64, STRING, BOOL, BYTES = "float64", "int64", "string", "bool", "bytes"
DTYPES = (FLOAT64, INT64, STRING, BOOL, BYTES)
STAGES = ("model_inputs", "products")   # written before the models / after the marts
RESTATE = ("never", "always")           # see orchestration.feature_store.history


class ContractError(ValueError):
    """A frame, a builder or a registry disagrees with the feature contract."""


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name}: dtype {self.dtype!r} is not one of {DTYPES}")


def _cols(dtype: str, *names: str) -> tuple[Column, ...]:
    return tuple(Column(n, dtype) for n in names)


@dataclass(frozen=True)
class Entity:
    name: str
    join_key: str
    description: str
    dtype: str = STRING


@dataclass(frozen=True)
class View:
    """A feature view and the offline table it reads (``features/offline/<name>.parquet``).

    ``sources``: the lake assets (dbt models, evidence files) the table is built from;
    ``stage``: when a refresh writes it; ``restate``: how a change is dated;
    ``ttl_seconds``: 0 = never expires."""

    name: str
    entities: tuple[str, ...]
    columns: tuple[Column, ...]
    sources: tuple[str, ...]
    stage: str
    restate: str
    description: str
    ttl_seconds: int = 0
    online: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_table(self.name, self.columns, self.stage, self.restate)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(ENTITIES[e].join_key for e in self.entities)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class LabelSet:
    """Label events (a training entity frame), kept like a view's table but not served."""

    name: str
    keys: tuple[str, ...]
    columns: tuple[Column, ...]
    sources: tuple[str, ...]
    stage: str
    restate: str
    description: str

    def __post_init__(self) -> None:
        _check_table(self.name, self.columns, self.stage, self.restate)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class RequestInput:
    """Values given with an online request (a Feast RequestSource)."""

    name: str
    columns: tuple[Column, ...]
    description: str


@dataclass(frozen=True)
class OnDemandView:
    """Features computed at request time from views and request inputs; the computation
    lives with the Feast objects (definitions.py)."""

    name: str
    sources: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Projection:
    """A view's columns in a service; ``columns`` None = every column of the view."""

    view: str
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Service:
    """A feature service; ``lookup`` names the entity ``orphanlake features get`` serves with it."""

    name: str
    projections: tuple[Projection, ...]
    description: str
    lookup: str | None = None


def _check_table(name: str, columns: tuple[Column, ...], stage: str, restate: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"{name}: stage {stage!r} is not one of {STAGES}")
    if restate not in RESTATE:
        raise ValueError(f"{name}: restate {restate!r} is not one of {RESTATE}")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: a column is declared twice: {names}")


# ---- entities -------------------------------------------------------------------------
# patient_gene and compound_target are the composite entities (patient, gene) and
# (compound, gene): Feast keys a view on several entities rather than on a joined id.
ENTITIES: dict[str, Entity] = {e.name: e for e in (
    Entity("patient", "patient_id", "A pseudonymous patient (phenopacket subject.id)."),
    Entity("gene", "gene_symbol", "An HGNC gene symbol; also the target of a screen."),
    Entity("compound", "inchikey", "A standardized parent structure, keyed by InChIKey (every "
                                 "library id of it is in compound_id / the compounds mart)."),
)}

# ---- the models' inputs -----------------------------------------------------------------
# The gene ranker's evidence columns of int_patient_gene_features, in model order
# (models.ranker_data.FEATURES). Any may be null (= missing evidence).
GENE_RANKER_FEATURES: tuple[str, ...] = (
    "variant_score",
    "var_max_pathogenicity",
    "var_freq_score",
    "var_n_rare",
    "var_has_lof",
    "var_biallelic",
    "var_moi_consistent",
    "var_max_revel",
    "var_max_cadd",
    "pheno_score",
    "pheno_gene_bma",
    "pheno_disease_bma",
    "pheno_excluded_penalty",
    "pheno_rank_pct",
    "pheno_lr_log10",
    "pheno_lr_post",
    "pheno_phenodigm",
    "expr_z",
    "expr_abs_z",
    "expr_score",
    # trio evidence (int_segregation): null for patients without usable parents
    "seg_de_novo",
    "seg_biallelic_trans",
    "seg_hemi_maternal",
    "seg_inherited_unaffected",
    "seg_n_parents",
)

# A structure's RDKit descriptors (the activity and solubility models' descriptor block,
# models.compounds.features.DESCRIPTORS, which a test holds equal to this).
COMPOUND_DESCRIPTORS: tuple[str, ...] = (
    "mw", "clogp", "tpsa", "hbd", "hba", "rotatable_bonds", "aromatic_rings", "fraction_csp3",
    "heavy_atoms", "qed", "sa_score")

# ---- feature views ----------------------------------------------------------------------
# No view expires (ttl 0): a table gains a row only when a value changes, so the time since
# a row's event_timestamp says how long the value has held, not that it is stale.
VIEWS: dict[str, View] = {v.name: v for v in (
    View(
        name="patient_gene_evidence",
        entities=("patient", "gene"),
        columns=(*_cols(FLOAT64, *GENE_RANKER_FEATURES), Column("best_disease_id", STRING)),
        sources=("int_patient_gene_features",),
        stage="model_inputs", restate="never",
        description="Per candidate gene of a patient: variant, phenotype-similarity, "
                    "expression-outlier and trio segregation evidence (int_patient_gene_features).",
        tags={"model_input": "gene_ranker"},
    ),
    View(
        name="compound_properties",
        entities=("compound",),
        columns=(*_cols(STRING, "compound_id", "name", "smiles"),
                 *_cols(FLOAT64, *COMPOUND_DESCRIPTORS),
                 Column("lipinski_violations", INT64),
                 *_cols(BOOL, "lipinski_pass", "veber_pass"),
                 *_cols(INT64, "n_pains", "n_brenk"),
                 *_cols(STRING, "pains_alerts", "scaffold"),
                 Column("morgan_fp", BYTES)),
        # values from int_compounds, the packed fingerprint from the compound_properties evidence
        sources=("int_compounds", "compound_properties"),
        stage="model_inputs", restate="always",   # a pure function of the structure
        description="RDKit descriptors, QED, SA score, structural alerts, Murcko scaffold and "
                    "the packed 2048-bit Morgan fingerprint (radius 2) of each structure "
                    "(int_compounds, compound_properties).",
        tags={"model_input": "compound_activity,solubility"},
    ),
    View(
        name="patient_profile",
        entities=("patient",),
        columns=(*_cols(STRING, "sex"), Column("is_solved", BOOL),
                 *_cols(STRING, "diagnosed_gene", "cohort_disease_id", "cohort_basis"),
                 *_cols(INT64, "n_observed_terms", "n_excluded_terms", "n_remapped_terms",
                        "n_variant_calls", "n_candidate_variants", "n_expressed_genes"),
                 Column("top_gene", STRING), Column("top_gene_score", FLOAT64)),
        sources=("patients", "patient_gene_rankings"),
        stage="products", restate="never",
        description="A patient's data at a glance and the gene ranked first for them "
                    "(patients, patient_gene_rankings).",
    ),
    View(
        name="gene_target",
        entities=("gene",),
        columns=(Column("best_rank", INT64), Column("best_score", FLOAT64),
                 *_cols(STRING, "best_disease_id", "best_disease_name"),
                 *_cols(INT64, "n_cohorts", "n_patients", "n_top1_patients"),
                 Column("known_disease_gene", BOOL),
                 *_cols(INT64, "n_compounds_tested", "n_compounds_active"),
                 Column("best_untested_p_active", FLOAT64)),
        sources=("ranked_targets", "patient_gene_rankings", "compound_scores"),
        stage="products", restate="never",
        description="A gene as a drug target: its best cohort rank (ranked_targets), how many "
                    "patients rank it first, and what screening found (compound_scores).",
    ),
    View(
        name="compound_target_scores",
        entities=("compound", "gene"),
        columns=(*_cols(FLOAT64, "predicted_pic50", "pic50_uncertainty", "p_active", "uncertainty"),
                 Column("hit_class", STRING),
                 *_cols(FLOAT64, "safety_factor", "score", "priority"),
                 Column("rank", INT64),
                 *_cols(BOOL, "tested", "observed_active"),
                 *_cols(FLOAT64, "predicted_logS", "developability"),
                 # content-addressed (<family>-<fingerprint>): retraining an unchanged model keeps it
                 Column("model_version", STRING)),
        sources=("compound_scores",),
        stage="products", restate="never",
        description="A compound against a screened target (gene_symbol): the activity model's "
                    "predicted pIC50 and its uncertainty (pIC50 units), P(pIC50 >= 5), the primary "
                    "screen's best hit class, ADMET-AI's safety factor, and the next-plate score "
                    "and rank (compound_scores).",
    ),
    View(
        name="designed_compounds",
        entities=("compound", "gene"),
        columns=(*_cols(STRING, "design_id", "smiles", "method", "parent_compound_id"),
                 *_cols(INT64, "round", "rank", "pareto_rank"), Column("selected", BOOL),
                 *_cols(FLOAT64, "predicted_pic50", "uncertainty", "max_sim_train"),
                 Column("in_domain", BOOL), Column("n_admet_flags", INT64),
                 *_cols(FLOAT64, "sa_score", "qed", "novelty", "desirability", "acquisition"),
                 Column("passes_gate", BOOL), Column("model_version", STRING)),
        sources=("designed_compounds",),
        stage="products", restate="never",
        description="A designed compound for a target (gene_symbol), from the newest design round "
                    "that proposed it: design id, structure, round, generator and parent, predicted pIC50 and "
                    "its uncertainty, applicability domain, safety flags, SA score, QED, the gate, "
                    "novelty, desirability, Pareto rank, and whether it is in the round's batch "
                    "(designed_compounds).",
    ),
)}

# ---- label sets (training entity frames) ------------------------------------------------
LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (
    LabelSet(
        name="gene_ranker_labels",
        keys=("patient_id",),
        columns=(Column("causal_genes", STRING),),
        sources=("stg_patients", "stg_diagnoses"),
        stage="model_inputs", restate="never",
        description="One row per solved patient: its diagnosed genes (';'-joined, sorted; empty "
                    "when the diagnosis names none).",
    ),
    LabelSet(
        name="compound_activity_labels",
        keys=("gene_symbol", "inchikey"),
        columns=(Column("pic50", FLOAT64), Column("pic50_source", STRING), Column("censored", BOOL),
                 Column("label", INT64), *_cols(STRING, "source", "evidence")),
        sources=("int_hts_compound_calls", "stg_plate_runs", "int_compound_ids", "dose_response_fits"),
        stage="model_inputs", restate="never",
        description="The activity models' labels per (target, structure): primary calls "
                    "overridden by dose-response fits.",
    ),
)}

# ---- on-demand features -----------------------------------------------------------------
REQUEST_INPUTS: dict[str, RequestInput] = {r.name: r for r in (
    RequestInput("similarity_query", (Column("query_smiles", STRING),),
                 "A structure to compare every requested compound with."),
)}

ON_DEMAND_VIEWS: dict[str, OnDemandView] = {v.name: v for v in (
    OnDemandView(
        name="compound_query_similarity",
        sources=("compound_properties", "similarity_query"),
        columns=(Column("tanimoto_to_query", FLOAT64), Column("query_valid", BOOL)),
        description="Tanimoto similarity (Morgan radius 2, 2048 bits: the stored fingerprint's "
                    "recipe) between each compound and the request's query_smiles.",
    ),
)}

# ---- feature services: one per model, one per lookup ------------------------------------
GENE_RANKER_SERVICE = "target_ranking_v1"
COMPOUND_ACTIVITY_SERVICE = "compound_activity_v1"

SERVICES: dict[str, Service] = {s.name: s for s in (
    Service(GENE_RANKER_SERVICE,
            (Projection("patient_gene_evidence", GENE_RANKER_FEATURES),),
            "The gene ranker's inputs (models.ranker_data.FEATURES), for training and scoring."),
    Service(COMPOUND_ACTIVITY_SERVICE,
            (Projection("compound_properties",
                        ("smiles", "morgan_fp", *COMPOUND_DESCRIPTORS, "scaffold")),),
            "The activity and solubility models' inputs: the structure (SMILES, for the "
            "Chemprop D-MPNN), fingerprint, descriptors and the scaffold the "
            "cross-validation splits on."),
    Service("compound_next_plate_v1",
            (Projection("compound_properties", ("compound_id", "name", "qed", "lipinski_pass",
                                                "n_pains", "n_brenk", "scaffold")),
             Projection("compound_target_scores")),
            "What a scientist picking the next plate looks at: developability and the "
            "target-specific scores."),
    Service("compound_similarity_v1",
            (Projection("compound_properties", ("compound_id", "name", "smiles")),
             Projection("compound_query_similarity")),
            "Compounds with their similarity to a query structure given in the request."),
    Service("patient_lookup_v1", (Projection("patient_profile"),),
            "orphanlake features get --entity patient.", lookup="patient"),
    Service("gene_lookup_v1", (Projection("gene_target"),),
            "orphanlake features get --entity gene.", lookup="gene"),
    Service("compound_lookup_v1", (Projection("compound_properties"),),
            "Everything stored about a structure (orphanlake features get --entity compound).",
            lookup="compound"),
    Service("patient_gene_lookup_v1", (Projection("patient_gene_evidence"),),
            "orphanlake features get --entity patient_gene.", lookup="patient_gene"),
    Service("compound_target_lookup_v1", (Projection("compound_target_scores"),),
            "orphanlake features get --entity compound_target.", lookup="compound_target"),
    Service("compound_design_v1",
            (Projection("designed_compounds"),),
            "A designed compound for a target: its structure and its design round's scores."),
)}


# ---- questions asked of the contract ----------------------------------------------------
def table(name: str) -> View | LabelSet:
    """The view or label set whose offline table is ``name``."""
    if name in VIEWS:
        return VIEWS[name]
    if name in LABEL_SETS:
        return LABEL_SETS[name]
    raise KeyError(f"{name!r} is neither a feature view nor a label set of the contract")


def tables(stage: str | None = None) -> tuple[View | LabelSet, ...]:
    """Every offline table (views, then label sets interleaved as declared by stage)."""
    every = (*VIEWS.values(), *LABEL_SETS.values())
    return tuple(t for t in every if stage is None or t.stage == stage)


def stage_sources(stage: str) -> tuple[str, ...]:
    """The lake assets the tables of a stage are built from (each once, in declaration order)."""
    return tuple(dict.fromkeys(s for t in tables(stage) for s in t.sources))


def projection_columns(p: Projection) -> tuple[str, ...]:
    """The columns a service takes from a view (every column when it names none)."""
    if p.columns is not None:
        return p.columns
    if p.view in VIEWS:
        return VIEWS[p.view].column_names
    return ON_DEMAND_VIEWS[p.view].column_names


def service_columns(service: str) -> dict[str, tuple[str, ...]]:
    """view → the columns ``service`` serves from it, in declaration order."""
    return {p.view: projection_columns(p) for p in SERVICES[service].projections}


def service_keys(service: str) -> tuple[str, ...]:
    """The join keys of a service's stored views, in order."""
    keys: dict[str, None] = {}
    for p in SERVICES[service].projections:
        if p.view in VIEWS:
            keys.update(dict.fromkeys(VIEWS[p.view].keys))
    return tuple(keys)


def lookups() -> dict[str, tuple[str, tuple[str, ...]]]:
    """entity name of ``features get`` → (its feature service, its join keys)."""
    return {s.lookup: (s.name, service_keys(s.name)) for s in SERVICES.values() if s.lookup}


def missing_columns(columns, service: str) -> list[str]:
    """``view:column`` for every column ``service`` serves that ``columns`` lacks."""
    have = set(columns)
    return [f"{view}:{c}" for view, cols in service_columns(service).items() for c in cols
            if c not in have]


def require_columns(columns, service: str, what: str = "frame") -> None:
    """Raise ContractError naming the view and column of each of ``service``'s columns
    missing from ``columns`` (a frame's columns): a model must not read a dropped column
    as missing evidence."""
    missing = missing_columns(columns, service)
    if missing:
        raise ContractError(
            f"{what} lacks {len(missing)} column(s) of feature service {service}: "
            f"{', '.join(missing)}; the registry or the feature table no longer serves what "
            f"features/contract.py declares (refresh to re-apply it, or change the contract)")


def _validate() -> None:
    """The declarations refer to each other consistently (run at import)."""
    for v in VIEWS.values():
        unknown = [e for e in v.entities if e not in ENTITIES]
        if unknown:
            raise ValueError(f"view {v.name}: unknown entities {unknown}")
        clash = set(v.keys) & set(v.column_names)
        if clash:
            raise ValueError(f"view {v.name}: join keys also declared as columns: {sorted(clash)}")
    for o in ON_DEMAND_VIEWS.values():
        unknown = [s for s in o.sources if s not in VIEWS and s not in REQUEST_INPUTS]
        if unknown:
            raise ValueError(f"on-demand view {o.name}: unknown sources {unknown}")
    names = [*VIEWS, *LABEL_SETS, *ON_DEMAND_VIEWS]
    if len(set(names)) != len(names):
        raise ValueError(f"a view, label set or on-demand view name is used twice: {names}")
    for s in SERVICES.values():
        for p in s.projections:
            if p.view not in VIEWS and p.view not in ON_DEMAND_VIEWS:
                raise ValueError(f"service {s.name}: unknown view {p.view}")
            declared = (VIEWS[p.view] if p.view in VIEWS else ON_DEMAND_VIEWS[p.view]).column_names
            extra = [c for c in (p.columns or ()) if c not in declared]
            if extra:
                raise ValueError(f"service {s.name}: view {p.view} has no column(s) {extra}")


_validate()
