select
    domain,
    granularity,
    locator,
    reason,
    original_path,
    cast(null as {{ dbt.type_string() }}) as quarantine_copy,
    source_file,
    cast(null as {{ dbt.type_string() }}) as source_sha256,
    run_id as batch_id,
    refused_at as quarantined_at
from {{ source('evidence', 'plate_refusals') }}
