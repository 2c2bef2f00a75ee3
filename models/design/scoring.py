"""``score_designs``: the multi-objective score of each candidate, explained.

Per candidate: properties (``orchestration.chem.properties.compute_properties``: QED, SA
score, MW, PAINS and Brenk alerts), predicted pIC50 and its uncertainty (the ``potency``
callable, given that property frame), the applicability domain (max Morgan r2 Tanimoto to
the training compounds; in domain at >= ``domain_similarity``), ADMET-AI flags (the
``safety`` callable; None leaves the flags null and the safety term out), novelty (1 - max
Tanimoto to any library compound), the ``GATE`` verdict, the desirability (weighted geometric
mean, ``desirability`` module) and the Pareto front on (pIC50 - 0.5 x uncertainty,
-ADMET flags, QED, -SA score, novelty), with a one-line explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from models.design.config import DesignConfig, passes_gate
from models.design.desirability import Potency, cheap_terms, combine, d_novelty, d_safety, effective_pic50
from models.design.pareto import pareto_rank
from models.design.similarity import fingerprints, max_similarity
from models.design.structures import standardized
from orchestration.chem.properties import compute_properties

FLAGS = ["herg_flag", "ames_flag", "dili_flag", "clintox_flag"]
SCORE_COLUMNS = ["inchikey", "predicted_pic50", "uncertainty", "max_sim_train", "in_domain", *FLAGS,
                 "n_admet_flags", "sa_score", "qed", "mw", "alerts", "passes_gate", "novelty",
                 "desirability", "pareto_rank", "explanation"]
SCORE_SCHEMA: dict[str, pl.DataType] = {
    "inchikey": pl.String, "predicted_pic50": pl.Float64, "uncertainty": pl.Float64,
    "max_sim_train": pl.Float64, "in_domain": pl.Boolean, **{f: pl.Boolean for f in FLAGS},
    "n_admet_flags": pl.Int32, "sa_score": pl.Float64, "qed": pl.Float64, "mw": pl.Float64,
    "alerts": pl.List(pl.String), "passes_gate": pl.Boolean, "novelty": pl.Float64,
    "desirability": pl.Float64, "pareto_rank": pl.Int32, "explanation": pl.String}
Safety = Callable[[list[str]], pl.DataFrame]


def _inchikeys(cands: pl.DataFrame) -> pl.DataFrame:
    """Candidates with an ``inchikey`` (standardizing where missing); unstandardizable rows dropped."""
    if "inchikey" in cands.columns and cands["inchikey"].null_count() == 0:
        return cands
    rows = []
    for smi in cands["smiles"].to_list():
        rows.append(standardized(smi) or (None, None))
    out = cands.drop("inchikey", strict=False).with_columns(
        pl.Series("smiles", [r[0] for r in rows], dtype=pl.String),
        pl.Series("inchikey", [r[1] for r in rows], dtype=pl.String))
    return out.filter(pl.col("inchikey").is_not_null())


def _flags(safety: Safety | None, smiles: list[str]) -> pl.DataFrame:
    if safety is None:
        return pl.DataFrame({f: [None] * len(smiles) for f in FLAGS}, schema={f: pl.Boolean for f in FLAGS})
    frame = safety(smiles)
    if frame.height != len(smiles):
        raise ValueError(f"safety returned {frame.height} rows for {len(smiles)} SMILES")
    return frame.select([pl.col(f).cast(pl.Boolean) for f in FLAGS])


def _explain(row: dict, parent_label: str | None) -> str:
    domain = "in domain" if row["in_domain"] else "OUT of domain"
    flags = ("ADMET not predicted" if row["n_admet_flags"] is None
             else f"{row['n_admet_flags']} ADMET flag{'s' if row['n_admet_flags'] != 1 else ''}"
             + (f" ({', '.join(f.removesuffix('_flag') for f in FLAGS if row[f])})" if row["n_admet_flags"] else ""))
    alerts = f"; alerts: {', '.join(row['alerts'])}" if row["alerts"] else ""
    gate = "" if row["passes_gate"] else "; fails gate"
    origin = f"; from {parent_label} by {row['method']}" if parent_label else f"; by {row['method']}"
    return (f"pIC50 {row['predicted_pic50']:.1f} ± {row['uncertainty']:.1f} "
            f"({domain}, sim {row['max_sim_train']:.2f}); {flags}; QED {row['qed']:.2f}; "
            f"SA {row['sa_score']:.1f}; novel {row['novelty']:.2f}{alerts}{gate}{origin}")


def score_designs(cands: pl.DataFrame, potency: Potency, safety: Safety | None,
                  train_smiles: Sequence[str], library_smiles: Sequence[str],
                  config: DesignConfig) -> pl.DataFrame:
    """``cands`` (smiles, parent_smiles, method, ...) plus ``SCORE_COLUMNS``, in input order;
    a candidate whose properties cannot be computed is dropped."""
    cands = _inchikeys(cands.drop(SCORE_COLUMNS[1:], strict=False))
    props = compute_properties(cands["smiles"].to_list(), cands["inchikey"].to_list())
    ok = props["qed"].is_not_null() & props["sa_score"].is_not_null()
    cands, props = cands.filter(ok), props.filter(ok)
    if cands.height == 0:
        return cands.with_columns([pl.lit(None, dtype=SCORE_SCHEMA[c]).alias(c) for c in SCORE_COLUMNS
                                   if c not in cands.columns])
    pred, unc = (np.asarray(a, dtype=np.float64) for a in potency(props))
    fps = fingerprints(props["smiles"].to_list())
    sim_train, _ = max_similarity(fps, fingerprints(list(train_smiles)))
    sim_lib, _ = max_similarity(fps, fingerprints(list(library_smiles)))
    novelty = 1.0 - sim_lib
    flags = _flags(safety, props["smiles"].to_list())
    predicted = flags.select(pl.any_horizontal(pl.all().is_not_null())).to_series()
    n_flags = pl.Series("n_admet_flags", [None if not p else int(sum(bool(v) for v in r))
                                          for p, r in zip(predicted, flags.iter_rows())], dtype=pl.Int32)
    alerts = [sorted(set(a or []) | set(b or [])) for a, b in
              zip(props["pains_alerts"].to_list(), props["brenk_alerts"].to_list())]
    n_alerts = np.array([len(a) for a in alerts])
    terms = cheap_terms(props, pred, unc, sim_train, config)
    n_flag_values = n_flags.cast(pl.Float64).fill_null(np.nan).to_numpy()
    terms["safety"] = d_safety(n_flag_values)          # NaN (not predicted) leaves the term out
    terms["novelty"] = d_novelty(novelty)
    pareto = np.column_stack([effective_pic50(pred, unc), -np.nan_to_num(n_flag_values, nan=0.0),
                              props["qed"].to_numpy(), -props["sa_score"].to_numpy(), novelty])
    out = cands.with_columns(
        pl.Series("predicted_pic50", pred), pl.Series("uncertainty", unc),
        pl.Series("max_sim_train", sim_train), pl.Series("in_domain", sim_train >= config.domain_similarity),
        *[flags[f] for f in FLAGS], n_flags,
        props["sa_score"], props["qed"], props["mw"], pl.Series("alerts", alerts, dtype=pl.List(pl.String)),
        pl.Series("passes_gate", passes_gate(props["qed"].to_numpy(), props["sa_score"].to_numpy(),
                                             props["mw"].to_numpy(), n_alerts)),
        pl.Series("novelty", novelty), pl.Series("desirability", combine(terms)),
        pl.Series("pareto_rank", pareto_rank(pareto), dtype=pl.Int32),
    )
    has_parent = "parent_smiles" in out.columns
    labels = out["parent_label"].to_list() if "parent_label" in out.columns else (
        out["parent_smiles"].to_list() if has_parent else [None] * out.height)
    if "method" not in out.columns:
        out = out.with_columns(pl.lit("unknown").alias("method"))
    return out.with_columns(pl.Series("explanation", [_explain(r, lab) for r, lab in
                                                      zip(out.iter_rows(named=True), labels)], dtype=pl.String))
