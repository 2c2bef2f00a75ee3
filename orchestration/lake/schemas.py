"""The raw layer's contract: one Arrow schema per raw table.

Ingest assets write exactly these columns (plus the lineage columns) so dbt's sources
never depend on what happened to be in a batch.
"""

from __future__ import annotations

import pyarrow as pa

from orchestration.lake.raw_lineage import LINEAGE  # noqa: F401  (re-exported: the raw contract)

# A VCF lands as three tables. ``record`` is the 0-based ordinal of a record among the
# file's parsed body lines and ``allele`` the 1-based index of an ALT allele in it (as GT
# numbers them); with source_file they name one site of one file.
# raw ``variants``: one row per (sample, record, allele) where the sample carries the allele;
# the site itself (position, alleles, FILTER/QUAL, annotation) is in variant_sites.
VARIANTS = pa.schema([
    pa.field("patient_id", pa.string()),
    pa.field("record", pa.int64()),
    pa.field("allele", pa.int64()),
    pa.field("genotype", pa.string()),          # e.g. 0/1, 1|1
    pa.field("zygosity", pa.string()),          # het | hom_alt | hemi
    *LINEAGE,
])

# raw ``variant_sites``: each (record, allele) some sample of the file carries, annotated
# once per gene (VEP CSQ entries collapsed per gene to the most severe consequence), not
# once per sample; an allele with no gene gets one row with a null gene.
VARIANT_SITES = pa.schema([
    pa.field("record", pa.int64()),
    pa.field("allele", pa.int64()),
    pa.field("chrom", pa.string()),
    pa.field("pos", pa.int64()),
    pa.field("ref", pa.string()),
    pa.field("alt", pa.string()),
    pa.field("filter", pa.string()),            # PASS or the FILTER value
    pa.field("qual", pa.float64()),
    pa.field("gene_symbol", pa.string()),
    pa.field("gene_id", pa.string()),           # Ensembl gene id when VEP gives it
    pa.field("consequence", pa.string()),       # most severe SO term for this gene
    pa.field("impact", pa.string()),            # HIGH | MODERATE | LOW | MODIFIER
    pa.field("allele_freq", pa.float64()),      # max of gnomADe_AF/gnomAD_AF/MAX_AF; null = unseen
    pa.field("revel", pa.float64()),
    pa.field("cadd_phred", pa.float64()),
    pa.field("hgvsc", pa.string()),             # VEP HGVSc of the kept entry (NM_...:c.123A>G)
    pa.field("hgvsp", pa.string()),             # VEP HGVSp of that entry, %3D read back as '='
    *LINEAGE,
])

# raw ``no_calls``: a sample's explicit no-call (./., ., 0/. …: a '.' and no ALT allele) at a
# record with a site in variant_sites, so that "no row in variants" can mean REF for a
# sample of the file while a no-call stays unknown.
NO_CALLS = pa.schema([
    pa.field("patient_id", pa.string()),
    pa.field("record", pa.int64()),
    pa.field("genotype", pa.string()),
    *LINEAGE,
])

PATIENTS = pa.schema([
    pa.field("patient_id", pa.string()),        # phenopacket subject.id (pseudonymous)
    pa.field("phenopacket_id", pa.string()),
    pa.field("sex", pa.string()),               # FEMALE | MALE | OTHER_SEX | UNKNOWN_SEX
    pa.field("is_solved", pa.bool_()),          # carries a SOLVED interpretation
    *LINEAGE,
])

# One row per phenotypic feature whose HPO id resolved against the loaded release.
PHENOTYPES = pa.schema([
    pa.field("patient_id", pa.string()),
    pa.field("hpo_id", pa.string()),            # primary id in the loaded HPO release
    pa.field("hpo_id_submitted", pa.string()),  # as written in the phenopacket
    pa.field("term_resolution", pa.string()),   # primary | alt_id | replaced_by
    pa.field("label", pa.string()),
    pa.field("excluded", pa.bool_()),
    *LINEAGE,
])

# Diagnoses from phenopacket diseases[] and interpretations[] (solved cases).
DIAGNOSES = pa.schema([
    pa.field("patient_id", pa.string()),
    pa.field("disease_id", pa.string()),        # OMIM:xxxxxx / ORPHA:xxxx
    pa.field("disease_label", pa.string()),
    pa.field("gene_symbol", pa.string()),       # causal gene from the interpretation, if any
    pa.field("progress_status", pa.string()),   # SOLVED | IN_PROGRESS | ... | null (diseases[] only)
    *LINEAGE,
])

EXPRESSION = pa.schema([
    pa.field("patient_id", pa.string()),
    pa.field("gene_symbol", pa.string()),
    pa.field("tpm", pa.float64()),
    *LINEAGE,
])

# One row per accepted compound record, standardized (parent, neutral, canonical).
COMPOUND_RECORDS = pa.schema([
    pa.field("library", pa.string()),           # the landing folder: compounds/<library>/
    pa.field("compound_id", pa.string()),       # the library's own id
    pa.field("name", pa.string()),
    pa.field("record_locator", pa.string()),    # "record 3" (SDF) / "line 12" (CSV, SMILES)
    pa.field("input_smiles", pa.string()),      # as submitted (SDF: SMILES of the parsed record)
    pa.field("smiles", pa.string()),            # standardized canonical parent
    pa.field("inchikey", pa.string()),          # of the standardized parent: the cross-library key
    pa.field("standardization", pa.string()),   # what standardization changed, or null
    *LINEAGE,
])

# Screening runs: one run.json per landing/plates/<run>/ folder.
PLATE_RUNS = pa.schema([
    pa.field("run_id", pa.string()),
    pa.field("assay_id", pa.string()),
    pa.field("target_gene", pa.string()),       # HGNC symbol; links to ranked_targets
    pa.field("readout", pa.string()),           # inhibition | activation
    pa.field("stage", pa.string()),             # primary | dose_response
    pa.field("plate_format", pa.int32()),       # 96 | 384 | 1536 or null (inferred)
    pa.field("description", pa.string()),
    # per-run hit-calling overrides (null = the dbt vars' defaults); added after the first
    # release: older raw files lack them and read back as null through _schema.parquet
    pa.field("hit_potency_percent", pa.float64()),        # % of the control window
    pa.field("hit_z_threshold", pa.float64()),            # robust z / B-score
    pa.field("replicate_spread_multiple", pa.float64()),  # × the plates' control noise
    *LINEAGE,
])

PLATE_WELLS = pa.schema([
    pa.field("run_id", pa.string()),
    pa.field("plate_id", pa.string()),
    pa.field("well", pa.string()),              # A01 … AF48
    pa.field("row_idx", pa.int32()),            # 0-based
    pa.field("col_idx", pa.int32()),
    pa.field("plate_rows", pa.int32()),
    pa.field("plate_cols", pa.int32()),
    pa.field("signal", pa.float64()),
    *LINEAGE,
])

PLATE_MAPS = pa.schema([
    pa.field("run_id", pa.string()),
    pa.field("plate_id", pa.string()),
    pa.field("well", pa.string()),
    pa.field("compound_id", pa.string()),       # null for controls and blanks
    pa.field("concentration_um", pa.float64()),
    pa.field("role", pa.string()),              # sample | pos_ctrl | neg_ctrl | blank
    *LINEAGE,
])

# One row per individual of a pedigree: a PED file in a genomic batch (raw/pedigrees) or
# the pedigree of a GA4GH Family phenopacket (raw/family_pedigrees), after the checks of
# ingest/pedigree.py (a refused parent link is null here, and quarantined with its reason).
PEDIGREES = pa.schema([
    pa.field("family_id", pa.string()),
    pa.field("individual_id", pa.string()),     # a VCF sample name / phenopacket subject.id
    pa.field("father_id", pa.string()),         # null: not given (PED '0') or refused
    pa.field("mother_id", pa.string()),
    pa.field("sex", pa.string()),               # MALE | FEMALE | UNKNOWN_SEX
    pa.field("affected", pa.bool_()),           # null: unknown (PED 0 / -9, MISSING)
    pa.field("locator", pa.string()),           # "line 4" / "pedigree.persons[2]"
    *LINEAGE,
])

# Everything refused at the door, at the smallest granularity that was wrong.
QUARANTINE = pa.schema([
    pa.field("domain", pa.string()),            # genomic | clinical | expression | compounds | plates | trials | landing
    pa.field("granularity", pa.string()),       # batch | file | record | term | sample | plate | well | variable | value | subject
    pa.field("locator", pa.string()),           # line number, term id, sample id … or null
    pa.field("reason", pa.string()),            # readable, names what was wrong
    pa.field("original_path", pa.string()),     # the untouched landing file
    pa.field("quarantine_copy", pa.string()),   # copy under quarantine/ (file granularity)
    pa.field("plate_id", pa.string()),          # plates: the refused plate / reading's plate
    pa.field("well", pa.string()),              # plates: the refused reading's well (or null)
    *LINEAGE,
])

def without_lineage(schema: pa.Schema) -> pa.Schema:
    """A raw table's columns as a parser produces them (the runner adds the lineage)."""
    lineage = {f.name for f in LINEAGE}
    return pa.schema([f for f in schema if f.name not in lineage])


RAW_SCHEMAS: dict[str, pa.Schema] = {
    "variants": VARIANTS,
    "variant_sites": VARIANT_SITES,
    "no_calls": NO_CALLS,
    "patients": PATIENTS,
    "phenotypes": PHENOTYPES,
    "diagnoses": DIAGNOSES,
    "expression": EXPRESSION,
    "compound_records": COMPOUND_RECORDS,
    "plate_runs": PLATE_RUNS,
    "plate_wells": PLATE_WELLS,
    "plate_maps": PLATE_MAPS,
    "pedigrees": PEDIGREES,
    "family_pedigrees": PEDIGREES,
    "quarantine": QUARANTINE,
}

# The clinical-trial tables (landing/trials/<study>/) have a module of their own.
from orchestration.lake.trial_schemas import TRIAL_SCHEMAS  # noqa: E402

RAW_SCHEMAS.update(TRIAL_SCHEMAS)
