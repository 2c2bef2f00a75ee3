-- New compounds designed around each screened target's confirmed hits, one row per
-- candidate of a round (models/design, orchestration/assets/design.py): generated (Graph
-- GA, matched-molecular-pair transforms, BRICS), scored for predicted potency, safety and
-- synthesizability, and the round's batch (`selected`) chosen by the acquisition rule.
-- Earlier rounds are kept as they were published.
select
    design_id,
    target_gene,
    round,
    smiles,
    inchikey,
    parent_compound_id,
    parent_smiles,
    method,
    predicted_pic50,
    uncertainty,
    max_sim_train,
    in_domain,
    herg_flag,
    ames_flag,
    dili_flag,
    clintox_flag,
    n_admet_flags,
    sa_score,
    qed,
    mw,
    alerts,
    passes_gate,
    novelty,
    desirability,
    pareto_rank,
    acquisition,
    rank,
    selected,
    explanation,
    model_version,
    designed_at
from {{ source('evidence', 'compound_designs') }}
order by target_gene, round, rank
