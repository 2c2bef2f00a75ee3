"""The Spark target's raw-table columns are the raw contract's (no Spark needed)."""

from orchestration.lake.spark_schemas import MACRO_PATH, render_macro


def test_raw_spark_schemas_macro_is_generated_from_the_raw_contract():
    assert MACRO_PATH.read_text() == render_macro(), (
        "dbt_project/macros/raw_spark_schemas.sql is out of date: "
        "run `python -m orchestration.lake.spark_schemas`")
