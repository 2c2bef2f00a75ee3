-- SDTM findings domains (LB, VS, QS, EG …) with the --prefix dropped. No logic here: ADaM derivations and checks across files are in Python
-- (orchestration/assets/trials.py).
select
    studyid,
    domain,
    usubjid,
    seq,
    testcd,
    test,
    cat,
    orres,
    orresu,
    stresc,
    stresn,
    stresu,
    blfl,
    visitnum,
    visit,
    dtc,
    dy,
    locator,
    extra,
    source_file,
    source_sha256,
    batch_id,
    ingested_at
from {{ source('raw_trials', 'trial_findings') }}
