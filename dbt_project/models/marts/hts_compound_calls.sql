-- One row per primary run and screened compound: its hit class (hit | weak | inactive |
-- inconclusive) with the replicate evidence behind it and the interference flags. The
-- rules and thresholds are in int_hts_compound_calls and dbt_project.yml. ADMET-AI's
-- safety flags of the structure come along, so a triage of the hits sees them.
select
    c.run_id,
    c.compound_id,
    c.inchikey,
    target_gene,
    assay_id,
    n_wells,
    n_valid_replicates,
    median_percent_effect,
    median_corrected,
    replicate_spread,
    hit_class,
    inconclusive_reason,
    needs_retest,
    is_hit,
    frequent_hitter,
    pains_alert,
    aggregator_like,
    likely_interferer,
    call,
    a.herg_flag,
    a.ames_flag,
    a.dili_flag,
    a.clintox_flag,
    a.n_safety_flags,
    a.safety_summary
from {{ ref('int_hts_compound_calls') }} as c
left join {{ ref('compound_admet') }} as a using (inchikey)
order by c.run_id, c.compound_id
