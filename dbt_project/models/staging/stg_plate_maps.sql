select
    run_id,
    plate_id,
    well,
    compound_id,
    concentration_um,
    role,
    source_file
from {{ source('raw', 'plate_maps') }}
