-- The baseline table per study and arm (and "Total"), ITT population: n, mean (SD), median,
-- min-max for continuous variables, counts and percentages for categorical ones
-- (models/trials/stats.py: demographics).
select studyid, arm, variable, kind, category, n, mean, sd, median, min, max, count, pct, text
from {{ source('evidence', 'trial_stats_demographics') }}
order by studyid, variable, category, arm
