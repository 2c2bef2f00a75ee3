-- Library id → structure. Plate maps name compounds by a library's own id.
-- The same id in two libraries naming different structures cannot be resolved from a
-- plate map; the first library alphabetically wins and the others stay in int_compounds
{% call orphanlake.qualify("row_number() over (partition by compound_id order by library) = 1") %}
select
    compound_id,
    library,
    inchikey,
    smiles,
    name
from {{ ref('stg_compound_records') }}
{% endcall %}
