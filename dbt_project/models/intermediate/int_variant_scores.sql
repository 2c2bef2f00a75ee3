-- Per called variant that is rare enough to matter (Exomiser's frequency score > 0, i.e.
-- at most 2 % allele frequency or unseen): rarity × pathogenicity. Common variants, most
-- of an exome, cannot explain a rare disease and are dropped here.
with newest_file as (
    -- a patient re-sequenced or re-submitted in a later batch: the newest file wins
    -- (an aggregate, not a window: this scans every call of every exome)
    select patient_id,
           {{ orphanlake.arg_max('source_file', orphanlake.sortable_timestamp('ingested_at') ~ ' || source_file') }}
               as source_file
    from {{ ref('stg_variants') }}
    group by patient_id
),
current_calls as (
    -- join ... on, not using: Spark puts using's columns first in v.*
    select v.* from {{ ref('stg_variants') }} v
    join newest_file n on n.patient_id = v.patient_id and n.source_file = v.source_file
),
scored as (
    select
        *,
        {{ consequence_pathogenicity('consequence') }} as consequence_score,
        -- CADD phred → probability-like scale (phred 20 ≈ 0.99)
        case when cadd_phred is not null then 1 - pow(10, -cadd_phred / 10) end as cadd_scaled,
        {{ frequency_score('allele_freq') }} as freq_score
    from current_calls
    where filter in ('PASS', '.')
)
-- VEP --merged lists a gene under two ids (Ensembl and Entrez), which ingest keeps apart:
-- one call per patient, gene and variant, or one het would count as two hits; gene_id and
-- the rest break ties, so every run keeps the same row
{% call orphanlake.qualify("row_number() over (partition by patient_id, gene_symbol, variant_key
                           order by freq_score * pathogenicity desc, consequence nulls last,
                                    gene_id nulls last, impact nulls last, genotype nulls last,
                                    qual nulls last, source_file nulls last) = 1") %}
select
    *,
    -- a missense/in-frame call takes its predictor score when there is one (REVEL is
    -- calibrated for missense; scaled CADD saturates near 1, so it is only the fallback)
    case
        when consequence_score = 0.6 then coalesce(revel, cadd_scaled, consequence_score)
        else consequence_score
    end as pathogenicity,
    consequence_score in (1.0, 0.95) as is_lof,
    consequence_score >= 0.6 as is_candidate_variant
from scored
where freq_score > 0
{% endcall %}
