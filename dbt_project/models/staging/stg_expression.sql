select
    patient_id,
    gene_symbol,
    tpm,
    source_file,
    batch_id,
    ingested_at
from {{ source('raw', 'expression') }}
