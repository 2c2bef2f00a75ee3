-- SDTM DS (disposition). No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    usubjid,
    dsseq,
    dsterm,
    dsdecod,
    dscat,
    dsstdtc,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_ds') }}
