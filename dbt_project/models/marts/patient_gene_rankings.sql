-- Every candidate gene for every unsolved patient, rank 1 = most likely causal, with the
-- evidence and each feature's contribution to the score (so a rank can be explained).
select
    s.patient_id,
    s.gene_symbol,
    s.rank,
    s.score,
    s.ranking_method,
    s.variant_score,
    s.pheno_score,
    s.expr_score,
    s.expr_z,
    s.var_moi_consistent,
    s.var_biallelic,
    s.var_has_lof,
    s.known_modes,
    s.candidate_variants,
    s.best_disease_id,
    gd.disease_name as best_disease_name,
    s.pheno_excluded_penalty,
    s.contributions,
    s.top_reasons,
    -- how the candidate variants segregate in the family; null for a singleton
    sg.segregation
from {{ source('evidence', 'gene_scores') }} s
left join {{ ref('int_segregation') }} sg using (patient_id, gene_symbol)
left join (
    select disease_id, min(disease_name) as disease_name  -- min: the same on every run
    from {{ ref('stg_gene_diseases') }} group by 1
) gd on gd.disease_id = s.best_disease_id
where not s.is_training
order by s.patient_id, s.rank
