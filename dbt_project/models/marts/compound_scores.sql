-- Every library compound, screened or not, scored for each screened target: predicted
-- potency (pIC50) with its uncertainty and P(potent active), the primary screen's best hit
-- class for that target, developability, ADMET-AI safety flags and the priority rank for the
-- next plate.
with target_links as (
    select
        gene_symbol as target_gene,
        min(rank) as target_best_rank,
        count(distinct disease_id) as target_n_cohorts,
        max(n_patients) as target_max_patients
    from {{ ref('ranked_targets') }}
    group by gene_symbol
)

select
    c.compound_id,
    p.inchikey,
    c.name,
    c.library_ids,
    c.smiles,
    p.target_gene,
    p.score,
    p.priority,
    p.rank,
    p.predicted_pic50,
    p.pic50_uncertainty,
    p.p_active,
    p.uncertainty,
    p.tested,
    p.observed_active,
    p.observed_pic50,
    p.hit_class,
    p.n_valid_replicates,
    p.needs_retest,
    p.likely_interferer,
    p.predicted_logS,
    p.developability,
    a.herg,
    a.ames,
    a.dili,
    a.clintox,
    a.herg_flag,
    a.ames_flag,
    a.dili_flag,
    a.clintox_flag,
    a.n_safety_flags,
    coalesce(a.safety_factor, 1.0) as safety_factor,
    a.safety_summary,
    a.admet_version,
    c.qed,
    c.sa_score,
    c.pains_alerts,
    c.brenk_alerts,
    c.lipinski_pass,
    c.veber_pass,
    c.mw,
    c.clogp,
    c.tpsa,
    p.model_version,
    t.target_best_rank,
    t.target_n_cohorts,
    t.target_max_patients
from {{ source('evidence', 'compound_predictions') }} as p
join {{ ref('int_compounds') }} as c using (inchikey)
left join {{ ref('compound_admet') }} as a using (inchikey)
left join target_links as t using (target_gene)
order by p.target_gene, p.rank
