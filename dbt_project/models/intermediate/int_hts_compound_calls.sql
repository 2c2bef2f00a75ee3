-- Primary-screen hit classes per run and compound, potency-aware, with no lost replicates.
--
-- A valid replicate is a sample well on a plate that passed QC with a score (corrected and
-- percent_effect not null). Wells on failed plates are excluded here, never deleted.
-- Thresholds: the run's own run.json override when it states one, else the dbt var.
--
--   inconclusive  no valid replicate remains, or the valid replicates disagree: their
--                 percent_effect spread (max − min) exceeds replicate_spread_multiple ×
--                 the control noise of their plates (the larger one). Two replicates of
--                 noise σ differ by N(0, √2σ), so the default 5σ is a 3.5-sigma event;
--                 cellHTS2 summarizes replicates (mean/median) without such a rule and
--                 leaves agreement to a per-plate replicate correlation, which cannot see
--                 one wild well; a spread rule in units of the plate's own noise can.
--   hit           median corrected ≥ z threshold AND median percent_effect ≥ the potency
--                 cut-off (significant and potent)
--   weak          median corrected ≥ z threshold, below the potency cut-off
--   inactive      otherwise
--
-- A compound with one valid replicate is called from it (never dropped) and flagged
-- needs_retest, as is every inconclusive one.
with runs as (
    select
        run_id,
        assay_id,
        target_gene,
        coalesce(hit_potency_percent, {{ var('hit_potency_percent') }})::double as potency_cutoff,
        coalesce(hit_z_threshold, {{ var('hit_threshold') }})::double as z_threshold,
        coalesce(replicate_spread_multiple, {{ var('replicate_spread_multiple') }})::double
            as spread_multiple
    from {{ ref('stg_plate_runs') }}
    where stage = 'primary'
),

wells as (
    select
        w.run_id,
        w.compound_id,
        w.corrected,
        w.percent_effect,
        w.percent_inhibition,
        s.control_noise_pct,
        coalesce(s.passed and w.corrected is not null and w.percent_effect is not null, false)
            as valid,
        r.z_threshold
    from {{ source('evidence', 'plate_well_scores') }} as w
    join {{ source('evidence', 'plate_stats') }} as s using (run_id, plate_id)
    join runs as r using (run_id)
    where w.role = 'sample'
),

per_compound as (
    select
        run_id,
        compound_id,
        count(*) as n_wells,
        count(*) filter (where valid) as n_valid_replicates,
        count(*) filter (where valid and corrected >= z_threshold) as n_above,
        {{ orphanlake.exact_median('corrected') }} filter (where valid) as median_corrected,
        {{ orphanlake.exact_median('percent_effect') }} filter (where valid) as median_percent_effect,
        {{ orphanlake.exact_median('percent_inhibition') }} filter (where valid) as median_percent_inhibition,
        max(percent_effect) filter (where valid) - min(percent_effect) filter (where valid)
            as replicate_spread,
        max(control_noise_pct) filter (where valid) as control_noise_pct
    from wells
    group by run_id, compound_id
),

classed as (
    select
        p.*,
        r.assay_id,
        r.target_gene,
        r.potency_cutoff,
        r.z_threshold,
        r.spread_multiple,
        r.spread_multiple * p.control_noise_pct as spread_limit,
        case
            when p.n_valid_replicates = 0 then 'inconclusive'
            when p.n_valid_replicates >= 2
                 and p.replicate_spread > r.spread_multiple * p.control_noise_pct then 'inconclusive'
            when p.median_corrected >= r.z_threshold
                 and p.median_percent_effect >= r.potency_cutoff then 'hit'
            when p.median_corrected >= r.z_threshold then 'weak'
            else 'inactive'
        end as hit_class
    from per_compound as p
    join runs as r using (run_id)
),

structures as (
    select
        c.run_id,
        c.compound_id,
        ids.inchikey,
        coalesce(ids.inchikey, c.compound_id) as structure_key
    from classed as c
    left join {{ ref('int_compound_ids') }} as ids using (compound_id)
),

-- Frequent hitters: a structure active (hit or weak) against several unrelated targets is
-- more likely acting on the assay technology than on any one target (Baell & Holloway
-- 2010 defined PAINS from compounds active in 2+ of 6 unrelated AlphaScreen assays).
-- Targets are unrelated when their genes differ; counted over every primary run.
promiscuity as (
    select
        s.structure_key,
        count(distinct c.target_gene) as n_targets_tested,
        count(distinct c.target_gene) filter (where c.hit_class in ('hit', 'weak'))
            as n_targets_active
    from classed as c
    join structures as s using (run_id, compound_id)
    group by s.structure_key
),

flags as (
    select
        c.run_id,
        c.compound_id,
        s.inchikey,
        coalesce(pr.n_targets_active >= {{ var('frequent_hitter_min_targets') }}
                 and pr.n_targets_active
                     >= {{ var('frequent_hitter_min_fraction') }} * pr.n_targets_tested,
                 false) as frequent_hitter,
        coalesce(k.n_pains > 0, false) as pains_alert,
        -- lipophilic and aromatic-rich (dbt_project.yml: Irwin et al. 2015; Ritchie & Macdonald 2009)
        coalesce(k.clogp > {{ var('aggregator_min_clogp') }}
                 and k.aromatic_rings >= {{ var('aggregator_min_aromatic_rings') }}, false)
            as aggregator_like
    from classed as c
    join structures as s using (run_id, compound_id)
    left join promiscuity as pr using (structure_key)
    left join {{ ref('int_compounds') }} as k on k.inchikey = s.inchikey
)

select
    c.run_id,
    c.compound_id,
    f.inchikey,
    c.target_gene,
    c.assay_id,
    c.n_wells,
    c.n_valid_replicates,
    c.median_percent_effect,
    c.median_corrected,
    c.replicate_spread,
    c.hit_class,
    case
        when c.hit_class <> 'inconclusive' then null
        when c.n_valid_replicates = 0 then
            'no valid replicate: ' || c.n_wells || ' well(s), all on plates that failed QC or unscored'
        else 'replicates disagree: percent_effect spread ' || round(c.replicate_spread, 1)
             || ' > ' || c.spread_multiple || ' × control noise ' || round(c.control_noise_pct, 1)
             || ' (' || c.n_valid_replicates || ' valid replicates)'
    end as inconclusive_reason,
    c.n_valid_replicates = 1 or c.hit_class = 'inconclusive' as needs_retest,
    c.hit_class = 'hit' as is_hit,
    f.frequent_hitter,
    f.pains_alert,
    f.aggregator_like,
    f.frequent_hitter or f.pains_alert or f.aggregator_like as likely_interferer,
    -- the thresholds this call used (run.json override or dbt var)
    c.potency_cutoff,
    c.z_threshold,
    c.spread_multiple,
    c.control_noise_pct,
    -- for older readers: `call` = hit_class, n_valid = n_valid_replicates, n_above =
    -- valid replicates at or above the z threshold
    c.hit_class as call,
    c.n_valid_replicates as n_valid,
    c.n_above,
    c.median_percent_inhibition,
    c.n_valid_replicates < c.n_wells as has_excluded_replicates
from classed as c
join flags as f using (run_id, compound_id)
