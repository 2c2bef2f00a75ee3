-- Time to event per study and parameter: per arm the Kaplan-Meier median with its 95% CI and
-- the estimates at landmark days (kind = 'kaplan_meier'), and each arm against the control the
-- log-rank p-value and the Cox hazard ratio with its 95% CI (kind = 'comparison')
-- (models/trials/stats.py: time_to_event, lifelines).
select studyid, paramcd, 'kaplan_meier' as kind, arm, cast(null as {{ dbt.type_string() }}) as control_arm, n, events,
       median, median_lo, median_hi, km_90, km_90_lo, km_90_hi, km_180, km_180_lo, km_180_hi,
       km_365, km_365_lo, km_365_hi, cast(null as double) as logrank_p,
       cast(null as double) as hazard_ratio, cast(null as double) as hr_lo, cast(null as double) as hr_hi,
       cast(null as double) as cox_p, note
from {{ source('evidence', 'trial_stats_time_to_event') }}
-- the same columns in the same order (Spark SQL has no union by name)
union all
select studyid, paramcd, 'comparison' as kind, arm, control_arm, n, events,
       {% for c in ['median', 'median_lo', 'median_hi', 'km_90', 'km_90_lo', 'km_90_hi',
                    'km_180', 'km_180_lo', 'km_180_hi', 'km_365', 'km_365_lo', 'km_365_hi'] -%}
       cast(null as double) as {{ c }},{{ '\n' if loop.index % 6 == 0 else ' ' }}
       {%- endfor %}
       logrank_p, hazard_ratio, hr_lo, hr_hi, cox_p, note
from {{ source('evidence', 'trial_stats_time_to_event_tests') }}
order by studyid, paramcd, kind, arm
