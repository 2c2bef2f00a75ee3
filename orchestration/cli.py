"""The ``orphanlake`` command line."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from orchestration.lake.safe_paths import safe_name
from orchestration.settings import LakeConfig, LakePaths

DEMO_PATIENTS = 80
DEMO_SEED = 7
LOGS_DIR = "logs"   # under the lake: one log file per quiet refresh or demo


def _use_home(home: str | None) -> LakePaths:
    """This command's lake (``--home``, else ``LakeConfig.from_env()``), passed on explicitly
    from here; Dagster's home goes inside it (fixed before Dagster is imported)."""
    paths = LakeConfig.at(home).paths.ensure()
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.home / ".dagster")))
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").touch()
    return paths


def _local_only(args, what: str) -> None:
    """Refuse a command that would write a lake on object storage behind its back."""
    uri = LakeConfig.at(args.home).uri
    if uri:
        raise ValueError(f"{what} writes a local lake, not {uri}: write into a local folder "
                         f"(--out or --home), upload its landing/ to {uri}/landing/ and run "
                         f"`orphanlake refresh --home {uri}`")


def cmd_generate(args) -> int:
    from orchestration.simulate import generate_sample_data

    if not args.out:
        _local_only(args, "generate")
    out = Path(args.out).resolve() if args.out else _use_home(args.home).home
    if args.design_round:
        from orchestration.simulate.design_round import generate_design_round

        for line in _design_round_lines(generate_design_round(out)):
            print(line)
        print("run `orphanlake refresh` to ingest the plate runs; the next design round starts "
              "from their results")
        return 0
    summary = generate_sample_data(out, n_patients=args.patients, seed=args.seed,
                                   solved_fraction=args.solved_fraction,
                                   background_variants=args.background_variants,
                                   with_bad_files=args.with_bad_files,
                                   screening=args.screening, target_gene=args.target_gene,
                                   trials=args.trials)
    for part, values in summary.items():
        print(f"== {part} ==")
        for k, v in values.items():
            print(f"{k}: {v}")
    return 0


def _quiet_sqlglot() -> None:
    """dagster-dbt still requires sqlglot's retired Rust tokenizer, which warns when sqlglot
    is first imported; import it quietly first (Feast resets warning filters, so a filter
    alone does not hold). Only for commands that load Dagster or Feast."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sqlglot.tokens  # noqa: F401


def run_refresh(paths: LakePaths | None = None, progress=None, full: bool = False) -> bool:
    """Run the ``refresh`` job on ``paths``'s lake (default: ``LakeConfig.from_env()``) in
    this process, recorded in the Dagster instance, in two runs under one hold of the
    lake's writer lock: the ingest, then what depends on data that changed since the last
    complete build (``refresh_plan``; everything with ``full``). ``progress`` (a
    ``run_progress.RunProgress``) follows both runs' events as they are stored."""
    _quiet_sqlglot()
    import dagster as dg

    from orchestration import refresh_plan
    from orchestration.assets.isolation import failing_steps
    from orchestration.definitions import build_definitions
    from orchestration.jobs import ingest_keys, rebuild_keys
    from orchestration.lake.lock import writer_lock
    from orchestration.resources import LakeResource

    config = paths.config if paths is not None else LakeConfig.from_env()
    paths = config.paths.ensure()
    defs = build_definitions(LakeResource.of(config))
    job = defs.resolve_job_def("refresh")
    graph = defs.resolve_asset_graph()
    instance = dg.DagsterInstance.get()
    say = progress.note if progress is not None else (lambda m: print(m, file=sys.stderr))

    def run(keys) -> bool:
        run_id = None
        if progress is not None:
            import uuid

            run_id = str(uuid.uuid4())
            progress.run_id = run_id
            instance.add_event_listener(run_id, progress.on_event)
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_id=run_id,
                                        asset_selection=sorted(keys))
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        if failed:
            print(f"refresh failed in: {', '.join(sorted(set(failed)))}", file=sys.stderr)
        return result.success

    with writer_lock(paths, what="orphanlake refresh", on_wait=say):
        first = ingest_keys(graph)
        if progress is not None:
            progress.total = _steps(job, first)
        ok = run(first)
        state = refresh_plan.current_state(paths)
        if full:
            plan = refresh_plan.Plan(True, "asked for (--full)")
        else:
            plan = refresh_plan.plan_rebuild(refresh_plan.read_state(paths), state,
                                             failing_steps(paths).get_column("step").to_list(),
                                             refresh_plan.catalog_is_current(paths))
        say(plan.describe())
        second = rebuild_keys(graph, plan) - first
        if second:
            if progress is not None:
                progress.total += _steps(job, second)
            ok = run(second) and ok
        if ok:
            refresh_plan.write_state(paths, state)
    return ok


def _steps(job, keys) -> int:
    """How many steps a run of ``job`` for ``keys`` has (asset checks are steps too)."""
    return len(job.get_subset(asset_selection=set(keys)).graph.nodes)


def cmd_refresh(args) -> int:
    uri = LakeConfig.at(args.home).uri
    if uri:     # pull into the working copy, the same refresh there, push (lake/objectstore)
        from orchestration.lake.objectstore import refresh_on_object_store

        return refresh_on_object_store(uri, _use_home(uri),
                                       lambda paths: _refresh_and_report(paths, args))
    return _refresh_and_report(_use_home(args.home), args)


def _refresh_and_report(paths: LakePaths, args, summary: bool = True) -> int:
    """Refresh, then the summary (``summary`` off: only the progress lines and what
    failed). Quiet by default: one line per step on stderr and the Dagster log in a file
    under ``<lake>/logs``; ``--verbose`` prints the log instead, ``--json`` writes the
    summary as one JSON object on stdout."""
    from orchestration.assets.isolation import failing_steps

    progress, log_path = None, None
    full = getattr(args, "full", False)      # `demo` has no --full
    if args.verbose:
        ok = run_refresh(paths, full=full)
    else:
        from orchestration import run_progress

        log_path = run_progress.log_file_for(paths.home / LOGS_DIR, "refresh")
        print(f"refresh: lake {paths.home}; full log: {log_path}", file=sys.stderr)
        with run_progress.output_to(log_path) as console:
            progress = run_progress.RunProgress(console)
            ok = run_refresh(paths, progress, full=full)
    failing = failing_steps(paths)
    problems = []
    for row in failing.iter_rows(named=True):
        kept = (f"its outputs of {row['outputs_from'].isoformat(timespec='seconds')}"
                if row["outputs_from"] else "the last good build of what failed")
        problems.append(f"refresh: the {row['domain']} step {row['step']} failed "
                        f"({row['error'][:300]}); the lake serves {kept}, and everything else "
                        "was published")
    if summary and args.json:
        print(json.dumps({**_summary_dict(paths), "log_file": str(log_path) if log_path else None,
                          "run": progress.as_dict(ok) if progress else {"ok": ok},
                          "failing_steps": problems}, indent=1, default=_json_value))
    elif summary:
        _print_summary(paths)
        if progress is not None:
            print()
            print("\n".join(progress.summary_lines(ok)))
            print(f"full log: {log_path}   (orphanlake {args.command} --verbose prints it instead)")
    for line in problems:
        print(line, file=sys.stderr)
    return 0 if ok and not failing.height else 1


def _design_round_lines(result: dict) -> list[str]:
    """One line per target of a make-and-test (simulate/design_round.py)."""
    lines = []
    for target, r in result.items():
        if "skipped" in r:
            lines.append(f"design round {r['round']} of {target}: {r['skipped']}")
            continue
        best = "none" if r["best_true_pic50"] is None else f"{r['best_true_pic50']:.2f}"
        lines.append(f"design round {r['round']} of {target}: {r['designs']} designs made and "
                     f"tested on {r['plates']} plates ({', '.join(r['runs'])}); true pIC50 "
                     f"mean {r['mean_true_pic50']:.2f}, best {best}, "
                     f"{r['true_actives']} truly active")
    return lines


def _demo_design_round(paths: LakePaths, out) -> bool:
    """The demo's make-and-test of design round 1 (when the lake has it and it was not made
    yet); True when plate runs were written."""
    from orchestration.simulate.design_round import generate_design_round

    try:
        result = generate_design_round(paths.home, rounds={1})
    except ValueError as exc:          # no designs (no confirmed active): say so, go on
        print(f"no design round to make and test: {exc}", file=out)
        return False
    for line in _design_round_lines(result):
        print(line, file=out)
    return any("skipped" not in r for r in result.values())


def cmd_demo(args) -> int:
    _local_only(args, "demo")
    paths = _use_home(args.home)
    out = sys.stderr if args.json else sys.stdout
    if not any(paths.landing.rglob("*.*")):
        from orchestration.simulate import generate_sample_data

        print(f"generating {args.patients} sample patients, compound libraries and screening "
              f"runs (seed {args.seed}) into {paths.landing}", file=out)
        generate_sample_data(paths.home, n_patients=args.patients, seed=args.seed,
                             with_bad_files=True)
    # refresh → make and test design round 1 → refresh (round 2 is designed from its results)
    first = _refresh_and_report(paths, args, summary=False)
    if first != 0 or not _demo_design_round(paths, out):
        _print_only_summary(paths, args)
        return first
    print("refreshing again: the lake learns from the design round's plates and designs "
          "round 2", file=out)
    return _refresh_and_report(paths, args)


def _print_only_summary(paths: LakePaths, args) -> None:
    """The summary of a refresh that already ran (the demo's, when no second refresh runs)."""
    if args.json:
        print(json.dumps(_summary_dict(paths), indent=1, default=_json_value))
    else:
        _print_summary(paths)


def _lake_places(paths: LakePaths) -> dict:
    """Where to look in the lake: the paths the summary names (None where not built yet)."""
    from orchestration.report.write import reports_dir

    pages = reports_dir(paths) / "index.html"
    return {"lake": str(paths.home), "catalog": str(paths.catalog), "marts": str(paths.marts),
            "features": str(paths.features) if (paths.features / "registry.db").exists() else None,
            "reports": str(pages) if pages.exists() else None}


def _summary_queries() -> list[tuple[str, str]]:
    return [
        ("patient_gene_rankings", "select patient_id, gene_symbol, rank, round(score, 3) as score, "
         "ranking_method, top_reasons from patient_gene_rankings where rank <= 3 "
         "order by patient_id, rank limit 9"),
        ("ranked_targets", "select disease_id, disease_name, gene_symbol, rank, round(score, 3) as score, "
         "n_patients from ranked_targets where rank <= 2 order by disease_id, rank limit 8"),
        ("plate_qc", "select run_id, plate_id, round(z_prime, 2) as z_prime, "
         "round(z_prime_robust, 2) as z_prime_robust, round(ssmd, 1) as ssmd, bias_corrected, "
         "passed, qc_reason from plate_qc order by passed, run_id, plate_id limit 8"),
        ("dose_response", "select compound_id, name, round(ic50_um, 3) as ic50_um, "
         "round(ic50_ci_low, 3) as ci_low, round(ic50_ci_high, 3) as ci_high, round(hill, 2) as hill, "
         "curve_class from dose_response order by ic50_um nulls last limit 5"),
        ("compound_scores", "select target_gene, rank, name, round(score, 3) as score, "
         "round(predicted_pic50, 2) as pic50, round(pic50_uncertainty, 2) as pic50_sd, "
         "round(p_active, 3) as p_active, tested, hit_class, n_safety_flags as safety_flags, "
         "round(predicted_logS, 2) as logS, round(qed, 2) as qed, target_best_rank "
         "from compound_scores order by target_gene, rank limit 10"),
        # each design round: its batch, what the models predicted, what the plates measured
        ("designed_compounds", "select d.target_gene, d.round, count(*) as candidates, "
         "count(*) filter (where d.selected) as selected, "
         "round(avg(d.predicted_pic50) filter (where d.selected), 2) as mean_predicted_pic50, "
         "count(m.compound_id) as dose_tested, count(m.pic50) as with_ic50, "
         "round(avg(m.pic50), 2) as mean_measured_pic50, round(max(m.pic50), 2) as best_measured_pic50 "
         "from designed_compounds d left join (select compound_id, target_gene, max(pic50) as pic50 "
         "from dose_response group by all) m on m.compound_id = d.design_id "
         "and m.target_gene = d.target_gene group by d.target_gene, d.round order by 1, 2 limit 10"),
        # each trial: its subjects, the primary comparisons and what was not estimable
        ("trial_efficacy", "select studyid, paramcd, avisit, kind, arm, n, round(estimate, 2) as estimate, "
         "round(lo, 2) as ci_low, round(hi, 2) as ci_high, round(p_value, 4) as p_value from trial_efficacy "
         "where kind in ('difference', 'single_arm_change') order by studyid, paramcd limit 8"),
        ("trial_time_to_event", "select studyid, paramcd, arm, control_arm, events, "
         "round(hazard_ratio, 2) as hazard_ratio, round(hr_lo, 2) as hr_low, round(hr_hi, 2) as hr_high, "
         "round(logrank_p, 4) as logrank_p from trial_time_to_event where kind = 'comparison' "
         "order by hazard_ratio is null, studyid, paramcd limit 6"),
        ("quarantine", "select domain, granularity, source_file, locator, reason from quarantine "
         "order by domain, source_file limit 12"),
    ]


def _summary_dict(paths: LakePaths) -> dict:
    """The summary's content as data (``--json``): the same places, model quality lines
    and tables as the printed summary."""
    from orchestration.lake.catalog import connect_readonly

    out = {**_lake_places(paths), "model_quality": [], "tables": {}}
    if not paths.catalog.exists():
        return out
    out["model_quality"] = [line.strip() for line in _model_quality_lines(paths) if line.strip()]
    with connect_readonly(paths) as con:
        views = {r[0] for r in con.execute("select view_name from _catalog").fetchall()}
        for name, sql in _summary_queries():
            if name in views:
                rel = con.sql(sql)
                out["tables"][name] = [dict(zip(rel.columns, row)) for row in rel.fetchall()]
    return out


def _print_summary(paths: LakePaths) -> None:
    from orchestration.lake.catalog import connect_readonly

    places = _lake_places(paths)
    print(f"\nlake:     {paths.home}")
    print(f"catalog:  {paths.catalog}   (cd {paths.home} && duckdb -readonly {paths.catalog.name})")
    print(f"marts:    {paths.marts}")
    if places["features"]:
        print(f"features: {paths.features}   (orphanlake features get --entity gene --id <symbol>; "
              "feast -c features feature-views list)")
    if places["reports"]:
        print(f"reports:  {places['reports']}   (one page per unsolved patient; "
              "orphanlake report --patient <id>)")
    if not paths.catalog.exists():
        return
    for line in _model_quality_lines(paths):
        print(line)
    with connect_readonly(paths) as con:
        views = {r[0] for r in con.execute("select view_name from _catalog").fetchall()}
        for name, sql in _summary_queries():
            if name in views:
                print(f"\n== {name} ==")
                con.sql(sql).show(max_width=200)


def _model_quality_lines(paths: LakePaths) -> list[str]:
    return _ranker_quality_lines(paths) + _compound_model_quality_lines(paths)


def _compound_model_quality_lines(paths: LakePaths) -> list[str]:
    from orchestration.assets.compound_models import ACTIVITY_DIR, SOLUBILITY_DIR

    lines = []
    sol = paths.models / SOLUBILITY_DIR / "solubility_meta.json"
    if sol.exists():
        test = json.loads(sol.read_text())["metrics"]["test"]
        lines.append(f"\nsolubility model (Huuskonen test split, n={test['n']}): "
                     f"RMSE {test['rmse']:.2f} logS, R² {test['r2']:.2f}")
    root = paths.models / ACTIVITY_DIR
    for meta_file in sorted(root.glob("*/activity_meta.json")) if root.exists() else []:
        meta = json.loads(meta_file.read_text())
        metrics = meta["metrics"]
        chosen = metrics["chosen"]
        # the folder is a safe slug of the target; its real name is in the metadata
        target = meta.get("target") or meta_file.parent.name
        lines.append(f"activity model for {target}: {chosen}, held-out scaffolds "
                     "(pooled out-of-fold):")
        for family, res in metrics["families"].items():
            pooled = res["pooled"]
            lines.append(f"  {family:<8} ROC-AUC {pooled['roc_auc']:.2f}  "
                         f"PR-AUC {pooled['pr_auc']:.2f}  "
                         f"EF1% {pooled['ef1']:.1f}  EF5% {pooled['ef5']:.1f}")
    return lines


def _ranker_quality_lines(paths: LakePaths) -> list[str]:
    from models.ranker_eval import headline_recall
    from orchestration.assets.models import RANKER_DIR

    meta_file = paths.models / RANKER_DIR / "ranker_meta.json"
    if not meta_file.exists():
        return []
    meta = json.loads(meta_file.read_text())
    metrics = meta.get("metrics", {})
    scope, recall = headline_recall(metrics)
    lines = [f"\ngene ranker: {meta['ranking_method']}"]
    lake = metrics.get("lake") or {}
    if lake.get("why"):
        lines.append(f"  this lake uses the {lake['model']} model: {lake['why']}")
    if recall:
        n = next(iter(recall.values()))["n_patients"]
        lines.append(f"causal-gene recall on {n} solved patients ({scope}), "
                     "top-1 / top-5 / top-10:")
        for method, r in recall.items():
            lines.append(f"  {method:<16} {r['recall_at_1']:.2f} / {r['recall_at_5']:.2f} / "
                         f"{r['recall_at_10']:.2f}")
    return lines


def cmd_sql(args) -> int:
    from orchestration.lake.catalog import connect_readonly
    from orchestration.lake.sql_guard import run_read_only

    uri = LakeConfig.at(args.home).uri
    if uri:     # the bucket's current publication, never the local working copy
        from orchestration.lake.objectstore import connect_published

        connection = connect_published(uri)
    else:
        connection = connect_readonly(_use_home(args.home))
    with connection as con:
        rel = run_read_only(con, args.query)
        if rel is None:
            return 0
        if args.format == "table":
            rel.show(max_rows=args.max_rows, max_width=250)
        else:
            writer = csv.writer(sys.stdout, delimiter="\t" if args.format == "tsv" else ",",
                                lineterminator="\n")
            writer.writerow(rel.columns)
            for row in rel.fetchall():
                writer.writerow([_cell(v) for v in row])
    return 0


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def cmd_ui(args) -> int:
    paths = _use_home(args.home)
    # `.venv/bin/orphanlake` may run without the venv activated: use its own dagster
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    cmd = [os.path.join(bin_dir, "dagster"), "dev", "-m", "orchestration.definitions",
           "-p", str(args.port)]
    print(f"Dagster UI on http://127.0.0.1:{args.port} (lake: {paths.home})")
    os.execve(cmd[0], cmd, paths.config.child_env())   # the code server's lake
    return 0


def cmd_rank_genes(args) -> int:
    _quiet_sqlglot()
    from orchestration.single_patient import rank_single_patient

    paths = _use_home(args.home)
    table = rank_single_patient(paths, Path(args.vcf), Path(args.phenopacket),
                                expression=Path(args.expression) if args.expression else None)
    table.head(args.top).write_csv(sys.stdout, separator="\t")
    return 0


def cmd_report(args) -> int:
    from orchestration.report.collect import UnknownPatient
    from orchestration.report.write import patient_report_html

    paths = _use_home(args.home)
    try:
        page = patient_report_html(paths, args.patient, top=args.top)
    except UnknownPatient as exc:
        print(f"orphanlake report: {exc}", file=sys.stderr)
        return 3
    out = Path(args.out) if args.out else Path(f"report-{safe_name(args.patient)}.html")
    out.write_text(page, encoding="utf-8")
    print(f"report for {args.patient}: {out}")
    return 0


def cmd_features_get(args) -> int:
    _quiet_sqlglot()
    import polars as pl

    from orchestration.feature_store.online import ENTITIES, get_online, resolve_compounds
    from orchestration.feature_store.store import feature_store

    paths = _use_home(args.home)
    if not (paths.features / "registry.db").exists():
        raise FileNotFoundError(f"no feature registry in {paths.features}: run `orphanlake refresh` first")
    keys = ENTITIES[args.entity][1]
    if args.entity in ("compound", "compound_target"):
        rows = resolve_compounds(paths, args.id)
    else:
        rows = [{keys[0]: i} for i in args.id]
    if len(keys) == 2:
        if not args.gene:
            raise ValueError(f"--entity {args.entity} needs --gene")
        rows = [{**r, "gene_symbol": args.gene} for r in rows]
    request, service = None, None
    if args.query_smiles:
        if args.entity != "compound":
            raise ValueError("--query-smiles applies to --entity compound")
        request, service = {"query_smiles": args.query_smiles}, "compound_similarity_v1"
    frame = get_online(feature_store(paths), args.entity, rows, service=service, request=request)
    if args.entity in ("compound", "compound_target"):
        frame = frame.insert_column(0, pl.Series("requested_id", [r["requested_id"] for r in rows],
                                                 dtype=pl.String))
    if args.format == "json":
        print(json.dumps(frame.to_dicts(), indent=1, default=_json_value))
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200,
                       tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
            for record in frame.to_dicts():
                print(pl.DataFrame({"feature": list(record),
                                    "value": ["null" if v is None else _cell(_json_value(v))
                                              for v in record.values()]}))
    missing = [r.get("requested_id") or "/".join(str(r[k]) for k in keys)
               for r, found in zip(rows, frame["found"]) if not found]
    if missing:
        print(f"orphanlake features get: not in the online store (unknown, or removed from the "
              f"lake): {', '.join(missing)}", file=sys.stderr)
    return 0 if not missing else 3


def _json_value(value):
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value if isinstance(value, (str, int, float, bool, list, dict, type(None))) else str(value)


def cmd_train_ranker(args) -> int:
    from orchestration import ranker_training

    out = Path(args.out) if args.out else ranker_training.SHIPPED_DIR
    artifact = ranker_training.train(Path(args.workdir), out, seed=args.seed,
                                     n_boot=args.bootstrap, max_cases=args.max_cases,
                                     save=args.save)
    print("\n".join(ranker_training.summary_lines(artifact.metrics)))
    cal = artifact.metrics["calibration"]["top1"]
    print(f"calibration of the top gene (held out): Brier {cal['brier']:.3f}, ECE {cal['ece']:.3f}")
    print(f"{artifact.model_version} -> {out if args.save else '(not saved)'}")
    return 0


def _run_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true",
                        help="print Dagster's full log instead of one line per step (by default "
                             "it goes to a file under <lake>/logs, named at the start)")
    parser.add_argument("--json", action="store_true",
                        help="write the summary as one JSON object on stdout (progress stays "
                             "on stderr)")


def build_parser() -> argparse.ArgumentParser:
    from orchestration.feature_store.online import ENTITIES

    p = argparse.ArgumentParser(prog="orphanlake", description=__doc__)
    p.add_argument("--home", help="lake root, a folder or s3://bucket/prefix (default: "
                   "$ORPHANLAKE_HOME or ./data_lake)")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a simulated landing batch (truth kept apart)")
    g.add_argument("--patients", type=int, default=DEMO_PATIENTS)
    g.add_argument("--seed", type=int, default=DEMO_SEED)
    g.add_argument("--out", help="lake root to write landing/ and truth/ into")
    g.add_argument("--solved-fraction", type=float, default=0.5)
    g.add_argument("--background-variants", type=int, default=25_000,
                   help="exome background variants per patient")
    g.add_argument("--with-bad-files", action="store_true",
                   help="also write the defective files the quarantine must catch")
    g.add_argument("--no-screening", dest="screening", action="store_false",
                   help="patients only: no compound libraries or plate runs")
    g.add_argument("--target-gene", help="screening target (default: the batch's most common "
                                         "causal gene)")
    g.add_argument("--no-trials", dest="trials", action="store_false",
                   help="no clinical trials (by default a randomized and a single-arm trial of "
                        "the screened drug, SDTM .xpt and Dataset-JSON, truth under truth/trials/)")
    g.add_argument("--design-round", action="store_true",
                   help="make and test: write plate runs (and their truth) for the newest "
                        "round's selected designs of each target in the lake's latest "
                        "publication, measured against the simulator's hidden rule")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="generate sample data if the landing zone is empty, refresh, "
                                    "make and test design round 1, refresh again")
    d.add_argument("--patients", type=int, default=DEMO_PATIENTS)
    d.add_argument("--seed", type=int, default=DEMO_SEED)
    _run_output_options(d)
    d.set_defaults(func=cmd_demo)

    rf = sub.add_parser("refresh", help="ingest new landing batches and rebuild what depends "
                                          "on them")
    rf.add_argument("--full", action="store_true",
                    help="rebuild everything, not only what depends on data that changed since "
                         "the last complete build (models whose training data did not change "
                         "are still not retrained)")
    _run_output_options(rf)
    rf.set_defaults(func=cmd_refresh)

    s = sub.add_parser("sql", help="query the lake (read-only; safe during a refresh)")
    s.add_argument("query")
    s.add_argument("--format", choices=["table", "tsv", "csv"], default="table")
    s.add_argument("--max-rows", type=int, default=40)
    s.set_defaults(func=cmd_sql)

    u = sub.add_parser("ui", help="open the Dagster UI on this code location")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)

    f = sub.add_parser("features", help="the Feast feature store (see also: feast -c features ...)")
    fsub = f.add_subparsers(dest="features_command", required=True)
    fg = fsub.add_parser("get", help="online features of one or more entities")
    fg.add_argument("--entity", required=True, choices=list(ENTITIES))
    fg.add_argument("--id", required=True, action="append",
                    help="patient id, gene symbol or compound id (compound: InChIKey, catalogue "
                         "id or any library id); repeat for several")
    fg.add_argument("--gene", help="the gene of a patient_gene, the target of a compound_target")
    fg.add_argument("--query-smiles", help="compound only: add Tanimoto similarity to this structure")
    fg.add_argument("--format", choices=["table", "json"], default="table")
    fg.set_defaults(func=cmd_features_get)

    rp = sub.add_parser("report", help="one patient's candidate genes as a self-contained "
                                       "HTML page (research use, not a diagnosis)")
    rp.add_argument("--patient", required=True, help="an unsolved patient's id")
    rp.add_argument("--out", help="HTML file to write (default: report-<patient>.html here)")
    rp.add_argument("--top", type=int, default=10, help="how many genes (default 10)")
    rp.set_defaults(func=cmd_report)

    tr = sub.add_parser("train-ranker", help="retrain the shipped gene ranker on the replayed "
                                             "published cases + simulated patients (~1 h)")
    tr.add_argument("--workdir", default="build/ranker-training",
                    help="where the training lakes are built and cached")
    tr.add_argument("--out", help="model folder (default: models/pretrained/gene_ranker)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--bootstrap", type=int, default=1000, help="gene-bootstrap resamples")
    tr.add_argument("--max-cases", type=int, help="replay only the first N cases (a quick try)")
    tr.add_argument("--no-save", dest="save", action="store_false",
                    help="measure only; leave the shipped model alone")
    tr.set_defaults(func=cmd_train_ranker)

    r = sub.add_parser("rank-genes", help="rank one new patient's genes with the trained model")
    r.add_argument("--vcf", required=True)
    r.add_argument("--phenopacket", required=True)
    r.add_argument("--expression", help="optional TPM matrix including this patient")
    r.add_argument("--top", type=int, default=20)
    r.set_defaults(func=cmd_rank_genes)
    return p


def main(argv: list[str] | None = None) -> int:
    import duckdb

    from orchestration.lake.objectstore import ObjectStoreError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, duckdb.Error, ObjectStoreError) as exc:
        # a user's mistake (no lake yet, bad SQL, unusable input) gets one line, not a trace
        print(f"orphanlake {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
