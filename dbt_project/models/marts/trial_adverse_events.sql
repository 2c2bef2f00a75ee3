-- Treatment-emergent adverse events per study, arm, system organ class and preferred term:
-- subjects (once per term) and events, % of the arm's safety population, by severity and
-- seriousness, exposure-adjusted incidence rates (to the first event), and the risk difference against the control
-- arm with its 95% CI (models/trials/stats.py: ae_incidence).
select studyid, arm, level, aebodsys, aedecod, stratum, n_subjects, n_events, pct, n_safety,
       exposure_years, person_years, eair, control_arm, rd, rd_lo, rd_hi, note
from {{ source('evidence', 'trial_stats_adverse_events') }}
order by studyid, level, aebodsys, aedecod, stratum, arm
