"""The Feast feature store after the session's refresh (the ``e2e_lake`` fixture): online
lookups through the CLI, the lake's own feature_store.yaml with the feast CLI, the
blocking online checks, models trained through Feast, and an idempotent feature stage."""

import json
import os
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from orchestration.cli import main
from orchestration.feature_store.checks import online_coverage, online_offline_mismatches
from orchestration.feature_store.history import latest
from orchestration.feature_store.store import FEATURE_REPO, feast_lock, feature_store
from orchestration.feature_store.sync import read_history, sync_online, write_tables
from orchestration.feature_store.tables import TABLES
from orchestration.feature_store.training import (activity_training_frame, present,
                                                  ranker_training_frame)
from orchestration.lake.io import read_model

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")

VIEWS = {"patient_gene_evidence", "patient_profile", "gene_target", "compound_properties",
         "compound_target_scores", "designed_compounds"}


def _present(paths, name: str, keys: list[str]) -> pl.DataFrame:
    history = read_history(paths, name)
    assert history is not None and history.height, f"the refresh wrote no {name} table"
    return latest(history, keys).filter(pl.col("present")).sort(keys)


def _get(capsys, *args: str) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = main(["features", "get", *args, "--format", "json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else captured.err)


def _compound(paths) -> dict:
    """A compound whose library ids include one that is not its compound_id."""
    compounds = pl.read_parquet(paths.marts / "compounds.parquet")
    served = set(_present(paths, "compound_properties", ["inchikey"])["inchikey"])
    rows = [r for r in compounds.sort("inchikey").iter_rows(named=True) if r["inchikey"] in served]
    assert rows, "no compound of the mart is in compound_properties"
    other = [r for r in rows if any(lid.split(":", 1)[-1] != r["compound_id"]
                                    for lid in r["library_ids"] or [])]
    return (other or rows)[0]


def test_features_get_finds_a_gene_a_patient_and_their_pair(e2e_lake, capsys):
    paths, _ = e2e_lake
    gene = _present(paths, "gene_target", ["gene_symbol"]).row(0, named=True)
    code, rows = _get(capsys, "--entity", "gene", "--id", gene["gene_symbol"])
    assert code == 0, rows
    assert rows[0]["found"] is True and rows[0]["gene_symbol"] == gene["gene_symbol"]
    assert rows[0]["best_rank"] == gene["best_rank"]

    patient = _present(paths, "patient_profile", ["patient_id"]).row(0, named=True)
    code, rows = _get(capsys, "--entity", "patient", "--id", patient["patient_id"])
    assert code == 0, rows
    assert rows[0]["found"] is True and rows[0]["sex"] == patient["sex"]

    pair = _present(paths, "patient_gene_evidence", ["patient_id", "gene_symbol"]).row(0, named=True)
    code, rows = _get(capsys, "--entity", "patient_gene", "--id", pair["patient_id"],
                      "--gene", pair["gene_symbol"])
    assert code == 0, rows
    assert rows[0]["found"] is True
    assert rows[0]["pheno_score"] == pytest.approx(pair["pheno_score"], nan_ok=True)


def test_features_get_finds_a_compound_by_any_of_its_ids(e2e_lake, capsys):
    paths, _ = e2e_lake
    compound = _compound(paths)
    library_id = next((lid for lid in compound["library_ids"] or []
                       if lid.split(":", 1)[-1] != compound["compound_id"]),
                      (compound["library_ids"] or [compound["compound_id"]])[0])
    assert ":" in library_id, f"library ids are written library:id, got {library_id!r}"
    for requested in (compound["compound_id"], library_id, compound["inchikey"]):
        code, rows = _get(capsys, "--entity", "compound", "--id", requested)
        assert code == 0, (requested, rows)
        row = rows[0]
        assert row["found"] is True and row["requested_id"] == requested
        assert row["inchikey"] == compound["inchikey"]
        assert row["compound_id"] == compound["compound_id"]
        assert len(bytes.fromhex(row["morgan_fp"])) == 256

    scores = _present(paths, "compound_target_scores", ["inchikey", "gene_symbol"]).row(0, named=True)
    code, rows = _get(capsys, "--entity", "compound_target", "--id", scores["inchikey"],
                      "--gene", scores["gene_symbol"])
    assert code == 0, rows
    assert rows[0]["found"] is True and rows[0]["rank"] == scores["rank"]


def test_features_get_an_unknown_id_is_not_found_and_exits_3(e2e_lake, capsys):
    paths, _ = e2e_lake
    gene = _present(paths, "gene_target", ["gene_symbol"])["gene_symbol"][0]
    code, rows = _get(capsys, "--entity", "gene", "--id", gene, "--id", "NOT_A_GENE_X1")
    assert code == 3
    assert [(r["gene_symbol"], r["found"]) for r in rows] == [(gene, True), ("NOT_A_GENE_X1", False)]
    assert all(v is None for k, v in rows[1].items() if k not in ("gene_symbol", "found"))
    code, rows = _get(capsys, "--entity", "compound", "--id", "nolibrary:NOPE-0001")
    assert code == 3 and rows[0]["found"] is False


def test_features_get_query_smiles_gives_tanimoto(e2e_lake, capsys):
    paths, _ = e2e_lake
    compound = _compound(paths)
    code, rows = _get(capsys, "--entity", "compound", "--id", compound["compound_id"],
                      "--query-smiles", compound["smiles"])
    assert code == 0, rows
    assert rows[0]["found"] is True and rows[0]["query_valid"] is True
    assert rows[0]["tanimoto_to_query"] == pytest.approx(1.0)
    code, rows = _get(capsys, "--entity", "compound", "--id", compound["compound_id"],
                      "--query-smiles", "CC(=O)Nc1ccc(O)cc1")
    assert code == 0, rows
    assert 0.0 <= rows[0]["tanimoto_to_query"] < 1.0


def test_the_feast_cli_reads_the_lakes_own_feature_store_yaml(e2e_lake):
    paths, _ = e2e_lake
    lake_yaml = paths.features / "feature_store.yaml"
    assert lake_yaml.exists(), "apply_repo did not write the lake's feature_store.yaml"
    feast = Path(sys.executable).parent / "feast"
    out = subprocess.run([str(feast), "-c", str(FEATURE_REPO), "-f", str(lake_yaml),
                          "feature-views", "list"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr[-2000:]
    listed = {line.split()[0] for line in out.stdout.splitlines()[1:] if line.strip()}
    assert VIEWS <= listed, out.stdout
    assert "compound_query_similarity" in listed


def test_the_online_checks_passed_in_the_refresh(e2e_lake):
    paths, _ = e2e_lake
    instance = dg.DagsterInstance.get()
    keys = [dg.AssetCheckKey(dg.AssetKey("online_feature_store"), name)
            for name in ("online_holds_every_entity", "online_matches_offline")]
    latest_runs = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    for key in keys:
        record = latest_runs.get(key)
        assert record is not None, f"{key.name} never ran"
        assert record.status.value == "SUCCEEDED", f"{key.name}: {record.status}"
        evaluation = record.event.dagster_event.event_specific_data
        assert evaluation.passed, f"{key.name} failed: {evaluation.metadata}"
    # and they hold now, called directly
    store = feature_store(paths)
    coverage = online_coverage(paths, store)
    assert set(coverage) == VIEWS, f"a view has no entities: {coverage}"
    assert {v: (c["missing"], c["removed_but_served"]) for v, c in coverage.items()} == \
        {v: (0, 0) for v in VIEWS}
    mismatches = online_offline_mismatches(paths, store, sample=50)
    assert {v: r["mismatches"] for v, r in mismatches.items()} == {v: [] for v in VIEWS}


def test_the_refreshed_registry_is_the_feature_contract(e2e_lake):
    """The refresh's blocking check compared the applied registry with features/contract.py,
    and they agree now."""
    from orchestration.feature_store.definitions import registry_differences

    paths, _ = e2e_lake
    key = dg.AssetCheckKey(dg.AssetKey("feature_registry"), "registry_matches_contract")
    record = dg.DagsterInstance.get().event_log_storage.get_latest_asset_check_execution_by_key(
        [key]).get(key)
    assert record is not None, "registry_matches_contract never ran"
    assert record.event.dagster_event.event_specific_data.passed
    assert registry_differences(feature_store(paths)) == []


def _metadata(asset: str) -> dict:
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None, f"{asset} was never materialized"
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_models_were_trained_on_the_feast_frames(e2e_lake):
    paths, _ = e2e_lake
    store = feature_store(paths)
    meta = json.loads((paths.models / "gene_ranker" / "ranker_meta.json").read_text())
    training, unusable = ranker_training_frame(paths, store)
    assert training.height > 0
    # the lake's own solved patients, as the refinement decision saw them
    assert meta["metrics"]["lake"]["n_candidate_rows"] == training.height
    assert meta["metrics"]["lake"]["n_patients"] == training["patient_id"].n_unique()
    assert _metadata("gene_ranking_model")["n_solved_without_features_at_diagnosis"] == len(unusable)

    # one label per solved patient of stg_patients, gene or no gene
    labels = _present(paths, "gene_ranker_labels", ["patient_id"])
    assert labels.columns[:2] == ["patient_id", "causal_genes"]
    solved = read_model(paths, "stg_patients").filter(pl.col("is_solved"))["patient_id"]
    assert set(labels["patient_id"]) == set(solved)
    assert set(training["patient_id"]) | set(unusable) == set(labels["patient_id"])
    assert not set(training["patient_id"]) & set(unusable)
    # the causal rows are exactly the labelled genes that were candidates
    causal = set(training.filter(pl.col("is_causal")).select("patient_id", "gene_symbol").iter_rows())
    labelled = {(p, g) for p, genes in labels.select("patient_id", "causal_genes").iter_rows()
                for g in genes.split(";") if g}
    assert causal and causal <= labelled
    candidates = set(training.select("patient_id", "gene_symbol").iter_rows())
    assert causal == labelled & candidates

    # every current label is written for compound_predictions, trainable or not
    used = pl.read_parquet(paths.evidence / "compound_activity_labels.parquet")
    feast_labels = present(paths, "compound_activity_labels", ["gene_symbol", "inchikey"]).select(
        pl.col("gene_symbol").alias("target_gene"), "inchikey", "pic50", "pic50_source", "censored",
        "label", "source", "evidence")
    key = ["target_gene", "inchikey"]
    assert used.height > 0
    assert used.sort(key).equals(feast_labels.sort(key).select(used.columns))
    activity = activity_training_frame(paths, store)
    assert activity.height > 0
    compound_meta = _metadata("compound_activity_model")
    assert compound_meta["labelled_compounds"] == used.height
    assert compound_meta["labels_without_features_at_label_time"] == used.height - activity.height


def test_the_feature_stage_is_idempotent(e2e_lake):
    paths, _ = e2e_lake
    with warnings.catch_warnings(), feast_lock(paths):
        warnings.simplefilter("ignore")
        newest = max(read_history(paths, t.name)["created_timestamp"].max() for t in TABLES)
        before = datetime.now(timezone.utc)
        inputs_at, inputs = write_tables(paths, "model_inputs")
        products_at, products = write_tables(paths, "products")
        report = sync_online(paths, feature_store(paths))
    changes = {**inputs, **products}
    assert set(changes) == {t.name for t in TABLES}, "a table's source model is missing"
    assert {n: c.appended for n, c in changes.items()} == {n: 0 for n in changes}, changes
    assert {v: (r["mode"], r["rows_written"]) for v, r in report.items()} == \
        {v: ("incremental", 0) for v in VIEWS}
    assert inputs_at >= before and inputs_at > newest and products_at > newest
    # the refresh stamped every table of a stage alike: its first versions share one time
    first = {stage: {read_history(paths, t.name)["created_timestamp"].min()
                     for t in TABLES if t.stage == stage} for stage in ("model_inputs", "products")}
    assert {stage: len(stamps) for stage, stamps in first.items()} == \
        {"model_inputs": 1, "products": 1}, first
    assert first["model_inputs"].pop() < first["products"].pop()
    # nothing appended: the tables are as the refresh left them
    assert max(read_history(paths, t.name)["created_timestamp"].max() for t in TABLES) == newest
