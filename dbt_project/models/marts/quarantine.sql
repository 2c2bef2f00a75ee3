-- Everything refused at ingest: what, where, why, and where the original is kept.
select * from {{ ref('stg_quarantine') }}
order by quarantined_at, source_file, locator
