"""Shared fixtures: every test that touches a lake gets its own, passed explicitly."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from orchestration.settings import HOME_ENV, LakeConfig  # no Dagster import

# Tests pass their lake explicitly (LakeConfig / LakeResource(home=...) / --home). The
# process's default lake (LakeConfig.from_env(), what a LakeResource() with no home or a
# CLI command without --home falls back to) is pointed at the session's e2e lake once,
# here, so that nothing a test runs can ever fall back to the developer's own data_lake/.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="orphanlake-test-"))
E2E_HOME = _SESSION_HOME / "lake"
E2E_CONFIG = LakeConfig(E2E_HOME)
os.environ[HOME_ENV] = str(E2E_CONFIG.home)
os.environ["DAGSTER_HOME"] = str(_SESSION_HOME / "dagster")
Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
(Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").touch()

# Chemprop trains for real in every test refresh, on a smaller epoch budget than a lab's
# refresh (10): the tests check that it trains, saves, reuses and scores, not how well.
os.environ.setdefault("ORPHANLAKE_CHEMPROP_EPOCHS", "3")
# Likewise the design asset (orchestration/assets/design.py) runs for real on a small oracle
# budget and time bound: the tests check the rounds, ids and refusals, not design quality.
os.environ.setdefault("ORPHANLAKE_DESIGN_BUDGET", "100")
os.environ.setdefault("ORPHANLAKE_DESIGN_SECONDS", "10")



def pytest_sessionfinish(session, exitstatus):
    """The session's lake and Dagster home are a few hundred MB: removed when the run ends
    (CI shares one disk across runs; left behind, they filled it). Set
    ORPHANLAKE_KEEP_TEST_LAKE=1 to keep them for a post-mortem."""
    if os.environ.get("ORPHANLAKE_KEEP_TEST_LAKE"):
        print(f"\nkept the test session's lake: {_SESSION_HOME}")
        return
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


E2E_PATIENTS = 60
E2E_SEED = 11


@pytest.fixture(scope="session")
def e2e_lake():
    """A small simulated lake (patients, compound libraries and screening runs, with the
    bad files), refreshed once. ``summary["screening"]`` is the screening simulator's, ``summary["trials"]``
    the trial generator's (a randomized and a single-arm trial, and one study per defect)."""
    from orchestration.cli import run_refresh
    from orchestration.simulate import generate_batch, screening_target
    from orchestration.simulate.screening import generate_screening
    from orchestration.simulate.trial import generate_trials

    assert LakeConfig.from_env() == E2E_CONFIG, f"a test leaked its lake into ${HOME_ENV}"
    paths = E2E_CONFIG.paths.ensure()
    summary = generate_batch(paths.home, n_patients=E2E_PATIENTS, seed=E2E_SEED,
                             background_variants=3_000, with_bad_files=True)
    summary["screening"] = generate_screening(
        paths.home, seed=E2E_SEED, target_gene=screening_target(Path(summary["truth_path"])),
        with_bad_files=True)
    summary["trials"] = generate_trials(paths.home, seed=E2E_SEED, target_gene=summary["screening"]["target_gene"],
                                        n_randomized=60, n_single_arm=24, with_bad_files=True)
    ok = run_refresh(paths)
    assert ok, "the refresh job failed on the simulated batch"
    return paths, summary
