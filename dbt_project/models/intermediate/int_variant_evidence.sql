-- Per patient × gene: the best genotype explanation under each inheritance mode the gene
-- is known for (Exomiser: one het hit for dominant, two hits — or one homozygous — for
-- recessive, hemizygous for X-linked in males).
with v as (
    select *, freq_score * pathogenicity as vscore
    from {{ ref('int_variant_scores') }}
),
-- a homozygous variant counts as both alleles
alleles as (
    select patient_id, gene_symbol, variant_key, vscore, zygosity from v
    union all
    select patient_id, gene_symbol, variant_key, vscore, zygosity from v where zygosity = 'hom_alt'
),
ranked as (
    select *, row_number() over (partition by patient_id, gene_symbol order by vscore desc, variant_key) as k
    from alleles
),
top2 as (
    select
        patient_id, gene_symbol,
        max(case when k = 1 then vscore end) as top1,
        coalesce(max(case when k = 2 then vscore end), 0) as top2,
        bool_or(zygosity = 'hemi' and k = 1) as top_is_hemi
    from ranked
    group by 1, 2
),
per_gene as (
    select
        patient_id, gene_symbol,
        count(distinct variant_key) as var_n_variants,
        count(distinct case when allele_freq is null or allele_freq < 0.01
                            then variant_key end) as var_n_rare,
        count(distinct case when is_candidate_variant then variant_key end) as var_n_candidate,
        max(pathogenicity) as var_max_pathogenicity,
        max(freq_score) filter (where is_candidate_variant) as var_freq_score,
        bool_or(is_lof) as var_has_lof,
        bool_or(zygosity = 'hom_alt' and is_candidate_variant) as var_has_hom,
        max(revel) as var_max_revel,
        max(cadd_phred) as var_max_cadd,
        -- ordered, so identical input gives an identical string on every run
        {{ orphanlake.ordered_string_agg("case when is_candidate_variant
            then variant_key || ' ' || consequence || ' ' || zygosity end", "'; '",
            "case when is_candidate_variant
            then variant_key || ' ' || consequence || ' ' || zygosity end", distinct=true) }} as candidate_variants
    from v
    group by 1, 2
),
modes as (
    -- only modes the scorer can reason about; a gene known only for somatic, mitochondrial
    -- or digenic disease is treated like a gene of unknown mode
    select
        gene_symbol,
        bool_or({{ orphanlake.list_has_any('modes', ['AD', 'XD', 'YL']) }}) as allows_dominant,
        bool_or(array_contains(modes, 'AR')) as allows_recessive,
        bool_or({{ orphanlake.list_has_any('modes', ['XL', 'XR']) }}) as allows_x_linked,
        {{ orphanlake.ordered_string_agg(orphanlake.list_to_string('modes', "'/'"), "','",
                                         orphanlake.list_to_string('modes', "'/'"), distinct=true) }}
            as known_modes
    from {{ ref('stg_gene_diseases') }}
    where {{ orphanlake.list_has_any('modes', ['AD', 'XD', 'YL', 'AR', 'XL', 'XR']) }}
    group by 1
)
select
    g.patient_id,
    g.gene_symbol,
    t.top1 as dominant_score,
    (t.top1 + t.top2) / 2 as recessive_score,
    m.known_modes,
    -- a gene with no known mode is scored under every mode
    greatest(
        case when coalesce(m.allows_dominant, true) then t.top1 else 0 end,
        case when coalesce(m.allows_recessive, true) then (t.top1 + t.top2) / 2 else 0 end,
        case when coalesce(m.allows_x_linked, false)
             then case when t.top_is_hemi then t.top1 else (t.top1 + t.top2) / 2 end
             else 0 end
    ) as variant_score,
    (g.var_has_hom or g.var_n_candidate >= 2)::int as var_biallelic,
    (case
        when m.gene_symbol is null then g.var_n_candidate >= 1
        else (m.allows_dominant and g.var_n_candidate >= 1)
          or (m.allows_recessive and (g.var_has_hom or g.var_n_candidate >= 2))
          or (m.allows_x_linked and (t.top_is_hemi or g.var_has_hom or g.var_n_candidate >= 2))
    end)::int as var_moi_consistent,
    g.var_n_variants, g.var_n_rare, g.var_n_candidate, g.var_max_pathogenicity, g.var_freq_score,
    g.var_has_lof::int as var_has_lof, g.var_has_hom::int as var_has_hom,
    g.var_max_revel, g.var_max_cadd, g.candidate_variants
from per_gene g
join top2 t using (patient_id, gene_symbol)
left join modes m using (gene_symbol)
