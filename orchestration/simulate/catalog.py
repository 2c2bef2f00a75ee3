"""What the simulator may draw from: real HPO diseases, their genes, terms and modes.

Everything here depends only on the HPO release, never on the seed, so it is cached.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import polars as pl

from orchestration.reference.hpo import (
    PHENOTYPIC_ABNORMALITY,
    Ontology,
    load_disease_annotations,
    load_gene_diseases,
    load_ontology,
)

# Modes a single causal genotype can be simulated for; MT/SOM/DIG/OTHER are skipped.
SIMULATED_MODES = ("AD", "AR", "XD", "XL", "XR")
X_MODES = frozenset({"XD", "XL", "XR"})
NULL_FREQUENCY = 0.5
MIN_ANNOTATED_TERMS = 3


@dataclass(frozen=True)
class Catalog:
    ontology: Ontology
    pairs: pl.DataFrame    # disease_id, disease_name, gene_symbol, ncbi_gene_id, modes
    genes: pl.DataFrame                     # gene_symbol, ncbi_gene_id, x_linked
    disease_terms: dict[str, tuple[np.ndarray, np.ndarray]]  # id -> (hpo ids, frequencies)
    term_pool: np.ndarray                   # annotated phenotypic-abnormality terms, sorted
    aliases: dict[str, tuple[str, ...]]     # primary id -> alt ids and obsolete ids replaced by it
    phenotypic: frozenset[str]              # descendants of HP:0000118, excluding itself


def _aliases(onto: Ontology) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for tid in sorted(onto.terms):
        for alt in onto.terms[tid].alt_ids:
            out.setdefault(tid, []).append(alt)
    for oid in sorted(onto.obsolete):
        target = onto.obsolete[oid].replaced_by
        target = onto.alt_to_primary.get(target, target) if target else None
        if target in onto.terms:
            out.setdefault(target, []).append(oid)
    return {k: tuple(sorted(set(v))) for k, v in out.items()}


def _resolve_modes(gd: pl.DataFrame) -> pl.DataFrame:
    """Keep simulable modes; a disease without one borrows its gene's single mode (ORPHA rows)."""
    usable = pl.col("modes").list.eval(pl.element().filter(pl.element().is_in(SIMULATED_MODES)))
    gd = gd.with_columns(usable.fill_null([]).alias("modes"))
    gene_modes = (gd.explode("modes").drop_nulls("modes").group_by("gene_symbol")
                  .agg(pl.col("modes").unique().sort().alias("gene_modes")))
    gd = gd.join(gene_modes, on="gene_symbol", how="left").with_columns(
        pl.when(pl.col("modes").list.len() > 0).then(pl.col("modes"))
        .when(pl.col("gene_modes").list.len() == 1).then(pl.col("gene_modes"))
        .otherwise(pl.lit([], dtype=pl.List(pl.String))).alias("modes"))
    return gd.drop("gene_modes")


@functools.lru_cache(maxsize=2)
def load_catalog(release_dir: str | None = None) -> Catalog:
    """Diseases with a known gene, >= 3 phenotype annotations and a simulable inheritance."""
    onto = load_ontology(release_dir)
    phenotypic = frozenset(t for t, anc in onto.ancestors.items()
                           if PHENOTYPIC_ABNORMALITY in anc and t != PHENOTYPIC_ABNORMALITY)
    ann = (load_disease_annotations(release_dir)
           .filter(pl.col("hpo_id").is_in(list(phenotypic)))
           .filter(pl.col("frequency").is_null() | (pl.col("frequency") > 0))
           .unique(["disease_id", "hpo_id"], keep="first")
           .sort("disease_id", "hpo_id"))
    ids = ann["disease_id"].to_numpy()
    hpo = ann["hpo_id"].to_numpy().astype(str)
    freq = ann["frequency"].fill_null(NULL_FREQUENCY).to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    disease_terms = {str(ids[a]): (hpo[a:b], freq[a:b]) for a, b in zip(starts, ends)
                     if b - a >= MIN_ANNOTATED_TERMS}

    gd = load_gene_diseases(release_dir)
    x_genes = set(gd.explode("modes").filter(pl.col("modes").is_in(list(X_MODES)))["gene_symbol"])
    genes = (gd.select("gene_symbol", "ncbi_gene_id").unique("gene_symbol", keep="first")
             .sort("gene_symbol")
             .with_columns(pl.col("gene_symbol").is_in(sorted(x_genes)).alias("x_linked")))
    pairs = (_resolve_modes(gd)
             .filter(pl.col("modes").list.len() > 0)
             .filter(pl.col("disease_id").is_in(list(disease_terms)))
             .select("disease_id", "disease_name", "gene_symbol", "ncbi_gene_id", "modes")
             .sort("disease_id", "gene_symbol"))
    pool = np.array(sorted(ann["hpo_id"].unique().to_list()))
    return Catalog(ontology=onto, pairs=pairs, genes=genes, disease_terms=disease_terms,
                   term_pool=pool, aliases=_aliases(onto), phenotypic=phenotypic)
