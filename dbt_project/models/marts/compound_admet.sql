-- Developability of every library structure from ADMET-AI (41 TDC endpoints, pretrained
-- Chemprop ensembles shipped in the admet-ai wheel), with the safety flags and the
-- safety_factor that multiplies a compound's priority. Predicted in Python
-- (orchestration/assets/admet.py, cached by InChIKey); one row per structure.
select
    c.compound_id,
    c.name,
    c.smiles,
    a.*
from {{ source('evidence', 'compound_admet_predictions') }} as a
join {{ ref('int_compounds') }} as c using (inchikey)
order by a.inchikey
