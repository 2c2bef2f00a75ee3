-- Pedigree individuals from PED files (genomic batches) and Family phenopackets (clinical),
-- as ingest checked them (a refused parent link is already null). A family re-submitted
-- in a later file is judged downstream, where both versions are seen.
select
    family_id,
    individual_id,
    father_id,
    mother_id,
    sex,
    affected,
    'ped' as pedigree_source,
    locator,
    source_file,
    batch_id,
    ingested_at
from {{ source('raw', 'pedigrees') }}
union all
select
    family_id,
    individual_id,
    father_id,
    mother_id,
    sex,
    affected,
    'phenopacket' as pedigree_source,
    locator,
    source_file,
    batch_id,
    ingested_at
from {{ source('raw', 'family_pedigrees') }}
