"""The same refresh launched from the CLI and from the Dagster UI, side by side.

One demo landing zone (the demo generator: 80 patients, seed 7, with the bad files) is
generated once; every trial refreshes a fresh copy of it, so both sides do identical work:

- CLI: ``orphanlake --home <copy> refresh`` in a child process; wall time of the process
  (Python start, loading the code location, the run, the summary).
- UI: ``orphanlake --home <copy> ui`` (``dagster dev``: webserver, daemon, code server) on
  127.0.0.1; once the code location has loaded, the ``refresh`` job is submitted through
  the webserver's GraphQL API (what the UI's "Materialize all"/launchpad does) and the
  run is polled until it ends. Timed from the submission to the run's end (the daemon
  dequeues it, a run worker process loads the code location and runs it); the UI's own
  start-up is reported apart.

Trials alternate (CLI, UI, UI, CLI, ...) so that load from other work on the machine falls
on both sides alike. Before and after each trial the bench snapshots ``dbt_project/`` and
reports any file the refresh created or changed there (it should write nothing).

    python bench/bench_ui_refresh.py                  # 1 pair at the demo size
    python bench/bench_ui_refresh.py --pairs 2 --patients 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
ORPHANLAKE = str(BIN / "orphanlake")
DBT_PROJECT = ROOT / "dbt_project"


def child_env() -> dict:
    env = dict(os.environ)
    # each lake copy keeps its own Dagster instance (lake/.dagster), as `orphanlake` sets it
    for var in ("ORPHANLAKE_HOME", "DAGSTER_HOME", "DAGSTER_IS_DEV_CLI"):
        env.pop(var, None)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    # the code of this checkout (also when the bench runs from a worktree of another commit)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def snapshot(folder: Path) -> dict[str, tuple[float, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime, p.stat().st_size)
            for p in folder.rglob("*") if p.is_file()}


def written(before: dict, after: dict) -> list[str]:
    return sorted(k for k, v in after.items() if before.get(k) != v)


def make_template(workdir: Path, patients: int, seed: int) -> Path:
    template = workdir / f"template-p{patients}-s{seed}"
    if not (template / ".generated").exists():
        shutil.rmtree(template, ignore_errors=True)
        subprocess.run([ORPHANLAKE, "--home", str(template), "generate", "--patients", str(patients),
                        "--seed", str(seed), "--with-bad-files"], env=child_env(), check=True,
                       stdout=subprocess.DEVNULL)
        (template / ".generated").touch()
    return template


def warm_up(template: Path) -> float:
    """Load the dbt assets once before timing, so that neither side pays the one parse per
    code version (whichever way this checkout caches the manifest)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import orchestration.assets.transforms"],
                   env={**child_env(), "ORPHANLAKE_HOME": str(template)}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def fresh_copy(template: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(template, dest, symlinks=True)
    shutil.rmtree(dest / ".dagster", ignore_errors=True)
    return dest


def time_cli(home: Path, log: Path) -> dict:
    t0 = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run([ORPHANLAKE, "--home", str(home), "refresh"], env=child_env(),
                            stdout=out, stderr=subprocess.STDOUT).returncode
    return {"seconds": round(time.perf_counter() - t0, 1), "rc": rc}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_location(client, deadline: float) -> None:
    """Until the webserver answers and the code location has loaded (or failed to)."""
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    while time.monotonic() < deadline:
        try:
            data = client._execute(query)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(1)
            continue
        entries = data["workspaceOrError"].get("locationEntries") or []
        for e in entries:
            if e["loadStatus"] == "LOADED":
                err = e["locationOrLoadError"]
                if err and err["__typename"] == "PythonError":
                    raise RuntimeError(f"code location failed to load: {err['message'][:2000]}")
                return
        time.sleep(1)
    raise TimeoutError("the Dagster UI did not load the code location in time")


def time_ui(home: Path, log: Path, timeout: float) -> dict:
    from dagster import DagsterRunStatus
    from dagster_graphql import DagsterGraphQLClient

    port = free_port()
    t_start = time.perf_counter()
    with open(log, "w") as out:
        # its own session, so that stopping it stops dagster dev's webserver, daemon and
        # code server (and nothing else)
        proc = subprocess.Popen([ORPHANLAKE, "--home", str(home), "ui", "--port", str(port)],
                                env=child_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
        wait_for_location(client, time.monotonic() + timeout)
        startup = time.perf_counter() - t_start
        t0 = time.perf_counter()
        # the location is named after the module `dagster dev -m` loads; the client finds
        # the one repository with a job named refresh
        run_id = client.submit_job_execution("refresh")
        deadline = time.monotonic() + timeout
        while True:
            status = client.get_run_status(run_id)
            if status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE,
                          DagsterRunStatus.CANCELED):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {status} after {timeout:.0f} s")
            time.sleep(1)
        return {"seconds": round(time.perf_counter() - t0, 1),
                "startup_seconds": round(startup, 1), "status": status.value, "run_id": run_id}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def git_head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=80)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pairs", type=int, default=1, help="CLI+UI pairs, alternating order")
    ap.add_argument("--workdir", default=str(ROOT / "build" / "bench_ui_refresh"))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per UI run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ui_refresh.json"))
    ap.add_argument("--keep", action="store_true", help="keep the refreshed lake copies")
    ap.add_argument("--sides", default="cli,ui", help="cli,ui (default), or only one of them")
    args = ap.parse_args()

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    template = make_template(workdir, args.patients, args.seed)
    print(f"landing zone: {template} ({args.patients} patients, seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s)", flush=True)

    print(f"dbt manifest ready ({warm_up(template):.0f} s, not timed)", flush=True)
    trials = []
    for i in range(args.pairs):
        order = ("cli", "ui") if i % 2 == 0 else ("ui", "cli")
        for side in (s for s in order if s in args.sides.split(",")):
            home = fresh_copy(template, workdir / f"{side}-{i}")
            before = snapshot(DBT_PROJECT)
            log = workdir / f"{side}-{i}.log"
            result = time_cli(home, log) if side == "cli" else time_ui(home, log, args.timeout)
            changed = written(before, snapshot(DBT_PROJECT))
            result.update(side=side, pair=i, log=str(log), dbt_project_files_written=len(changed),
                          dbt_project_written=changed[:20])
            trials.append(result)
            print(json.dumps(result), flush=True)
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)

    cli = [t["seconds"] for t in trials if t["side"] == "cli"]
    ui = [t["seconds"] for t in trials if t["side"] == "ui"]
    ratios = [u / c for u, c in zip(ui, cli)] or [float("nan")]
    summary = {"commit": git_head(), "patients": args.patients, "seed": args.seed,
               "cli_seconds": cli, "ui_seconds": ui,
               "ui_startup_seconds": [t["startup_seconds"] for t in trials if t["side"] == "ui"],
               "ratio_per_pair": [round(r, 2) for r in ratios],
               "ratio_median": round(sorted(ratios)[len(ratios) // 2], 2),
               "dbt_project_files_written": [t["dbt_project_files_written"] for t in trials],
               "trials": trials}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(f"\nCLI refresh {cli} s, UI refresh {ui} s (start-up {summary['ui_startup_seconds']} s "
          f"apart); UI/CLI ratio {summary['ratio_per_pair']} (target <= 1.5); "
          f"files written under dbt_project/ per trial: {summary['dbt_project_files_written']}")
    failed = [t for t in trials if t.get("rc", 0) != 0 or t.get("status", "SUCCESS") != "SUCCESS"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
