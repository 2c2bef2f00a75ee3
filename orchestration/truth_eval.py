"""Measure models against the simulator's hidden truth, when a lake has one.

Evaluation only: the truth folder is read here to report how well the models do on the
compounds nobody tested, never to train or rank. A real lake has no truth folder and
these figures are simply absent.
"""

from __future__ import annotations

import json

import polars as pl

from models.compounds import activity
from models.compounds.metrics import enrichment_factor, pr_auc, roc_auc
from orchestration.lake.io import read_model
from orchestration.settings import LakePaths


def compound_truth(paths: LakePaths, target_gene: str) -> pl.DataFrame:
    """inchikey, true_active for every library compound the simulator scored for this
    target (empty when there is no truth)."""
    parts = []
    for f in sorted(paths.truth.glob("*/screening/compound_activity.parquet")):
        meta = f.parent / "plates.json"
        # truth that does not say which target it simulated cannot judge this one
        if not meta.exists() or json.loads(meta.read_text()).get("target_gene") != target_gene:
            continue
        parts.append(pl.read_parquet(f).select("library", "compound_id", "true_active"))
    if not parts:
        return pl.DataFrame(schema={"inchikey": pl.String, "true_active": pl.Boolean})
    ids = read_model(paths, "stg_compound_records").select("library", "compound_id", "inchikey")
    return (pl.concat(parts).join(ids, on=["library", "compound_id"])
            .group_by("inchikey").agg(pl.col("true_active").any()))


def truth_metrics(paths: LakePaths, target_gene: str, artifact: activity.ActivityArtifact,
                  props: pl.DataFrame, labels: pl.DataFrame) -> dict | None:
    """ROC-AUC, PR-AUC, EF1% and EF5% of the model on compounds without a label for this
    target, against the hidden truth; None without truth."""
    truth = compound_truth(paths, target_gene)
    untested = truth.join(labels.select("inchikey"), on="inchikey", how="anti") \
        .join(props, on="inchikey")
    if untested.height == 0:
        return None
    y = untested["true_active"].to_numpy().astype(int)
    p, _ = activity.predict(artifact, untested)
    return {"n_untested": int(y.size), "n_true_actives": int(y.sum()),
            "roc_auc": roc_auc(y, p), "pr_auc": pr_auc(y, p),
            "ef1": enrichment_factor(y, p, 0.01), "ef5": enrichment_factor(y, p, 0.05),
            "base_rate": float(y.mean()) if y.size else float("nan")}
