-- Per proband (a patient with a phenopacket whose pedigree names a parent) and parent role:
-- the parent, whether the pedigrees call that parent affected, and whether the parent's
-- genotypes can be used as family evidence. Checks that need several files are made here
-- (one file's own faults were refused at ingest, see ingest/pedigree.py); a parent that
-- cannot be used gets a `problem`, the proband is still ranked without that parent, and
-- the quarantine mart lists every problem.
with ped as (
    -- a PED (or Family phenopacket) re-submitted later speaks for its individuals; a PED
    -- and a Family phenopacket are both kept, so a disagreement between them is seen
    {% call orphanlake.qualify("dense_rank() over (partition by individual_id, pedigree_source
                               order by ingested_at desc, source_file desc) = 1") %}
    select * from {{ ref('stg_pedigrees') }}
    {% endcall %}
),
-- VCF samples with at least one call (a sample whose every genotype is 0/0 or ./. writes
-- no row today, and is counted as absent)
samples as (
    select distinct patient_id as sample_id from {{ ref('stg_variants') }}
),
person as (
    select
        individual_id,
        -- affected when any pedigree says so; unaffected only when one says so and none
        -- says affected; null (unknown) otherwise
        case when bool_or(affected) then true when bool_or(not affected) then false end
            as affected,
        count(distinct sex) filter (where sex <> 'UNKNOWN_SEX') as n_sexes,
        min(sex) filter (where sex <> 'UNKNOWN_SEX') as sex,
        {{ orphanlake.ordered_string_agg("lower(sex) || ' in ' || source_file || ' ' || locator", "', '",
                   "lower(sex) || ' in ' || source_file || ' ' || locator", distinct=true,
                   filter="sex <> 'UNKNOWN_SEX'") }}
            as sex_sources
    from ped
    group by 1
),
links as (
    select individual_id as patient_id, 'father' as role, father_id as parent_id, family_id,
           source_file, locator, batch_id, ingested_at
    from ped where father_id is not null
    union all
    select individual_id, 'mother', mother_id, family_id, source_file, locator, batch_id,
           ingested_at
    from ped where mother_id is not null
),
named as (
    select
        l.patient_id, l.role,
        min(l.parent_id) as parent_id,
        count(distinct l.parent_id) as n_named,
        {{ orphanlake.ordered_string_agg("l.parent_id || ' (' || l.source_file || ' ' || l.locator || ')'", "', '",
                   "l.parent_id || ' (' || l.source_file || ' ' || l.locator || ')'", distinct=true) }}
            as named_by,
        min(l.family_id) as family_id,
        {{ orphanlake.arg_min('l.source_file', 'l.source_file || l.locator') }} as source_file,
        {{ orphanlake.arg_min('l.locator', 'l.source_file || l.locator') }} as locator,
        {{ orphanlake.arg_min('l.batch_id', 'l.source_file || l.locator') }} as batch_id,
        min(l.ingested_at) as ingested_at
    from links l
    join {{ ref('stg_patients') }} p using (patient_id)
    group by 1, 2
),
judged as (
    select
        n.*,
        pt.sex as phenopacket_sex,
        pp.affected as parent_affected,
        case
            when pr.n_sexes > 1 or (pr.sex is not null and pt.sex in ('MALE', 'FEMALE')
                                    and pr.sex <> pt.sex)
            then 'sex conflict for proband ' || n.patient_id || ': the pedigrees say '
                 || pr.sex_sources || ', the phenopacket (' || pt.source_file || ') says '
                 || lower(pt.sex) || '; no family evidence is used for ' || n.patient_id
            when n.patient_id not in (select sample_id from samples)
            then 'proband ' || n.patient_id || ' (' || n.source_file || ' ' || n.locator
                 || ') is not a sample of any VCF; no family evidence is used'
        end as proband_problem,
        case
            when n.n_named > 1
            then 'two ' || n.role || 's named for ' || n.patient_id || ': ' || n.named_by
                 || '; neither is used'
            when pp.n_sexes > 1
            then 'sex conflict for ' || n.parent_id || ' (' || n.role || ' of '
                 || n.patient_id || '): ' || pp.sex_sources || '; that parent is not used'
            when pp.sex = case n.role when 'father' then 'FEMALE' else 'MALE' end
            then 'the ' || n.role || ' of ' || n.patient_id || ', ' || n.parent_id || ', is '
                 || lower(pp.sex) || ' (' || pp.sex_sources || '); that parent is not used'
            when n.parent_id not in (select sample_id from samples)
            then 'the ' || n.role || ' of ' || n.patient_id || ', ' || n.parent_id || ' ('
                 || n.source_file || ' ' || n.locator || '), is not a sample of any VCF; '
                 || n.patient_id || ' is ranked without that parent'
        end as parent_problem
    from named n
    join {{ ref('stg_patients') }} pt using (patient_id)
    left join person pr on pr.individual_id = n.patient_id
    left join person pp on pp.individual_id = n.parent_id
)
select
    patient_id,
    role,
    parent_id,
    family_id,
    parent_affected,
    coalesce(proband_problem, parent_problem) as problem,
    proband_problem,
    parent_problem,
    -- the individual a problem is about: the proband for proband-wide problems
    case when proband_problem is not null then patient_id else parent_id end as problem_about,
    coalesce(proband_problem, parent_problem) is null as is_usable,
    source_file,
    locator,
    batch_id,
    ingested_at
from judged
