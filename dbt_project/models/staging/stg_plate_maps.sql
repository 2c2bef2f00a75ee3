select
    run_id,
    plate_id,
    well,
    compound_id,
    concentration_um,
    role,
    source_file,
    ingested_at
from {{ source('raw', 'plate_maps') }}
-- a plate map re-delivered (corrected) in a later file: the newest entry per well wins
qualify row_number() over (
    -- the rest of the row breaks ties, so a map listing a well twice gives the same
    -- winner on every run
    partition by run_id, plate_id, well order by ingested_at desc, source_file desc,
                                               compound_id, concentration_um, role) = 1
