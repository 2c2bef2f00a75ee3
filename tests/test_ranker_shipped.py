"""The shipped ranker's parts: gene-grouped folds, gene-bootstrap intervals, calibrated scores,
and the decision to refine it on a lake's own solved patients."""

from __future__ import annotations

# models.ranker first: it sets OMP_WAIT_POLICY before xgboost loads OpenMP (see its comment).
from models import ranker  # isort: skip

import numpy as np
import polars as pl
import pytest

from models import ranker_calibration, ranker_cv


def _candidates(n_patients: int, seed: int, prefix: str = "P", signal: str = "variant_score",
                n_cand: int = 30, genes_per: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Solved patients whose causal gene stands out on ``signal``; ``genes_per`` patients
    share each causal gene (so gene grouping matters)."""
    rng = np.random.default_rng(seed)
    rows, genes = [], []
    for p in range(n_patients):
        pid = f"{prefix}{p:04d}"
        causal_gene = f"CG{p // genes_per:04d}"
        names = [causal_gene] + [f"BG{g:05d}" for g in rng.choice(20000, n_cand - 1, replace=False)]
        values = {f: rng.uniform(0, 0.6, n_cand) for f in ("variant_score", "pheno_score",
                                                            "expr_score")}
        values[signal][0] = rng.uniform(0.7, 1.0)
        # the other features are columns without evidence (null): the ranker refuses a frame
        # that lacks a feature column
        rows.append(pl.DataFrame({"patient_id": pid, "gene_symbol": names, "is_training": True,
                                  "is_causal": [True] + [False] * (n_cand - 1), **values})
                    .with_columns([pl.lit(None, dtype=pl.Float64).alias(f)
                                   for f in ranker.FEATURES if f not in values]))
        genes.append((pid, causal_gene))
    return (pl.concat(rows),
            pl.DataFrame(genes, schema=["patient_id", "gene_symbol"], orient="row"))


def test_gene_folds_keep_each_gene_on_one_side_and_balance_sizes():
    _, gene_of = _candidates(60, seed=1, genes_per=4)
    folds = ranker_cv.gene_folds(gene_of, k=5, seed=0)
    by_gene = gene_of.with_columns(pl.col("patient_id").replace_strict(folds).alias("fold"))
    assert by_gene.group_by("gene_symbol").agg(pl.col("fold").n_unique())["fold"].max() == 1
    sizes = by_gene.group_by("fold").len()["len"]
    assert sizes.len() == 5 and sizes.max() - sizes.min() <= 4


def test_bootstrap_interval_brackets_the_estimate_and_a_method_does_not_beat_itself():
    ranks = pl.DataFrame({"patient_id": [f"P{i}" for i in range(40)],
                          "best_rank": [1 if i % 3 else 7 for i in range(40)]})
    gene_of = pl.DataFrame({"patient_id": [f"P{i}" for i in range(40)],
                            "gene_symbol": [f"G{i // 4}" for i in range(40)]})
    ci = ranker_cv.topk_with_ci(ranks, gene_of, n_boot=300)
    assert ci["n_genes"] == 10
    assert ci["top1"]["lo"] <= ci["top1"]["value"] <= ci["top1"]["hi"]
    assert ci["top1"]["value"] == pytest.approx(26 / 40)
    assert ci["top10"]["value"] == 1.0
    same = ranker_cv.paired_difference(ranks, ranks, gene_of, n_boot=100)
    assert same["top1"] == {"value": 0.0, "lo": 0.0, "hi": 0.0}


def test_calibration_recovers_temperature_and_none_and_scores_sum_below_one():
    rng = np.random.default_rng(3)
    t_true, b_true = 2.0, 5.0  # about a fifth of patients: causal gene not a candidate
    margins, pids, labels = [], [], []
    for p in range(600):
        m = rng.normal(0, 1.5, 25)
        z = np.append(t_true * m, b_true)
        pick = rng.choice(26, p=np.exp(z - z.max()) / np.exp(z - z.max()).sum())
        margins.append(m)
        pids += [f"P{p}"] * 25
        labels.append(np.arange(25) == pick)  # pick == 25: the causal gene is not a candidate
    m, y = np.concatenate(margins), np.concatenate(labels)
    cal = ranker_calibration.fit(m, np.array(pids), y)
    assert cal["temperature"] == pytest.approx(t_true, rel=0.15)
    assert cal["none_logit"] == pytest.approx(b_true, abs=0.5)
    p = ranker_calibration.probabilities(m, np.array(pids), cal)
    sums = pl.DataFrame({"pid": pids, "p": p}).group_by("pid").agg(pl.col("p").sum())["p"]
    # what is left for "none" matches how often the causal gene really was not a candidate
    none_share = 1 - y.reshape(600, 25).any(axis=1).mean()
    assert (sums < 1).all() and sums.mean() == pytest.approx(1 - none_share, abs=0.03)
    report = ranker_calibration.report(p, y, np.array(pids))
    # calibrated on its own data: top-1 confidence matches top-1 accuracy within a few points
    assert report["top1"]["ece"] < 0.06 and report["all_candidates"]["brier"] < 0.05


def test_shipped_training_is_measured_on_unseen_genes_with_calibrated_scores():
    features, gene_of = _candidates(90, seed=4)
    art = ranker.train_shipped(features, gene_of, folds=3, n_boot=100)
    m = art.metrics
    assert art.origin == "shipped" and art.calibration["temperature"] > 0
    assert m["recall_gene_cv"]["ranker"]["n_patients"] == 90
    assert m["recall_gene_cv"]["ranker"]["top1"]["value"] > 0.9
    assert m["recall_gene_cv"]["phenotype_only"]["top1"]["value"] < 0.3
    assert m["difference_gene_cv"]["phenotype_only"]["top1"]["lo"] > 0
    scored = ranker.score(art, features)
    per_patient = scored.group_by("patient_id").agg(pl.col("score").sum())["score"]
    assert (per_patient <= 1.0 + 1e-9).all()
    # a constant shift of a feature across all of one patient's candidates (a modality
    # measured differently in that patient) moves the calibrated scores only a little
    one = features.filter(pl.col("patient_id") == "P0000")
    shifted = ranker.score(art, one.with_columns(pl.col("expr_score") * 0 + 0.3))
    base = ranker.score(art, one)
    assert shifted["gene_symbol"][0] == base["gene_symbol"][0]


def test_refine_only_when_it_beats_the_shipped_model_on_held_out_patients():
    shipped_data, shipped_genes = _candidates(90, seed=5, signal="variant_score")
    shipped = ranker.train_shipped(shipped_data, shipped_genes, folds=3, n_boot=50)
    few, _ = _candidates(ranker.MIN_SOLVED_TO_REFINE - 1, seed=6, prefix="L")
    model, why = ranker.refine(shipped, few)
    assert model is shipped and why["model"] == "shipped" and "refining needs" in why["why"]
    # this lake's causal genes stand out on expression, which the shipped model never needed
    lake, _ = _candidates(60, seed=7, prefix="L", signal="expr_score")
    model, why = ranker.refine(shipped, lake)
    assert why["model"] == "refined", why
    held = why["heldout_recall"]
    assert held["refined"]["recall_at_1"] > held["shipped"]["recall_at_1"]
    assert model.origin == "refined" and model.calibration == shipped.calibration
    # and a lake like the shipped model's data gains nothing: the shipped model stays
    same, _ = _candidates(40, seed=8, prefix="S", signal="variant_score")
    model, why = ranker.refine(shipped, same)
    assert why["model"] == "shipped" and "did not help" in why["why"]


def test_calibrated_scores_do_not_depend_on_row_order():
    # dbt may hand the same candidates over in another order; a refresh with nothing new
    # must still write bit-identical scores
    rng = np.random.default_rng(0)
    m = rng.normal(0, 3, 3000)
    pid = np.repeat(np.arange(10), 300).astype(str)
    cal = {"temperature": 0.9, "none_logit": -3.0}
    perm = rng.permutation(3000)
    first = ranker_calibration.probabilities(m, pid, cal)
    again = ranker_calibration.probabilities(m[perm], pid[perm], cal)
    assert (first[perm] == again).all()
