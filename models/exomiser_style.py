"""An Exomiser-style gene ranking: the peer the shipped ranker is measured against on the
replayed published cases (``orchestration.ranker_training``). Its phenotype score is also one
of the lake's phenotype scorers (``pheno_phenodigm`` in phenotype_evidence): Exomiser's own
evidence is fair input for a model that combines evidence; the peer is its fixed combination.

* variant score: Exomiser's frequency × pathogenicity under the gene's modes of inheritance
  (the lake's ``variant_score``: Exomiser's frequency curve, its consequence defaults and
  REVEL for missense, best genotype per mode);
* phenotype score: Exomiser's human-disease model score (hiPHIVE's human layer, PhenoDigm),
  computed with Resnik similarity: for each disease, 0.5 × (best pair score / the patient's
  best self pair score + best-match average / the patient's self best-match average), where
  the best-match average runs over the patient's terms and the disease's terms both ways;
  the gene takes its best disease;
* combination: Exomiser's published logistic weights (``models.ranker_default``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models.hpo_index import PhenotypeIndex
from models.phenotype import _Query  # the vectorised term-set machinery of the scorer
from models.ranker_default import EXOMISER_HIPHIVE_WEIGHTS, INTERCEPT, sigmoid


def phenodigm_gene_scores(index: PhenotypeIndex, present: list[str]) -> np.ndarray:
    """PhenoDigm-with-Resnik score (0..1) of the patient's terms for every gene (index order)."""
    q = _Query(index, present, index.ic["gene"])
    n_genes = len(index.genes)
    if not q.cols:
        return np.zeros(n_genes)
    direct, closure, rows = index.disease_terms, index.disease_closure, index.disease_rows
    weighted = closure[:, q.U].toarray(order="F") * q.icU
    row_max = np.column_stack([weighted[:, c].max(axis=1) for c in q.cols])
    best_pair = row_max.max(axis=1)
    n_terms = np.diff(direct.indptr).astype(np.float64)
    col_sum = np.bincount(rows, weights=q.v[direct.indices], minlength=direct.shape[0])
    bma = np.where(n_terms > 0, (row_max.sum(axis=1) + col_sum) / (len(q.cols) + n_terms), 0.0)
    self_best = float(q.icU.max()) if len(q.icU) else 0.0
    self_avg = q.self_similarity
    if self_best <= 0 or self_avg <= 0:
        return np.zeros(n_genes)
    disease = np.clip(0.5 * (best_pair / self_best + bma / self_avg), 0.0, 1.0)
    gd = index.gene_diseases
    out = np.zeros(n_genes)
    has = np.diff(gd.indptr) > 0
    if gd.nnz:
        out[has] = np.maximum.reduceat(disease[gd.indices], gd.indptr[:-1][has])
    return out


def exomiser_phenotype(index: PhenotypeIndex, terms: pl.DataFrame) -> pl.DataFrame:
    """patient_id, gene_symbol, exomiser_pheno for every patient of ``terms`` (observed terms
    only: Exomiser does not use excluded terms) and every gene of the index."""
    frames = []
    for (pid,), sub in terms.filter(~pl.col("excluded").fill_null(False)).group_by(
            ["patient_id"], maintain_order=True):
        s = phenodigm_gene_scores(index, sub["hpo_id"].to_list())
        frames.append(pl.DataFrame({"patient_id": pid, "gene_symbol": index.genes,
                                    "exomiser_pheno": s}))
    return pl.concat(frames) if frames else pl.DataFrame(
        schema={"patient_id": pl.String, "gene_symbol": pl.String, "exomiser_pheno": pl.Float64})


def exomiser_score(candidates: pl.DataFrame) -> pl.Series:
    """Exomiser's logistic combination of ``variant_score`` and ``exomiser_pheno``."""
    w = EXOMISER_HIPHIVE_WEIGHTS
    z = (w[INTERCEPT] + w["variant_score"] * candidates["variant_score"].fill_null(0).to_numpy()
         + w["pheno_score"] * candidates["exomiser_pheno"].fill_null(0).to_numpy())
    return pl.Series("exomiser_score", sigmoid(z))
