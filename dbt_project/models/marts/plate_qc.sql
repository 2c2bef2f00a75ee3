-- One row per plate: control statistics, Z′ (classic and robust), SSMD, S/B, control
-- CVs, the neutral controls' noise in % of the window, whether row/column bias correction was applied and whether the plate passed.
select
    s.run_id,
    s.plate_id,
    r.assay_id,
    r.target_gene,
    r.stage,
    r.readout,
    s.plate_rows * s.plate_cols as plate_format,
    s.n_wells,
    s.n_samples,
    s.n_pos,
    s.n_neg,
    s.mean_pos,
    s.mean_neg,
    s.sd_pos,
    s.sd_neg,
    s.z_prime,
    s.z_prime_robust,
    s.ssmd,
    s.signal_to_background,
    s.cv_pos,
    s.cv_neg,
    s.control_noise_pct,
    s.row_effect_p,
    s.col_effect_p,
    s.edge_effect_p,
    s.bias_corrected,
    s.bias_reason,
    s.passed,
    s.qc_reason
from {{ source('evidence', 'plate_stats') }} as s
left join {{ ref('stg_plate_runs') }} as r using (run_id)
order by s.run_id, s.plate_id
