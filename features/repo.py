"""orphanlake's feature repository, for the ``feast`` CLI.

Every entity, feature view and feature service is declared once, in
``features/contract.py``; ``orchestration.feature_store.definitions.build_definitions``
turns the contract into Feast objects for one lake, and this module exposes those of the
process's lake (``LakeConfig.from_env()``: ``$ORPHANLAKE_HOME`` or ``data_lake/``) as
module globals, where ``feast -c features ...`` finds them. ``orphanlake refresh`` does
not import this file: it builds and applies the objects for the lake it is given.

Every source is a Parquet feature table under ``<lake>/features/offline/``, written by the
Dagster feature assets from the lake's dbt models. A table holds the history of its
entities: a new row when a value changes (``event_timestamp`` = the refresh that learned
it); for values that are pure functions of the key (a structure's properties), a restated
row with the same ``event_timestamp`` and a later ``created_timestamp``. Point-in-time
joins therefore see what the lake knew at a label's timestamp.

``feast apply`` works here as in any Feast repo (between refreshes: it does not take the
lake's Feast lock); ``orphanlake refresh`` applies the contract for you.
"""

from orchestration.feature_store.definitions import build_definitions
from orchestration.settings import LakeConfig

globals().update(build_definitions(LakeConfig.from_env().paths).by_name())
