-- One row per candidate gene per patient with every kind of evidence side by side.
-- Candidates: genes with a rare protein-altering or splice variant, or an expression outlier.
with candidates as (
    select patient_id, gene_symbol from {{ ref('int_variant_evidence') }} where var_n_candidate > 0
    union
    select patient_id, gene_symbol from {{ ref('int_expression_evidence') }} where expr_abs_z >= 3
),
pheno as (
    select
        *,
        percent_rank() over (partition by patient_id order by pheno_score nulls last) as pheno_rank_pct
    from {{ source('evidence', 'phenotype_evidence') }}
),
causal as (
    select distinct patient_id, gene_symbol
    from {{ ref('stg_diagnoses') }}
    where progress_status = 'SOLVED' and gene_symbol is not null
)
select
    c.patient_id,
    c.gene_symbol,
    p.is_solved as is_training,
    case when p.is_solved then k.gene_symbol is not null end as is_causal,
    coalesce(v.variant_score, 0) as variant_score,
    v.dominant_score, v.recessive_score, v.known_modes,
    v.var_max_pathogenicity, v.var_freq_score, coalesce(v.var_n_rare, 0) as var_n_rare,
    coalesce(v.var_n_candidate, 0) as var_n_candidate,
    coalesce(v.var_has_lof, 0) as var_has_lof, coalesce(v.var_biallelic, 0) as var_biallelic,
    coalesce(v.var_moi_consistent, 0) as var_moi_consistent,
    v.var_max_revel, v.var_max_cadd, v.candidate_variants,
    coalesce(ph.pheno_score, 0) as pheno_score,
    ph.pheno_gene_bma, ph.pheno_disease_bma, ph.best_disease_id,
    coalesce(ph.pheno_excluded_penalty, 0) as pheno_excluded_penalty,
    coalesce(ph.pheno_rank_pct, 0) as pheno_rank_pct,
    ph.pheno_lr_log10, ph.pheno_lr_post, ph.pheno_phenodigm,
    e.expr_z, e.expr_abs_z,
    -- 0 = measured and unremarkable; null = no RNA-seq for this patient, so a missing
    -- modality stays missing instead of reading as "no outlier" on every gene
    case when r.patient_id is not null then coalesce(e.expr_score, 0) end as expr_score,
    -- trio evidence: null when the patient has no usable parents (int_segregation)
    sg.seg_de_novo, sg.seg_biallelic_trans, sg.seg_hemi_maternal, sg.seg_inherited_unaffected,
    sg.seg_n_parents, sg.segregation
from candidates c
join {{ ref('stg_patients') }} p using (patient_id)
left join {{ ref('int_variant_evidence') }} v using (patient_id, gene_symbol)
left join pheno ph using (patient_id, gene_symbol)
left join {{ ref('int_expression_evidence') }} e using (patient_id, gene_symbol)
left join causal k using (patient_id, gene_symbol)
left join (select distinct patient_id from {{ ref('int_expression_evidence') }}) r using (patient_id)
left join {{ ref('int_segregation') }} sg using (patient_id, gene_symbol)
