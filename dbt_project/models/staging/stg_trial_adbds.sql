-- ADaM BDS datasets (ADLB, ADQS, ADVS …) as the sponsor sent them. No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    dataset,
    usubjid,
    paramcd,
    param,
    avisit,
    avisitn,
    aval,
    base,
    chg,
    ablfl,
    anl01fl,
    trtp,
    ady,
    adt,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_adbds') }}
