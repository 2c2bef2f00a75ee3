-- One row per patient x called allele x gene: each sample's call (raw variants) joined to
-- its site's annotation (raw variant_sites, stored once per site however many samples of
-- the file carry it) on the file and the site key (record, allele).
select
    c.patient_id,
    s.chrom,
    s.pos,
    s.ref,
    s.alt,
    s.chrom || ':' || s.pos || ':' || s.ref || ':' || s.alt as variant_key,
    coalesce(s.filter, 'PASS') as filter,
    s.qual,
    c.genotype,
    c.zygosity,
    s.gene_symbol,
    s.gene_id,
    s.consequence,
    upper(s.impact) as impact,
    s.allele_freq,
    s.revel,
    s.cadd_phred,
    c.source_file,
    c.batch_id,
    c.ingested_at,
    -- VEP HGVS of the CSQ entry whose consequence is kept (null when the CSQ lacks them)
    s.hgvsc,
    s.hgvsp
from {{ source('raw', 'variants') }} c
join {{ source('raw', 'variant_sites') }} s
    on s.source_file = c.source_file and s.record = c.record and s.allele = c.allele
where s.gene_symbol is not null and s.gene_symbol <> ''
