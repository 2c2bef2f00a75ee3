{#- Default pathogenicity of a VEP consequence when no predictor score applies.
    Exomiser's VariantEffectPathogenicityScore defaults: loss of function 1.0,
    start/stop changes 0.95, splice region 0.8, missense and in-frame indels 0.6,
    synonymous 0.1, everything non-coding 0.0. -#}
{% macro consequence_pathogenicity(consequence) -%}
case
    when {{ consequence }} in ('transcript_ablation', 'frameshift_variant', 'stop_gained',
        'splice_acceptor_variant', 'splice_donor_variant', 'exon_loss_variant') then 1.0
    when {{ consequence }} in ('start_lost', 'stop_lost', 'initiator_codon_variant') then 0.95
    when {{ consequence }} in ('splice_donor_5th_base_variant', 'splice_region_variant',
        'splice_donor_region_variant', 'splice_polypyrimidine_tract_variant') then 0.8
    when {{ consequence }} in ('missense_variant', 'inframe_deletion', 'inframe_insertion',
        'protein_altering_variant', 'coding_sequence_variant') then 0.6
    when {{ consequence }} in ('synonymous_variant', 'stop_retained_variant',
        'start_retained_variant') then 0.1
    else 0.0
end
{%- endmacro %}

{#- Exomiser's frequency score: 1 when unseen, decaying to 0 at 2 % allele frequency. -#}
{% macro frequency_score(af) -%}
case
    when {{ af }} is null or {{ af }} <= 0 then 1.0
    when {{ af }} * 100 > 2 then 0.0
    else greatest(0.0, 1.13533 - 0.13533 * exp({{ af }} * 100))
end
{%- endmacro %}
