"""orphanlake's feature repository: entities, sources, feature views and feature services.

Every source is a Parquet feature table under ``$ORPHANLAKE_HOME/features/offline/``,
written by the Dagster feature assets from the lake's dbt models. A table holds the
history of its entities: a new row when a value changes (``event_timestamp`` = the
refresh that learned it); for values that are pure functions of the key (a structure's
properties), a restated row with the same ``event_timestamp`` and a later
``created_timestamp``. Point-in-time joins therefore see what the lake knew at a label's
timestamp.

``feast apply`` works here as in any Feast repo; ``orphanlake refresh`` applies it for you.
"""

import os
from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Bool, Bytes, Float64, Int64, String
from feast.value_type import ValueType

from models.ranker_data import FEATURES as RANKER_FEATURES

LAKE = Path(os.environ.get("ORPHANLAKE_HOME") or Path(__file__).resolve().parents[1] / "data_lake")
OFFLINE = LAKE / "features" / "offline"


def _source(table: str) -> FileSource:
    return FileSource(
        name=table,
        path=str(OFFLINE / f"{table}.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    )


# ---- entities -------------------------------------------------------------------------
patient = Entity(name="patient", join_keys=["patient_id"], value_type=ValueType.STRING,
                 description="A pseudonymous patient (phenopacket subject.id).")
gene = Entity(name="gene", join_keys=["gene_symbol"], value_type=ValueType.STRING,
              description="An HGNC gene symbol; also the target of a screen.")
compound = Entity(name="compound", join_keys=["inchikey"], value_type=ValueType.STRING,
                  description="A standardized parent structure, keyed by InChIKey (every "
                              "library id of it is in compound_id / the compounds mart).")
# patient_gene and compound_target are the composite entities (patient, gene) and
# (compound, gene): Feast keys a view on several entities rather than on a joined id.

# ---- feature views --------------------------------------------------------------------
# No view expires (ttl 0): a table gains a row only when a value changes, so the time since
# a row's event_timestamp says how long the value has held, not that it is stale.
NO_EXPIRY = timedelta(0)

patient_gene_evidence = FeatureView(
    name="patient_gene_evidence",
    entities=[patient, gene],
    ttl=NO_EXPIRY,
    schema=[
        *[Field(name=name, dtype=Float64) for name in RANKER_FEATURES],
        Field(name="best_disease_id", dtype=String),
    ],
    source=_source("patient_gene_evidence"),
    online=True,
    description="Per candidate gene of a patient: variant, phenotype-similarity, "
                "expression-outlier and trio segregation evidence (int_patient_gene_features).",
    tags={"model_input": "gene_ranker"},
)

patient_profile = FeatureView(
    name="patient_profile",
    entities=[patient],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="sex", dtype=String),
        Field(name="is_solved", dtype=Bool),
        Field(name="diagnosed_gene", dtype=String),
        Field(name="cohort_disease_id", dtype=String),
        Field(name="cohort_basis", dtype=String),
        Field(name="n_observed_terms", dtype=Int64),
        Field(name="n_excluded_terms", dtype=Int64),
        Field(name="n_remapped_terms", dtype=Int64),
        Field(name="n_variant_calls", dtype=Int64),
        Field(name="n_candidate_variants", dtype=Int64),
        Field(name="n_expressed_genes", dtype=Int64),
        Field(name="top_gene", dtype=String),
        Field(name="top_gene_score", dtype=Float64),
    ],
    source=_source("patient_profile"),
    online=True,
    description="A patient's data at a glance and the gene ranked first for them "
                "(patients, patient_gene_rankings).",
)

gene_target = FeatureView(
    name="gene_target",
    entities=[gene],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="best_rank", dtype=Int64),
        Field(name="best_score", dtype=Float64),
        Field(name="best_disease_id", dtype=String),
        Field(name="best_disease_name", dtype=String),
        Field(name="n_cohorts", dtype=Int64),
        Field(name="n_patients", dtype=Int64),
        Field(name="n_top1_patients", dtype=Int64),
        Field(name="known_disease_gene", dtype=Bool),
        Field(name="n_compounds_tested", dtype=Int64),
        Field(name="n_compounds_active", dtype=Int64),
        Field(name="best_untested_p_active", dtype=Float64),
    ],
    source=_source("gene_target"),
    online=True,
    description="A gene as a drug target: its best cohort rank (ranked_targets), how many "
                "patients rank it first, and what screening found (compound_scores).",
)

compound_properties = FeatureView(
    name="compound_properties",
    entities=[compound],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="compound_id", dtype=String),
        Field(name="name", dtype=String),
        Field(name="smiles", dtype=String),
        Field(name="mw", dtype=Float64),
        Field(name="clogp", dtype=Float64),
        Field(name="tpsa", dtype=Float64),
        Field(name="hbd", dtype=Float64),
        Field(name="hba", dtype=Float64),
        Field(name="rotatable_bonds", dtype=Float64),
        Field(name="aromatic_rings", dtype=Float64),
        Field(name="fraction_csp3", dtype=Float64),
        Field(name="heavy_atoms", dtype=Float64),
        Field(name="qed", dtype=Float64),
        Field(name="sa_score", dtype=Float64),
        Field(name="lipinski_violations", dtype=Int64),
        Field(name="lipinski_pass", dtype=Bool),
        Field(name="veber_pass", dtype=Bool),
        Field(name="n_pains", dtype=Int64),
        Field(name="n_brenk", dtype=Int64),
        Field(name="pains_alerts", dtype=String),
        Field(name="scaffold", dtype=String),
        Field(name="morgan_fp", dtype=Bytes),
    ],
    source=_source("compound_properties"),
    online=True,
    description="RDKit descriptors, QED, SA score, structural alerts, Murcko scaffold and "
                "the packed 2048-bit Morgan fingerprint (radius 2) of each structure "
                "(int_compounds, compound_properties).",
    tags={"model_input": "compound_activity,solubility"},
)

compound_target_scores = FeatureView(
    name="compound_target_scores",
    entities=[compound, gene],
    ttl=NO_EXPIRY,
    schema=[
        Field(name="predicted_pic50", dtype=Float64),
        Field(name="pic50_uncertainty", dtype=Float64),
        Field(name="p_active", dtype=Float64),
        Field(name="uncertainty", dtype=Float64),
        Field(name="hit_class", dtype=String),
        Field(name="safety_factor", dtype=Float64),
        Field(name="score", dtype=Float64),
        Field(name="priority", dtype=Float64),
        Field(name="rank", dtype=Int64),
        Field(name="tested", dtype=Bool),
        Field(name="observed_active", dtype=Bool),
        Field(name="predicted_logS", dtype=Float64),
        Field(name="developability", dtype=Float64),
        Field(name="model_version", dtype=String),
    ],
    source=_source("compound_target_scores"),
    online=True,
    description="A compound against a screened target (gene_symbol): the activity model's "
                "predicted pIC50 and its uncertainty (pIC50 units), P(pIC50 >= 5), the primary "
                "screen's best hit class, ADMET-AI's safety factor, and the next-plate score "
                "and rank (compound_scores).",
)

# ---- on-demand features ---------------------------------------------------------------
similarity_query = RequestSource(
    name="similarity_query",
    schema=[Field(name="query_smiles", dtype=String)],
    description="A structure to compare every requested compound with.",
)


@on_demand_feature_view(
    sources=[compound_properties, similarity_query],
    schema=[Field(name="tanimoto_to_query", dtype=Float64),
            Field(name="query_valid", dtype=Bool)],
    mode="pandas",
    description="Tanimoto similarity (Morgan radius 2, 2048 bits: the stored fingerprint's "
                "recipe) between each compound and the request's query_smiles.",
)
def compound_query_similarity(inputs: pd.DataFrame) -> pd.DataFrame:
    # self-contained: Feast rebuilds this function from its source in other processes.
    # The query is standardized and fingerprinted exactly as the stored structures were.
    import numpy as np
    import pandas as pd

    from rdkit import Chem

    from orchestration.chem.properties import morgan_bytes
    from orchestration.chem.standardize import StructureError, standardize_smiles

    queries: dict = {}
    for smiles in set(inputs["query_smiles"].dropna()):
        try:
            parent = Chem.MolFromSmiles(standardize_smiles(smiles).smiles)
        except (StructureError, ValueError):
            continue
        queries[smiles] = np.unpackbits(np.frombuffer(morgan_bytes(parent), dtype=np.uint8)).astype(bool)

    sims, valid = [], []
    for fp, smiles in zip(inputs["morgan_fp"], inputs["query_smiles"]):
        q = queries.get(smiles)
        if q is None or not isinstance(fp, (bytes, bytearray)):
            sims.append(np.nan)
            valid.append(q is not None)
            continue
        bits = np.unpackbits(np.frombuffer(bytes(fp), dtype=np.uint8)).astype(bool)
        union = np.count_nonzero(bits | q)
        sims.append(float(np.count_nonzero(bits & q)) / union if union else 0.0)
        valid.append(True)
    return pd.DataFrame({"tanimoto_to_query": sims, "query_valid": valid})


# ---- feature services: one per model, one per lookup ----------------------------------
target_ranking_v1 = FeatureService(
    name="target_ranking_v1",
    features=[patient_gene_evidence[list(RANKER_FEATURES)]],
    description="The gene ranker's inputs (models.ranker_data.FEATURES), for training and scoring.",
)

compound_activity_v1 = FeatureService(
    name="compound_activity_v1",
    features=[compound_properties[[
        "smiles", "morgan_fp", "mw", "clogp", "tpsa", "hbd", "hba", "rotatable_bonds",
        "aromatic_rings", "fraction_csp3", "heavy_atoms", "qed", "sa_score", "scaffold"]]],
    description="The activity and solubility models' inputs: the structure (SMILES, for the "
                "Chemprop D-MPNN), fingerprint, descriptors and the scaffold the "
                "cross-validation splits on.",
)

compound_next_plate_v1 = FeatureService(
    name="compound_next_plate_v1",
    features=[compound_properties[["compound_id", "name", "qed", "lipinski_pass", "n_pains",
                                    "n_brenk", "scaffold"]],
              compound_target_scores],
    description="What a scientist picking the next plate looks at: developability and the "
                "target-specific scores.",
)

compound_lookup_v1 = FeatureService(
    name="compound_lookup_v1",
    features=[compound_properties],
    description="Everything stored about a structure (orphanlake features get --entity compound).",
)

compound_similarity_v1 = FeatureService(
    name="compound_similarity_v1",
    features=[compound_properties[["compound_id", "name", "smiles"]], compound_query_similarity],
    description="Compounds with their similarity to a query structure given in the request.",
)

patient_lookup_v1 = FeatureService(
    name="patient_lookup_v1", features=[patient_profile],
    description="orphanlake features get --entity patient.")

gene_lookup_v1 = FeatureService(
    name="gene_lookup_v1", features=[gene_target],
    description="orphanlake features get --entity gene.")

patient_gene_lookup_v1 = FeatureService(
    name="patient_gene_lookup_v1", features=[patient_gene_evidence],
    description="orphanlake features get --entity patient_gene.")

compound_target_lookup_v1 = FeatureService(
    name="compound_target_lookup_v1", features=[compound_target_scores],
    description="orphanlake features get --entity compound_target.")
