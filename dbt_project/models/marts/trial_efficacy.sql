-- Efficacy per study and parameter: the change from baseline per visit and arm
-- (kind = 'change_from_baseline'), and at the analysis visit the ANCOVA chg ~ arm + baseline
-- with LS means per arm (kind = 'lsmean') and each arm against the control (kind =
-- 'difference'), or for a single-arm study the mean change with its t interval (kind =
-- 'single_arm_change') (models/trials/stats.py: efficacy).
select studyid, paramcd, avisit, avisitn, 'change_from_baseline' as kind, arm,
       cast(null as {{ dbt.type_string() }}) as comparator, n, mean_aval, mean_chg, sd_chg, se_chg,
       cast(null as double) as lsmean, cast(null as double) as lsmean_se,
       cast(null as double) as lsmean_lo, cast(null as double) as lsmean_hi,
       cast(null as double) as estimate, cast(null as double) as se, cast(null as double) as lo,
       cast(null as double) as hi, cast(null as double) as p_value, cast(null as {{ dbt.type_string() }}) as note
from {{ source('evidence', 'trial_stats_efficacy_visits') }}
-- the same columns in the same order (Spark SQL has no union by name)
union all
select studyid, paramcd, avisit, avisitn, kind, arm, comparator, n,
       cast(null as double) as mean_aval, cast(null as double) as mean_chg,
       cast(null as double) as sd_chg, cast(null as double) as se_chg,
       lsmean, lsmean_se, lsmean_lo, lsmean_hi, estimate, se, lo, hi, p_value, note
from {{ source('evidence', 'trial_stats_efficacy_ancova') }}
order by studyid, paramcd, avisitn, kind, arm
