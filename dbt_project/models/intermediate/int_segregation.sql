-- Per proband × gene: how the proband's candidate variants (int_variant_scores'
-- is_candidate_variant) segregate with the usable parents of int_family_members. Every
-- feature is null when the parents it needs are missing, so a singleton (or a family that
-- could not be used) is never scored as "not de novo".
--
-- A parent "carries" a variant when the parent's sample has a call of that allele; an
-- explicit no-call of the parent there (stg_no_calls: ./. in a multi-sample VCF) is
-- unknown, and proves neither de novo nor inheritance; no row at all is read as
-- reference (ingest writes no row for 0/0; a parent in a VCF of their own lists only
-- the sites they carry).
with parents as (
    select
        patient_id,
        max(parent_id) filter (where role = 'father' and is_usable) as father_id,
        max(parent_id) filter (where role = 'mother' and is_usable) as mother_id,
        -- "unaffected" evidence only from a parent the pedigree calls unaffected
        coalesce(bool_or(role = 'father' and is_usable and parent_affected = false), false)
            as father_unaffected,
        coalesce(bool_or(role = 'mother' and is_usable and parent_affected = false), false)
            as mother_unaffected
    from {{ ref('int_family_members') }}
    group by 1
    -- a proband-wide problem (sex conflict, not in a VCF) makes both rows unusable
    having count(*) filter (where is_usable) > 0
),
calls as (
    select distinct patient_id, variant_key from {{ ref('int_variant_scores') }}
),
no_calls as (
    select distinct patient_id, variant_key from {{ ref('stg_no_calls') }}
),
candidates as (
    select
        v.patient_id, v.gene_symbol, v.variant_key, v.zygosity,
        -- a male's chrX call is one copy, whether written haploid ('1') or as '1/1'
        v.zygosity = 'hemi' or (pt.sex = 'MALE' and v.chrom in ('chrX', 'X')
                                and v.zygosity = 'hom_alt') as is_hemi,
        p.father_id, p.mother_id, p.father_unaffected, p.mother_unaffected,
        f.variant_key is not null as in_father,
        m.variant_key is not null as in_mother,
        f.variant_key is null and fn.variant_key is not null as father_no_call,
        m.variant_key is null and mn.variant_key is not null as mother_no_call
    from {{ ref('int_variant_scores') }} v
    join parents p using (patient_id)
    join {{ ref('stg_patients') }} pt using (patient_id)
    left join calls f on f.patient_id = p.father_id and f.variant_key = v.variant_key
    left join calls m on m.patient_id = p.mother_id and m.variant_key = v.variant_key
    left join no_calls fn on fn.patient_id = p.father_id and fn.variant_key = v.variant_key
    left join no_calls mn on mn.patient_id = p.mother_id and mn.variant_key = v.variant_key
    where v.is_candidate_variant
),
per_gene as (
    select
        patient_id, gene_symbol,
        any_value(father_id) as father_id, any_value(mother_id) as mother_id,
        bool_and(father_unaffected) as father_unaffected,
        bool_and(mother_unaffected) as mother_unaffected,
        bool_or(not in_father and not in_mother and not father_no_call and not mother_no_call)
            as any_in_neither,
        -- carried by neither genotyped parent, but a no-call in one: origin unknown
        bool_or(not in_father and not in_mother and (father_no_call or mother_no_call))
            as any_unknown_origin,
        bool_or(in_father and not in_mother and not mother_no_call and not is_hemi)
            as any_paternal_only,
        bool_or(in_mother and not in_father and not father_no_call and not is_hemi)
            as any_maternal_only,
        -- alleles that may come from one parent only, if a no-call hides a carrier: with
        -- two of them, one each way, "in trans" is unknown rather than false
        count(*) filter (where (in_father or father_no_call) and not in_mother and not is_hemi)
            as n_may_paternal,
        count(*) filter (where (in_mother or mother_no_call) and not in_father and not is_hemi)
            as n_may_maternal,
        count(*) filter (where ((in_father or father_no_call) and not in_mother
                                or (in_mother or mother_no_call) and not in_father)
                               and not is_hemi) as n_may_one_parent,
        bool_or(zygosity = 'hom_alt' and not is_hemi and (in_father or father_no_call)
                and (in_mother or mother_no_call)) as hom_may_be_from_both,
        bool_or(zygosity = 'hom_alt' and not is_hemi and in_father and in_mother)
            as hom_from_both,
        bool_or(is_hemi and in_mother and not in_father) as hemi_from_mother,
        bool_and((in_father and father_unaffected) or (in_mother and mother_unaffected))
            as all_from_unaffected,
        {{ orphanlake.ordered_string_agg("variant_key || ' ' || case
                when in_father and in_mother then 'in both parents'
                when in_father then 'paternal' || case when mother_no_call
                                                  then ', no call in mother' else '' end
                when in_mother then 'maternal' || case when father_no_call
                                                  then ', no call in father' else '' end
                when father_no_call or mother_no_call then 'no call in a parent'
                else 'in neither parent' end", "'; '", "variant_key") }} as variant_origins
    from candidates
    group by 1, 2
),
features as (
    select
        *,
        case when father_unaffected and mother_unaffected
             then case when any_in_neither then 1 when any_unknown_origin then null else 0 end
        end as seg_de_novo,
        case when father_id is not null and mother_id is not null
             then case when (any_paternal_only and any_maternal_only) or hom_from_both then 1
                       when (n_may_paternal > 0 and n_may_maternal > 0 and n_may_one_parent > 1)
                            or hom_may_be_from_both then null
                       else 0 end
        end as seg_biallelic_trans,
        case when mother_id is not null then hemi_from_mother::int end as seg_hemi_maternal
    from per_gene
)
select
    patient_id,
    gene_symbol,
    father_id,
    mother_id,
    seg_de_novo,
    seg_biallelic_trans,
    seg_hemi_maternal,
    -- every candidate came from an unaffected parent and no recessive or X-linked pattern
    -- explains it: evidence against a dominant, fully penetrant cause
    case when father_unaffected or mother_unaffected
         then (all_from_unaffected and coalesce(seg_biallelic_trans, 0) = 0
               and coalesce(seg_hemi_maternal, 0) = 0)::int
    end as seg_inherited_unaffected,
    (father_id is not null)::int + (mother_id is not null)::int as seg_n_parents,
    variant_origins,
    case
        when seg_de_novo = 1 then 'de novo (both parents ref)'
        when seg_biallelic_trans = 1 and hom_from_both then 'homozygous, both parents carriers'
        when seg_biallelic_trans = 1 then 'biallelic in trans (one allele from each parent)'
        when seg_hemi_maternal = 1 then 'hemizygous, from a carrier mother'
        when any_in_neither and (father_id is null or mother_id is null)
            then 'absent in the one parent sequenced'
        when (father_unaffected or mother_unaffected) and all_from_unaffected
            then 'inherited from an unaffected parent'
        when any_unknown_origin then 'origin unknown (' || variant_origins || ')'
        else 'inherited (' || variant_origins || ')'
    end as segregation
from features
