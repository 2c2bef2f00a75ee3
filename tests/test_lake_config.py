"""One lake configuration: ``ORPHANLAKE_HOME`` is read in one place, everything else is
given its lake explicitly, and evidence files are named in one registry."""

import ast
import io
import json
import os
import tokenize
from pathlib import Path

import dagster as dg
import polars as pl
import yaml

from orchestration.resources import LakeResource
from orchestration.settings import (EVIDENCE, HOME_ENV, REPO_ROOT, Evidence, LakeConfig,
                                    LakePaths, evidence_relpath)

# the code a lake is used by (tests and benchmarks set the variable for the processes they start)
SOURCE_DIRS = ("orchestration", "features", "models")


def _python_files():
    for folder in SOURCE_DIRS:
        yield from sorted((REPO_ROOT / folder).rglob("*.py"))


def test_the_lake_home_variable_is_read_in_exactly_one_place():
    """Only ``LakeConfig.from_env`` reads the variable: its name is a string literal in
    settings.py alone (help texts and docstrings may mention it), nothing else imports the
    constant, and dbt takes the lake as a var, never from the environment."""
    named_it, used_constant = [], []
    for path in _python_files():
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        for tok in tokens:
            if tok.type == tokenize.STRING and tok.string.lstrip("rbuRBU")[:1] in "'\"":
                try:
                    value = ast.literal_eval(tok.string)
                except (ValueError, SyntaxError):
                    continue
                if value == HOME_ENV:
                    named_it.append(f"{path.relative_to(REPO_ROOT)}:{tok.start[0]}")
            elif tok.type == tokenize.NAME and tok.string == "HOME_ENV" \
                    and path.name != "settings.py":
                used_constant.append(f"{path.relative_to(REPO_ROOT)}:{tok.start[0]}")
    assert named_it == [f"orchestration/settings.py:{_line_of('HOME_ENV = ')}"], named_it
    assert used_constant == [], used_constant
    settings = (REPO_ROOT / "orchestration" / "settings.py").read_text()
    assert settings.count(".get(HOME_ENV)") == 1 and "environ[HOME_ENV]" not in settings
    dbt_files = [p for ext in ("*.yml", "*.sql") for p in (REPO_ROOT / "dbt_project").rglob(ext)
                 if "target" not in p.relative_to(REPO_ROOT / "dbt_project").parts[:1]]
    assert [p.name for p in dbt_files if HOME_ENV in p.read_text()] == []


def _line_of(text: str) -> int:
    lines = (REPO_ROOT / "orchestration" / "settings.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(text))


def test_lake_config_from_env_and_explicit(tmp_path):
    assert LakeConfig.from_env({HOME_ENV: str(tmp_path)}).home == tmp_path.resolve()
    assert LakeConfig.from_env({}).home == REPO_ROOT / "data_lake"
    explicit = LakeConfig.at(tmp_path / "a")
    assert explicit == LakeConfig(tmp_path / "a" / ".." / "a") and explicit.paths.home == explicit.home
    assert LakeConfig.at(None) == LakeConfig.from_env()
    assert json.loads(explicit.dbt_args()[1]) == explicit.dbt_vars() == {"lake_home": str(explicit.home)}
    assert explicit.dbt_args() == LakeConfig(tmp_path / "a").dbt_args()   # one string: partial parsing holds
    child = explicit.child_env({"PATH": "/bin"})
    assert child == {"PATH": "/bin", HOME_ENV: str(explicit.home)}
    assert LakeResource.of(explicit).config == explicit == explicit.paths.config


def test_an_object_store_home_is_a_uri_with_a_local_working_copy(tmp_path):
    """``s3://bucket/prefix`` (lake/objectstore.py): the config keeps the URI, and its home is
    the working copy under $ORPHANLAKE_WORKDIR, one folder per URI (no s3fs needed here)."""
    env = {HOME_ENV: "s3://bucket/lake/", "ORPHANLAKE_WORKDIR": str(tmp_path)}
    config = LakeConfig.from_env(env)
    assert config.uri == "s3://bucket/lake" and config.home.parent == tmp_path.resolve()
    assert LakeConfig.from_env({**env, HOME_ENV: "s3://bucket/other"}).home != config.home
    assert LakeConfig.from_env({HOME_ENV: str(tmp_path)}).uri is None
    assert LakeConfig.at("s3://bucket/lake").uri == "s3://bucket/lake"


def test_two_lakes_side_by_side_in_one_process(tmp_path):
    """Two lakes refreshed in one process, with the environment naming neither: each run
    writes into its own resource's lake, and the process's environment is left alone."""
    before = dict(os.environ)

    @dg.asset
    def gene_scores(lake: LakeResource) -> dg.MaterializeResult:
        path = lake.paths.evidence_file(Evidence.GENE_SCORES)
        pl.DataFrame({"lake": [str(lake.paths.home)], "dbt": [lake.config.dbt_args()[1]]}).write_parquet(path)
        return dg.MaterializeResult(metadata={"path": str(path)})

    lakes = [LakeConfig(tmp_path / "a"), LakeConfig(tmp_path / "b")]
    for config in lakes:
        defs = dg.Definitions(assets=[gene_scores], resources={"lake": LakeResource.of(config)})
        assert defs.resolve_implicit_global_asset_job_def().execute_in_process().success
    for config in lakes:
        written = pl.read_parquet(config.paths.evidence_file(Evidence.GENE_SCORES)).row(0)
        assert written == (str(config.home), json.dumps({"lake_home": str(config.home)}))
    assert dict(os.environ) == before
    assert LakeConfig.from_env() not in lakes


def test_evidence_names_are_one_registry(tmp_path):
    paths = LakePaths(tmp_path)
    assert paths.evidence_file(Evidence.PLATE_STATS) == tmp_path / "evidence" / "plate_stats.parquet"
    assert paths.evidence_file("gene_scores") == paths.evidence / "gene_scores.parquet"
    assert evidence_relpath(Evidence.GENE_SCORES) == "evidence/gene_scores.parquet"
    try:
        paths.evidence_file("gene_score")
    except ValueError:
        pass
    else:
        raise AssertionError("a misspelt evidence name must not become a new file")
    # every evidence table dbt reads back is a registered name
    sources = yaml.safe_load((REPO_ROOT / "dbt_project/models/staging/_sources.yml").read_text())
    evidence = next(s for s in sources["sources"] if s["name"] == "evidence")
    assert {t["name"] for t in evidence["tables"]} <= EVIDENCE
