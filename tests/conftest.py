"""Shared fixtures: every test that touches the lake gets its own ORPHANLAKE_HOME."""

import os
import tempfile
from pathlib import Path

import pytest

# The Dagster code location reads ORPHANLAKE_HOME at import; never let tests see the
# developer's own lake.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="orphanlake-test-"))
E2E_HOME = _SESSION_HOME / "lake"
os.environ["ORPHANLAKE_HOME"] = str(E2E_HOME)
os.environ["DAGSTER_HOME"] = str(_SESSION_HOME / "dagster")
Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
(Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").touch()

# Chemprop trains for real in every test refresh, on a smaller epoch budget than a lab's
# refresh (10): the tests check that it trains, saves, reuses and scores, not how well.
os.environ.setdefault("ORPHANLAKE_CHEMPROP_EPOCHS", "3")

E2E_PATIENTS = 60
E2E_SEED = 11


@pytest.fixture(scope="session")
def e2e_lake():
    """A small simulated lake (patients, compound libraries and screening runs, with the
    bad files), refreshed once. ``summary["screening"]`` is the screening simulator's."""
    from orchestration.cli import run_refresh
    from orchestration.settings import LakePaths
    from orchestration.simulate import generate_batch, screening_target
    from orchestration.simulate.screening import generate_screening

    assert os.environ["ORPHANLAKE_HOME"] == str(E2E_HOME), "a test leaked ORPHANLAKE_HOME"
    paths = LakePaths(E2E_HOME).ensure()
    summary = generate_batch(paths.home, n_patients=E2E_PATIENTS, seed=E2E_SEED,
                             background_variants=3_000, with_bad_files=True)
    summary["screening"] = generate_screening(
        paths.home, seed=E2E_SEED, target_gene=screening_target(Path(summary["truth_path"])),
        with_bad_files=True)
    ok = run_refresh()
    assert ok, "the refresh job failed on the simulated batch"
    return paths, summary
