-- Explicit no-calls (./., ., 0/. ...) of a multi-sample VCF's samples, once per ALT allele of
-- a site some sample of that file carries. With them, a sample of the file that has no row
-- in stg_variants at a site was genotyped REF there, while a row here means unknown.
select distinct
    n.patient_id,
    s.chrom,
    s.pos,
    s.ref,
    s.alt,
    s.chrom || ':' || s.pos || ':' || s.ref || ':' || s.alt as variant_key,
    n.genotype,
    n.source_file,
    n.batch_id,
    n.ingested_at
from {{ source('raw', 'no_calls') }} n
join {{ source('raw', 'variant_sites') }} s
    on s.source_file = n.source_file and s.record = n.record
