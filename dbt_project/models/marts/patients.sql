-- One row per patient: what we hold about them and where they stand.
with terms as (
    select patient_id,
        count(*) filter (where not excluded) as n_observed_terms,
        count(*) filter (where excluded) as n_excluded_terms,
        count(*) filter (where term_resolution <> 'primary') as n_remapped_terms
    from {{ ref('stg_phenotypes') }} group by 1
),
variants as (
    select patient_id, count(*) as n_variant_calls from {{ ref('stg_variants') }} group by 1
),
candidates as (
    select patient_id, count(*) filter (where is_candidate_variant) as n_candidate_variants
    from {{ ref('int_variant_scores') }} group by 1
),
expression as (
    select patient_id, count(*) as n_expressed_genes from {{ ref('stg_expression') }} group by 1
),
diagnosis as (
    -- the same diagnosis int_patient_cohorts uses: the first SOLVED disease id
    select patient_id, min(disease_id) as diagnosed_disease_id,
           -- gene_symbol breaks ties (a digenic diagnosis), so every run names the same gene
           {{ orphanlake.first_by('gene_symbol', ['disease_id nulls last', 'gene_symbol nulls last']) }} as diagnosed_gene
    from {{ ref('stg_diagnoses') }} where progress_status = 'SOLVED' group by 1
)
select
    p.patient_id,
    p.sex,
    p.is_solved,
    d.diagnosed_disease_id,
    d.diagnosed_gene,
    c.disease_id as cohort_disease_id,
    c.cohort_basis,
    coalesce(t.n_observed_terms, 0) as n_observed_terms,
    coalesce(t.n_excluded_terms, 0) as n_excluded_terms,
    coalesce(t.n_remapped_terms, 0) as n_remapped_terms,
    coalesce(v.n_variant_calls, 0) as n_variant_calls,
    coalesce(k.n_candidate_variants, 0) as n_candidate_variants,
    coalesce(e.n_expressed_genes, 0) as n_expressed_genes,
    p.source_file as phenopacket_file,
    p.batch_id
from {{ ref('stg_patients') }} p
left join terms t using (patient_id)
left join variants v using (patient_id)
left join candidates k using (patient_id)
left join expression e using (patient_id)
left join diagnosis d using (patient_id)
left join {{ ref('int_patient_cohorts') }} c using (patient_id)
