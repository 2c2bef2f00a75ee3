-- A patient may be re-submitted in a later batch: the newest file wins.
{% call orphanlake.qualify("row_number() over (partition by patient_id
    order by ingested_at desc, source_file desc, phenopacket_id nulls last) = 1") %}
select
    patient_id,
    phenopacket_id,
    sex,
    is_solved,
    source_file,
    batch_id,
    ingested_at
from {{ source('raw', 'patients') }}
{% endcall %}
