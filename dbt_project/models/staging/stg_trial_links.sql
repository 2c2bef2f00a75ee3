-- The study's patient link file: a trial subject who is a lake patient. No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    usubjid,
    patient_id,
    locator,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_links') }}
