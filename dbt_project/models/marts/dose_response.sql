-- 4-parameter logistic fits of every compound in a dose-response run.
select
    f.compound_id,
    ids.inchikey,
    ids.name,
    f.run_id,
    r.assay_id,
    r.target_gene,
    f.ic50_um,
    f.ic50_ci_low,
    f.ic50_ci_high,
    f.ic50_extrapolated,
    -log10(f.ic50_um * 1e-6) as pic50,
    f.hill,
    f.top,
    f.bottom,
    f.efficacy,
    f.r2,
    f.curve_class,
    f.n_points,
    f.converged,
    f.message
from {{ source('evidence', 'dose_response_fits') }} as f
left join {{ ref('stg_plate_runs') }} as r using (run_id)
left join {{ ref('int_compound_ids') }} as ids using (compound_id)
order by f.run_id, f.ic50_um nulls last
