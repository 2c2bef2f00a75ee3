select
    p.patient_id,
    p.hpo_id,
    p.hpo_id_submitted,
    p.term_resolution,
    p.label,
    p.excluded,
    p.source_file,
    p.batch_id
from {{ source('raw', 'phenotypes') }} p
-- only the phenopacket that is current for the patient
join {{ ref('stg_patients') }} s using (patient_id, source_file)
