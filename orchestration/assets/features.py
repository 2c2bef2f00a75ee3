"""The Feast feature store: registry, offline feature tables and the online store.

Model inputs are written after the intermediate models (the models then train on them
through Feast); the product views after the marts. The online store is brought up to
date once both are written, with only the entities that changed.
"""

import dagster as dg

from features import contract
from orchestration.feature_store import store as feast_store
from orchestration.feature_store import sync
from orchestration.feature_store.checks import online_coverage, online_offline_mismatches
from orchestration.feature_store.definitions import registry_differences
from orchestration.feature_store.tables import TABLES
from orchestration.resources import LakeResource

GROUP = "features"                 # registry and model-input tables (orchestration/groups.py)
SERVING_GROUP = "feature_serving"  # product tables and the online store, after the products
# the lake assets each stage's tables are built from, as features/contract.py lists them
# (each table asset depends on its own sources)
MODEL_INPUT_DEPS = list(contract.stage_sources("model_inputs"))
PRODUCT_DEPS = list(contract.stage_sources("products"))


def feature_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["features", name])


def _with_store(lake: LakeResource, work, **kwargs):
    """``work(paths, store)`` under the lake's Feast lock (a check run there never sees a
    refresh between its table writes and its sync)."""
    paths = lake.paths
    with feast_store.feast_lock(paths):
        return work(paths, feast_store.feature_store(paths), **kwargs)


@dg.asset(group_name=GROUP, kinds={"feast"})
def feature_registry(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """`feast apply` of the feature contract (features/contract.py) against this lake:
    entities, feature views, on-demand views and feature services in the file registry,
    tables in the SQLite online store. Skipped when the definitions have not changed."""
    paths = lake.paths
    with feast_store.feast_lock(paths):
        result = feast_store.apply_repo(paths)
    context.log.info("feature registry: %s", result)
    return dg.MaterializeResult(metadata={
        "applied": result["applied"],
        "registry": dg.MetadataValue.path(str(paths.features / "registry.db")),
        "feature_store_yaml": dg.MetadataValue.path(str(paths.features / "feature_store.yaml")),
    })


@dg.asset_check(asset=feature_registry, blocking=True,
                description="The applied registry declares exactly what features/contract.py "
                            "does: entities, views, columns and dtypes, services.")
def registry_matches_contract(lake: LakeResource) -> dg.AssetCheckResult:
    differences = _with_store(lake, lambda paths, store: registry_differences(store))
    return dg.AssetCheckResult(passed=not differences, metadata={
        "differences": len(differences),
        "details": dg.MetadataValue.json(differences[:20]),
    })


def _table_assets(stage: str, description: str):
    tables = [t for t in TABLES if t.stage == stage]

    @dg.multi_asset(
        name=f"feature_tables_{stage}",
        group_name=GROUP if stage == "model_inputs" else SERVING_GROUP,
        specs=[dg.AssetSpec(feature_key(t.name), kinds={"feast", "parquet"},
                            # the assets its builder reads, as the contract lists them
                            deps=[*t.spec.sources, "feature_registry"],
                            description=(f"Feature view {t.name}" if t.feature_view else
                                         f"Label events {t.name}") + ": " + description)
               for t in tables],
    )
    def _assets(context: dg.AssetExecutionContext, lake: LakeResource):
        paths = lake.paths
        with feast_store.feast_lock(paths):
            as_of, changes = sync.write_tables(paths, stage)
        for t in tables:
            change = changes.get(t.name)
            yield dg.MaterializeResult(asset_key=feature_key(t.name), metadata={
                "as_of": as_of.isoformat(),
                "path": dg.MetadataValue.path(str(feast_store.offline_table(paths, t.name))),
                **({"new": change.new, "changed": change.changed, "restated": change.restated,
                    "removed": change.removed} if change else {"skipped": "source model missing"}),
            })

    return _assets


feature_tables_model_inputs = _table_assets(
    "model_inputs",
    "history of the lake's values, dated by the refresh that learned them (point-in-time source).")
feature_tables_products = _table_assets(
    "products", "history of the served product values.")


@dg.asset(group_name=SERVING_GROUP, kinds={"feast", "sqlite"},
          deps=[feature_key(t.name) for t in TABLES if t.feature_view])
def online_feature_store(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """The SQLite online store: every entity's latest features, written incrementally
    (only rows appended since the last sync) and recorded as materializations in the
    registry."""
    paths = lake.paths
    report = _with_store(lake, sync.sync_online)
    return dg.MaterializeResult(metadata={
        "rows_written": sum(r["rows_written"] for r in report.values()),
        "entities": sum(r["entities"] for r in report.values()),
        "views": dg.MetadataValue.json(report),
        "online_store": dg.MetadataValue.path(str(paths.features / "online_store.db")),
    })


@dg.asset_check(asset=online_feature_store, blocking=True,
                description="The online store holds every entity the marts hold, and none "
                            "the lake has removed.")
def online_holds_every_entity(lake: LakeResource) -> dg.AssetCheckResult:
    coverage = _with_store(lake, online_coverage)
    missing = sum(c["missing"] for c in coverage.values())
    stale = sum(c["removed_but_served"] for c in coverage.values())
    return dg.AssetCheckResult(passed=not missing and not stale, metadata={
        "views": dg.MetadataValue.json(coverage),
        "missing": missing,
        "removed_but_served": stale,
    })


@dg.asset_check(asset=online_feature_store, blocking=True,
                description="A sample of entities per view: online values equal the offline "
                            "(point-in-time, as of now) values.")
def online_matches_offline(lake: LakeResource) -> dg.AssetCheckResult:
    result = _with_store(lake, online_offline_mismatches, sample=50)
    bad = {v: r["mismatches"][:5] for v, r in result.items() if r["mismatches"]}
    return dg.AssetCheckResult(passed=not bad, metadata={
        "sampled": sum(r["sampled"] for r in result.values()),
        "mismatches": dg.MetadataValue.json(bad),
    })

