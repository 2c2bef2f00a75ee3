-- Primary-screen hit calls per run and compound: replicate wells on plates that passed
-- QC must agree. Wells on failed plates are excluded here, never deleted.
with wells as (
    select
        w.run_id,
        w.compound_id,
        w.corrected,
        w.percent_inhibition,
        s.passed as plate_passed
    from {{ source('evidence', 'plate_well_scores') }} as w
    join {{ source('evidence', 'plate_stats') }} as s using (run_id, plate_id)
    join {{ ref('stg_plate_runs') }} as r using (run_id)
    where w.role = 'sample' and r.stage = 'primary'
),

per_compound as (
    select
        run_id,
        compound_id,
        count(*) as n_wells,
        count(*) filter (where plate_passed and corrected is not null) as n_valid,
        count(*) filter (where plate_passed and corrected >= {{ var('hit_threshold') }}) as n_above,
        median(corrected) filter (where plate_passed) as median_corrected,
        median(percent_inhibition) filter (where plate_passed) as median_percent_inhibition
    from wells
    group by run_id, compound_id
),

calls as (
    select
        *,
        least({{ var('hit_min_replicates') }}, n_wells) as n_required,
        coalesce(n_valid >= least({{ var('hit_min_replicates') }}, n_wells)
                 and n_above >= least({{ var('hit_min_replicates') }}, n_wells)
                 and median_corrected >= {{ var('hit_threshold') }}, false) as is_hit,
        n_valid < n_wells as has_excluded_replicates
    from per_compound
)

-- A compound that lost replicates to failed plates and still shows activity in what is
-- left cannot be called either way: inconclusive, never "inactive".
select
    *,
    case
        when is_hit then 'hit'
        when n_valid = 0 then 'inconclusive'
        when n_valid < n_required and n_above > 0 then 'inconclusive'
        else 'inactive'
    end as call
from calls
