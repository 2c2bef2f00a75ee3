"""Measure models against the simulator's hidden truth, when a lake has one.

Evaluation only: the truth folder is read here to report how well the models do on the
compounds nobody tested, never to train or rank. A real lake has no truth folder and
these figures are simply absent.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from models.compounds import activity
from models.compounds.labels import ACTIVE_PIC50
from models.compounds.metrics import enrichment_factor, pr_auc, roc_auc, spearman
from orchestration.lake.io import read_model
from orchestration.settings import LakePaths


# A compound the simulator made inert has no true pIC50; for the rank correlation it sits
# below every measurable potency.
INERT_PIC50 = 3.0


def compound_truth(paths: LakePaths, target_gene: str) -> pl.DataFrame:
    """inchikey, true_active (potent: true pIC50 >= 5, i.e. >= 50 % effect at 10 µM), true_pic50
    (null for inert) for every library compound the simulator scored for this target (empty
    when there is no truth)."""
    parts = []
    for f in sorted(paths.truth.glob("*/screening/compound_activity.parquet")):
        meta = f.parent / "plates.json"
        # truth that does not say which target it simulated cannot judge this one
        if not meta.exists() or json.loads(meta.read_text()).get("target_gene") != target_gene:
            continue
        t = pl.read_parquet(f)
        pic50 = (pl.col("true_pic50").cast(pl.Float64) if "true_pic50" in t.columns
                 else pl.lit(None, dtype=pl.Float64))
        active = ((pl.col("true_pic50") >= ACTIVE_PIC50).fill_null(False) if "true_pic50" in t.columns
                  else pl.col("true_active"))
        parts.append(t.select("library", "compound_id", active.alias("true_active"),
                              pic50.alias("true_pic50")))
    if not parts:
        return pl.DataFrame(schema={"inchikey": pl.String, "true_active": pl.Boolean,
                                    "true_pic50": pl.Float64})
    ids = read_model(paths, "stg_compound_records").select("library", "compound_id", "inchikey")
    return (pl.concat(parts).join(ids, on=["library", "compound_id"])
            .group_by("inchikey").agg(pl.col("true_active").any(), pl.col("true_pic50").max()))


def truth_metrics(paths: LakePaths, target_gene: str, artifact: activity.ActivityArtifact,
                  props: pl.DataFrame, labels: pl.DataFrame) -> dict | None:
    """Enrichment of potent actives (true pIC50 >= 5) among the compounds without a label for
    this target, ranked by predicted pIC50: EF1%, EF5%, ROC-AUC, PR-AUC, and the Spearman
    correlation of predicted with true pIC50 (inert = INERT_PIC50); None without truth."""
    truth = compound_truth(paths, target_gene)
    untested = truth.join(labels.select("inchikey"), on="inchikey", how="anti") \
        .join(props, on="inchikey")
    if untested.height == 0:
        return None
    return untested_metrics(untested["true_active"].to_numpy(),
                            untested["true_pic50"].fill_null(INERT_PIC50).to_numpy(),
                            activity.predict(artifact, untested)[0])


def untested_metrics(true_active, true_pic50, score) -> dict:
    """The figures truth_metrics reports, for any score (bench/ uses it for baselines)."""
    y = np.asarray(true_active).astype(int)
    s = np.asarray(score, dtype=np.float64)
    return {"n_untested": int(y.size), "n_true_actives": int(y.sum()),
            "roc_auc": roc_auc(y, s), "pr_auc": pr_auc(y, s),
            "ef1": enrichment_factor(y, s, 0.01), "ef5": enrichment_factor(y, s, 0.05),
            "spearman": spearman(true_pic50, s),
            "base_rate": float(y.mean()) if y.size else float("nan")}


def simulated_screen(paths: LakePaths, target_gene: str) -> dict | None:
    """The truth of the lake's simulated screen of ``target_gene`` (its
    truth/<batch>/screening/plates.json: the hidden rule's seed, the plate layout, …; a
    design round's truth is not a screen), or None when the lake has none."""
    for meta in sorted(paths.truth.glob("*/screening/plates.json")):
        info = json.loads(meta.read_text())
        if (info.get("target_gene") == target_gene and info.get("seed") is not None
                and "design_round" not in info):
            return info
    return None


def design_truth(paths: LakePaths, target_gene: str, smiles: list[str]) -> np.ndarray | None:
    """True pIC50 of arbitrary structures (designs nobody has made) under the lake's
    simulated rule (orchestration/simulate/sar.py, seeded as the screen was): INERT_PIC50
    for a structure the rule makes inert, NaN for a SMILES RDKit cannot parse; None when
    the lake has no truth for ``target_gene``."""
    from orchestration.simulate import sar

    screen = simulated_screen(paths, target_gene)
    if screen is None:
        return None
    seed = int(screen["seed"])
    out = np.full(len(smiles), np.nan)
    for i, smi in enumerate(smiles):
        if smi and sar.parent_smiles(smi):
            p = sar.pic50_from_raw(sar.raw_pic50_smiles(smi, seed))
            out[i] = INERT_PIC50 if p is None else p
    return out
