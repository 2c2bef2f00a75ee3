-- Every well of every screening plate: raw signal, normalized scores (oriented so that
-- positive = active in the assay's direction) and its compound's hit class in the run.
select
    w.run_id,
    w.plate_id,
    w.well,
    w.row_idx,
    w.col_idx,
    w.compound_id,
    ids.inchikey,
    w.role,
    w.concentration_um,
    w.raw_signal,
    w.percent_inhibition,
    w.npi,
    w.robust_z,
    w.b_score,
    w.corrected,
    w.percent_effect,
    s.bias_corrected as b_score_applied,
    s.passed as plate_passed,
    r.stage,
    r.target_gene,
    -- a well is a hit when it is a valid replicate reaching the run's z threshold of a
    -- compound whose class is 'hit'
    coalesce(w.role = 'sample' and s.passed
             and w.corrected >= c.z_threshold
             and c.is_hit, false) as is_hit,
    c.is_hit as compound_is_hit,
    c.hit_class,
    c.n_valid_replicates,
    c.needs_retest,
    -- ADMET-AI's safety flags of the well's structure (mart compound_admet)
    a.n_safety_flags
from {{ source('evidence', 'plate_well_scores') }} as w
join {{ source('evidence', 'plate_stats') }} as s using (run_id, plate_id)
left join {{ ref('stg_plate_runs') }} as r using (run_id)
left join {{ ref('int_compound_ids') }} as ids using (compound_id)
left join {{ ref('int_hts_compound_calls') }} as c using (run_id, compound_id)
left join {{ ref('compound_admet') }} as a on a.inchikey = ids.inchikey
order by w.run_id, w.plate_id, w.row_idx, w.col_idx
