-- A library may re-submit a compound in a later file: the newest record wins.
select
    library,
    compound_id,
    name,
    record_locator,
    input_smiles,
    smiles,
    inchikey,
    standardization,
    source_file,
    batch_id,
    ingested_at
from {{ source('raw', 'compound_records') }}
qualify row_number() over (
    partition by library, compound_id order by ingested_at desc, source_file desc) = 1
