-- One row per trial subject: arm, populations, baseline characteristics, exposure and
-- disposition (ADSL: as the sponsor sent it or derived from SDTM, models/trials/adam.py),
-- and the lake patient the subject is, through the study's checked patient_links.csv.
select
    s.studyid,
    s.usubjid,
    s.subjid,
    s.siteid,
    s.trt01p as arm,
    s.trt01a as actual_arm,
    s.ittfl,
    s.saffl,
    s.efffl,
    s.age,
    s.agegr1,
    s.sex,
    s.race,
    s.randdt,
    s.trtsdt,
    s.trtedt,
    s.trtdurd,
    s.eosstt,
    s.dcsreas,
    s.eosdt,
    s.dthfl,
    l.patient_id,
    l.patient_id is not null as is_lake_patient
from {{ source('evidence', 'trial_adam_adsl') }} s
left join {{ source('evidence', 'trial_patient_links') }} l using (studyid, usubjid)
order by studyid, usubjid
