-- One row per distinct structure (standardized parent InChIKey) across every library,
-- with every library's own id kept, and its RDKit properties.
with members as (
    select
        inchikey,
        any_value(smiles order by library, compound_id) as smiles,
        -- a drug name from any library beats none
        any_value(name order by name is null, library, compound_id) as name,
        list(distinct library order by library) as libraries,
        list(library || ':' || compound_id order by library, compound_id) as library_ids,
        count(*) as n_records
    from {{ ref('stg_compound_records') }}
    group by inchikey
)

select
    m.inchikey,
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
