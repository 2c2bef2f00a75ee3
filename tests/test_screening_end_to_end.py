"""The compound and screening path through the whole refresh job, on the session's
simulated lake; the simulator's truth is read only here, to judge the results."""

import json
import shutil

import dagster as dg
import polars as pl

from orchestration.cli import main, run_refresh
from orchestration.metadata import check_keys


def _sql(capsys, query: str) -> list[list[str]]:
    capsys.readouterr()
    assert main(["sql", query, "--format", "tsv"]) == 0
    return [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]


def _truth(paths) -> dict:
    return json.loads(next(paths.truth.glob("*/screening/plates.json")).read_text())


def test_the_four_products_are_queryable(e2e_lake, capsys):
    for query in ("select * from compound_scores order by rank limit 10",
                  "select * from plate_qc", "select * from hts_well_results limit 10",
                  "select * from dose_response"):
        rows = _sql(capsys, query)
        assert len(rows) > 1, f"no rows for: {query}"


def test_wells_calls_and_scores_carry_hit_class_replicates_and_admet_flags(e2e_lake, capsys):
    """The three tables a chemist reads side by side agree on one compound's screen and
    safety evidence: the class and replicate count of the call, and ADMET-AI's flags."""
    rows = _sql(capsys, """
        select count(*) filter (where w.hit_class is distinct from c.hit_class
                                   or w.n_valid_replicates is distinct from c.n_valid_replicates
                                   or w.n_safety_flags is distinct from c.n_safety_flags),
               count(*) filter (where c.n_safety_flags is null),
               count(*) filter (where c.n_safety_flags > 0)
        from hts_well_results as w
        join hts_compound_calls as c using (run_id, compound_id)
        where w.role = 'sample'""")
    disagree, unflagged, flagged = map(int, rows[1])
    assert disagree == 0 and unflagged == 0 and flagged > 0
    rows = _sql(capsys, """
        select count(*) filter (where s.hit_class is distinct from best.hit_class),
               count(*) filter (where s.n_safety_flags is distinct from a.n_safety_flags),
               count(*) filter (where s.tested and s.n_valid_replicates is null)
        from compound_scores as s
        join compound_admet as a using (inchikey)
        left join (select target_gene, inchikey,
                          case max(case hit_class when 'hit' then 4 when 'weak' then 3
                                   when 'inconclusive' then 2 else 1 end)
                          when 4 then 'hit' when 3 then 'weak' when 2 then 'inconclusive'
                          else 'inactive' end as hit_class
                   from hts_compound_calls group by all) as best
          using (target_gene, inchikey)""")
    assert [int(v) for v in rows[1]] == [0, 0, 0]


def test_every_library_compound_is_scored_screened_or_not(e2e_lake):
    paths, summary = e2e_lake
    scores = pl.read_parquet(paths.marts / "compound_scores.parquet")
    compounds = pl.read_parquet(paths.marts / "compounds.parquet")
    target = summary["screening"]["target_gene"]
    mine = scores.filter(pl.col("target_gene") == target)
    assert mine.height == compounds.height
    assert mine["tested"].any() and (~mine["tested"]).any()
    assert sorted(mine["rank"].to_list()) == list(range(1, mine.height + 1))
    # the link to the patient path: the target is a ranked gene of some cohort
    assert mine["target_best_rank"].drop_nulls().len() == mine.height


def test_duplicate_structures_across_libraries_are_merged_and_ids_kept(e2e_lake):
    paths, _ = e2e_lake
    compounds = pl.read_parquet(paths.marts / "compounds.parquet")
    assert compounds["inchikey"].is_unique().all()
    shared = compounds.filter(pl.col("libraries").list.len() > 1)
    assert shared.height > 0, "drugs in the solubility set must merge with the approved drugs"
    ids = shared["library_ids"].explode()
    assert ids.str.starts_with("chembl_approved:").any() and ids.str.starts_with("solubility_set:").any()


def test_the_failed_plate_is_flagged_and_excluded_from_hit_calling(e2e_lake):
    paths, _ = e2e_lake
    truth = _truth(paths)
    failed = {(run, p) for run, r in truth["runs"].items()
              for p, info in r.get("plates", {}).items() if info.get("failed")}
    assert failed, "the simulator plants one failed plate"
    qc = pl.read_parquet(paths.marts / "plate_qc.parquet")
    flagged = {(r, p) for r, p in qc.filter(~pl.col("passed")).select("run_id", "plate_id").iter_rows()}
    assert failed <= flagged
    wells = pl.read_parquet(paths.marts / "hts_well_results.parquet")
    on_failed = wells.filter(pl.struct("run_id", "plate_id").is_in(
        [{"run_id": r, "plate_id": p} for r, p in failed]))
    assert on_failed.height > 0, "wells of a failed plate are kept"
    assert not on_failed["is_hit"].any()
    check = dg.DagsterInstance.get().event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("plate_qc"), "plate_qc_passed")])
    record = next(iter(check.values()))
    assert record.status.value in ("FAILED", "SUCCEEDED")  # evaluated; WARN severity
    assert record.event.dagster_event.event_specific_data.passed is False


def test_every_compound_with_a_valid_replicate_gets_a_hit_class(e2e_lake):
    paths, _ = e2e_lake
    calls = pl.read_parquet(paths.marts / "hts_compound_calls.parquet")
    assert calls.columns == [
        "run_id", "compound_id", "inchikey", "target_gene", "assay_id", "n_wells",
        "n_valid_replicates", "median_percent_effect", "median_corrected", "replicate_spread",
        "hit_class", "inconclusive_reason", "needs_retest", "is_hit", "frequent_hitter",
        "pains_alert", "aggregator_like", "likely_interferer", "call", "herg_flag", "ames_flag",
        "dili_flag", "clintox_flag", "n_safety_flags", "safety_summary"]
    classes = set(calls["hit_class"].to_list())
    assert {"hit", "inactive"} <= classes and classes <= {"hit", "weak", "inactive", "inconclusive"}
    # every sample of every primary run is in the calls, once
    wells = pl.read_parquet(paths.marts / "hts_well_results.parquet")
    primary = wells.filter((pl.col("stage") == "primary") & (pl.col("role") == "sample"))
    assert calls.height == primary.select("run_id", "compound_id").unique().height
    # no compound with a valid replicate is left uncalled: only disagreeing replicates (≥ 2)
    # make it inconclusive, and the reason says which
    inc = calls.filter(pl.col("hit_class") == "inconclusive")
    assert inc["inconclusive_reason"].is_not_null().all()
    assert (inc.filter(pl.col("n_valid_replicates") > 0)["n_valid_replicates"] >= 2).all()
    assert (inc.filter(pl.col("n_valid_replicates") == 0)["inconclusive_reason"]
            .str.starts_with("no valid replicate").all())
    assert calls.filter(pl.col("hit_class") != "inconclusive")["inconclusive_reason"].is_null().all()
    # the failed plate leaves compounds with one good replicate: called, flagged for retest
    single = calls.filter(pl.col("n_valid_replicates") == 1)
    assert single.height > 0, "the failed plate should leave single-replicate compounds"
    assert single["needs_retest"].all() and (single["hit_class"] != "inconclusive").all()
    assert not calls.filter((pl.col("n_valid_replicates") >= 2)
                            & (pl.col("hit_class") != "inconclusive"))["needs_retest"].any()
    # hit = significant and potent; weak = significant only
    hits = calls.filter(pl.col("hit_class") == "hit")
    assert (hits["median_percent_effect"] >= 50).all() and (hits["median_corrected"] >= 3).all()
    weak = calls.filter(pl.col("hit_class") == "weak")
    assert (weak["median_percent_effect"] < 50).all() and (weak["median_corrected"] >= 3).all()
    assert calls["is_hit"].equals(calls["hit_class"] == "hit") and calls["call"].equals(calls["hit_class"])
    assert calls["likely_interferer"].equals(calls["frequent_hitter"] | calls["pains_alert"]
                                             | calls["aggregator_like"])
    # the well mart carries the class of its compound, and compound_is_hit means 'hit'
    s = primary.filter(pl.col("hit_class").is_not_null())
    assert s.height == primary.height
    assert s["compound_is_hit"].equals(s["hit_class"] == "hit")
    assert primary["percent_effect"].is_not_null().any()
    check = dg.DagsterInstance.get().event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("hts_compound_calls"), "hts_compound_calls_complete")])
    assert next(iter(check.values())).event.dagster_event.event_specific_data.passed is True


def test_primary_hits_recover_the_true_actives(e2e_lake):
    """Hits (potent and significant) against the true actives (pIC50 ≥ 5, i.e. ≥ 50 % at
    the 10 µM primary concentration). The planted assay interferers read active by design:
    they are left out of precision and recall, and most of those called 'hit' must carry
    the likely_interferer flag that is there for them."""
    paths, _ = e2e_lake
    truth = _truth(paths)
    primary = next(r for r in truth["runs"] if r.startswith("PRIMARY") and not r.endswith("_bad"))
    actives = set(truth["runs"][primary]["true_actives"])
    interferers = set(truth["runs"][primary]["interferers"])
    calls = pl.read_parquet(paths.marts / "hts_compound_calls.parquet").filter(
        pl.col("run_id") == primary)
    called = set(calls.filter(pl.col("is_hit"))["compound_id"]) - interferers
    tp = len(called & actives)
    precision, recall = tp / max(len(called), 1), tp / len(actives)
    assert precision >= 0.75, f"hit precision {precision:.2f}"
    assert recall >= 0.9, f"hit recall {recall:.2f}"
    fooled = calls.filter(pl.col("is_hit") & pl.col("compound_id").is_in(sorted(interferers)))
    assert fooled["likely_interferer"].mean() >= 0.7
    # the well mart agrees: its hit wells are those of the 'hit' compounds
    wells = pl.read_parquet(paths.marts / "hts_well_results.parquet").filter(
        (pl.col("run_id") == primary) & pl.col("is_hit"))
    assert set(wells["compound_id"]) <= set(calls.filter(pl.col("is_hit"))["compound_id"])
    # a structure active on two unrelated targets (the counter screen) is a frequent hitter
    all_calls = pl.read_parquet(paths.marts / "hts_compound_calls.parquet")
    if all_calls["target_gene"].n_unique() > 1:
        fh = all_calls.filter(pl.col("frequent_hitter"))
        assert fh.height > 0 and fh["likely_interferer"].all()


def test_dose_response_fits_the_confirmed_hits(e2e_lake):
    paths, _ = e2e_lake
    dr = pl.read_parquet(paths.marts / "dose_response.parquet")
    potent = dr.filter(pl.col("ic50_um").is_not_null())
    assert potent.height >= 0.5 * dr.height
    assert (potent["ic50_ci_low"] <= potent["ic50_um"]).all()
    assert (potent["ic50_um"] <= potent["ic50_ci_high"]).all()
    assert dr.filter(pl.col("curve_class") == "4").height >= 1, "the picked negatives stay flat"


def test_models_report_cv_and_truth_metrics(e2e_lake):
    instance = dg.DagsterInstance.get()
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("compound_activity_model")).asset_materialization.metadata
    targets = [k.removesuffix("_chosen_family") for k in meta if k.endswith("_chosen_family")]
    roc = [f"{t}_cv_roc_auc" for t in targets]  # the chosen family's scaffold-CV figure
    assert roc and all(0.5 < meta[k].value <= 1.0 for k in roc)
    assert any(k.endswith("_untested_truth_roc_auc") for k in meta)
    assert any(k.endswith("_cv_ef1") for k in meta)
    assert "summary_table" in meta and "(chosen)" in meta["summary_table"].value
    assert not check_keys(meta)
    sol = instance.get_latest_materialization_event(
        dg.AssetKey("solubility_model")).asset_materialization.metadata
    assert sol["n_test"].value == 257
    assert sol["test_rmse"].value < 1.2 and sol["test_r2"].value > 0.6


def test_plate_figures_are_attached(e2e_lake):
    paths, _ = e2e_lake
    instance = dg.DagsterInstance.get()
    heat = instance.get_latest_materialization_event(
        dg.AssetKey("plate_well_scores")).asset_materialization.metadata["heatmaps"].value
    assert "data:image/png;base64," in heat
    curves = instance.get_latest_materialization_event(
        dg.AssetKey("dose_response_fits")).asset_materialization.metadata["curves_png"].value
    assert "data:image/png;base64," in curves
    assert any((paths.reports / "plates").rglob("*.png"))


def test_planted_plate_and_compound_defects_are_quarantined(e2e_lake):
    paths, _ = e2e_lake
    q = pl.read_parquet(paths.marts / "quarantine.parquet")
    plates = q.filter(pl.col("domain") == "plates")
    for defect in _truth(paths)["defects"]:
        rows = plates if defect["file"].startswith("plates/") else q.filter(pl.col("domain") == "compounds")
        hit = rows.filter(pl.col("granularity") == defect["granularity"])
        assert hit.height, f"{defect['defect']} not quarantined at {defect['granularity']}"
    assert q.filter((pl.col("domain") == "compounds") & (pl.col("granularity") == "file")).height >= 1
    assert q.filter((pl.col("domain") == "compounds") & (pl.col("granularity") == "record")).height >= 3


def test_refresh_picks_up_a_new_plate_run(e2e_lake):
    """A run folder dropped into landing/plates appears after one refresh, once, and the
    runs already ingested are untouched (a second refresh's idempotence is covered by
    test_end_to_end.test_refresh_is_idempotent)."""
    paths, _ = e2e_lake
    before = pl.read_parquet(paths.marts / "plate_qc.parquet")
    src = next(p for p in (paths.landing / "plates").iterdir() if p.name.startswith("DR_"))
    new_run = paths.landing / "plates" / f"{src.name}_rerun"
    shutil.copytree(src, new_run)
    try:
        assert run_refresh(paths)
        after = pl.read_parquet(paths.marts / "plate_qc.parquet")
        added = after.filter(pl.col("run_id") == new_run.name)
        assert added.height == before.filter(pl.col("run_id") == src.name).height
        assert after.height == before.height + added.height
        assert after.filter(pl.col("run_id") != new_run.name).sort("run_id", "plate_id").select(
            "run_id", "plate_id", "z_prime").equals(before.sort("run_id", "plate_id").select(
                "run_id", "plate_id", "z_prime"))
    finally:
        shutil.rmtree(new_run)
