"""Per-patient ranking and top-k recall, shared by the model, its baselines and its evaluation."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl


def rank_within_patient(frame: pl.DataFrame, score_col: str, rank_col: str = "rank") -> pl.DataFrame:
    """Sort by patient then ``score_col`` (high first, nulls last, ties by gene_symbol) and add a 1..n rank.

    Ranks are ordinal, not tied: a clinician reads a list, so every gene gets its own position,
    and the alphabetical tie-break makes the list reproducible across runs.
    """
    return frame.sort(
        ["patient_id", score_col, "gene_symbol"],
        descending=[False, True, False],
        nulls_last=True,
    ).with_columns((pl.int_range(pl.len()).over("patient_id") + 1).cast(pl.Int32).alias(rank_col))


def evaluate_topk(scored: pl.DataFrame, ks: Iterable[int] = (1, 5, 10), rank_col: str = "rank") -> dict:
    """Recall@k of the causal gene over solved patients: the share whose causal gene is ranked <= k.

    A patient counts when any of its rows has a non-null ``is_causal`` (i.e. it is solved).
    Solved patients whose causal gene is not among their candidates (all ``is_causal`` false)
    stay in the denominator as misses; a patient with several causal genes is a hit if any
    of them is within k. Returns ``recall_at_<k>``/``hits_at_<k>`` per k, ``n_patients`` and
    ``n_causal_not_candidate``; recalls are None when there is no solved patient.
    """
    ks = sorted({int(k) for k in ks})
    if any(k < 1 for k in ks):
        raise ValueError(f"evaluate_topk: every k must be >= 1, got {ks}")
    missing = {"patient_id", "is_causal", rank_col} - set(scored.columns)
    if missing:
        raise ValueError(f"evaluate_topk: scored frame lacks column(s) {sorted(missing)}")
    per_patient = (
        scored.filter(pl.col("is_causal").is_not_null().any().over("patient_id"))
        .group_by("patient_id")
        .agg(pl.col(rank_col).filter(pl.col("is_causal").fill_null(False)).min().alias("best_causal_rank"))
    )
    n = per_patient.height
    best = per_patient["best_causal_rank"]
    result: dict = {"n_patients": n, "n_causal_not_candidate": int(best.null_count())}
    for k in ks:
        hits = int((best <= k).sum()) if n else 0
        result[f"hits_at_{k}"] = hits
        result[f"recall_at_{k}"] = hits / n if n else None
    return result


def headline_recall(metrics: dict) -> tuple[str, dict]:
    """The recall a user should read, with how it was measured: cross-validated over every
    solved patient when available, else the single held-out split (or the default-weights
    evaluation). Returns (scope, {method: evaluate_topk result}).

    For the shipped ranker that is its gene-grouped cross-validation on replayed published
    cases (values without their bootstrap intervals)."""
    if metrics.get("recall_gene_cv"):
        any_method = next(iter(metrics["recall_gene_cv"].values()))
        return (metrics.get("evaluation_scope", "gene-grouped cross-validation"),
                {m: {"n_patients": r["n_patients"],
                     **{f"recall_at_{k}": r[f"top{k}"]["value"] for k in (1, 5, 10)}}
                 for m, r in metrics["recall_gene_cv"].items()} if any_method else {})
    if metrics.get("recall_cv"):
        return f"{metrics.get('cv_folds', 5)}-fold cross-validated", metrics["recall_cv"]
    return metrics.get("evaluation_scope", ""), metrics.get("recall") or {}
