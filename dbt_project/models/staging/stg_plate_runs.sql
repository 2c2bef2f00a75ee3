-- One row per screening run (its newest run.json). The hit-calling columns are the run's
-- own overrides from run.json (validated at ingest), null where the run states none: the
-- calls then use the dbt vars (int_hts_compound_calls coalesces them). Raw files written
-- before these columns existed read them as null through raw/plate_runs/_schema.parquet.
{% call orphanlake.qualify("row_number() over (partition by run_id order by ingested_at desc, source_file desc) = 1") %}
select
    run_id,
    assay_id,
    target_gene,
    readout,
    stage,
    plate_format,
    description,
    hit_potency_percent,
    hit_z_threshold,
    replicate_spread_multiple,
    source_file,
    ingested_at
from {{ source('raw', 'plate_runs') }}
{% endcall %}
