{#- SQL that differs between the engines (issue 15: the same models on DuckDB and Spark).

    Each difference is one small adapter-dispatched macro: the duckdb__ version renders
    exactly the SQL the models had before (so the DuckDB marts are unchanged), the
    spark__ version the Spark SQL (4.x, as dbt-spark runs it: ANSI mode off) with the
    same result. Anything else in the models is SQL both engines read the same way.
    Null order: DuckDB sorts NULLs last in both directions, Spark first when ascending, so
    the models write `nulls last` on every ascending window key that can be null. -#}


{#- QUALIFY (DuckDB) has no Spark equivalent: Spark filters the query's result on the
    window expression in a wrapping select. The condition may only use the query's
    output columns (true of every use here).
    {% call orphanlake.qualify("row_number() over (partition by a order by b) = 1") %}
    select ... from ...
    {% endcall %} -#}
{% macro qualify(condition) -%}
    {{- adapter.dispatch('qualify', 'orphanlake')(condition, caller()) -}}
{%- endmacro %}

{% macro default__qualify(condition, query) -%}
{{ query.strip() }}
qualify {{ condition }}
{%- endmacro %}

{% macro spark__qualify(condition, query) -%}
select * except (__qualified) from (
    select *, {{ condition }} as __qualified from (
{{ query.strip() }}
    ) as __unqualified
) as __qualifying
where __qualified
{%- endmacro %}


{#- The exact median (linear interpolation between the two middle values): DuckDB's
    median() is quantile_cont(0.5); Spark's percentile(x, 0.5) is the same exact
    definition (percentile_approx is not, and is never used). Works as an aggregate (with
    FILTER) and as a window function. -#}
{% macro exact_median(expr) -%}
    {{- adapter.dispatch('exact_median', 'orphanlake')(expr) -}}
{%- endmacro %}

{% macro default__exact_median(expr) -%}
median({{ expr }})
{%- endmacro %}

{% macro spark__exact_median(expr) -%}
percentile({{ expr }}, 0.5)
{%- endmacro %}


{#- The value of the first row in order_by (a list of ascending keys, each optionally
    with `nulls last`), as DuckDB's first(x order by ...) or, with skip_nulls,
    any_value(x order by ...) (the first non-null x). Spark has no ordered first():
    min_by over a struct of the keys, each key preceded by `key is null` so NULL keys
    sort last as in DuckDB, and `x is null` first when NULL values are skipped. -#}
{% macro first_by(expr, order_by, skip_nulls=false) -%}
    {{- adapter.dispatch('first_by', 'orphanlake')(expr, order_by, skip_nulls) -}}
{%- endmacro %}

{% macro default__first_by(expr, order_by, skip_nulls) -%}
{{ 'any_value' if skip_nulls else 'first' }}({{ expr }} order by {{ order_by | join(', ') }})
{%- endmacro %}

{% macro spark__first_by(expr, order_by, skip_nulls) -%}
    {%- set fields = [] -%}
    {%- if skip_nulls -%}{%- do fields.append("'v', (" ~ expr ~ ") is null") -%}{%- endif -%}
    {%- for key in order_by -%}
        {%- set k = key | replace(' nulls last', '') -%}
        {%- if ' desc' in k or ' nulls first' in k -%}
            {{- exceptions.raise_compiler_error("first_by: ascending keys only, got " ~ key) -}}
        {%- endif -%}
        {%- do fields.append("'n" ~ loop.index ~ "', (" ~ k ~ ") is null, 'k" ~ loop.index ~ "', " ~ k) -%}
    {%- endfor -%}
min_by({{ expr }}, named_struct({{ fields | join(', ') }}))
{%- endmacro %}


{#- x at the row of the smallest / largest key, rows whose key or x is NULL skipped
    (DuckDB's arg_min / arg_max; Spark's min_by / max_by skip NULL keys only). -#}
{% macro arg_min(expr, key) -%}
    {{- adapter.dispatch('arg_min', 'orphanlake')(expr, key) -}}
{%- endmacro %}

{% macro default__arg_min(expr, key) -%}
arg_min({{ expr }}, {{ key }})
{%- endmacro %}

{% macro spark__arg_min(expr, key) -%}
min_by({{ expr }}, case when ({{ expr }}) is not null then {{ key }} end)
{%- endmacro %}

{% macro arg_max(expr, key) -%}
    {{- adapter.dispatch('arg_max', 'orphanlake')(expr, key) -}}
{%- endmacro %}

{% macro default__arg_max(expr, key) -%}
arg_max({{ expr }}, {{ key }})
{%- endmacro %}

{% macro spark__arg_max(expr, key) -%}
max_by({{ expr }}, case when ({{ expr }}) is not null then {{ key }} end)
{%- endmacro %}


{#- A timestamp as a string that sorts like it (yyyymmddhhmmss.ffffff). -#}
{% macro sortable_timestamp(expr) -%}
    {{- adapter.dispatch('sortable_timestamp', 'orphanlake')(expr) -}}
{%- endmacro %}

{% macro default__sortable_timestamp(expr) -%}
strftime({{ expr }}, '%Y%m%d%H%M%S.%f')
{%- endmacro %}

{% macro spark__sortable_timestamp(expr) -%}
date_format({{ expr }}, 'yyyyMMddHHmmss.SSSSSS')
{%- endmacro %}


{#- An aggregate list of expr in the order of order_by (a list of ascending keys), or
    with distinct=true the sorted distinct values (order_by must then be [expr]). NULL
    values are not expected (DuckDB's list() keeps them, Spark's collect_list drops them). -#}
{% macro ordered_list(expr, order_by, distinct=false) -%}
    {{- adapter.dispatch('ordered_list', 'orphanlake')(expr, order_by, distinct) -}}
{%- endmacro %}

{% macro default__ordered_list(expr, order_by, distinct) -%}
list({{ 'distinct ' if distinct }}{{ expr }} order by {{ order_by | join(', ') }})
{%- endmacro %}

{% macro spark__ordered_list(expr, order_by, distinct) -%}
    {%- if distinct -%}
        {%- if order_by != [expr] -%}
            {{- exceptions.raise_compiler_error("ordered_list: distinct values are ordered by themselves") -}}
        {%- endif -%}
array_sort(collect_set({{ expr }}))
    {%- else -%}
        {%- set fields = [] -%}
        {%- for key in order_by -%}
            {%- do fields.append("'k" ~ loop.index ~ "', " ~ key) -%}
        {%- endfor -%}
transform(array_sort(collect_list(named_struct({{ fields | join(', ') }}, 'v', {{ expr }}))), e -> e.v)
    {%- endif -%}
{%- endmacro %}


{#- string_agg in a given order (order_by: a string, the ORDER BY list), of the rows that
    pass `filter` (a condition) when given; with distinct=true the order must be the
    expression itself. NULL when no non-null value, on both engines. On Spark the distinct
    form is collect_set, sorted: listagg(distinct ...) within group beside another
    distinct aggregate fails in Spark 4.0's distinct-aggregate rewrite (ClassCastException). -#}
{% macro ordered_string_agg(expr, sep, order_by, distinct=false, filter=none) -%}
    {{- adapter.dispatch('ordered_string_agg', 'orphanlake')(expr, sep, order_by, distinct, filter) -}}
{%- endmacro %}

{% macro default__ordered_string_agg(expr, sep, order_by, distinct, filter) -%}
string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ sep }} order by {{ order_by }})
{%- if filter %} filter (where {{ filter }}){% endif %}
{%- endmacro %}

{% macro spark__ordered_string_agg(expr, sep, order_by, distinct, filter) -%}
    {%- set where = ' filter (where ' ~ filter ~ ')' if filter else '' -%}
    {%- if distinct -%}
        {%- if order_by != expr -%}
            {{- exceptions.raise_compiler_error("ordered_string_agg: distinct values are ordered by themselves") -}}
        {%- endif -%}
case when count({{ expr }}){{ where }} > 0
     then array_join(array_sort(collect_set({{ expr }}){{ where }}), {{ sep }}) end
    {%- else -%}
listagg({{ expr }}, {{ sep }}) within group (order by {{ order_by }}){{ where }}
    {%- endif -%}
{%- endmacro %}


{#- Lists (DuckDB LIST / Spark ARRAY): any of the string values in the list; the list joined
    by sep. (A value in a list needs no macro: array_contains is the same on both.) -#}
{% macro list_has_any(list, values) -%}
    {{- adapter.dispatch('list_has_any', 'orphanlake')(list, values) -}}
{%- endmacro %}

{% macro default__list_has_any(list, values) -%}
list_has_any({{ list }}, [{% for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor %}])
{%- endmacro %}

{% macro spark__list_has_any(list, values) -%}
arrays_overlap({{ list }}, array({% for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor %}))
{%- endmacro %}

{% macro list_to_string(list, sep) -%}
    {{- adapter.dispatch('list_to_string', 'orphanlake')(list, sep) -}}
{%- endmacro %}

{% macro default__list_to_string(list, sep) -%}
array_to_string({{ list }}, {{ sep }})
{%- endmacro %}

{% macro spark__list_to_string(list, sep) -%}
array_join({{ list }}, {{ sep }})
{%- endmacro %}


{#- Columns to rows: the columns `columns` of relation become (name, value) rows, NULL
    values dropped (both engines' default), beside the columns `keep`. -#}
{% macro unpivot_columns(relation, keep, columns, name, value) -%}
    {{- adapter.dispatch('unpivot_columns', 'orphanlake')(relation, keep, columns, name, value) -}}
{%- endmacro %}

{% macro default__unpivot_columns(relation, keep, columns, name, value) -%}
unpivot (select {{ (keep + columns) | join(', ') }} from {{ relation }}) on {{ columns | join(', ') }}
    into name {{ name }} value {{ value }}
{%- endmacro %}

{% macro spark__unpivot_columns(relation, keep, columns, name, value) -%}
select {{ keep | join(', ') }}, {{ name }}, {{ value }}
from (select {{ (keep + columns) | join(', ') }} from {{ relation }})
    unpivot ({{ value }} for {{ name }} in ({{ columns | join(', ') }}))
{%- endmacro %}
