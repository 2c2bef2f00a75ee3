"""Asset metadata: numbers rounded once, keys named one way.

Naming rules (every asset module follows them; ``check_keys`` enforces them in tests):

- Figures measured by **cross-validation** (every solved patient / compound scored by a
  model of a fold that never saw it, pooled over the folds) are ``cv_<metric>``, e.g.
  ``cv_top1``, ``cv_top1_ci95``, ``cv_patients``; per method ``cv_<metric>_<method>``.
  Never "heldout" for cross-validation: a reader takes "held-out" for one split.
- Figures on a **held-out test set** (a split that was never trained on, scored once) are
  ``test_<metric>``, e.g. ``test_top1``, ``test_patients``.
- Counts are plain nouns (``plates``, ``wells``) or ``n_<thing>``; a 95 % interval is
  ``<key>_ci95`` as the text ``"lo–hi"``.
- Floats are shown with ``digits`` decimals (default 3; small numbers keep ``digits``
  significant figures: 0.000573 stays 0.000573) via ``rounded``; a JSON blob of
  metrics is passed through ``rounded`` before it becomes metadata. Rounding is for
  display only: saved artifacts keep full precision.
- A model asset carries a markdown ``summary`` table (one row per method or model, one
  column per metric) built with ``metrics_table``, next to the flat keys.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

DIGITS = 3

CV_PREFIX = "cv_"
TEST_PREFIX = "test_"

# "heldout"/"held_out" in a key: cross-validation is cv_, a held-out test set is test_
_FORBIDDEN = re.compile(r"held[_\- ]?out", re.IGNORECASE)


def rounded(obj: Any, digits: int = DIGITS) -> Any:
    """``obj`` with every float rounded to ``digits`` decimals (keeping at least ``digits``
    significant figures below 0.1: 0.000573 stays 0.000573), through dicts, lists and
    tuples (tuples become lists, as in JSON); NaN and ±inf become None (JSON has none);
    ints, bools, strings and None are returned as they are. numpy scalars count as
    their Python kind."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Mapping):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    item = getattr(obj, "item", None)  # numpy scalar → Python scalar
    if item is not None and not isinstance(obj, (int, float)) and getattr(obj, "ndim", 1) == 0:
        return rounded(item(), digits)
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return _round(float(obj), digits)
    return obj


def _round(x: float, digits: int) -> float:
    # ``digits`` decimals, but never fewer than ``digits`` significant figures: a Brier
    # score of 0.000573 stays 0.000573, not 0.001
    if x == 0.0:
        return 0.0
    decimals = max(digits, digits - 1 - math.floor(math.log10(abs(x))))
    return round(x, decimals) + 0.0  # + 0.0: -0.0 reads as 0.0


def cv_key(metric: str, method: str | None = None) -> str:
    """``cv_<metric>`` or ``cv_<metric>_<method>``: a cross-validated figure."""
    return f"{CV_PREFIX}{metric}" + (f"_{method}" if method else "")


def test_key(metric: str, method: str | None = None) -> str:
    """``test_<metric>`` or ``test_<metric>_<method>``: a figure on a held-out test set."""
    return f"{TEST_PREFIX}{metric}" + (f"_{method}" if method else "")


test_key.__test__ = False  # not a pytest test when imported into a test module


def interval(lo: float | None, hi: float | None, digits: int = DIGITS) -> str | None:
    """A 95 % interval as ``"0.512–0.640"`` (None when either end is missing)."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return f"{lo:.{digits}f}–{hi:.{digits}f}"


def check_keys(keys: Iterable[str]) -> list[str]:
    """The keys that break the naming rules (empty when all follow them)."""
    return [k for k in keys if _FORBIDDEN.search(k)]


def _cell(v: Any, digits: int) -> str:
    v = rounded(v, digits)
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if v == 0 or abs(v) >= 0.1 else f"{v:.{digits}g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def metrics_table(rows: Mapping[str, Mapping[str, Any]], columns: list[str] | None = None,
                  index: str = "method", digits: int = DIGITS) -> str:
    """A markdown table, one row per key of ``rows`` (a method, model or target) and one
    column per metric (``columns``, else every metric in first-seen order); floats shown
    with ``digits`` decimals, a missing value as "–"."""
    if columns is None:
        columns = []
        for metrics in rows.values():
            columns += [c for c in metrics if c not in columns]
    lines = ["| " + " | ".join([index, *columns]) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for name, metrics in rows.items():
        lines.append("| " + " | ".join([_cell(name, digits)]
                                        + [_cell(metrics.get(c), digits) for c in columns]) + " |")
    return "\n".join(lines)


# --- where a table can be queried ----------------------------------------------------------

# The read-side catalog users query is LakePaths.catalog, <lake>/lake.duckdb; DuckDB names a
# database after its file, so its views are lake.main.<name> (orchestration/lake/catalog.py
# publishes one view per mart, intermediate model and evidence file, named after its file).
CATALOG_DATABASE = "lake"
TABLE_NAME_KEY = "dagster/table_name"   # dagster's TableMetadataSet.table_name


def catalog_table(name: str) -> str:
    """``lake.main.<name>``: the view of the catalog that reads table ``name``."""
    return f"{CATALOG_DATABASE}.main.{name}"


def catalog_table_metadata(dbt_resource_props: Mapping[str, Any]) -> dict:
    """``dagster/table_name`` (the UI's "Storage") of a dbt model that the catalog
    publishes: a model materialized ``external`` (a Parquet file in the lake) is read by
    users as ``lake.main.<alias>``, not from dbt's build database (build/dbt.duckdb), which
    dagster-dbt names by default. Staging views and build-only tables have no catalog view:
    empty (dagster-dbt's build-database name stays)."""
    if (dbt_resource_props.get("resource_type") != "model"
            or (dbt_resource_props.get("config") or {}).get("materialized") != "external"):
        return {}
    name = dbt_resource_props.get("alias") or dbt_resource_props["name"]
    return {TABLE_NAME_KEY: catalog_table(name)}
