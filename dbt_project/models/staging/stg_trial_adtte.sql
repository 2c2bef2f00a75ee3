-- ADaM ADTTE as the sponsor sent it. No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    usubjid,
    paramcd,
    param,
    aval,
    cnsr,
    startdt,
    adt,
    evntdesc,
    trtp,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_adtte') }}
