select
    d.patient_id,
    d.disease_id,
    d.disease_label,
    d.gene_symbol,
    d.progress_status,
    d.source_file,
    d.batch_id
from {{ source('raw', 'diagnoses') }} d
join {{ ref('stg_patients') }} s using (patient_id, source_file)
