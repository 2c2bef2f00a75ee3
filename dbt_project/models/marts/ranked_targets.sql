-- Per disease cohort, genes worth pursuing, by combined evidence across the cohort's
-- patients. Within an evidence type, patients combine by a harmonic sum (Σ s_i / i²,
-- scores sorted descending, normalised by its limit π²/6), and the types combine the
-- same way with weights — the Open Targets Platform's association scoring.
-- Solved patients contribute their diagnosed gene with genetic score 1.
{% set weights = {'genetic': 1.0, 'variant': 0.5, 'phenotype': 0.5, 'expression': 0.25} %}
with cohort as (
    select patient_id, disease_id, cohort_basis from {{ ref('int_patient_cohorts') }}
),
unsolved_evidence as (
    -- the genes a model puts near the top for an unsolved patient
    select c.disease_id, s.patient_id, s.gene_symbol, false as is_solved,
           s.score as genetic, s.variant_score as variant, s.pheno_score as phenotype,
           s.expr_score as expression
    from {{ source('evidence', 'gene_scores') }} s
    join cohort c using (patient_id)
    where not s.is_training and s.rank <= {{ var('targets_top_k', 20) }}
),
solved_evidence as (
    select distinct c.disease_id, d.patient_id, d.gene_symbol, true as is_solved,
           1.0 as genetic, f.variant_score as variant, f.pheno_score as phenotype,
           f.expr_score as expression
    from {{ ref('stg_diagnoses') }} d
    join cohort c using (patient_id)
    left join {{ ref('int_patient_gene_features') }} f using (patient_id, gene_symbol)
    where d.progress_status = 'SOLVED' and d.gene_symbol is not null
),
evidence as (
    -- the same columns in the same order (Spark SQL has no union by name)
    select * from unsolved_evidence
    union all
    select * from solved_evidence
),
long as (
    {{ orphanlake.unpivot_columns('evidence', ['disease_id', 'patient_id', 'gene_symbol'],
                                  ['genetic', 'variant', 'phenotype', 'expression'],
                                  'evidence_type', 'evidence_score') }}
),
per_type as (
    select
        disease_id, gene_symbol, evidence_type,
        sum(evidence_score / pow(i, 2)) / (pi() * pi() / 6) as type_score
    from (
        select *, row_number() over (partition by disease_id, gene_symbol, evidence_type
                                     order by evidence_score desc, patient_id) as i
        from long
        where evidence_score > 0
    )
    group by 1, 2, 3
),
weighted as (
    select *,
        type_score * case evidence_type
            {% for k, w in weights.items() %}when '{{ k }}' then {{ w }} {% endfor %}
        end as weighted_score
    from per_type
),
overall as (
    select
        disease_id, gene_symbol,
        sum(weighted_score / pow(j, 2)) / (pi() * pi() / 6) as score
    from (
        select *, row_number() over (partition by disease_id, gene_symbol
                                     order by weighted_score desc, evidence_type) as j
        from weighted
    )
    group by 1, 2
),
pivoted as (
    select disease_id, gene_symbol,
        max(type_score) filter (where evidence_type = 'genetic') as genetic_score,
        max(type_score) filter (where evidence_type = 'variant') as variant_evidence_score,
        max(type_score) filter (where evidence_type = 'phenotype') as phenotype_evidence_score,
        max(type_score) filter (where evidence_type = 'expression') as expression_evidence_score
    from per_type group by 1, 2
),
counts as (
    select disease_id, gene_symbol,
        count(distinct patient_id) as n_patients,
        count(distinct patient_id) filter (where is_solved) as n_solved_patients
    from evidence group by 1, 2
),
cohort_size as (
    select disease_id, count(*) as cohort_patients,
           {{ orphanlake.ordered_string_agg('cohort_basis', "','", 'cohort_basis', distinct=true) }} as cohort_basis
    from cohort group by 1
),
names as (
    select disease_id, min(disease_name) as disease_name  -- min: the same on every run
    from {{ ref('stg_gene_diseases') }} group by 1
)
select
    o.disease_id,
    n.disease_name,
    o.gene_symbol,
    row_number() over (partition by o.disease_id order by o.score desc, o.gene_symbol) as rank,
    o.score,
    c.n_patients,
    c.n_solved_patients,
    cs.cohort_patients,
    cs.cohort_basis,
    coalesce(p.genetic_score, 0) as genetic_score,
    coalesce(p.variant_evidence_score, 0) as variant_evidence_score,
    coalesce(p.phenotype_evidence_score, 0) as phenotype_evidence_score,
    coalesce(p.expression_evidence_score, 0) as expression_evidence_score,
    exists (select 1 from {{ ref('stg_gene_diseases') }} g
            where g.gene_symbol = o.gene_symbol and g.disease_id = o.disease_id) as known_disease_gene
from overall o
join counts c using (disease_id, gene_symbol)
join cohort_size cs using (disease_id)
join pivoted p using (disease_id, gene_symbol)
left join names n using (disease_id)
order by o.disease_id, rank
