{#- Sources on every engine (issue 15: the same models on DuckDB and on Spark).

    The lake's sources are Parquet files, not tables of a database. dbt-duckdb reads them
    through each source's `meta.external_location` (read_parquet(...)); Spark cannot run
    that, so on Spark a source renders as Spark SQL's path table, parquet.`<glob>`, from
    the source's `meta.spark_location` (models/staging/_sources.yml). Models keep calling
    {{ source('raw', 'variants') }}: this overrides dbt's `source` for the project and
    always calls the builtin first, so the lineage dbt records (depends_on.nodes, which
    dagster-dbt builds its asset dependencies from) is the builtin's, on every target. -#}
{% macro source(source_name, table_name) -%}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {{- return(adapter.dispatch('lake_source', 'orphanlake')(relation, source_name, table_name)) -}}
{%- endmacro %}

{% macro default__lake_source(relation, source_name, table_name) -%}
    {{- return(relation) -}}
{%- endmacro %}

{% macro spark__lake_source(relation, source_name, table_name) -%}
    {#- while parsing there is no graph yet; a unit test's source is its fixture (a CTE) -#}
    {%- if not execute or relation.identifier.startswith('__dbt__cte__') -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set node = graph.sources.get('source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name) -%}
    {%- set location = node.meta.get('spark_location') or node.source_meta.get('spark_location') if node else none -%}
    {%- if not location -%}
        {{- exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name
            ~ " has no meta.spark_location: Spark cannot read it") -}}
    {%- endif -%}
    {{- return('parquet.`' ~ location.replace('{name}', table_name) ~ '`') -}}
{%- endmacro %}
