-- A library may re-submit a compound in a later file: the newest record wins.
-- record_locator: a file listing the same id twice gives the same winner on every run
{% call orphanlake.qualify("row_number() over (partition by library, compound_id
    order by ingested_at desc, source_file desc, record_locator nulls last) = 1") %}
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
{% endcall %}
