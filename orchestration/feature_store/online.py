"""Online lookups by entity, for the CLI, notebooks and services.

An entity the store does not hold (never seen, or removed from the lake) comes back as a
row of nulls with ``found = False``: a caller scoring a batch must not fail on one
unknown id, and must be able to tell "unknown" from "known, value missing".
"""

from __future__ import annotations

import polars as pl

from features import contract as C
from orchestration.lake.io import read_mart
from orchestration.settings import LakePaths

# entity → (feature service, join keys): the contract's lookup services
ENTITIES: dict[str, tuple[str, tuple[str, ...]]] = C.lookups()


def get_online(store, entity: str, rows: list[dict], service: str | None = None,
               request: dict | None = None) -> pl.DataFrame:
    """Online features for ``rows`` (dicts of join keys), one output row each, in order,
    with ``found``. ``request`` adds request-time values (on-demand features)."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}; one of {', '.join(ENTITIES)}")
    default_service, keys = ENTITIES[entity]
    for i, row in enumerate(rows):
        missing = [k for k in keys if not row.get(k)]
        if missing:
            raise ValueError(f"entity row {i} lacks {missing} (a {entity} is keyed by {list(keys)})")
    entity_rows = [{**{k: str(row[k]) for k in keys}, **(request or {})} for row in rows]
    feature_service = store.get_feature_service(service or default_service)
    values = store.get_online_features(features=feature_service, entity_rows=entity_rows).to_dict()
    # in the order the views declare them, not the store's
    projections = feature_service.feature_view_projections
    declared = [f.name for p in projections for f in p.features]
    feature_names = [c for c in declared if c in values and c not in keys and c not in (request or {})]
    # an on-demand value is computed for any entity, known or not: only stored ones count
    stored_views = {v.name for v in store.list_feature_views()}
    stored = [f.name for p in projections if p.name in stored_views for f in p.features]
    found = _any_value(values, stored, len(entity_rows))
    ordered = {k: values[k] for k in keys} | {"found": found} | {c: values[c] for c in feature_names}
    return pl.DataFrame(ordered, strict=False)


def _any_value(values: dict[str, list], features: list[str], n: int) -> list[bool]:
    return [any(values[f][i] is not None for f in features) for i in range(n)]


def served(store, view, rows: pl.DataFrame, chunk: int = 1_000) -> list[bool]:
    """Per entity row (join keys): whether the online store answers with any value of
    ``view`` for it. Asked through Feast, so it holds for any online store."""
    names = [f.name for f in view.features]
    out: list[bool] = []
    for start in range(0, rows.height, chunk):
        part = rows.slice(start, chunk)
        values = store.get_online_features(features=[f"{view.name}:{n}" for n in names],
                                           entity_rows=part.to_dicts()).to_dict()
        out += _any_value(values, names, part.height)
    return out


def resolve_compounds(paths: LakePaths, ids: list[str]) -> list[dict]:
    """Entity rows for compound ids as a user writes them: an InChIKey, the catalogue's
    compound_id, a library's own id, or ``library:id``. An id matching nothing is kept as
    given, so it comes back not found."""
    path = paths.marts / "compounds.parquet"
    table = (read_mart(path).select("inchikey", "compound_id", "library_ids")
             if path.exists() else pl.DataFrame(schema={"inchikey": pl.String, "compound_id": pl.String,
                                                         "library_ids": pl.List(pl.String)}))
    lookup: dict[str, str] = {}
    for inchikey, compound_id, library_ids in table.iter_rows():
        for alias in [inchikey, compound_id, *(library_ids or [])]:
            lookup.setdefault(alias, inchikey)
        for lid in library_ids or []:
            lookup.setdefault(lid.split(":", 1)[-1], inchikey)
    return [{"inchikey": lookup.get(i, i), "requested_id": i} for i in ids]
