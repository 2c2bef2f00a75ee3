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
    {#- a raw table: the external table the on-run-start hook made (register_lake_sources) -#}
    {%- if relation.identifier in orphanlake.raw_spark_schemas() -%}
        {{- return(relation) -}}
    {%- endif -%}
    {#- evidence and reference: one Parquet file each, its columns read from the file -#}
    {{- return('parquet.`' ~ orphanlake.spark_location(source_name, table_name) ~ '`') -}}
{%- endmacro %}

{% macro spark_location(source_name, table_name) -%}
    {%- set node = graph.sources.get('source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name) -%}
    {%- set location = (node.meta.get('spark_location') or node.source_meta.get('spark_location')) if node else none -%}
    {%- if not location -%}
        {{- exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name
            ~ " has no meta.spark_location: Spark cannot read it") -}}
    {%- endif -%}
    {{- return(location.replace('{name}', table_name)) -}}
{%- endmacro %}


{#- on-run-start (dbt_project.yml). On Spark, each raw table becomes an external table
    <source>.<table> (raw.variants, raw_trials.trial_dm ...) over its files with the raw
    contract's columns (macros/raw_spark_schemas.sql, generated from
    orchestration/lake/schemas.py): Spark skips files named _* such as _schema.parquet,
    so a column no data file has yet, or a table with no data file at all, needs the
    columns declared, where DuckDB gets them from _schema.parquet. Re-made on every run
    (metadata only), so a new release's columns are picked up. Nothing on DuckDB. -#}
{% macro register_lake_sources() -%}
    {{- return(adapter.dispatch('register_lake_sources', 'orphanlake')()) -}}
{%- endmacro %}

{% macro default__register_lake_sources() -%}
{%- endmacro %}

{% macro spark__register_lake_sources() -%}
    {%- if execute -%}
        {%- set schemas = orphanlake.raw_spark_schemas() -%}
        {%- set databases = [] -%}
        {%- for node in graph.sources.values() if node.package_name == project_name and node.name in schemas -%}
            {%- if node.schema not in databases -%}
                {%- do run_query('create database if not exists ' ~ node.schema) -%}
                {%- do databases.append(node.schema) -%}
            {%- endif -%}
            {%- do run_query('drop table if exists ' ~ node.schema ~ '.' ~ node.name) -%}
            {%- do run_query('create table ' ~ node.schema ~ '.' ~ node.name ~ ' (' ~ schemas[node.name]
                             ~ ") using parquet options (path '"
                             ~ orphanlake.spark_location(node.source_name, node.name) ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
