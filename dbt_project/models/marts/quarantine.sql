-- Everything refused: at ingest, and when plate runs were put together with their maps
-- and libraries. What, where, why, and where the original is kept.
-- Every part has the same columns in the same order (a plain union all: Spark SQL has no
-- union by name).
select * from {{ ref('stg_quarantine') }}
union all
select * from {{ ref('int_plate_refusals') }}
union all
-- trial records refused by the checks across a study's files (ingest/trial_checks.py)
select domain, granularity, locator, reason, original_path, cast(null as {{ dbt.type_string() }}) as quarantine_copy,
       source_file, source_sha256, batch_id, quarantined_at
from {{ source('evidence', 'trial_refusals') }}
union all
-- pedigree faults only seen across files (a parent not in any VCF, sex conflicts, two
-- fathers named by two files): the proband is ranked without that family evidence
select distinct
    case when source_file ilike '%.ped' then 'genomic' else 'clinical' end as domain,
    'sample' as granularity,
    about as locator,
    reason,
    'landing/' || source_file as original_path,
    cast(null as {{ dbt.type_string() }}) as quarantine_copy,
    source_file,
    cast(null as {{ dbt.type_string() }}) as source_sha256,
    batch_id,
    ingested_at as quarantined_at
from (
    select patient_id as about, proband_problem as reason, source_file, batch_id, ingested_at
    from {{ ref('int_family_members') }}
    union all
    select parent_id, parent_problem, source_file, batch_id, ingested_at
    from {{ ref('int_family_members') }}
)
where reason is not null
order by quarantined_at, source_file, locator
