"""Groups by domain that read left to right, and quarantine that warns (orchestration/groups.py,
orchestration/assets/quarantine.py)."""

from datetime import datetime, timezone

import dagster as dg
import networkx as nx
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.assets import quarantine
from orchestration.assets.transforms import dbt_intermediate, dbt_marts, dbt_staging
from orchestration.definitions import defs
from orchestration.groups import DOMAINS, GROUPS, KNOWN_GROUP_CYCLES, group_of
from orchestration.lake.schemas import RAW_SCHEMAS
from orchestration.resources import LakeResource
from orchestration.settings import LakePaths

INGEST_GROUPS = ("reference", *DOMAINS)


def _graph():
    return defs.resolve_asset_graph()


def _edges(graph):
    return [(p.to_user_string(), k.to_user_string())
            for k in graph.get_all_asset_keys() for p in graph.get(k).parent_keys]


def test_every_asset_is_in_its_documented_group():
    graph = _graph()
    actual = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    documented = group_of()
    assert set(actual) == set(documented), (
        f"not documented in orchestration/groups.py: {sorted(set(actual) - set(documented))}; "
        f"documented but not defined: {sorted(set(documented) - set(actual))}")
    wrong = {k: (g, documented[k]) for k, g in actual.items() if g != documented[k]}
    assert not wrong, f"asset: (group, documented group): {wrong}"
    assert len(documented) == sum(len(a) for a in GROUPS.values()), "an asset is in two groups"
    # the dbt models' groups come from dbt's own group config, through the translator
    for key in dbt_staging.keys | dbt_intermediate.keys | dbt_marts.keys:
        assert graph.get(key).group_name != "default", key


def _layer(name: str) -> int:
    """0 ingest and reference, 1 dbt staging, 2 dbt intermediate, 3 dbt marts."""
    key = dg.AssetKey(name)
    if key in dbt_staging.keys:
        return 1
    if key in dbt_intermediate.keys:
        return 2
    if key in dbt_marts.keys:
        return 3
    return 0 if name.startswith("raw_") or group_of()[name] == "reference" else -1


def test_no_edge_runs_back_to_an_earlier_layer():
    """Ingest only feeds forward; a staging model never reads an intermediate model or a
    mart, an intermediate model never reads a mart."""
    for parent, child in _edges(_graph()):
        p, c = _layer(parent), _layer(child)
        if c == 0:
            assert p == 0, f"{parent} → ingest asset {child}"
        if c > 0 and p > 0:
            assert p <= c, f"{parent} (layer {p}) → {child} (layer {c})"


def test_groups_read_left_to_right():
    """The global lineage draws each group as a box: the group graph has no cycle but the
    documented ones, and every domain comes before every cross-domain group."""
    group = group_of()
    g = nx.DiGraph()
    g.add_nodes_from(GROUPS)
    g.add_edges_from((group[p], group[c]) for p, c in _edges(_graph()) if group[p] != group[c])
    cycles = [frozenset(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert set(cycles) <= set(KNOWN_GROUP_CYCLES), cycles
    later = set(GROUPS) - set(INGEST_GROUPS)
    for domain in INGEST_GROUPS:
        for other in later:
            if any({domain, other} <= known for known in KNOWN_GROUP_CYCLES):
                continue
            assert not nx.has_path(g, other, domain), f"{other} feeds back into {domain}"
    # no cross-domain group feeds an ingest asset
    for parent, child in _edges(_graph()):
        if child.startswith("raw_"):
            assert group[parent] in INGEST_GROUPS, (parent, child)


def test_quarantine_is_reported_per_domain():
    graph = _graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "raw_quarantine" not in keys   # no asset depending on every ingest asset
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for asset in quarantine.QUARANTINE_CHECKED.values():
        assert (asset, "nothing_quarantined") in checks
    assert ("plate_qc", "no_plates_quarantined") in checks
    assert ("quarantine", "nothing_quarantined") in checks
    # the staging view of the raw quarantine table waits for every ingest that writes it
    parents = {p.to_user_string() for p in graph.get(dg.AssetKey("stg_quarantine")).parent_keys}
    assert parents == set(quarantine.QUARANTINE_CHECKED.values())


def _write_quarantine(paths: LakePaths, name: str, rows: list[dict]) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    full = [{"locator": None, "original_path": f"landing/{r['source_file']}",
             "quarantine_copy": None, "source_sha256": None, "batch_id": "b1",
             "ingested_at": now, **r} for r in rows]
    target = paths.raw_table("quarantine") / "b1" / f"{name}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(full, schema=RAW_SCHEMAS["quarantine"]), target)


def test_quarantine_checks_warn_with_counts_and_reasons(tmp_path):
    paths = LakePaths(tmp_path).ensure()
    lake = LakeResource(home=str(tmp_path))
    assert quarantine.no_plates_quarantined(lake=lake).passed    # nothing refused yet

    _write_quarantine(paths, "plates__run1", [
        {"domain": "plates", "granularity": "plate", "locator": f"plate P{i}",
         "reason": f"plate P{i}: 40 of 96 wells missing", "source_file": "plates/run1/r.csv"}
        for i in range(2)] + [
        {"domain": "plates", "granularity": "well", "locator": f"plate P9 well A0{i}",
         "reason": "signal 'n/a' is not a number", "source_file": "plates/run1/r.csv"}
        for i in range(1, 4)])
    _write_quarantine(paths, "clinical__p1", [
        {"domain": "clinical", "granularity": "term", "locator": "HP:9999999",
         "reason": "HP:9999999 is not in the loaded HPO release", "source_file": "clinical/b1/p1.json"}])
    pl.DataFrame([{"domain": "plates", "granularity": "plate", "locator": "plate P7",
                   "reason": "plate P7 has no plate map", "original_path": "landing/plates/run2/x.csv",
                   "source_file": "plates/run2/x.csv", "run_id": "run2",
                   "refused_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}]
                 ).write_parquet(paths.evidence / "plate_refusals.parquet")

    # the checks as Dagster runs them, on the lake resource
    plates = quarantine.no_plates_quarantined(lake=lake)
    assert not plates.passed and plates.severity == dg.AssetCheckSeverity.WARN
    assert plates.metadata["quarantined"].value == 6
    assert plates.metadata["plates"].value == 3 and plates.metadata["wells"].value == 3
    assert plates.description == "6 quarantined: 3 plates, 3 wells"
    assert "has no plate map" in plates.metadata["reasons"].value
    assert "40 of 96 wells missing" in plates.metadata["reasons"].value

    by_asset = {next(iter(c.check_keys)).asset_key.to_user_string(): c
                for c in quarantine.ingest_checks}
    clinical = by_asset["raw_patients"](lake=lake)
    assert not clinical.passed and clinical.severity == dg.AssetCheckSeverity.WARN
    assert clinical.metadata["terms"].value == 1
    assert clinical.description == "1 quarantined: 1 term"
    assert "HP:9999999" in clinical.metadata["reasons"].value
    compounds = by_asset["raw_compound_records"](lake=lake)
    assert compounds.passed and compounds.metadata["quarantined"].value == 0
    genomic = by_asset["raw_variants"](lake=lake)
    assert genomic.passed

    # the mart check counts by domain and granularity
    rows = quarantine.raw_quarantine(paths)
    mart = quarantine._result(rows, by_domain=True)
    assert not mart.passed and mart.severity == dg.AssetCheckSeverity.WARN
    assert mart.metadata["by_domain"].value == {"clinical/term": 1, "plates/plate": 2,
                                                "plates/well": 3}
