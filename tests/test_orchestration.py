"""The Dagster code location: graph, checks, job, schedule and sensor."""

import json

import dagster as dg

from orchestration.definitions import defs
from orchestration.jobs import new_landing_batch_sensor
from orchestration.lake import lock
from orchestration.resources import LakeResource


def _keys():
    return {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}


def test_asset_graph_runs_from_landing_to_rankings():
    graph = defs.resolve_asset_graph()
    keys = _keys()
    for key in ["raw_variants", "raw_patients", "raw_phenotypes", "raw_expression",
                "hpo_terms", "phenotype_evidence", "int_patient_gene_features",
                "gene_ranking_model", "gene_scores", "patient_gene_rankings",
                "ranked_targets", "quarantine", "lake_catalog"]:
        assert key in keys, key
    upstream, frontier = set(), [dg.AssetKey("patient_gene_rankings")]
    while frontier:
        for parent in graph.get(frontier.pop()).parent_keys:
            if parent not in upstream:
                upstream.add(parent)
                frontier.append(parent)
    for key in ["raw_variants", "raw_phenotypes", "raw_expression", "gene_scores",
                "phenotype_evidence", "phenotype_index", "gene_diseases"]:
        assert dg.AssetKey(key) in upstream, f"{key} does not feed patient_gene_rankings"


def test_groups_follow_domains():
    graph = defs.resolve_asset_graph()
    group = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()
             if graph.get(k).is_materializable}
    assert group["raw_variants"] == "genomic"
    assert group["raw_patients"] == "clinical"
    assert group["hpo_terms"] == "reference"
    assert group["patient_gene_rankings"] == "products"
    assert group["plate_qc"] == group["dose_response"] == group["raw_plate_runs"] == "screening"
    assert group["stg_patients"] == group["int_patient_cohorts"] == "clinical"
    assert group["gene_ranking_model"] == "models"
    assert "transforms" not in group.values()     # the whole mapping: tests/test_lineage.py


def test_dbt_tests_are_asset_checks():
    checks = {(c.asset_key.to_user_string(), c.name)
              for c in defs.resolve_asset_graph().asset_check_keys}
    assert any(a == "patient_gene_rankings" for a, _ in checks)
    assert any(a == "ranked_targets" for a, _ in checks)
    assert any(a == "quarantine" for a, _ in checks)


def test_refresh_job_schedule_and_sensor_exist():
    assert defs.resolve_job_def("refresh") is not None
    sched = defs.resolve_schedule_def("daily_refresh")
    assert sched.cron_schedule == "0 2 * * *"
    assert defs.resolve_sensor_def("new_landing_batch_sensor").job_name == "refresh"


def test_sensor_requests_a_run_for_a_new_batch_folder(tmp_path):
    lake = LakeResource(home=str(tmp_path))
    landing = tmp_path / "landing" / "genomic"
    (landing / "b1").mkdir(parents=True)

    # the lake resource is a context manager (it holds the writer lock during a run), so a
    # sensor context is opened as Dagster's own sensor evaluation opens it
    with dg.build_sensor_context(resources={"lake": lake}) as ctx:
        first = new_landing_batch_sensor(ctx)
    assert isinstance(first, dg.RunRequest)
    cursor = json.loads(ctx.cursor)
    assert cursor == ["genomic/b1"]

    with dg.build_sensor_context(cursor=ctx.cursor, resources={"lake": lake}) as ctx2:
        assert isinstance(new_landing_batch_sensor(ctx2), dg.SkipReason)

    (tmp_path / "landing" / "clinical" / "b2").mkdir(parents=True)
    with dg.build_sensor_context(cursor=ctx.cursor, resources={"lake": lake}) as ctx3:
        third = new_landing_batch_sensor(ctx3)
        # a sensor is not a run: it never takes the writer lock
        assert not lock.holder(lake.paths)
    assert isinstance(third, dg.RunRequest)
    assert "clinical/b2" in third.tags["orphanlake/new_batches"]
    assert third.run_key != first.run_key


def _ingested(lake: LakeResource, *batches: str) -> None:
    """Record one file of each ``domain/batch`` in its domain's ingest ledger, as a refresh
    that read it would."""
    from datetime import datetime, timezone

    from orchestration.ingest import runner

    now = datetime.now(timezone.utc)
    for domain in {b.split("/")[0] for b in batches}:
        ledger = {}
        for b in (b for b in batches if b.startswith(f"{domain}/")):
            rel = f"{b}/file.txt"
            ledger[rel] = runner._ledger_row(rel, "0" * 64, "", b.split("/")[1], "ingested",
                                             now, [])
        runner._save_ledger(lake.paths, domain, ledger)


def test_sensor_first_tick_records_what_is_already_ingested(tmp_path):
    """Switching the sensor on over a refreshed lake requests nothing: the first tick (no
    cursor) records the batch folders the ingest ledger already holds; a folder added
    afterwards requests a refresh."""
    lake = LakeResource(home=str(tmp_path))
    for b in ("genomic/b1", "clinical/b1"):
        (tmp_path / "landing" / b).mkdir(parents=True)
    _ingested(lake, "genomic/b1", "clinical/b1")

    with dg.build_sensor_context(resources={"lake": lake}) as ctx:
        first = new_landing_batch_sensor(ctx)
    assert isinstance(first, dg.SkipReason) and "first tick" in first.skip_message
    assert sorted(json.loads(ctx.cursor)) == ["clinical/b1", "genomic/b1"]

    (tmp_path / "landing" / "genomic" / "b2").mkdir()
    with dg.build_sensor_context(cursor=ctx.cursor, resources={"lake": lake}) as ctx2:
        second = new_landing_batch_sensor(ctx2)
    assert isinstance(second, dg.RunRequest)
    assert second.tags["orphanlake/new_batches"] == "genomic/b2"


def test_sensor_first_tick_requests_only_batches_not_ingested_yet(tmp_path):
    """A folder that landed while the sensor was off and no refresh has read yet still
    gets its run on the first tick, and only it is named."""
    lake = LakeResource(home=str(tmp_path))
    for b in ("genomic/b1", "genomic/b2"):
        (tmp_path / "landing" / b).mkdir(parents=True)
    _ingested(lake, "genomic/b1")
    with dg.build_sensor_context(resources={"lake": lake}) as ctx:
        first = new_landing_batch_sensor(ctx)
    assert isinstance(first, dg.RunRequest)
    assert first.tags["orphanlake/new_batches"] == "genomic/b2"
    assert sorted(json.loads(ctx.cursor)) == ["genomic/b1", "genomic/b2"]
    with dg.build_sensor_context(cursor=ctx.cursor, resources={"lake": lake}) as ctx2:
        assert isinstance(new_landing_batch_sensor(ctx2), dg.SkipReason)


def test_schedule_and_sensor_say_what_they_do():
    sched = defs.resolve_schedule_def("daily_refresh")
    sensor = defs.resolve_sensor_def("new_landing_batch_sensor")
    assert "02:00 UTC" in sched.description and "refresh" in sched.description
    assert "first tick" in sensor.description and "landing/<domain>/" in sensor.description
