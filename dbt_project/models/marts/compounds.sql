-- The compound catalogue: one row per structure with every library id and its properties.
select * from {{ ref('int_compounds') }}
order by inchikey
