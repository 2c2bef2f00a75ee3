-- Response per concentration for every compound of a dose-response run, from plates
-- that passed QC; the 4PL fit reads these.
select
    w.run_id,
    w.compound_id,
    w.concentration_um,
    w.percent_inhibition as response,
    w.plate_id,
    w.well
from {{ source('evidence', 'plate_well_scores') }} as w
join {{ source('evidence', 'plate_stats') }} as s using (run_id, plate_id)
join {{ ref('stg_plate_runs') }} as r using (run_id)
where r.stage = 'dose_response'
  and w.role = 'sample'
  and s.passed
  and w.concentration_um > 0
  and w.percent_inhibition is not null
