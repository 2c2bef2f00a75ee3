-- Every library compound, screened or not, scored for each screened target: predicted
-- activity, its uncertainty, developability and the priority rank for the next plate.
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
    p.p_active,
    p.uncertainty,
    p.tested,
    p.observed_active,
    p.predicted_logS,
    p.developability,
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
left join target_links as t using (target_gene)
order by p.target_gene, p.rank
