select
    run_id,
    plate_id,
    well,
    row_idx,
    col_idx,
    plate_rows,
    plate_cols,
    signal,
    source_file,
    ingested_at
from {{ source('raw', 'plate_wells') }}
