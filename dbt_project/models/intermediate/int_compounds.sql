-- One row per distinct structure (standardized parent InChIKey) across every library,
-- with every library's own id kept, and its RDKit properties.
with screened as (
    select distinct compound_id from {{ ref('stg_plate_maps') }} where compound_id is not null
),

members as (
    select
        r.inchikey,
        -- one id to call the structure by, the one the plates use when it was screened;
        -- every library's own id is in library_ids
        {{ orphanlake.first_by('r.compound_id', ['s.compound_id is null', 'r.library', 'r.compound_id'],
                               skip_nulls=true) }}
            as compound_id,
        {{ orphanlake.first_by('r.smiles', ['r.library', 'r.compound_id'], skip_nulls=true) }} as smiles,
        -- a drug name from any library beats none
        {{ orphanlake.first_by('r.name', ['r.name is null', 'r.library', 'r.compound_id'], skip_nulls=true) }} as name,
        {{ orphanlake.ordered_list('r.library', ['r.library'], distinct=true) }} as libraries,
        {{ orphanlake.ordered_list("r.library || ':' || r.compound_id", ['r.library', 'r.compound_id']) }} as library_ids,
        count(*) as n_records
    from {{ ref('stg_compound_records') }} as r
    left join screened as s using (compound_id)
    group by r.inchikey
)

select
    m.inchikey,
    m.compound_id,
    m.smiles,
    m.name,
    m.libraries,
    m.library_ids,
    m.n_records,
    p.mw,
    p.clogp,
    p.tpsa,
    p.hbd,
    p.hba,
    p.rotatable_bonds,
    p.aromatic_rings,
    p.fraction_csp3,
    p.heavy_atoms,
    p.qed,
    p.sa_score,
    p.lipinski_violations,
    p.lipinski_pass,
    p.veber_pass,
    p.pains_alerts,
    p.brenk_alerts,
    p.n_pains,
    p.n_brenk,
    p.scaffold
from members as m
left join {{ source('evidence', 'compound_properties') }} as p using (inchikey)
