select
    patient_id,
    chrom,
    pos,
    ref,
    alt,
    chrom || ':' || pos || ':' || ref || ':' || alt as variant_key,
    coalesce(filter, 'PASS') as filter,
    qual,
    genotype,
    zygosity,
    gene_symbol,
    gene_id,
    consequence,
    upper(impact) as impact,
    allele_freq,
    revel,
    cadd_phred,
    source_file,
    batch_id,
    ingested_at
from {{ source('raw', 'variants') }}
where gene_symbol is not null and gene_symbol <> ''
