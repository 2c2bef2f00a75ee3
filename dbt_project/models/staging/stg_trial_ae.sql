-- SDTM AE (adverse events). No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    usubjid,
    aeseq,
    aeterm,
    aedecod,
    aebodsys,
    aesev,
    aeser,
    aerel,
    aeacn,
    aeout,
    aetoxgr,
    aestdtc,
    aeendtc,
    aestdy,
    aeendy,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_ae') }}
