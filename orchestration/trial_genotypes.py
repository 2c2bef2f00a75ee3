"""The genotype of the trial subjects who are lake patients, in the study's target gene.

A trial's subjects are linked to lake patients by the study's ``patient_links.csv``. Which
gene defines the genotype subgroups is decided per study, in this order:

1. the treatment its trial summary names (TS, TSPARMCD ``TRT``: a drug name, as sponsors
   write it) is a lake compound (by name or compound id, case-insensitively) and the lake
   screened that structure against a target: that target gene;
2. otherwise the gene most of its linked patients are diagnosed with (their phenopackets'
   interpretations): a rare-disease trial enrols one disease cohort.

``lof_carrier`` is 1 when the patient has a loss-of-function call in that gene
(``int_variant_evidence.var_has_lof``: stop-gained, frameshift, splice donor/acceptor,
start-lost by VEP consequence), 0 when the lake holds the patient's variants and none of
them is LoF in that gene; subjects who are not lake patients are absent (their genotype
is unknown, not "non-carrier").
"""

from __future__ import annotations

import json

import polars as pl

SCHEMA = {"studyid": pl.String, "usubjid": pl.String, "patient_id": pl.String,
          "target_gene": pl.String, "gene_basis": pl.String, "lof_carrier": pl.Int32}


def ts_values(design: pl.DataFrame, parmcd: str) -> dict[str, str]:
    """studyid → the first TSVAL of the trial summary parameter ``parmcd`` (TS rows keep
    their variables as JSON in ``extra``, lake/trial_schemas.py)."""
    out: dict[str, str] = {}
    for r in design.filter(pl.col("domain") == "TS").iter_rows(named=True):
        try:
            extra = json.loads(r["extra"] or "{}")
        except ValueError:
            continue
        if str(extra.get("TSPARMCD", "")).upper() == parmcd and extra.get("TSVAL"):
            out.setdefault(r["studyid"], str(extra["TSVAL"]))
    return out


def _ts_treatment(design: pl.DataFrame) -> pl.DataFrame:
    """(studyid, treatment) from TS TRT, upper-cased."""
    rows = [(study, v.strip().upper()) for study, v in ts_values(design, "TRT").items()]
    return pl.DataFrame(rows, schema={"studyid": pl.String, "treatment": pl.String}, orient="row")


def _screened_targets(compounds: pl.DataFrame, calls: pl.DataFrame) -> pl.DataFrame:
    """(treatment, target_gene): every name and id of a screened structure, upper-cased."""
    names = pl.concat([compounds.select("inchikey", pl.col(c).alias("treatment"))
                       for c in ("name", "compound_id")]).drop_nulls()
    return (names.with_columns(pl.col("treatment").str.strip_chars().str.to_uppercase())
            .join(calls.select("inchikey", "target_gene").drop_nulls().unique(), on="inchikey")
            .select("treatment", "target_gene").unique())


def study_genes(links: pl.DataFrame, design: pl.DataFrame, compounds: pl.DataFrame,
                calls: pl.DataFrame, diagnoses: pl.DataFrame) -> pl.DataFrame:
    """(studyid, target_gene, gene_basis) per study with linked patients (module doc)."""
    studies = links.select("studyid").unique()
    by_compound = (_ts_treatment(design)
                   .join(_screened_targets(compounds, calls), on="treatment", how="inner")
                   .group_by("studyid").agg(pl.col("target_gene").sort().first())
                   .with_columns(pl.lit("screened target of the TS treatment").alias("gene_basis")))
    by_cohort = (links.join(diagnoses.select("patient_id", "gene_symbol").drop_nulls(),
                            on="patient_id", how="inner")
                 .group_by("studyid", "gene_symbol").agg(pl.col("patient_id").n_unique().alias("n"))
                 .sort(["studyid", "n", "gene_symbol"], descending=[False, True, False])
                 .group_by("studyid", maintain_order=True).first()
                 .select("studyid", pl.col("gene_symbol").alias("target_gene"),
                         pl.lit("diagnosed gene of most linked patients").alias("gene_basis")))
    chosen = pl.concat([by_compound, by_cohort.join(by_compound, on="studyid", how="anti")])
    return studies.join(chosen, on="studyid", how="inner")


def genotypes(links: pl.DataFrame, design: pl.DataFrame, compounds: pl.DataFrame,
              calls: pl.DataFrame, diagnoses: pl.DataFrame, variant_evidence: pl.DataFrame
              ) -> pl.DataFrame:
    """One row per linked subject with the study's target gene and the LoF carrier flag."""
    if links.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    genes = study_genes(links, design, compounds, calls, diagnoses)
    sequenced = set(variant_evidence["patient_id"].unique().to_list())
    lof = variant_evidence.filter(pl.col("var_has_lof").cast(pl.Int32) == 1).select(
        "patient_id", pl.col("gene_symbol").alias("target_gene"), pl.lit(1, pl.Int32).alias("lof"))
    out = (links.join(genes, on="studyid", how="inner")
           .join(lof, on=["patient_id", "target_gene"], how="left")
           .filter(pl.col("patient_id").is_in(sorted(sequenced)))
           .with_columns(pl.col("lof").fill_null(0).alias("lof_carrier")))
    return out.select(list(SCHEMA)).cast(SCHEMA).sort("studyid", "usubjid")
