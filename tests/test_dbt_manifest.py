"""dbt is parsed once per code version, outside the source tree, and a refresh writes
nothing into dbt_project/ (bench/bench_ui_refresh.py times the UI against the CLI)."""

import shutil

import pytest

from orchestration import dbt_manifest
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT


def test_the_code_location_reads_a_manifest_outside_the_checkout():
    from orchestration.assets.transforms import dbt_project

    assert dbt_project.manifest_path.is_file()
    assert REPO_ROOT not in dbt_project.manifest_path.parents
    assert dbt_project.manifest_path.parent.name == dbt_manifest.manifest_key()
    # one parse serves every lake: no lake path is baked into it
    text = dbt_project.manifest_path.read_text()
    assert dbt_manifest.PARSE_HOME in text


@pytest.fixture
def project_copy(tmp_path):
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy,
                    ignore=lambda d, names: [n for n in names if n in ("target", "logs", "dbt_packages")]
                    if d == str(DBT_PROJECT_DIR) else [])
    return copy


def test_the_key_changes_with_the_dbt_sources_only(project_copy):
    key = dbt_manifest.manifest_key(project_copy)
    assert key == dbt_manifest.manifest_key(DBT_PROJECT_DIR)
    # dbt's own outputs and a touched file are not a new code version
    (project_copy / "target").mkdir()
    (project_copy / "target" / "manifest.json").write_text("{}")
    (project_copy / "logs").mkdir()
    (project_copy / "logs" / "dbt.log").write_text("x")
    model = next((project_copy / "models").rglob("*.sql"))
    model.touch()
    assert dbt_manifest.manifest_key(project_copy) == key
    model.write_text(model.read_text() + "\n-- edited\n")
    assert dbt_manifest.manifest_key(project_copy) != key


def test_ensure_manifest_parses_once_into_the_cache(project_copy, tmp_path, monkeypatch):
    parses = []

    def fake_parse(project_dir, into):
        parses.append(into)
        (into / "manifest.json").write_text("{}")

    monkeypatch.setattr(dbt_manifest, "_parse", fake_parse)
    root = tmp_path / "cache"
    first = dbt_manifest.ensure_manifest(project_copy, root)
    assert first == root / dbt_manifest.manifest_key(project_copy)
    assert (first / "manifest.json").is_file()
    assert dbt_manifest.ensure_manifest(project_copy, root) == first
    assert len(parses) == 1
    # parsed into a temporary folder, renamed into place: no half-written folder left
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".parse")) == [first.name]


def test_a_refresh_writes_its_dbt_artifacts_into_the_lake(e2e_lake):
    import dagster as dg

    paths, _ = e2e_lake
    for step in ("dbt_staging", "dbt_intermediate", "dbt_marts"):
        assert (paths.build_db.parent / "dbt" / step / "run_results.json").is_file()
    runs = dg.DagsterInstance.get().get_runs()
    assert runs
    target = DBT_PROJECT_DIR / "target"
    for run in runs:
        # dagster-dbt's default: dbt_project/target/<step>-<run id>-<uuid>/
        assert not list(target.glob(f"*-{run.run_id[:7]}-*")), run.run_id
