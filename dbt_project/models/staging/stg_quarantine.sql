select
    domain,
    granularity,
    locator,
    reason,
    original_path,
    quarantine_copy,
    source_file,
    source_sha256,
    batch_id,
    ingested_at as quarantined_at
from {{ source('raw', 'quarantine') }}
