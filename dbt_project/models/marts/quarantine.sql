-- Everything refused: at ingest, and when plate runs were put together with their maps
-- and libraries. What, where, why, and where the original is kept.
select * from {{ ref('stg_quarantine') }}
union all by name
select * from {{ ref('int_plate_refusals') }}
order by quarantined_at, source_file, locator
