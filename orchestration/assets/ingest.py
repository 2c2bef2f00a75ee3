"""Ingest assets: landing files → raw Parquet with lineage; bad input → quarantine (each
domain's refusals are reported by a check on its ingest asset: assets/quarantine.py)."""

import dagster as dg

from orchestration.ingest import runner
from orchestration.resources import LakeResource


def report_ingest(context, summary) -> dict:
    """The ingest summary as asset metadata; every refusal, and every change to raw/ made
    outside orphanlake that the ingest found and undid, is also logged on the run."""
    for reason in summary.quarantine_reasons:
        context.log.warning("quarantined: %s", reason)
    for change in summary.outside_changes:
        context.log.warning("raw layer: %s", change)
    meta = summary.as_metadata()
    meta["outside_changes"] = dg.MetadataValue.md(
        "\n".join(f"- {c}" for c in summary.outside_changes) or "none")
    meta["quarantine_reasons"] = dg.MetadataValue.md(
        "\n".join(f"- {r}" for r in summary.quarantine_reasons) or "none")
    return meta


@dg.multi_asset(
    group_name="genomic",
    specs=[
        dg.AssetSpec("raw_variants", kinds={"vcf", "parquet"},
                     description="Variant calls, one row per sample × record × ALT allele."),
        dg.AssetSpec("raw_variant_sites", kinds={"vcf", "parquet"},
                     description="Each called site's VEP annotation per gene, once per site."),
        dg.AssetSpec("raw_no_calls", kinds={"vcf", "parquet"},
                     description="Explicit no-calls of the samples at the called sites."),
        dg.AssetSpec("raw_pedigrees", kinds={"ped", "parquet"},
                     description="Pedigree individuals from the batches' PED files."),
    ],
)
def raw_variants(context: dg.AssetExecutionContext, lake: LakeResource):
    """Every new VEP-annotated VCF in landing/genomic/<batch>/, streamed to Parquet in one
    pass: per-sample calls (raw_variants), each called site's annotation once per gene
    (most severe consequence; raw_variant_sites) and the samples' explicit no-calls at
    those sites (raw_no_calls); PED files of the same batches into raw/pedigrees."""
    yield dg.MaterializeResult(asset_key="raw_variants",
                               metadata=report_ingest(context, runner.ingest_genomic(lake.paths)))
    yield dg.MaterializeResult(asset_key="raw_variant_sites")
    yield dg.MaterializeResult(asset_key="raw_no_calls")
    yield dg.MaterializeResult(asset_key="raw_pedigrees")


@dg.multi_asset(
    group_name="clinical",
    specs=[
        dg.AssetSpec("raw_patients", kinds={"json", "parquet"},
                     description="One row per phenopacket subject (pseudonymous)."),
        dg.AssetSpec("raw_phenotypes", kinds={"json", "parquet"},
                     description="HPO terms per patient, resolved to the loaded release."),
        dg.AssetSpec("raw_diagnoses", kinds={"json", "parquet"},
                     description="Diagnoses and causal genes from interpretations."),
        dg.AssetSpec("raw_family_pedigrees", kinds={"json", "parquet"},
                     description="The pedigree of each Family phenopacket."),
    ],
)
def raw_clinical(context: dg.AssetExecutionContext, lake: LakeResource):
    """GA4GH Phenopackets from landing/clinical/<batch>/, validated against the schema,
    checked for direct identifiers, HPO ids mapped to the loaded release."""
    meta = report_ingest(context, runner.ingest_clinical(lake.paths))
    yield dg.MaterializeResult(asset_key="raw_patients", metadata=meta)
    yield dg.MaterializeResult(asset_key="raw_phenotypes")
    yield dg.MaterializeResult(asset_key="raw_diagnoses")
    yield dg.MaterializeResult(asset_key="raw_family_pedigrees")


@dg.asset(group_name="genomic", kinds={"tsv", "parquet"}, deps=["raw_patients", "raw_variants"])
def raw_expression(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """RNA-seq TPM matrices from landing/expression/<batch>/ in long form; samples that
    match no known patient are quarantined."""
    return dg.MaterializeResult(metadata=report_ingest(context, runner.ingest_expression(lake.paths)))
