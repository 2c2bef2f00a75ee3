-- ADaM ADAE as the sponsor sent it. No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    usubjid,
    aeseq,
    aedecod,
    aebodsys,
    aesev,
    aeser,
    astdt,
    aendt,
    astdy,
    trtemfl,
    trta,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_adae') }}
