-- Disease cohort per patient: the diagnosis when solved, otherwise the disease whose HPO
-- profile matches the patient best (a phenotype cluster), as long as it matches at all.
with diagnosed as (
    {% call orphanlake.qualify("row_number() over (partition by patient_id order by disease_id nulls last) = 1") %}
    select patient_id, disease_id, min(disease_label) as disease_name  -- min: the same on every run
    from {{ ref('stg_diagnoses') }}
    where progress_status = 'SOLVED'
    group by 1, 2
    {% endcall %}
),
matched as (
    select patient_id, disease_id, similarity
    from {{ source('evidence', 'patient_disease_matches') }}
    where match_rank = 1
)
select
    p.patient_id,
    p.is_solved,
    coalesce(d.disease_id, m.disease_id) as disease_id,
    case when d.disease_id is not null then 'diagnosis' else 'phenotype_match' end as cohort_basis,
    m.similarity as phenotype_match_similarity
from {{ ref('stg_patients') }} p
left join diagnosed d using (patient_id)
left join matched m using (patient_id)
where coalesce(d.disease_id, m.disease_id) is not null
