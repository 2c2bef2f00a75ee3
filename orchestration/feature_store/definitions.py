"""The Feast objects of one lake, built from the feature contract (``features/contract.py``).

``build_definitions(paths)`` returns the entities, feature views (each reading its
offline table under ``paths``), the request source, the on-demand view and the feature
services; ``apply_repo`` applies them, and ``features/repo.py`` exposes them to the
``feast`` CLI. Nothing here reads the process environment: the lake is the argument.
``registry_differences`` compares an applied registry with the contract.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from datetime import timedelta

import pandas as pd

from features import contract as C
from orchestration.settings import LakePaths


def feast_type(dtype: str):
    from feast.types import Bool, Bytes, Float64, Int64, String

    return {C.FLOAT64: Float64, C.INT64: Int64, C.STRING: String, C.BOOL: Bool, C.BYTES: Bytes}[dtype]


def _fields(columns: tuple[C.Column, ...]) -> list:
    from feast import Field

    return [Field(name=c.name, dtype=feast_type(c.dtype)) for c in columns]


def compound_query_similarity(inputs: pd.DataFrame) -> pd.DataFrame:
    # self-contained: Feast pickles this function by value and runs it in other processes.
    # The query is standardized and fingerprinted exactly as the stored structures were.
    import numpy as np
    import pandas as pd

    from rdkit import Chem

    from orchestration.chem.properties import morgan_bytes
    from orchestration.chem.standardize import StructureError, standardize_smiles

    queries: dict = {}
    for smiles in set(inputs["query_smiles"].dropna()):
        try:
            parent = Chem.MolFromSmiles(standardize_smiles(smiles).smiles)
        except (StructureError, ValueError):
            continue
        queries[smiles] = np.unpackbits(np.frombuffer(morgan_bytes(parent), dtype=np.uint8)).astype(bool)

    sims, valid = [], []
    for fp, smiles in zip(inputs["morgan_fp"], inputs["query_smiles"]):
        q = queries.get(smiles)
        if q is None or not isinstance(fp, (bytes, bytearray)):
            sims.append(np.nan)
            valid.append(q is not None)
            continue
        bits = np.unpackbits(np.frombuffer(bytes(fp), dtype=np.uint8)).astype(bool)
        union = np.count_nonzero(bits | q)
        sims.append(float(np.count_nonzero(bits & q)) / union if union else 0.0)
        valid.append(True)
    return pd.DataFrame({"tanimoto_to_query": sims, "query_valid": valid})


# the computation of each on-demand view of the contract
ON_DEMAND_FUNCTIONS = {"compound_query_similarity": compound_query_similarity}


def _fresh(fn):
    """A copy of ``fn``: Feast's decorator rewrites the function's ``__module__`` (so it is
    pickled by value); the copy keeps the module's own function intact for the next build."""
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


@dataclass
class FeastDefinitions:
    """Every Feast object of one lake, by kind and name."""

    entities: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict)
    request_sources: dict = field(default_factory=dict)
    on_demand_views: dict = field(default_factory=dict)
    services: dict = field(default_factory=dict)

    def objects(self) -> list:
        """In the order apply takes them: entities, views, request sources, on-demand views, services."""
        return [*self.entities.values(), *self.views.values(), *self.request_sources.values(),
                *self.on_demand_views.values(), *self.services.values()]

    def by_name(self) -> dict:
        """name → object (for a module's globals, where the ``feast`` CLI finds them)."""
        return {o.name: o for o in self.objects()}


def build_definitions(paths: LakePaths) -> FeastDefinitions:
    """The contract's Feast objects, every view reading its offline table in this lake."""
    from feast import Entity, FeatureService, FeatureView, FileSource, RequestSource
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.value_type import ValueType

    value_types = {C.STRING: ValueType.STRING, C.INT64: ValueType.INT64}
    out = FeastDefinitions()
    for e in C.ENTITIES.values():
        out.entities[e.name] = Entity(name=e.name, join_keys=[e.join_key],
                                      value_type=value_types[e.dtype], description=e.description)
    offline = paths.features / "offline"
    for v in C.VIEWS.values():
        source = FileSource(name=v.name, path=str(offline / f"{v.name}.parquet"),
                            timestamp_field="event_timestamp",
                            created_timestamp_column="created_timestamp")
        out.views[v.name] = FeatureView(
            name=v.name, entities=[out.entities[e] for e in v.entities],
            ttl=timedelta(seconds=v.ttl_seconds), schema=_fields(v.columns), source=source,
            online=v.online, description=v.description, tags=dict(v.tags))
    for r in C.REQUEST_INPUTS.values():
        out.request_sources[r.name] = RequestSource(name=r.name, schema=_fields(r.columns),
                                                    description=r.description)
    for o in C.ON_DEMAND_VIEWS.values():
        sources = [out.views.get(s) or out.request_sources[s] for s in o.sources]
        out.on_demand_views[o.name] = on_demand_feature_view(
            name=o.name, sources=sources, schema=_fields(o.columns), mode="pandas",
            description=o.description)(_fresh(ON_DEMAND_FUNCTIONS[o.name]))
    for s in C.SERVICES.values():
        features = []
        for p in s.projections:
            view = out.views.get(p.view) or out.on_demand_views[p.view]
            features.append(view if p.columns is None else view[list(p.columns)])
        out.services[s.name] = FeatureService(name=s.name, features=features,
                                              description=s.description)
    return out


def _columns(features) -> list[tuple[str, str]]:
    return [(f.name, str(f.dtype)) for f in features]


def _expected(columns: tuple[C.Column, ...]) -> list[tuple[str, str]]:
    return [(c.name, str(feast_type(c.dtype))) for c in columns]


def registry_differences(store) -> list[str]:
    """How the store's applied registry differs from the contract: missing or extra
    entities, views, on-demand views and services; a view's entities, join keys, columns,
    dtypes or TTL; a service's views and columns. Empty when they agree."""
    diffs: list[str] = []

    def compare_names(kind: str, applied, declared) -> set[str]:
        applied, declared = set(applied), set(declared)
        diffs.extend(f"{kind} {n}: declared in the contract, not in the registry"
                     for n in sorted(declared - applied))
        diffs.extend(f"{kind} {n}: in the registry, not in the contract" for n in sorted(applied - declared))
        return applied & declared

    entities = {e.name: e for e in store.list_entities()}
    for name in sorted(compare_names("entity", entities, C.ENTITIES)):
        if entities[name].join_key != C.ENTITIES[name].join_key:
            diffs.append(f"entity {name}: join key {entities[name].join_key} != "
                         f"{C.ENTITIES[name].join_key}")

    views = {v.name: v for v in store.list_feature_views()}
    for name in sorted(compare_names("feature view", views, C.VIEWS)):
        v, want = views[name], C.VIEWS[name]
        if sorted(v.entities) != sorted(want.entities):
            diffs.append(f"feature view {name}: entities {sorted(v.entities)} != {sorted(want.entities)}")
        if sorted(v.join_keys) != sorted(want.keys):
            diffs.append(f"feature view {name}: join keys {sorted(v.join_keys)} != {sorted(want.keys)}")
        have, expected = _columns(v.features), _expected(want.columns)
        if have != expected:
            diffs.append(f"feature view {name}: columns {_describe(have, expected)}")
        ttl = int(v.ttl.total_seconds()) if v.ttl is not None else 0
        if ttl != want.ttl_seconds:
            diffs.append(f"feature view {name}: ttl {ttl} s != {want.ttl_seconds} s")

    odfvs = {v.name: v for v in store.list_on_demand_feature_views()}
    for name in sorted(compare_names("on-demand view", odfvs, C.ON_DEMAND_VIEWS)):
        have, expected = _columns(odfvs[name].features), _expected(C.ON_DEMAND_VIEWS[name].columns)
        if have != expected:
            diffs.append(f"on-demand view {name}: columns {_describe(have, expected)}")

    services = {s.name: s for s in store.list_feature_services()}
    for name in sorted(compare_names("feature service", services, C.SERVICES)):
        have = {p.name: [f.name for f in p.features] for p in services[name].feature_view_projections}
        want = {view: list(cols) for view, cols in C.service_columns(name).items()}
        if have != want:
            diffs.append(f"feature service {name}: serves {have}, the contract says {want}")
    return diffs


def _describe(have: list[tuple[str, str]], expected: list[tuple[str, str]]) -> str:
    h, e = dict(have), dict(expected)
    parts = [f"missing {n}" for n in e if n not in h]
    parts += [f"extra {n}" for n in h if n not in e]
    parts += [f"{n} is {h[n]}, the contract says {e[n]}" for n in e if n in h and h[n] != e[n]]
    if not parts:
        parts = [f"order {[n for n, _ in have]} != {[n for n, _ in expected]}"]
    return "; ".join(parts)
