-- SDTM EX (exposure). No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    usubjid,
    exseq,
    extrt,
    exdose,
    exdosu,
    exdosfrq,
    exroute,
    exstdtc,
    exendtc,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_ex') }}
