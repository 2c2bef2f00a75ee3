-- Expression outliers against the cohort: robust z of log2(TPM+1) per gene (median/MAD),
-- as OUTRIDER-style screens do; genes measured in fewer than 5 patients get no z.
with x as (
    select patient_id, gene_symbol, avg(ln(tpm + 1) / ln(2)) as log_tpm
    from {{ ref('stg_expression') }}
    group by 1, 2
),
stats as (
    select
        gene_symbol,
        count(*) as n_samples,
        {{ orphanlake.exact_median('log_tpm') }} as med,
        {{ orphanlake.exact_median('abs(log_tpm - med)') }} as mad
    from (select *, {{ orphanlake.exact_median('log_tpm') }} over (partition by gene_symbol) as med from x)
    group by gene_symbol
),
z as (
    select
        x.patient_id,
        x.gene_symbol,
        x.log_tpm,
        s.n_samples,
        case when s.n_samples >= 5 and s.med > 0.5
             then (x.log_tpm - s.med) / greatest(1.4826 * s.mad, 0.1) end as expr_z
    from x join stats s using (gene_symbol)
)
select
    patient_id,
    gene_symbol,
    log_tpm,
    n_samples as expr_n_samples,
    expr_z,
    abs(expr_z) as expr_abs_z,
    -- 0 below |z| = 2, 1 from |z| = 6
    least(1.0, greatest(0.0, (abs(expr_z) - 2) / 4)) as expr_score
from z
