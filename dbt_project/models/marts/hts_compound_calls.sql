-- One row per primary run and screened compound: its hit class (hit | weak | inactive |
-- inconclusive) with the replicate evidence behind it and the interference flags. The
-- rules and thresholds are in int_hts_compound_calls and dbt_project.yml.
select
    run_id,
    compound_id,
    inchikey,
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
    call
from {{ ref('int_hts_compound_calls') }}
order by run_id, compound_id
