"""The command line on an empty lake and on user mistakes."""

from orchestration.cli import main


def test_sql_on_an_empty_lake_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ORPHANLAKE_HOME", str(tmp_path))   # restored after the test
    assert main(["--home", str(tmp_path), "sql", "select 1"]) == 2
    err = capsys.readouterr().err
    assert "orphanlake demo" in err and "lake.duckdb" in err


def test_generate_writes_a_batch_and_keeps_truth_apart(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ORPHANLAKE_HOME", str(tmp_path))
    assert main(["--home", str(tmp_path), "generate", "--patients", "3", "--seed", "5",
                 "--background-variants", "500"]) == 0
    assert list((tmp_path / "landing" / "genomic").rglob("*.vcf*"))
    assert list((tmp_path / "landing" / "clinical").rglob("*.json"))
    assert list((tmp_path / "truth").rglob("truth.tsv"))
    assert not list((tmp_path / "landing").rglob("truth*"))


def _toy_job():
    """Four steps that show what the progress lines report: a resource that warns before
    any step (as the lake's writer lock does when another run holds it), a step that prints
    and warns, a check that warns, a failing step and one that cannot run after it."""
    import contextlib
    import subprocess
    import sys

    import dagster as dg

    class Noisy(dg.ConfigurableResource):
        @contextlib.contextmanager
        def yield_for_execution(self, context):
            if context.log:
                context.log.warning("the lake is being written by another run (pid 1, since t)")
            yield self

    @dg.asset
    def first(context, noisy: Noisy):
        print("chatter from a step")
        subprocess.run([sys.executable, "-c", "print('chatter from a child process')"], check=True)
        context.log.warning("a quarantined file")
        return 1

    @dg.asset_check(asset=first)
    def first_is_clean():
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="2 files quarantined")

    @dg.asset(deps=[first])
    def second():
        raise RuntimeError("boom")

    @dg.asset(deps=[second])
    def third():
        return 3

    defs = dg.Definitions(assets=[first, second, third], asset_checks=[first_is_clean],
                          jobs=[dg.define_asset_job("toy", selection=dg.AssetSelection.all())],
                          resources={"noisy": Noisy()})
    return defs.resolve_job_def("toy")


def test_run_progress_prints_a_line_per_step_and_logs_the_rest(tmp_path, capsys):
    import dagster as dg

    from orchestration import run_progress

    job = _toy_job()
    log = run_progress.log_file_for(tmp_path / "logs", "refresh")
    instance = dg.DagsterInstance.ephemeral()
    with run_progress.output_to(log) as console:
        progress = run_progress.RunProgress(console, total_steps=len(job.graph.nodes))
        progress.run_id = "0f0f0f0f-0000-4000-8000-000000000001"
        instance.add_event_listener(progress.run_id, progress.on_event)
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        run_id=progress.run_id)
    assert not result.success
    shown = capsys.readouterr()
    lines = shown.err.splitlines()
    # the run-level warning, then one line per step that ended; nothing else
    assert lines[0].startswith("warning: the lake is being written by another run (pid 1, since")
    assert lines[1].startswith("[1/4] first ") and "(1 warning)" in lines[1]
    assert lines[2].startswith("[2/4] first_first_is_clean ")
    assert lines[3].startswith("[3/4] second ") and "FAILED: " in lines[3] and "boom" in lines[3]
    assert len(lines) == 4 and shown.out == ""
    text = log.read_text()
    for chatter in ("chatter from a step", "chatter from a child process", "STEP_START",
                    "a quarantined file"):
        assert chatter in text, chatter

    summary = progress.as_dict(result.success)
    assert summary["steps"]["failed"] == ["second"] and summary["steps"]["not_run"] == 1
    assert summary["checks"]["warned"] == 1 and summary["checks"]["failed"] == 0
    assert summary["checks"]["not_passed"][0]["description"] == "2 files quarantined"
    head = progress.summary_lines(result.success)
    assert head[0].startswith("refresh FAILED in ") and "2/4 steps" in head[0]
    assert any("first/first_is_clean warns: 2 files quarantined" in line for line in head)


def test_refresh_options_parse():
    from orchestration.cli import build_parser

    for command in ("refresh", "demo"):
        args = build_parser().parse_args([command, "--json", "--verbose"])
        assert args.json and args.verbose
        assert not build_parser().parse_args([command]).json
