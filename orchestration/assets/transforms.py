"""dbt models as Dagster assets, in three steps around the Python evidence and model assets.

staging → (phenotype evidence in Python) → intermediate → (ranking model in Python) →
marts → the published read-only catalog.
"""

import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.assets.isolation import failing_steps, record_status
from orchestration.assets.quarantine import QUARANTINE_WRITERS, RAW_QUARANTINE
from orchestration.dbt_manifest import ensure_manifest, fresh_dbt_target
from orchestration.feature_store.tables import TABLES as FEATURE_TABLES
from orchestration.lake.catalog import publish_catalog
from orchestration.lake.lock import writer_lock
from orchestration.metadata import catalog_table_metadata
from orchestration.resources import LakeResource
from orchestration.settings import DBT_PROJECT_DIR

# `.venv/bin/orphanlake` runs without the venv activated: dbt lives beside this interpreter.
if shutil.which("dbt") is None:
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

# Parsed once per code version, outside the source tree (dbt_manifest.py): the CLI, the
# UI's code server and its run workers all load the same manifest; nothing here re-parses
# under `dagster dev` (no prepare_if_dev) or writes into dbt_project/.
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR,
                         target_path=ensure_manifest())


class LakeDbtTranslator(DagsterDbtTranslator):
    """dbt models as assets. A model's Dagster group is its dbt ``group`` (set per model in
    dbt_project.yml: its domain, or a cross-domain group; orchestration/groups.py documents
    the mapping). The raw quarantine table is written by every domain's ingest, so a model
    reading it depends on those ingest assets themselves (``QUARANTINE_WRITERS``), not on
    one asset standing for all of them."""

    def get_group_name(self, dbt_resource_props):
        if dbt_resource_props["resource_type"] != "model":
            return None
        return super().get_group_name(dbt_resource_props)

    def get_metadata(self, dbt_resource_props):
        # "Storage" names the catalog view users query (lake.main.<model>), not dbt's build db
        return {**super().get_metadata(dbt_resource_props),
                **catalog_table_metadata(dbt_resource_props)}

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        if not unique_id.startswith("model."):
            return spec
        if any(dep.asset_key == RAW_QUARANTINE for dep in spec.deps):
            spec = spec.replace_attributes(deps=[
                *(d for d in spec.deps if d.asset_key != RAW_QUARANTINE),
                *(dg.AssetDep(key) for key in QUARANTINE_WRITERS)])
        return spec.merge_attributes(kinds={"duckdb", "parquet"})


def _dbt_step(select: str, name: str):
    @dbt_assets(manifest=dbt_project.manifest_path, select=select, name=name,
                project=dbt_project, dagster_dbt_translator=LakeDbtTranslator())
    def _assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource):
        with writer_lock(lake.paths):
            # cautious: a test runs in the step that builds all of its parents; the lake
            # is the resource's, given to dbt as --vars
            invocation = dbt.cli(["build", "--indirect-selection", "cautious",
                                  *lake.config.dbt_args()],
                                 context=context, raise_on_error=False,
                                 target_path=fresh_dbt_target(lake.paths, name))
            emitted = set()
            for event in invocation.stream():
                if isinstance(event, dg.Output):
                    emitted.add(event.output_name)
                yield event
            yield from _isolate_dbt_failures(context, lake, name, invocation, emitted)

    return _assets


def _isolate_dbt_failures(context, lake: LakeResource, step: str, invocation, emitted: set[str]):
    """dbt builds every model whose parents built; a model (or a test) that fails leaves
    its Parquet as the last good build and its dependents unbuilt. Report them, and let
    the refresh go on with what built: the other domains still publish (isolation.py)."""
    if invocation.is_successful():
        record_status(lake.paths, {"domain": "transforms", "step": step, "status": "ok",
                                   "error": None, "outputs_from": datetime.now(timezone.utc),
                                   "run_id": context.run.run_id, "at": datetime.now(timezone.utc)})
        return
    results = invocation.get_artifact("run_results.json").get("results", [])
    failed = [f"{r['unique_id']}: {r.get('status')}: {(r.get('message') or '').strip()[:300]}"
              for r in results if r.get("status") in ("error", "fail", "skipped", "runtime error")]
    error = "; ".join(failed)[:2000] or "dbt build failed (see the run log)"
    context.log.error("%s: %s; models that failed or were skipped keep their last good build",
                      step, error)
    record_status(lake.paths, {"domain": "transforms", "step": step, "status": "failed",
                               "error": error, "outputs_from": None, "run_id": context.run.run_id,
                               "at": datetime.now(timezone.utc)})
    # models that did not build still "materialize" (marked failed), so that the steps
    # after them run on their last good build; dbt tests are checks, not outputs
    models = {context.assets_def.get_output_name_for_asset_key(key)
              for key in context.selected_asset_keys}
    for output_name in sorted(models - emitted):
        yield dg.Output(None, output_name=output_name,
                        metadata={"status": "failed", "error": dg.MetadataValue.text(error)})


dbt_staging = _dbt_step("tag:staging", "dbt_staging")
dbt_intermediate = _dbt_step("tag:intermediate", "dbt_intermediate")
dbt_marts = _dbt_step("tag:marts", "dbt_marts")


@dg.asset(
    group_name="catalog",
    kinds={"duckdb"},
    deps=[dg.AssetKey(k) for k in ("patient_gene_rankings", "ranked_targets", "quarantine",
                                    "patients", "compounds", "compound_scores", "plate_qc",
                                    "hts_well_results", "hts_compound_calls", "dose_response",
                                    "compound_admet", "designed_compounds")]
    + [dg.AssetKey(["features", t.name]) for t in FEATURE_TABLES],
)
def lake_catalog(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """lake.duckdb: read-only views over every raw, reference, evidence and mart Parquet
    file and the feature store's history tables (feature_<name>), swapped in atomically
    so SQL readers work while a refresh runs."""
    with writer_lock(lake.paths):
        rows = publish_catalog(lake.paths)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(lake.paths.catalog)),
        "views": dg.MetadataValue.json(rows),
    })


@dg.asset_check(asset=lake_catalog, description="Every domain's steps succeeded; a failing step "
                "kept its domain's last good outputs while the other domains published.")
def domains_published(lake: LakeResource) -> dg.AssetCheckResult:
    """Fails (without stopping anything) while a domain serves its last good outputs
    because its step failed; ``refresh_status`` in the catalog has every step's outcome."""
    from orchestration.lake.io import markdown_preview

    failing = failing_steps(lake.paths)
    return dg.AssetCheckResult(
        passed=failing.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"failing_steps": failing.height,
                  "failing": dg.MetadataValue.md(markdown_preview(failing.select(
                      "domain", "step", "error", "outputs_from"), n=20) if failing.height else "none")},
    )
