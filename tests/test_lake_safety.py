"""Writes stay inside the lake, one writer per lake for a whole run, and a failing domain
step never stops the others (issue 9)."""

import logging
import multiprocessing
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from orchestration.assets.isolation import failing_steps, isolated, read_status
from orchestration.lake import lock
from orchestration.lake.safe_paths import OutsideLake, inside_lake, lake_file, safe_name
from orchestration.resources import LakeResource
from orchestration.settings import LakePaths

HOSTILE_IDS = ["../../../../tmp/x", "..", ".", ".hidden", "a/b", "a\\b", "x" * 10_000,
               "Patient 1", "\u202eevil\u202c", "nul\x00byte", "", "/etc/passwd", "émile"]


def test_safe_name_is_one_plain_path_part_and_collision_free():
    names = [safe_name(i) for i in HOSTILE_IDS]
    assert len(set(names)) == len(names)
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name not in (".", "..") and len(name) <= 73 and name.isascii()
    assert safe_name("PLATE_1") == safe_name("PLATE_1")        # stable: figures are reused
    assert safe_name("a/b") != safe_name("a_b")                 # same slug, other id


def test_lake_file_never_leaves_the_lake(tmp_path):
    paths = LakePaths(tmp_path / "lake").ensure()
    for value in HOSTILE_IDS:
        out = lake_file(paths, paths.reports / "plates", "RUN", value, suffix=".png")
        assert out.parent == (paths.reports / "plates" / safe_name("RUN")).resolve()
    with pytest.raises(OutsideLake):
        inside_lake(paths, paths.home / ".." / "elsewhere.png")
    (paths.reports / "escape").symlink_to(tmp_path)
    with pytest.raises(OutsideLake):     # a symlink on the way out is seen through
        inside_lake(paths, paths.reports / "escape" / "x.png")


def _plate(run_id: str, plate_id: str, signal: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, cols = signal.shape
    r, c = np.meshgrid(range(rows), range(cols), indexing="ij")
    wells = pl.DataFrame({"run_id": run_id, "plate_id": plate_id, "row_idx": r.ravel(),
                          "col_idx": c.ravel(), "signal": signal.ravel(),
                          "corrected": signal.ravel() / 10})
    plates = pl.DataFrame({"run_id": [run_id], "plate_id": [plate_id], "passed": [True],
                           "bias_corrected": [False], "z_prime_robust": [0.7],
                           "plate_rows": [rows], "plate_cols": [cols]})
    return wells, plates


def test_plate_ids_from_data_never_become_paths_outside_the_lake(tmp_path):
    """A plate map's plate_id `../../../../<tmp>/x` used to write x.png and x.key outside."""
    from orchestration.assets.screening import _plate_figures

    paths = LakePaths(tmp_path / "lake").ensure()
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = f"../../../../../../../..{outside}/x"
    wells, plates = _plate(hostile, hostile, np.arange(96, dtype=float).reshape(8, 12))
    _plate_figures(paths, wells, plates, logging.getLogger("test"))
    assert list(outside.iterdir()) == []
    drawn = list((paths.reports / "plates").rglob("*.png"))
    assert len(drawn) == 1 and drawn[0].resolve().is_relative_to(paths.home)


def test_a_figure_that_cannot_be_drawn_never_stops_the_plates(tmp_path):
    """Two finite but extreme readings (1e308, -1e308) made matplotlib raise "Axis limits
    cannot be NaN or Inf", failing plate_normalization and with it every domain's refresh."""
    from orchestration.assets.screening import _plate_figures

    paths = LakePaths(tmp_path / "lake").ensure()
    signal = np.ones((8, 12))
    signal[0, 0], signal[0, 1] = 1e308, -1e308
    wells, plates = _plate(hostile := "RUN1", "P1", signal)
    good_wells, good_plates = _plate(hostile, "P2", np.ones((8, 12)))
    inline = _plate_figures(paths, pl.concat([wells, good_wells]),
                            pl.concat([plates, good_plates]), logging.getLogger("test"))
    assert inline[-1] == "could not draw: RUN1 / P1"
    assert len(list((paths.reports / "plates").rglob("*.png"))) == 1


def _hold_lock(home: str, started, release) -> None:
    with lock.writer_lock(LakePaths(Path(home)), what="the holder"):
        started.set()
        release.wait(60)


def test_the_writer_lock_waits_for_another_process_and_says_for_whom(tmp_path):
    paths = LakePaths(tmp_path / "lake").ensure()
    ctx = multiprocessing.get_context("spawn")
    started, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(paths.home), started, release))
    holder.start()
    try:
        assert started.wait(60)
        messages = []

        def on_wait(message):
            messages.append(message)
            release.set()          # let the holder go once we are known to be waiting

        with lock.writer_lock(paths, what="second", on_wait=on_wait):
            assert lock.holder(paths)["what"] == "second"
        assert len(messages) == 1 and "the holder" in messages[0] and "waiting" in messages[0]
        assert f"pid {holder.pid}" in messages[0]
    finally:
        release.set()
        holder.join(30)


def test_the_writer_lock_is_reentrant_within_a_process(tmp_path):
    paths = LakePaths(tmp_path / "lake").ensure()
    with lock.writer_lock(paths, what="outer"):
        with lock.writer_lock(paths, what="inner", on_wait=pytest.fail):
            assert lock.holder(paths)["what"] == "outer"


def _try_lock(home: str, result) -> None:
    import fcntl

    with open(lock.lock_file(LakePaths(Path(home))), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            result.put("free")
        except BlockingIOError:
            result.put("held")


def test_a_run_holds_the_writer_lock_from_its_first_step_to_its_last(tmp_path):
    """The lock used to be taken per step, so a second refresh's steps ran between the
    first one's and failed on dbt's database lock."""
    home = str(tmp_path / "lake")
    seen = []

    def probe():
        ctx = multiprocessing.get_context("spawn")
        result = ctx.Queue()
        p = ctx.Process(target=_try_lock, args=(home, result))
        p.start()
        p.join(60)
        return result.get(timeout=5)

    @dg.asset
    def first(lake: LakeResource) -> None:
        seen.append(("first", probe(), lock.holder(lake.paths)["what"]))

    @dg.asset(deps=[first])
    def second(lake: LakeResource) -> None:
        seen.append(("second", probe(), lock.holder(lake.paths)["what"]))

    job = dg.define_asset_job("j", executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=[first, second], jobs=[job],
                          resources={"lake": LakeResource(home=home)})
    assert defs.resolve_job_def("j").execute_in_process().success
    assert [s[:2] for s in seen] == [("first", "held"), ("second", "held")]
    assert seen[0][2] == seen[1][2] and seen[0][2].startswith("run ")
    assert probe() == "free"


def test_every_run_runs_in_one_process():
    from orchestration.definitions import defs

    assert defs.resolve_job_def("refresh").executor_def is dg.in_process_executor
    # "Materialize" in the UI runs the implicit asset job: it must hold the lock throughout too
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor


def _isolated_defs(home: str, behaviour: dict):
    def write_empty(paths):
        pl.DataFrame(schema={"v": pl.Int64}).write_parquet(paths.evidence / "thing.parquet")

    @dg.asset
    @isolated("toy", ["evidence/thing.parquet"], fallback=write_empty)
    def thing(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        if behaviour["fail"]:
            raise RuntimeError("poison input")
        pl.DataFrame({"v": [behaviour["value"]]}).write_parquet(lake.paths.evidence / "thing.parquet")
        return dg.MaterializeResult(metadata={"status": "ok"})

    @dg.asset
    def other_domain(lake: LakeResource) -> None:
        behaviour["other_ran"] = behaviour.get("other_ran", 0) + 1

    @dg.asset(deps=[thing, other_domain])
    def product(lake: LakeResource) -> None:
        behaviour["product_saw"] = pl.read_parquet(lake.paths.evidence / "thing.parquet")["v"].to_list()

    return [thing, other_domain, product]


def test_a_failing_domain_step_keeps_its_last_good_output_and_the_refresh_goes_on(tmp_path):
    home = str(tmp_path / "lake")
    paths = LakePaths(tmp_path / "lake").ensure()
    lake = {"lake": LakeResource(home=home)}
    behaviour = {"fail": True, "value": 1}
    # never succeeded: the fallback publishes empty outputs, downstream still runs
    result = dg.materialize(_isolated_defs(home, behaviour), resources=lake)
    assert result.success and behaviour["product_saw"] == [] and behaviour["other_ran"] == 1
    assert failing_steps(paths)["step"].to_list() == ["thing"]
    meta = result.asset_materializations_for_node("thing")[0].metadata
    assert meta["status"].value == "failed" and "poison input" in meta["error"].value

    behaviour["fail"] = False
    assert dg.materialize(_isolated_defs(home, behaviour), resources=lake).success
    assert behaviour["product_saw"] == [1] and failing_steps(paths).height == 0

    behaviour.update(fail=True, value=2)
    result = dg.materialize(_isolated_defs(home, behaviour), resources=lake)
    assert result.success and behaviour["product_saw"] == [1]     # the last good output
    status = read_status(paths).row(0, named=True)
    assert status["status"] == "failed" and status["outputs_from"] is not None
    assert behaviour["other_ran"] == 3


def test_the_domains_published_check_fails_while_a_step_is_failing(tmp_path):
    from orchestration.assets.isolation import record_status
    from orchestration.assets.transforms import domains_published

    paths = LakePaths(tmp_path / "lake").ensure()
    lake = LakeResource(home=str(paths.home))
    assert domains_published(lake).passed
    record_status(paths, {"domain": "screening", "step": "plate_normalization",
                          "status": "failed", "error": "ValueError: x", "outputs_from": None,
                          "run_id": "r", "at": None})
    result = domains_published(lake)
    assert not result.passed and result.metadata["failing_steps"].value == 1


def test_an_empty_dbt_model_is_read_as_no_rows(tmp_path):
    """dbt-duckdb writes an external model without rows as one all-null row; read as a
    row it became a dose-response curve with no compound and a null Feast entity key, so
    a lake without screening data failed its refresh."""
    from orchestration.lake.io import read_mart

    path = tmp_path / "m.parquet"
    pl.DataFrame({"a": [None], "b": [None]}, schema={"a": pl.String, "b": pl.Float64}).write_parquet(path)
    assert read_mart(path).height == 0 and read_mart(path).schema == {"a": pl.String, "b": pl.Float64}
    pl.DataFrame({"a": ["x", None], "b": [None, None]}).write_parquet(path)
    assert read_mart(path).height == 2
