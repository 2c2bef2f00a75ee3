"""Clinical trials (issue 14): do the lake's trial statistics cover the simulator's hidden
truth, and what does the trial ingest cost next to reading the same SAS files alone?

    python bench/bench_trials.py                                # both parts
    python bench/bench_trials.py --parts coverage --n-trials 200 --n-subjects 120
    python bench/bench_trials.py --parts ingest --ingest-subjects 10000 --lb-records 1000000

Parts (each writes its block of bench/results/trials.json; parts not run keep theirs):

- coverage: ``--n-trials`` randomized studies (seeds ``--seed0`` …, ``--n-subjects`` each,
  every other simulate_trial argument at its default). Each goes the lake's way: the
  SDTM frames are written as SAS transport v5 (``write_study``) into a temporary folder
  and every file is parsed by ``parse_trial_file`` (so the raw tables are exactly those the
  ingest writes, the findings' --prefix dropped by the ingest itself, lineage aside); then
  ``analysis_data`` + ``statistics``. Checked against ``truth``:

  * the ANCOVA difference (treated − placebo) of the biomarker's change from baseline at
    the last scheduled visit (WEEK 24), its 95% CI against three candidate estimands:
    ``effect_marginal`` (effect + interaction × carrier_fraction: the population average
    treatment effect), ``effect_in_sample`` (effect + interaction × the carrier share of
    the randomized treated subjects) and the analysed-sample effect (effect + interaction
    × the carrier share of the treated subjects *in the ANCOVA*, i.e. with a WEEK 24
    change: computed here from truth["subjects"]);
  * the Cox hazard ratio of TTPD against ``truth["ttpd"]["hazard_ratio"]``, and as a
    check the same Cox fit on an ADTTE whose TTPD events are exactly the truth's
    definition (PROGRESSIVE DISEASE or DEATH): ``derive_adtte(..., events={"TTPD": …})``
    (until 9a31c19 the lake's ``TTPD_EVENTS`` also counted LACK OF EFFICACY; the paired
    log-HR difference showed it, and is 0 since).

  Coverage with a Wilson 95% interval (statsmodels ``proportion_confint``), mean estimate
  and its bias against the truth, mean CI width.

- ingest: one randomized study of ``--ingest-subjects`` subjects from ``simulate_trial``
  whose LB is widened to about ``--lb-records`` records (below: ``widen_lb``), every
  domain written as .xpt. Each stage runs in its own process (its own peak RSS), one after
  another: (a) ``pyreadstat.read_xport`` of every file alone (pandas output, the default;
  and polars output with datetime conversion off, the call the ingest makes), (b)
  ``runner.ingest_trials`` on a fresh temporary lake with the files under
  landing/trials/<study>/ (parse + conform + validate + write raw Parquet + ledger), (c)
  the raw tables read back, ``check_study_tables`` + ``analysis_data`` + ``statistics``
  and the evidence files written (what ``trial_analysis_data`` / ``trial_statistics`` do,
  reading raw/ where the assets read the pass-through ``stg_trial_*`` views), (d) ``dbt
  build --select stg_trial_* trial_subjects trial_demographics trial_adverse_events
  trial_efficacy trial_time_to_event`` on that lake (cautious indirect selection and
  ``--vars`` as orchestration/assets/transforms.py runs it; tests included).

Timings are wall-clock on a 2-core machine that may be shared (see BENCHMARKS.md §14).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "trials.json"
TRUTH_TTPD = ("PROGRESSIVE DISEASE", "DEATH")
DBT_SELECT = ["stg_trial_*", "trial_subjects", "trial_demographics", "trial_adverse_events",
              "trial_efficacy", "trial_time_to_event"]


def code_version() -> dict:
    """The checkout the figures come from (HEAD, and whether product code differs from it)."""
    git = lambda *a: subprocess.run(["git", "-C", str(REPO), *a], capture_output=True,  # noqa: E731
                                    text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD")
    if not commit:       # a `git archive` snapshot: BENCH_COMMIT names what it was taken from
        return {"commit": os.environ.get("BENCH_COMMIT", "unknown"), "dirty": False, "snapshot": str(REPO)}
    return {"commit": commit,
            "dirty": bool(git("status", "--porcelain", "--", "models", "orchestration", "dbt_project"))}


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wilson(k: int, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return float(lo), float(hi)


# --------------------------------------------------------------------------- coverage
def raw_tables_via_ingest(frames: dict[str, pl.DataFrame], folder: Path) -> dict[str, pl.DataFrame]:
    """Write the study as .xpt and parse each file the way the ingest does; the conformed
    tables keyed by raw table name (lower-case columns, findings' prefix dropped)."""
    from orchestration.ingest.trials import parse_trial_file
    from orchestration.simulate.trial import write_study

    parts: dict[str, list] = {}
    for path in write_study(folder, frames, "xpt"):
        result = parse_trial_file(path)
        if result.quarantine:
            raise RuntimeError(f"{path.name}: unexpected quarantine {result.quarantine[:3]}")
        for table, chunks in result.tables.items():
            parts.setdefault(table, []).extend(pl.from_arrow(c) for c in chunks)
    return {t: pl.concat(p) for t, p in parts.items()}


def one_trial(seed: int, n_subjects: int, workdir: Path) -> dict:
    from models.trials import adam, stats
    from models.trials.analysis import analysis_data, statistics
    from orchestration.simulate.trial import simulate_trial

    t0 = time.perf_counter()
    frames, truth = simulate_trial(seed, n_subjects=n_subjects)
    t1 = time.perf_counter()
    folder = workdir / f"s{seed}"
    tables = raw_tables_via_ingest(frames, folder)
    shutil.rmtree(folder, ignore_errors=True)
    t2 = time.perf_counter()
    data = analysis_data(tables)
    t3 = time.perf_counter()
    st = statistics(data)
    t4 = time.perf_counter()

    bm, tt = truth["biomarker"], truth["ttpd"]
    anc = st["efficacy_ancova"].filter((pl.col("paramcd") == bm["lbtestcd"])
                                       & (pl.col("kind") == "difference"))
    cox = st["time_to_event_tests"].filter(pl.col("paramcd") == "TTPD")
    row = {"seed": seed, "studyid": truth["studyid"],
           "t_simulate": t1 - t0, "t_write_parse": t2 - t1, "t_analysis_data": t3 - t2,
           "t_statistics": t4 - t3,
           "effect_marginal": bm["effect_marginal"], "effect_in_sample": bm["effect_in_sample"],
           "true_hr": tt["hazard_ratio"], "truth_n_events": tt["n_events"]}
    if anc.height == 1:
        a = anc.row(0, named=True)
        row.update(ancova_estimate=a["estimate"], ancova_lo=a["lo"], ancova_hi=a["hi"],
                   ancova_n=a["n"], ancova_visit=a["avisit"])
    # the carrier share of the treated subjects the ANCOVA analysed (a WEEK 24 change)
    bds = data["bds"]
    analysed = set(bds.filter((pl.col("paramcd") == bm["lbtestcd"]) & (pl.col("avisit") == bm["final_visit"])
                              & pl.col("chg").is_not_null())["usubjid"].to_list())
    treated = [s for s in truth["subjects"] if s["armcd"] == "TRT" and s["usubjid"] in analysed]
    if treated:
        share = sum(s["lof_carrier"] for s in treated) / len(treated)
        row["effect_analysed"] = bm["effect"] + bm["interaction_lof"] * share
    row["n_floored_final"] = sum(s["final_floored"] for s in truth["subjects"])
    if cox.height == 1:
        c = cox.row(0, named=True)
        row.update(hr=c["hazard_ratio"], hr_lo=c["hr_lo"], hr_hi=c["hr_hi"], cox_events=c["events"],
                   cox_note=c["note"])
    # diagnostic: TTPD with exactly the truth's events (LACK OF EFFICACY censored)
    adtte = adam.derive_adtte(data["adsl"], tables["trial_ds"], data["adae"],
                              events={"TTPD": TRUTH_TTPD}).filter(pl.col("paramcd") == "TTPD")
    _, tests = stats.time_to_event(adtte, data["adsl"])
    if tests.height == 1:
        c = tests.row(0, named=True)
        row.update(hr_truthdef=c["hazard_ratio"], hr_truthdef_lo=c["hr_lo"],
                   hr_truthdef_hi=c["hr_hi"], cox_truthdef_events=c["events"])
    row["n_lack_of_efficacy"] = sum(s["dsdecod"] == "LACK OF EFFICACY" for s in truth["subjects"])
    return row


def summarize(rows: list[dict], est: str, lo: str, hi: str, truth: str, log: bool = False) -> dict:
    ok = [r for r in rows if r.get(est) is not None and r.get(lo) is not None
          and r.get(hi) is not None and r.get(truth) is not None]
    n = len(ok)
    if not n:
        return {"n": 0}
    hits = sum(r[lo] <= r[truth] <= r[hi] for r in ok)
    below = sum(r[hi] < r[truth] for r in ok)       # CI entirely below the truth
    above = sum(r[lo] > r[truth] for r in ok)
    f = (lambda x: math.log(x)) if log else (lambda x: x)
    e = np.array([f(r[est]) for r in ok])
    t = np.array([f(r[truth]) for r in ok])
    w = np.array([f(r[hi]) - f(r[lo]) for r in ok])
    clo, chi = wilson(hits, n)
    out = {"n": n, "covered": hits, "coverage": hits / n, "coverage_lo": clo, "coverage_hi": chi,
           "ci_below_truth": below, "ci_above_truth": above,
           ("mean_log_estimate" if log else "mean_estimate"): float(e.mean()),
           ("mean_log_truth" if log else "mean_truth"): float(t.mean()),
           "bias": float((e - t).mean()), "bias_se": float((e - t).std(ddof=1) / math.sqrt(n)),
           "sd_estimate": float(e.std(ddof=1)),
           ("mean_log_ci_width" if log else "mean_ci_width"): float(w.mean())}
    if log:
        out["geomean_hr"] = float(math.exp(e.mean()))
        # a Wald CI's width on the log scale is 2 × 1.96 × se: the mean se it implies
        out["mean_se_implied"] = float(w.mean() / (2 * 1.959964))
    else:
        out["mean_se_implied"] = float(w.mean() / (2 * 1.98))   # t quantile, ~100 df
    return out


def run_coverage(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench_trials_cov_"))
    rows, t0 = [], time.perf_counter()
    try:
        for k in range(args.n_trials):
            rows.append(one_trial(args.seed0 + k, args.n_subjects, workdir))
            if (k + 1) % 20 == 0:
                print(f"  coverage: {k + 1}/{args.n_trials} trials, {time.perf_counter() - t0:.0f} s",
                      flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    wall = time.perf_counter() - t0
    res = {
        "n_trials": args.n_trials, "n_subjects": args.n_subjects, "seeds": [args.seed0, args.seed0 + args.n_trials - 1],
        "wall_s": wall,
        "per_trial_s": {k: float(np.mean([r[k] for r in rows])) for k in
                        ("t_simulate", "t_write_parse", "t_analysis_data", "t_statistics")},
        "ancova_vs_effect_marginal": summarize(rows, "ancova_estimate", "ancova_lo", "ancova_hi", "effect_marginal"),
        "ancova_vs_effect_in_sample": summarize(rows, "ancova_estimate", "ancova_lo", "ancova_hi", "effect_in_sample"),
        "ancova_vs_effect_analysed": summarize(rows, "ancova_estimate", "ancova_lo", "ancova_hi", "effect_analysed"),
        "cox_hr": summarize(rows, "hr", "hr_lo", "hr_hi", "true_hr", log=True),
        "cox_hr_truth_definition": summarize(rows, "hr_truthdef", "hr_truthdef_lo", "hr_truthdef_hi", "true_hr",
                                             log=True),
        "mean_cox_events": float(np.mean([r["cox_events"] for r in rows if r.get("cox_events") is not None])),
        "mean_truth_events": float(np.mean([r["truth_n_events"] for r in rows])),
        "mean_lack_of_efficacy": float(np.mean([r["n_lack_of_efficacy"] for r in rows])),
        "trials_with_floored_final": sum(r["n_floored_final"] > 0 for r in rows),
        "cox_not_estimable": sum(r.get("hr") is None for r in rows),
        "ancova_missing": sum(r.get("ancova_estimate") is None for r in rows),
    }
    paired = [math.log(r["hr"]) - math.log(r["hr_truthdef"]) for r in rows
              if r.get("hr") and r.get("hr_truthdef")]
    if paired:
        res["log_hr_lake_minus_truthdef"] = {"mean": float(np.mean(paired)),
                                            "se": float(np.std(paired, ddof=1) / math.sqrt(len(paired))),
                                            "n": len(paired)}
    res["rows"] = rows
    return res


# --------------------------------------------------------------------------- ingest
EXTRA_TESTS = (  # code, name, category, unit, specimen, median, lower limit, upper limit
    ("AST", "Aspartate Aminotransferase", "CHEMISTRY", "U/L", "SERUM", 22, 0, 40),
    ("ALP", "Alkaline Phosphatase", "CHEMISTRY", "U/L", "SERUM", 75, 40, 130),
    ("BILI", "Bilirubin", "CHEMISTRY", "umol/L", "SERUM", 9, 3, 21),
    ("ALB", "Albumin", "CHEMISTRY", "g/L", "SERUM", 43, 35, 52),
    ("CREAT", "Creatinine", "CHEMISTRY", "umol/L", "SERUM", 80, 53, 115),
    ("BUN", "Blood Urea Nitrogen", "CHEMISTRY", "mmol/L", "SERUM", 5, 2.5, 7.5),
    ("GLUC", "Glucose", "CHEMISTRY", "mmol/L", "SERUM", 5.2, 3.9, 6.1),
    ("SODIUM", "Sodium", "CHEMISTRY", "mmol/L", "SERUM", 140, 135, 145),
    ("K", "Potassium", "CHEMISTRY", "mmol/L", "SERUM", 4.2, 3.5, 5.1),
    ("CL", "Chloride", "CHEMISTRY", "mmol/L", "SERUM", 102, 98, 107),
    ("CA", "Calcium", "CHEMISTRY", "mmol/L", "SERUM", 2.35, 2.1, 2.6),
    ("CHOL", "Cholesterol", "CHEMISTRY", "mmol/L", "SERUM", 4.9, 0, 5.2),
    ("TRIG", "Triglycerides", "CHEMISTRY", "mmol/L", "SERUM", 1.3, 0, 1.7),
    ("CK", "Creatine Kinase", "CHEMISTRY", "U/L", "SERUM", 110, 30, 200),
    ("HGB", "Hemoglobin", "HEMATOLOGY", "g/L", "WHOLE BLOOD", 140, 120, 170),
    ("HCT", "Hematocrit", "HEMATOLOGY", "%", "WHOLE BLOOD", 42, 36, 50),
    ("RBC", "Erythrocytes", "HEMATOLOGY", "10^12/L", "WHOLE BLOOD", 4.7, 4.0, 5.8),
    ("WBC", "Leukocytes", "HEMATOLOGY", "10^9/L", "WHOLE BLOOD", 6.5, 4.0, 11.0),
    ("PLAT", "Platelets", "HEMATOLOGY", "10^9/L", "WHOLE BLOOD", 250, 150, 400),
    ("NEUT", "Neutrophils", "HEMATOLOGY", "10^9/L", "WHOLE BLOOD", 3.8, 1.8, 7.5),
    ("LYM", "Lymphocytes", "HEMATOLOGY", "10^9/L", "WHOLE BLOOD", 2.0, 1.0, 4.0),
    ("MONO", "Monocytes", "HEMATOLOGY", "10^9/L", "WHOLE BLOOD", 0.5, 0.2, 1.0),
    ("EOS", "Eosinophils", "HEMATOLOGY", "10^9/L", "WHOLE BLOOD", 0.2, 0.0, 0.5),
    ("BASO", "Basophils", "HEMATOLOGY", "10^9/L", "WHOLE BLOOD", 0.05, 0.0, 0.1),
)


def widen_lb(lb: pl.DataFrame, target: int, seed: int) -> pl.DataFrame:
    """LB with enough further tests that it holds about ``target`` records: each extra test
    (``EXTRA_TESTS``, cycled with a numeric suffix when more are needed) gets one record per
    ALT record (the same subject, visit, date and baseline flag), its value the test's
    median × a log-normal factor (sd 0.2) per record, with reference range and normal-range
    indicator; LBSEQ renumbered per subject by visit, then test."""
    alt = lb.filter(pl.col("LBTESTCD") == "ALT")
    n_extra = max(0, math.ceil((target - lb.height) / max(alt.height, 1)))
    rng = np.random.default_rng([seed, 14])
    parts = [lb]
    for k in range(n_extra):
        code, name, cat, unit, spec, med, lo, hi = EXTRA_TESTS[k % len(EXTRA_TESTS)]
        if k >= len(EXTRA_TESTS):
            code, name = f"{code}{k // len(EXTRA_TESTS)}", f"{name} {k // len(EXTRA_TESTS)}"
        values = np.round(med * np.exp(rng.normal(0, 0.2, alt.height)), 2)
        text = pl.Series(values).cast(pl.String)
        parts.append(alt.with_columns(
            pl.lit(code).alias("LBTESTCD"), pl.lit(name).alias("LBTEST"), pl.lit(cat).alias("LBCAT"),
            text.alias("LBORRES"), pl.lit(unit).alias("LBORRESU"),
            pl.lit(str(lo)).alias("LBORNRLO"), pl.lit(str(hi)).alias("LBORNRHI"),
            text.alias("LBSTRESC"), pl.Series("LBSTRESN", values), pl.lit(unit).alias("LBSTRESU"),
            pl.lit(float(lo)).alias("LBSTNRLO"), pl.lit(float(hi)).alias("LBSTNRHI"),
            pl.when(pl.Series(values) > hi).then(pl.lit("HIGH"))
            .when(pl.Series(values) < lo).then(pl.lit("LOW")).otherwise(pl.lit("NORMAL")).alias("LBNRIND"),
            pl.lit(spec).alias("LBSPEC")))
    out = (pl.concat(parts).with_row_index("_k")
           .sort(["USUBJID", "VISITNUM", "_k"]).drop("_k"))
    return out.with_columns(pl.int_range(1, pl.len() + 1).over("USUBJID").cast(pl.Float64).alias("LBSEQ"))


def make_study(folder: Path, n_subjects: int, lb_records: int, seed: int) -> dict:
    """The big study's .xpt files in ``folder`` (kept between runs when the manifest says
    the same sizes)."""
    from orchestration.simulate.trial import simulate_trial, write_study

    manifest = folder / "manifest.json"
    want = {"n_subjects": n_subjects, "lb_records": lb_records, "seed": seed}
    if manifest.exists():
        got = json.loads(manifest.read_text())
        if {k: got.get(k) for k in want} == want and all((folder / f).exists() for f in got["files"]):
            return got
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    frames, truth = simulate_trial(seed, n_subjects=n_subjects)
    t1 = time.perf_counter()
    lb0 = frames["LB"].height
    frames["LB"] = widen_lb(frames["LB"], lb_records, seed)
    t2 = time.perf_counter()
    files = write_study(folder, frames, "xpt")
    t3 = time.perf_counter()
    got = {**want, "studyid": truth["studyid"], "files": sorted(f.name for f in files),
           "records": {d: f.height for d, f in frames.items()}, "lb_records_simulated": lb0,
           "lb_tests": frames["LB"]["LBTESTCD"].n_unique(),
           "bytes": {f.name: f.stat().st_size for f in files},
           "simulate_s": t1 - t0, "widen_s": t2 - t1, "write_xpt_s": t3 - t2,
           "true_hr": truth["ttpd"]["hazard_ratio"], "effect_marginal": truth["biomarker"]["effect_marginal"]}
    manifest.write_text(json.dumps(got, indent=1))
    return got


def stage_pyreadstat(files: list[Path], polars_out: bool) -> dict:
    import pyreadstat

    t0 = time.perf_counter()
    rows = 0
    for f in files:
        if polars_out:
            df, _ = pyreadstat.read_xport(str(f), output_format="polars", disable_datetime_conversion=True)
            rows += df.height
        else:
            df, _ = pyreadstat.read_xport(str(f))
            rows += len(df)
        del df
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def stage_ingest(home: Path) -> dict:
    from orchestration.ingest import runner
    from orchestration.settings import LakePaths

    t0 = time.perf_counter()
    summary = runner.ingest_trials(LakePaths(home))
    sec = time.perf_counter() - t0
    return {"seconds": sec, "rows": sum(summary.rows_written.values()),
            "rows_written": summary.rows_written, "files_ingested": summary.files_ingested,
            "files_quarantined": summary.files_quarantined,
            "records_quarantined": summary.records_quarantined,
            "quarantine_reasons": summary.quarantine_reasons[:5]}


def stage_analysis(home: Path) -> dict:
    from models.trials.analysis import analysis_data, statistics
    from orchestration.assets.trials import STATISTICS_FILES
    from orchestration.ingest.trial_checks import check_study_tables
    from orchestration.lake.io import write_parquet_atomic
    from orchestration.settings import TRIAL_TABLES, Evidence, LakePaths

    paths = LakePaths(home)
    times = {}
    t = time.perf_counter()
    tables = {tb: pl.read_parquet(paths.raw_table(tb) / "**" / "*.parquet")
              for tb in TRIAL_TABLES}
    times["read_raw"] = time.perf_counter() - t
    t = time.perf_counter()
    tables, refusals = check_study_tables(tables, set())
    times["checks"] = time.perf_counter() - t
    t = time.perf_counter()
    data = analysis_data(tables)
    times["analysis_data"] = time.perf_counter() - t
    t = time.perf_counter()
    st = statistics(data)
    times["statistics"] = time.perf_counter() - t
    t = time.perf_counter()
    out = {Evidence.TRIAL_ADSL: data["adsl"], Evidence.TRIAL_ADAE: data["adae"],
           Evidence.TRIAL_ADTTE: data["adtte"], Evidence.TRIAL_BDS: data["bds"],
           Evidence.TRIAL_LINKS: tables["trial_links"].select("studyid", "usubjid", "patient_id"),
           Evidence.TRIAL_REFUSALS: refusals,
           **{STATISTICS_FILES[k]: v for k, v in st.items()}}
    for name, frame in out.items():
        write_parquet_atomic(frame, paths.evidence_file(name))
    times["write_evidence"] = time.perf_counter() - t
    anc = st["efficacy_ancova"].filter((pl.col("kind") == "difference") & (pl.col("paramcd") == "GLUSPH"))
    cox = st["time_to_event_tests"].filter(pl.col("paramcd") == "TTPD")
    # not timed: the same Cox fit with the truth's TTPD events (LACK OF EFFICACY censored)
    from models.trials import adam, stats
    adtte = adam.derive_adtte(data["adsl"], tables["trial_ds"], data["adae"],
                              events={"TTPD": TRUTH_TTPD}).filter(pl.col("paramcd") == "TTPD")
    cox_truthdef = stats.time_to_event(adtte, data["adsl"])[1]
    return {"seconds": sum(times.values()), "times": times,
            "cox_ttpd_truth_definition": cox_truthdef.select("hazard_ratio", "hr_lo", "hr_hi", "events").to_dicts(),
            "rows_in": sum(f.height for f in tables.values()),
            "findings_rows": tables["trial_findings"].height, "refusals": refusals.height,
            "rows_out": {k: v.height for k, v in {**data, **st}.items()},
            "ancova_glusph": anc.select("estimate", "lo", "hi").to_dicts(),
            "cox_ttpd": cox.select("hazard_ratio", "hr_lo", "hr_hi", "events").to_dicts()}


def stage_dbt(home: Path) -> dict:
    from orchestration.settings import DBT_PROJECT_DIR, LakeConfig

    target = home / "build" / "dbt" / "bench"
    target.mkdir(parents=True, exist_ok=True)
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [str(dbt), "build", "--select", *DBT_SELECT, "--indirect-selection", "cautious",
           *LakeConfig(home).dbt_args(), "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
           "--log-path", str(target)]
    env = {**os.environ, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    sec = time.perf_counter() - t0
    tail = proc.stdout.strip().splitlines()[-6:]
    rr = json.loads((target / "run_results.json").read_text()) if (target / "run_results.json").exists() else {}
    statuses: dict[str, int] = {}
    for r in rr.get("results", []):
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    import re

    ran = re.search(r"Finished running .* in .*?\(([\d.]+)s\)", proc.stdout)
    return {"seconds": sec, "returncode": proc.returncode, "tail": tail, "statuses": statuses,
            "dbt_reported_run_s": float(ran.group(1)) if ran else None,
            "nodes": len(rr.get("results", [])),
            "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def run_stage(stage: str, **kw) -> dict:
    """One stage in a fresh process of this script (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--stage", stage, "--stage-args", json.dumps(kw, default=str)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"stage {stage} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def stage_main(stage: str, kw: dict) -> None:
    if stage == "pyreadstat":
        out = stage_pyreadstat([Path(f) for f in kw["files"]], kw["polars"])
    elif stage == "ingest":
        out = stage_ingest(Path(kw["home"]))
    elif stage == "analysis":
        out = stage_analysis(Path(kw["home"]))
    elif stage == "dbt":
        out = stage_dbt(Path(kw["home"]))
    else:
        raise SystemExit(f"unknown stage {stage}")
    out["maxrss_mib"] = maxrss_mib()
    print(json.dumps(out, default=str))


def fresh_lake(base: Path, study_dir: Path, studyid: str, files: list[str]) -> Path:
    """A new empty lake with the study's files (hard links) under landing/trials/<study>/."""
    from orchestration.settings import LakePaths

    home = Path(tempfile.mkdtemp(prefix="lake_", dir=base))
    LakePaths(home).ensure()            # the folders every lake has (marts/, build/ …)
    dest = home / "landing" / "trials" / studyid
    dest.mkdir(parents=True)
    for f in files:
        try:
            os.link(study_dir / f, dest / f)
        except OSError:
            shutil.copy2(study_dir / f, dest / f)
    return home


def run_ingest(args) -> dict:
    base = Path(args.workdir)
    base.mkdir(parents=True, exist_ok=True)
    study_dir = base / "study"
    print("  ingest: making the study (cached between runs) …", flush=True)
    m = make_study(study_dir, args.ingest_subjects, args.lb_records, args.ingest_seed)
    files = [study_dir / f for f in m["files"]]
    total = sum(m["records"].values())
    res = {"study": {k: v for k, v in m.items() if k != "files"}, "files": m["files"],
           "records_total": total, "mib_total": sum(m["bytes"].values()) / 2**20, "repeat": args.repeat}
    runs: dict[str, list[dict]] = {"pyreadstat_pandas": [], "pyreadstat_polars": [], "ingest": []}
    for rep in range(args.repeat):
        # taking turns, so a load change hits every contender alike
        runs["pyreadstat_pandas"].append(run_stage("pyreadstat", files=[str(f) for f in files], polars=False))
        runs["pyreadstat_polars"].append(run_stage("pyreadstat", files=[str(f) for f in files], polars=True))
        home = fresh_lake(base, study_dir, m["studyid"], m["files"])
        runs["ingest"].append(run_stage("ingest", home=str(home)))
        print(f"  ingest rep {rep + 1}: pandas {runs['pyreadstat_pandas'][-1]['seconds']:.1f} s, "
              f"polars {runs['pyreadstat_polars'][-1]['seconds']:.1f} s, "
              f"ingest {runs['ingest'][-1]['seconds']:.1f} s", flush=True)
        if rep < args.repeat - 1:
            shutil.rmtree(home, ignore_errors=True)
    # the last lake goes on: analysis, then dbt
    if "analysis" in args.stages:
        runs["analysis"] = [run_stage("analysis", home=str(home))]
        print(f"  analysis {runs['analysis'][-1]['seconds']:.1f} s", flush=True)
    if "dbt" in args.stages:
        runs["dbt"] = [run_stage("dbt", home=str(home))]
        print(f"  dbt {runs['dbt'][-1]['seconds']:.1f} s rc={runs['dbt'][-1]['returncode']}", flush=True)
    res["runs"] = runs
    med = {k: float(np.median([r["seconds"] for r in v])) for k, v in runs.items() if v}
    res["median_s"] = med
    res["rows_per_s"] = {k: total / s for k, s in med.items() if k.startswith(("pyreadstat", "ingest"))}
    res["ratio_ingest_over_pyreadstat_pandas"] = med["ingest"] / med["pyreadstat_pandas"]
    res["ratio_ingest_over_pyreadstat_polars"] = med["ingest"] / med["pyreadstat_polars"]
    res["maxrss_mib"] = {k: max(r.get("children_maxrss_mib", r["maxrss_mib"]) for r in v)
                         for k, v in runs.items() if v}   # dbt: its own process
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    else:
        res["lake"] = str(home)
    return res


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["coverage", "ingest"], choices=["coverage", "ingest"])
    ap.add_argument("--n-trials", type=int, default=200)
    ap.add_argument("--n-subjects", type=int, default=120)
    ap.add_argument("--seed0", type=int, default=1)
    ap.add_argument("--ingest-subjects", type=int, default=10_000)
    ap.add_argument("--lb-records", type=int, default=1_000_000)
    ap.add_argument("--ingest-seed", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=3, help="runs of (a) and (b), median reported")
    ap.add_argument("--stages", nargs="*", default=["analysis", "dbt"], choices=["analysis", "dbt"],
                    help="stages after the ingest, on its last lake")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "bench_trials"))
    ap.add_argument("--keep", action="store_true", help="keep the last temporary lake")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--stage-args", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        stage_main(args.stage, json.loads(args.stage_args))
        return
    res: dict = {}
    if "coverage" in args.parts:
        print(f"coverage: {args.n_trials} trials × {args.n_subjects} subjects", flush=True)
        res["coverage"] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **code_version(),
                           **run_coverage(args)}
        c = res["coverage"]
        for k in ("ancova_vs_effect_marginal", "ancova_vs_effect_in_sample", "ancova_vs_effect_analysed",
                  "cox_hr", "cox_hr_truth_definition"):
            s = c[k]
            print(f"  {k}: {s['covered']}/{s['n']} = {s['coverage']:.3f} "
                  f"[{s['coverage_lo']:.3f}, {s['coverage_hi']:.3f}], bias {s['bias']:+.3f} ± {s['bias_se']:.3f}",
                  flush=True)
    if "ingest" in args.parts:
        print(f"ingest: {args.ingest_subjects} subjects, ~{args.lb_records} LB records", flush=True)
        res["ingest"] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **code_version(),
                         **run_ingest(args)}
        print(json.dumps({k: res["ingest"][k] for k in ("median_s", "rows_per_s", "maxrss_mib",
                                                         "ratio_ingest_over_pyreadstat_pandas",
                                                         "ratio_ingest_over_pyreadstat_polars")}, indent=1))
    res["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    res["load_1min_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    args.out.write_text(json.dumps({**merged, **res}, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
