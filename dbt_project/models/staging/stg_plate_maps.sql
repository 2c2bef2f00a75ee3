-- a plate map re-delivered (corrected) in a later file: the newest entry per well wins;
-- the rest of the row breaks ties, so a map listing a well twice gives the same winner on
-- every run
{% call orphanlake.qualify("row_number() over (partition by run_id, plate_id, well
    order by ingested_at desc, source_file desc,
             compound_id nulls last, concentration_um nulls last, role nulls last) = 1") %}
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
{% endcall %}
