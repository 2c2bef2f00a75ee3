"""Helpers for tests/test_feature_store.py: current-row frames with every column a
feature view of features/contract.py declares (in its dtype; a column added to the
contract appears here as null unless a test gives it a value), an ``append`` that writes an
offline table the way ``sync.write_tables`` does, and the worker the concurrency test
starts in separate processes (it must be importable by a "spawn" child)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from features import contract
from orchestration.feature_store.history import append_history
from orchestration.feature_store.store import offline_table
from orchestration.feature_store.sync import read_history
from orchestration.feature_store.tables import polars_schema, table
from orchestration.lake.io import write_parquet_atomic
from orchestration.settings import LakePaths

# the view holds the ranker's features (models.ranker_data.FEATURES), in that order
EVIDENCE_FLOATS = list(contract.GENE_RANKER_FEATURES)
DESCRIPTORS = list(contract.COMPOUND_DESCRIPTORS)

# structures with valid SMILES (the on-demand view recomputes fingerprints from SMILES)
SMILES = {
    "AAAAAAAAAAAAAA-AAAAAAAAAA-N": "CCO",
    "BBBBBBBBBBBBBB-BBBBBBBBBB-N": "c1ccccc1O",
    "CCCCCCCCCCCCCC-CCCCCCCCCC-N": "CC(=O)Oc1ccccc1C(=O)O",
}


def contract_frame(name: str, rows: list[dict]) -> pl.DataFrame:
    """Rows of table ``name`` in the contract's columns and dtypes (join keys first); a
    column a row does not give is null."""
    schema = polars_schema(name)
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def evidence_frame(rows: list[dict]) -> pl.DataFrame:
    """patient_gene_evidence current rows: rows give patient_id, gene_symbol and any float
    feature (the rest default to 0.1); best_disease_id is a String."""
    out = []
    for r in rows:
        row = {c: 0.1 for c in EVIDENCE_FLOATS} | {"best_disease_id": "OMIM:100100"} | r
        out.append({c: (float(v) if c in EVIDENCE_FLOATS and v is not None else v)
                    for c, v in row.items()})
    return contract_frame("patient_gene_evidence", out)


def ranker_labels_frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    """gene_ranker_labels: (solved patient_id, causal_genes), causal_genes as the table
    holds them: the diagnosed genes sorted and ';'-joined, "" when the diagnosis names none."""
    return contract_frame("gene_ranker_labels", [{"patient_id": p, "causal_genes": g} for p, g in rows])


def profile_frame(rows: list[dict]) -> pl.DataFrame:
    """patient_profile current rows (patient_id and optional overrides)."""
    ints = ["n_observed_terms", "n_excluded_terms", "n_remapped_terms", "n_variant_calls",
            "n_candidate_variants", "n_expressed_genes"]
    defaults = {"sex": "FEMALE", "is_solved": False, "diagnosed_gene": None,
                "cohort_disease_id": "OMIM:100100", "cohort_basis": "phenotype",
                **{c: 3 for c in ints}, "top_gene": "GENE1", "top_gene_score": 0.5}
    return contract_frame("patient_profile", [defaults | r for r in rows])


def gene_target_frame(rows: list[dict]) -> pl.DataFrame:
    defaults = {"best_rank": 1, "best_score": 0.9, "best_disease_id": "OMIM:100100",
                "best_disease_name": "Some syndrome", "n_cohorts": 1, "n_patients": 4,
                "n_top1_patients": 2, "known_disease_gene": True, "n_compounds_tested": None,
                "n_compounds_active": None, "best_untested_p_active": None}
    return contract_frame("gene_target", [defaults | r for r in rows])


def compound_properties_frame(rows: list[dict]) -> pl.DataFrame:
    """compound_properties current rows: inchikey (one of SMILES) and optional overrides.
    morgan_fp is the packed fingerprint of the SMILES, as the lake stores it."""
    from rdkit import Chem

    from orchestration.chem.properties import morgan_bytes
    from orchestration.chem.standardize import standardize_smiles

    out = []
    for i, r in enumerate(rows):
        smiles = r.get("smiles", SMILES[r["inchikey"]])
        row = {"inchikey": r["inchikey"], "compound_id": f"CMPD-{i:03d}", "name": f"compound {i}",
               "smiles": smiles, **{c: 1.0 + i for c in DESCRIPTORS},
               "lipinski_violations": 0, "lipinski_pass": True, "veber_pass": True,
               "n_pains": 0, "n_brenk": 0, "pains_alerts": "", "scaffold": "c1ccccc1",
               "morgan_fp": morgan_bytes(Chem.MolFromSmiles(standardize_smiles(smiles).smiles))}
        row.update({k: v for k, v in r.items() if k != "smiles"})
        out.append(row)
    return contract_frame("compound_properties", out)


def target_scores_frame(rows: list[dict]) -> pl.DataFrame:
    out = []
    for i, r in enumerate(rows):
        row = {"predicted_pic50": 4.5, "pic50_uncertainty": 0.4, "p_active": 0.2,
               "uncertainty": 0.4, "hit_class": None, "safety_factor": 1.0,
               "score": 0.3, "priority": 0.4,
               "rank": i + 1, "tested": False, "observed_active": None,
               "predicted_logS": -2.5, "developability": 0.7, "model_version": "xgb-1"}
        row.update(r)
        out.append(row)
    return contract_frame("compound_target_scores", out)


def designs_frame(rows: list[dict]) -> pl.DataFrame:
    out = []
    for i, r in enumerate(rows):
        row = {"design_id": f"D-{r['gene_symbol']}-R1-{i + 1:04d}", "smiles": SMILES[r["inchikey"]],
               "method": "graph_ga", "parent_compound_id": "CMPD-000", "round": 1, "rank": i + 1,
               "pareto_rank": 1, "selected": True, "predicted_pic50": 6.0, "uncertainty": 0.5,
               "max_sim_train": 0.6, "in_domain": True, "n_admet_flags": 0, "sa_score": 2.5,
               "qed": 0.7, "novelty": 0.4, "desirability": 0.6, "acquisition": 6.25,
               "passes_gate": True, "model_version": "xgb-1"}
        row.update(r)
        out.append(row)
    return contract_frame("designed_compounds", out)


def activity_labels_frame(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    """compound_activity_labels: (target gene, inchikey, label); no potency (pic50 null)."""
    return contract_frame("compound_activity_labels", [
        {"gene_symbol": g, "inchikey": k, "label": lab, "source": "primary", "evidence": "hit call"}
        for g, k, lab in rows])


def append(paths: LakePaths, name: str, current: pl.DataFrame, as_of: datetime,
           restate: str | None = None):
    """Append ``current`` to offline table ``name`` as sync.write_tables does (the table's
    keys from orchestration.feature_store.tables; its restate mode unless one is given);
    the Change."""
    t = table(name)
    history = read_history(paths, name)
    new_history, _, change = append_history(history, current, list(t.keys), as_of,
                                            restate or t.restate)
    if change.appended or history is None:
        write_parquet_atomic(new_history, offline_table(paths, name))
    return change


def all_views_current(step: int) -> dict[str, pl.DataFrame]:
    """One current frame per feature view; ``step`` changes a few values, so each round of
    the concurrency worker appends something to every view."""
    v = float(step)
    return {
        "patient_gene_evidence": evidence_frame([
            {"patient_id": "P1", "gene_symbol": "GENE1", "pheno_score": v},
            {"patient_id": "P1", "gene_symbol": "GENE2"},
            {"patient_id": "P2", "gene_symbol": "GENE1", "expr_z": -v},
        ]),
        "patient_profile": profile_frame([{"patient_id": "P1", "n_observed_terms": step},
                                          {"patient_id": "P2"}]),
        "gene_target": gene_target_frame([{"gene_symbol": "GENE1", "best_score": v},
                                          {"gene_symbol": "GENE2", "best_rank": 2}]),
        "compound_properties": compound_properties_frame([
            {"inchikey": k, "qed": 0.5 + step / 1000} for k in SMILES]),
        "compound_target_scores": target_scores_frame([
            {"inchikey": k, "gene_symbol": "GENE1", "p_active": step / 100} for k in SMILES]),
        "designed_compounds": designs_frame([
            {"inchikey": k, "gene_symbol": "GENE1", "predicted_pic50": 6.0 + step / 100}
            for k in SMILES]),
    }


def worker(home: str, worker_id: int, rounds: int) -> None:
    """A refresh's Feast steps, ``rounds`` times, on the lake at ``home``: apply (forced),
    append to every view, full online sync; all under the lake's Feast lock."""
    import warnings

    warnings.filterwarnings("ignore")
    from orchestration.feature_store.store import apply_repo, feast_lock, feature_store
    from orchestration.feature_store.sync import sync_online

    paths = LakePaths(Path(home)).ensure()
    for r in range(rounds):
        step = worker_id * 100 + r
        with feast_lock(paths):
            apply_repo(paths, force=True)
            as_of = datetime.now(timezone.utc) - timedelta(seconds=30) + timedelta(microseconds=step)
            for name, frame in all_views_current(step).items():
                append(paths, name, frame, as_of)
            sync_online(paths, feature_store(paths), full=True)
