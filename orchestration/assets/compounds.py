"""Compound libraries: landing files → standardized records → one row of RDKit
properties per distinct structure."""

import dagster as dg
import polars as pl

from orchestration.assets.ingest import report_ingest
from orchestration.assets.isolation import isolated
from orchestration.ingest import runner
from orchestration.lake.io import markdown_preview, read_model, write_parquet_atomic
from orchestration.resources import LakeResource
from orchestration.metadata import rounded
from orchestration.settings import Evidence, evidence_relpath

# Bump when a descriptor, alert catalog, scaffold or fingerprint definition changes: the
# cache (keyed by InChIKey) is then recomputed instead of mixing old rows with new.
PROPERTIES_RECIPE = "1"


def _recipe() -> str:
    import rdkit

    return f"{PROPERTIES_RECIPE}/rdkit-{rdkit.__version__}"


@dg.asset(group_name="compounds", kinds={"rdkit", "parquet"})
def raw_compound_records(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Compound records from every new SDF (V2000/V3000), SMILES or CSV file in
    landing/compounds/<library>/, standardized with RDKit (parent fragment, neutralized,
    canonical SMILES, InChIKey). Structures RDKit cannot read are quarantined by record."""
    return dg.MaterializeResult(metadata=report_ingest(context, runner.ingest_compounds(lake.paths)))


def _no_properties(paths) -> None:
    from orchestration.chem.properties import compute_properties_parallel

    write_parquet_atomic(compute_properties_parallel([], []), paths.evidence_file(Evidence.COMPOUND_PROPERTIES))


@dg.asset(group_name="compounds", kinds={"rdkit", "parquet"}, deps=["stg_compound_records"])
@isolated("compounds", [evidence_relpath(Evidence.COMPOUND_PROPERTIES)], fallback=_no_properties)
def compound_properties(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Descriptors (MW, cLogP, TPSA, HBD/HBA, rotatable bonds, aromatic rings, Fsp3), QED,
    synthetic accessibility, Lipinski/Veber flags, PAINS and Brenk alert names, the
    Bemis–Murcko scaffold and a packed 2048-bit Morgan fingerprint per distinct structure.
    Only structures not computed before are computed, on every core."""
    from orchestration.chem.properties import compute_properties_parallel

    paths = lake.paths
    target = paths.evidence_file(Evidence.COMPOUND_PROPERTIES)
    stamp = target.with_suffix(".recipe")
    wanted = (read_model(paths, "stg_compound_records").select("inchikey", "smiles")
              .sort("inchikey", "smiles").unique("inchikey", keep="first"))
    fresh_recipe = not stamp.exists() or stamp.read_text() != _recipe()
    cached = pl.read_parquet(target) if target.exists() and not fresh_recipe else None
    if cached is not None:
        cached = cached.join(wanted.select("inchikey"), on="inchikey", how="semi")
        todo = wanted.join(cached.select("inchikey"), on="inchikey", how="anti")
    else:
        todo = wanted
    fresh = compute_properties_parallel(todo["smiles"].to_list(), todo["inchikey"].to_list())
    props = fresh if cached is None or cached.is_empty() else pl.concat([cached, fresh], how="vertical_relaxed")
    write_parquet_atomic(props.sort("inchikey"), target)
    stamp.write_text(_recipe())
    context.log.info("compound properties: %d computed, %d reused", fresh.height,
                     props.height - fresh.height)
    n = max(props.height, 1)
    return dg.MaterializeResult(metadata={
        "compounds": props.height,
        "computed_now": fresh.height,
        "reused": props.height - fresh.height,
        "with_pains_alert": int((props["n_pains"] > 0).sum()) if props.height else 0,
        "lipinski_pass_fraction": rounded(float(props["lipinski_pass"].sum() / n)) if props.height else 0.0,
        "preview": dg.MetadataValue.md(markdown_preview(props.select(
            "inchikey", "mw", "clogp", "tpsa", "qed", "sa_score", "pains_alerts"))),
    })
