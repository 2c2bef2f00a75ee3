select
    run_id,
    assay_id,
    target_gene,
    readout,
    stage,
    plate_format,
    description,
    source_file,
    ingested_at
from {{ source('raw', 'plate_runs') }}
qualify row_number() over (partition by run_id order by ingested_at desc, source_file desc) = 1
