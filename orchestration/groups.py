"""Which Dagster group every asset is in, and why: groups by domain, read left to right.

The UI's global lineage draws each group as one box (collapsed) with an edge wherever an
asset of one group feeds an asset of another, so the groups are cut to make those edges
run one way — left to right, ingest → staging → evidence → marts → products:

    reference → clinical → genomic ─┐
                                    ├→ features → models, compound_models → products
    compounds ⇄ screening ──────────┤     → feature_serving → catalog → reports
                                    └→ quarantine ──────────────────────→ catalog

Domain groups (``clinical``, ``genomic``, ``compounds``, ``screening``) each hold their
ingest assets (``raw_*``), their dbt staging, intermediate and mart models and the Python
evidence and products computed from that domain (and the domains left of it) alone: e.g.
``plate_qc``, ``dose_response`` and ``hts_compound_calls`` are in ``screening``,
``compounds`` and ``compound_admet`` in ``compounds``. Cross-domain groups hold what
joins domains or needs the feature store: the model-input feature tables (``features``),
the trained models (``models`` for the gene ranker, ``compound_models`` for activity and
solubility, and the design rounds built on them), the products scored by a model or built
from several domains (``products``: ``patients``, ``patient_gene_rankings``,
``ranked_targets``, ``compound_scores``, ``designed_compounds``), the product feature
tables and the online store (``feature_serving``), everything refused (``quarantine``),
the published catalog (``catalog``) and the clinician pages (``reports``).

``patients`` and ``patient_gene_rankings`` would be "clinical" or "genomic" products, but
the first reads genomic evidence and the second the gene ranker (trained from the feature
store): inside a domain group either would draw an edge back from a later group into the
domain, which is what made the global lineage unreadable.

Where a group comes from:
- dbt models: dbt's own ``group`` config, set per model in ``dbt_project/dbt_project.yml``
  (groups declared in ``dbt_project/models/_groups.yml``); dagster-dbt's translator
  (``LakeDbtTranslator``) reads it, and ``dbt docs`` shows it.
- Python assets: ``group_name=`` where the asset is defined.
``GROUPS`` below is the documented mapping; ``tests/test_lineage.py`` fails when an asset
is missing from it or sits in another group, and when a group edge runs backwards.

Group changes never touch run history: Dagster keys materializations by asset key, and
the keys are unchanged (only ``raw_quarantine``, which depended on every ingest asset, is
gone: each domain's quarantine is reported by a check on its ingest, see
``orchestration/assets/quarantine.py``; its old materializations stay in the instance).
"""

from __future__ import annotations

from orchestration.settings import TRIAL_TABLES, Evidence

# the trials group's Python assets: one per evidence file they write (assets/trials.py)
TRIAL_EVIDENCE = tuple(e for e in Evidence if e.value.startswith("trial_"))

FEATURE_INPUTS = ("features/patient_gene_evidence", "features/gene_ranker_labels",
                  "features/compound_properties", "features/compound_activity_labels")
FEATURE_PRODUCTS = ("features/patient_profile", "features/gene_target",
                    "features/compound_target_scores", "features/designed_compounds")

GROUPS: dict[str, tuple[str, ...]] = {
    "reference": ("hpo_terms", "disease_phenotypes", "gene_diseases", "gene_phenotypes",
                  "phenotype_index", "stg_hpo_terms", "stg_gene_diseases"),
    "clinical": ("raw_patients", "raw_phenotypes", "raw_diagnoses", "raw_family_pedigrees",
                 "stg_patients", "stg_diagnoses", "stg_phenotypes",
                 "phenotype_evidence", "patient_disease_matches", "int_patient_cohorts"),
    "genomic": ("raw_variants", "raw_variant_sites", "raw_no_calls", "raw_pedigrees",
                "raw_expression", "stg_variants", "stg_no_calls", "stg_pedigrees",
                "stg_expression", "int_variant_scores", "int_variant_evidence",
                "int_family_members", "int_segregation", "int_expression_evidence",
                "int_patient_gene_features"),
    "compounds": ("raw_compound_records", "stg_compound_records", "compound_properties",
                  "int_compound_ids", "int_compounds", "compounds",
                  "compound_admet_predictions", "compound_admet"),
    "screening": ("raw_plate_runs", "raw_plate_wells", "raw_plate_maps", "stg_plate_runs",
                  "stg_plate_wells", "stg_plate_maps", "plate_well_scores", "plate_stats",
                  "plate_refusals", "int_plate_refusals", "int_dose_response_points",
                  "dose_response_fits", "int_hts_compound_calls", "plate_qc",
                  "hts_well_results", "hts_compound_calls", "dose_response"),
    # a trial reads the lake's patients (links), their genotypes and the screened targets
    "trials": (*(f"raw_{t}" for t in TRIAL_TABLES), *(f"stg_{t}" for t in TRIAL_TABLES),
               *(e.value for e in TRIAL_EVIDENCE), "trial_subjects", "trial_demographics",
               "trial_adverse_events", "trial_efficacy", "trial_time_to_event"),
    "features": ("feature_registry", *FEATURE_INPUTS),
    "models": ("gene_ranking_model", "gene_scores"),
    "compound_models": ("compound_activity_model", "solubility_model", "compound_predictions",
                        "compound_designs"),
    "products": ("patients", "patient_gene_rankings", "ranked_targets", "compound_scores",
                 "designed_compounds"),
    "feature_serving": (*FEATURE_PRODUCTS, "online_feature_store"),
    "quarantine": ("stg_quarantine", "quarantine"),
    "catalog": ("lake_catalog",),
    "reports": ("patient_reports",),
}

DOMAINS = ("clinical", "genomic", "compounds", "screening", "trials")

# Group edges that still run both ways, each for a reason in the data (not the layout):
# int_compounds names a structure by the id the plate maps use (stg_plate_maps → compounds)
# while the plates are scored against the libraries (compounds → screening).
KNOWN_GROUP_CYCLES: tuple[frozenset[str], ...] = (frozenset({"compounds", "screening"}),)


def group_of() -> dict[str, str]:
    """Asset (user string, e.g. ``features/gene_target``) → its documented group."""
    return {asset: group for group, assets in GROUPS.items() for asset in assets}
