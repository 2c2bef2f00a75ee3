-- Per called variant: rarity × pathogenicity, Exomiser-style.
with scored as (
    select
        *,
        {{ consequence_pathogenicity('consequence') }} as consequence_score,
        -- CADD phred → probability-like scale (phred 20 ≈ 0.99)
        case when cadd_phred is not null then 1 - pow(10, -cadd_phred / 10) end as cadd_scaled,
        {{ frequency_score('allele_freq') }} as freq_score
    from {{ ref('stg_variants') }}
    where filter in ('PASS', '.')
)
select
    *,
    -- predictors only ever raise a missense/in-frame call; loss of function stays at 1
    case
        when consequence_score = 0.6 then greatest(consequence_score, coalesce(revel, 0),
                                                   coalesce(cadd_scaled, 0))
        else consequence_score
    end as pathogenicity,
    consequence_score in (1.0, 0.95) as is_lof,
    freq_score > 0 and consequence_score >= 0.6 as is_candidate_variant
from scored
