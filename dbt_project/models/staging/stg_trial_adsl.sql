-- ADaM ADSL as the sponsor sent it. No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    usubjid,
    subjid,
    siteid,
    arm,
    trt01p,
    trt01a,
    trtsdt,
    trtedt,
    age,
    sex,
    race,
    saffl,
    ittfl,
    efffl,
    eosstt,
    dcsreas,
    dthfl,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_adsl') }}
