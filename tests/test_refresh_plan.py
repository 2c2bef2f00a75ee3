"""What a refresh rebuilds (orchestration/refresh_plan.py, jobs.rebuild_keys)."""

import shutil

import pytest

from orchestration import refresh_plan as rp
from orchestration.settings import RAW_TABLES, LakeConfig


def _state(**tables):
    return {"version": rp.STATE_VERSION, "code": "c", "settings": "s", "reference": "r",
            "tables": {t: tables.get(t, "fp") for t in RAW_TABLES}}


def test_no_record_or_a_new_release_rebuilds_everything():
    assert rp.plan_rebuild(None, _state(), []).rebuild_all
    for part in ("code", "settings", "reference"):
        plan = rp.plan_rebuild({**_state(), part: "old"}, _state(), [])
        assert plan.rebuild_all and "changed" in plan.describe()
    assert rp.plan_rebuild(_state(), _state(), []).nothing


def test_only_changed_tables_and_failing_steps_are_rebuilt():
    plan = rp.plan_rebuild(_state(), _state(patients="new", quarantine="new"), ["dbt_marts"])
    assert not plan.rebuild_all
    assert plan.changed_tables == ["patients", "quarantine"]
    assert plan.failing_steps == ["dbt_marts"]
    assert rp.changed_asset_roots(plan) == ["raw_patients", rp.QUARANTINE_READER]
    assert "raw tables patients, quarantine" in plan.describe()
    # a table that appears for the first time is a change too
    before = _state()
    del before["tables"]["trial_dm"]
    assert rp.plan_rebuild(before, _state(), []).changed_tables == ["trial_dm"]


def test_fingerprints_follow_files_not_time(tmp_path):
    paths = LakeConfig(tmp_path / "lake").paths.ensure()
    assert rp.table_fingerprint(paths, "patients") == ""
    folder = paths.raw_table("patients") / "b1"
    folder.mkdir(parents=True)
    (folder / "a.parquet").write_bytes(b"x" * 10)
    (folder / ".a.parquet.tmp").write_bytes(b"partial")          # a writer's temporary file
    first = rp.table_fingerprint(paths, "patients")
    assert first and rp.table_fingerprint(paths, "patients") == first
    (folder / ".a.parquet.tmp").unlink()
    assert rp.table_fingerprint(paths, "patients") == first
    (folder / "b.parquet").write_bytes(b"y")
    assert rp.table_fingerprint(paths, "patients") != first
    # the state round-trips; a state from another version of the format is no record
    state = rp.current_state(paths)
    rp.write_state(paths, state)
    assert rp.read_state(paths) == state
    rp.state_file(paths).write_text('{"version": 0}')
    assert rp.read_state(paths) is None
    rp.state_file(paths).write_text("not json")
    assert rp.read_state(paths) is None


def test_a_catalog_reading_a_publication_that_is_gone_is_not_current(tmp_path):
    import duckdb

    paths = LakeConfig(tmp_path / "lake").paths.ensure()
    assert not rp.catalog_is_current(paths)                 # no catalog yet
    stamp = paths.home / "published" / "20261201T063228076405Z"
    stamp.mkdir(parents=True)
    with duckdb.connect(str(paths.catalog)) as con:
        con.execute(f"copy (select 1 as x) to '{stamp / 'v.parquet'}'")
        con.execute(f"set file_search_path = '{paths.home}'")     # the catalog's relative paths
        con.execute("create view v as select * from read_parquet("
                    f"'{stamp.relative_to(paths.home).as_posix()}/v.parquet')")
    assert rp.catalog_is_current(paths)
    shutil.rmtree(stamp)     # e.g. an object-store pull discarded an unpushed publication
    assert not rp.catalog_is_current(paths)


def test_settings_that_do_not_change_results_are_ignored():
    base = {"ORPHANLAKE_CHEMPROP_EPOCHS": "3", "PATH": "/bin"}
    fp = rp.settings_fingerprint(base)
    assert rp.settings_fingerprint({**base, "ORPHANLAKE_HOME": "/elsewhere", "PATH": "/usr"}) == fp
    assert rp.settings_fingerprint({**base, "ORPHANLAKE_S3_READ_TIMEOUT": "9",
                                    "ORPHANLAKE_WORKDIR": "/w"}) == fp
    assert rp.settings_fingerprint({**base, "ORPHANLAKE_CHEMPROP_EPOCHS": "10"}) != fp


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    from orchestration.definitions import build_definitions
    from orchestration.resources import LakeResource

    home = tmp_path_factory.mktemp("plan") / "lake"
    return build_definitions(LakeResource(home=str(home)))


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def _names(keys):
    return {k.to_user_string() for k in keys}


def test_a_patient_batch_leaves_the_compound_side_alone(defs, graph):
    from orchestration.jobs import CATALOG, ingest_keys

    job = defs.resolve_job_def("refresh")

    def rebuild_keys(graph, plan):    # every selection must be one the refresh job can run
        from orchestration.jobs import rebuild_keys as keys_of

        keys = keys_of(graph, plan)
        if keys:
            job.get_subset(asset_selection=keys)
        return keys

    job.get_subset(asset_selection=ingest_keys(graph))
    ingest = _names(ingest_keys(graph))
    assert {"raw_variants", "raw_patients", "raw_plate_wells", "raw_trial_dm", "hpo_terms"} <= ingest
    plan = rp.plan_rebuild(_state(), _state(patients="n", phenotypes="n", variants="n"), [])
    rebuilt = _names(rebuild_keys(graph, plan))
    assert {"phenotype_evidence", "int_variant_scores", "gene_ranking_model", "gene_scores",
            "patient_gene_rankings", "ranked_targets", CATALOG.to_user_string()} <= rebuilt
    assert not rebuilt & {"compound_activity_model", "compound_properties", "compound_designs",
                          "plate_well_scores", "dose_response_fits", "solubility_model"}
    # a plate run: the screening side and the catalog, not the patients
    plates = _names(rebuild_keys(graph, rp.plan_rebuild(_state(), _state(plate_wells="n"), [])))
    assert {"plate_well_scores", "plate_qc", "lake_catalog"} <= plates
    assert not plates & {"gene_scores", "phenotype_evidence", "gene_ranking_model"}
    # nothing changed, nothing failing: nothing, not even the catalog
    assert rebuild_keys(graph, rp.plan_rebuild(_state(), _state(), [])) == set()
    # a step that failed last time is retried with what depends on it
    retry = _names(rebuild_keys(graph, rp.plan_rebuild(_state(), _state(), ["dose_response_fits"])))
    assert {"dose_response_fits", "dose_response", "lake_catalog"} <= retry
    assert "gene_scores" not in retry
    # a catalog that is gone or reads a discarded publication is published again
    stale = rp.plan_rebuild(_state(), _state(), [], catalog_current=False)
    assert not stale.nothing and "catalog" in stale.describe()
    assert CATALOG in rebuild_keys(graph, stale)
    assert not _names(rebuild_keys(graph, stale)) & {"gene_scores", "plate_well_scores"}
    everything = rebuild_keys(graph, rp.plan_rebuild(None, _state(), []))
    assert everything == set(graph.get_all_asset_keys())


def test_the_code_fingerprint_covers_python_sql_and_shipped_data(tmp_path):
    import shutil

    root = tmp_path / "repo"
    for d in rp.CODE_DIRS:
        (root / d).mkdir(parents=True)
    (root / "models" / "m.py").write_text("x = 1")
    (root / "dbt_project" / "models" / "a.sql").write_text("select 1")
    (root / "orchestration" / "__pycache__").mkdir()
    fp = rp.code_fingerprint(root)
    (root / "orchestration" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"compiled")
    assert rp.code_fingerprint(root) == fp
    for f, text in (("dbt_project/models/a.sql", "select 2"), ("models/m.py", "x = 2")):
        (root / f).write_text(text)
        assert rp.code_fingerprint(root) != fp
        fp = rp.code_fingerprint(root)
    shutil.copy(root / "models" / "m.py", root / "orchestration" / "data.json")
    assert rp.code_fingerprint(root) != fp


def test_the_reference_fingerprint_follows_the_hpo_release_only(tmp_path):
    paths = LakeConfig(tmp_path / "lake").paths.ensure()
    (paths.reference / "release.json").write_text('{"hpo_release": "2025-01-16"}')
    fp = rp.reference_fingerprint(paths)
    # another step's file in reference/ (the solubility set) is not the HPO release
    (paths.reference / "solubility.parquet").write_bytes(b"rows")
    assert rp.reference_fingerprint(paths) == fp
    (paths.reference / "release.json").write_text('{"hpo_release": "2026-02-01"}')
    assert rp.reference_fingerprint(paths) != fp
