-- compound_admet: a row fails when a probability leaves [0, 1], the flag count disagrees
-- with the flags, or safety_factor leaves [0.1, 1] or disagrees with the documented
-- formula max(0.1, 0.5 ^ n_safety_flags) (1 when nothing was predicted).
select inchikey, herg, ames, dili, clintox, n_safety_flags, safety_factor
from {{ ref('compound_admet') }}
where herg not between 0 and 1
   or ames not between 0 and 1
   or dili not between 0 and 1
   or clintox not between 0 and 1
   or n_safety_flags is distinct from (case when herg is null then null else
        herg_flag::int + ames_flag::int + dili_flag::int + clintox_flag::int end)
   or safety_factor not between 0.1 and 1
   or abs(safety_factor - case when n_safety_flags is null then 1.0
                               else greatest(0.1, pow(0.5, n_safety_flags)) end) > 1e-9
