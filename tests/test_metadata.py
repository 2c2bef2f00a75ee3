"""orchestration/metadata.py: rounding and naming of asset metadata (pure helpers)."""

import json
import math

import numpy as np

from orchestration.assets.models import ranker_metadata
from orchestration.metadata import check_keys, cv_key, interval, metrics_table, rounded, test_key


def test_rounded_walks_containers_and_keeps_non_floats():
    got = rounded({"a": 0.123456, "b": [np.float64(2.34567), np.int64(3), np.bool_(True)],
                   "c": (1, "x", None), "d": {"e": -0.0001}})
    assert got == {"a": 0.123, "b": [2.346, 3, True], "c": [1, "x", None], "d": {"e": -0.0001}}
    assert type(got["b"][0]) is float and type(got["b"][1]) is int and type(got["b"][2]) is bool
    json.dumps(got)  # plain JSON


def test_rounded_keeps_significant_figures_of_small_numbers_and_drops_nan():
    assert rounded(0.000573373368107341) == 0.000573
    assert rounded(6.780746061883235e-05) == 6.78e-05
    assert rounded(1234.56789) == 1234.568
    assert rounded(0.9999) == 1.0
    assert rounded(float("nan")) is None and rounded([math.inf]) == [None]
    assert rounded(-1e-12, digits=3) == -1e-12
    assert str(rounded(-0.0)) == "0.0"
    assert rounded(0.123456, digits=2) == 0.12


def test_naming_rules():
    assert cv_key("top1") == "cv_top1" and cv_key("top1", "phenotype_only") == "cv_top1_phenotype_only"
    assert test_key("roc_auc") == "test_roc_auc"
    assert check_keys(["cv_top1", "test_top1", "heldout_top1", "lake_held_out", "x_Held-Out"]) == [
        "heldout_top1", "lake_held_out", "x_Held-Out"]
    assert interval(0.51234, 0.6) == "0.512–0.600" and interval(None, 0.6) is None


def test_metrics_table_rounds_and_fills_gaps():
    md = metrics_table({"ranker": {"top1": 0.87171, "n": 12}, "a|b": {"top1": None, "top5": 0.5}})
    lines = md.splitlines()
    assert lines[0] == "| method | top1 | n | top5 |"
    assert lines[2] == "| ranker | 0.872 | 12 | – |"
    assert lines[3] == "| a\\|b | – | – | 0.500 |"


def _cell(v):
    return {"value": v, "lo": v - 0.05, "hi": v + 0.05}


def test_ranker_metadata_names_cv_figures_and_summarises():
    metrics = {
        "evaluation_scope": "5-fold cross-validation grouped by causal gene",
        "recall_gene_cv": {
            "variant_only": {"top1": _cell(0.15123), "top5": _cell(0.3), "top10": _cell(0.4),
                             "n_patients": 50, "n_genes": 20},
            "ranker": {"top1": _cell(0.87171), "top5": _cell(0.94), "top10": _cell(0.956062),
                       "n_patients": 50, "n_genes": 20}},
        "calibration": {"top1": {"brier": 0.0598123, "ece": 0.01241,
                                 "bins": [{"bin": "0.0-0.1", "mean_score": 0.07351, "n": 3,
                                           "observed_rate": 0.15384}]},
                        "all_candidates": {"brier": 0.000573373, "ece": 6.7807e-05}},
    }
    decision = {"heldout_recall": {
        "shipped": {"n_patients": 12, "n_causal_not_candidate": 1, "recall_at_1": 5 / 12,
                    "recall_at_5": 8 / 12, "recall_at_10": 0.75},
        "refined": {"n_patients": 12, "n_causal_not_candidate": 1, "recall_at_1": 0.5,
                    "recall_at_5": 8 / 12, "recall_at_10": 0.75}}}
    meta = ranker_metadata(metrics, decision)
    assert check_keys(meta) == []
    assert meta["cv_top1"] == 0.872 and meta["cv_top10"] == 0.956
    assert meta["cv_top1_ci95"] == "0.822–0.922"
    assert meta["cv_top1_variant_only"] == 0.151 and "cv_top1_ci95_variant_only" not in meta
    assert meta["cv_patients"] == 50 and meta["cv_genes"] == 20
    assert meta["calibration_all_brier"] == 0.000573 and meta["calibration_top1_ece"] == 0.0124
    summary = meta["summary"].value.splitlines()
    assert summary[2].startswith("| method | top-1 | top-1 95% CI |")
    assert summary[4].startswith("| ranker | 0.872 | 0.822–0.922 |")  # the ranker first
    lake = meta["lake_cv"].value.splitlines()
    assert lake[2] == "| shipped | 0.417 | 0.667 | 0.750 | 12 | 1 |"
    assert meta["metrics"].value["recall_gene_cv"]["ranker"]["top1"]["value"] == 0.872
    assert ranker_metadata({})["cv_scope"] == ""


def test_dbt_models_published_in_the_catalog_are_named_by_their_view():
    from orchestration.metadata import catalog_table_metadata

    mart = {"resource_type": "model", "name": "plate_qc", "alias": "plate_qc",
            "config": {"materialized": "external"}}
    assert catalog_table_metadata(mart) == {"dagster/table_name": "lake.main.plate_qc"}
    assert catalog_table_metadata({**mart, "config": {"materialized": "view"}}) == {}
    assert catalog_table_metadata({**mart, "resource_type": "source"}) == {}
