"""A deterministic GRCh38-shaped genome: contigs, one block per gene, VEP consequence terms.

No coordinates ship with HPO, so each gene gets a stable block (same for every seed);
genes of X-linked diseases go to chrX outside the pseudo-autosomal regions, so that
hemizygosity in males holds for them.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl

CONTIGS: dict[str, int] = {
    "chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr4": 190214555,
    "chr5": 181538259, "chr6": 170805979, "chr7": 159345973, "chr8": 145138636,
    "chr9": 138394717, "chr10": 133797422, "chr11": 135086622, "chr12": 133275309,
    "chr13": 114364328, "chr14": 107043718, "chr15": 101991189, "chr16": 90338345,
    "chr17": 83257441, "chr18": 80373285, "chr19": 58617616, "chr20": 64444167,
    "chr21": 46709983, "chr22": 50818468, "chrX": 156040895, "chrY": 57227415,
    "chrM": 16569,
}
CHROM_ORDER = {c: i for i, c in enumerate(CONTIGS)}
AUTOSOMES = [c for c in CONTIGS if c not in ("chrX", "chrY", "chrM")]
# Non-PAR part of chrX (PAR1 ends at 2,781,479; PAR2 starts at 155,701,383).
X_NONPAR = (3_000_000, 155_000_000)

# VEP consequence → IMPACT, as in Ensembl's calculated-consequences table.
IMPACT = {
    "transcript_ablation": "HIGH", "splice_acceptor_variant": "HIGH",
    "splice_donor_variant": "HIGH", "stop_gained": "HIGH", "frameshift_variant": "HIGH",
    "stop_lost": "HIGH", "start_lost": "HIGH",
    "inframe_insertion": "MODERATE", "inframe_deletion": "MODERATE",
    "missense_variant": "MODERATE", "protein_altering_variant": "MODERATE",
    "splice_region_variant": "LOW", "synonymous_variant": "LOW",
    "stop_retained_variant": "LOW",
    "5_prime_UTR_variant": "MODIFIER", "3_prime_UTR_variant": "MODIFIER",
    "non_coding_transcript_exon_variant": "MODIFIER", "intron_variant": "MODIFIER",
    "upstream_gene_variant": "MODIFIER", "downstream_gene_variant": "MODIFIER",
    "intergenic_variant": "MODIFIER",
}
LOF = frozenset({"stop_gained", "frameshift_variant", "splice_acceptor_variant",
                 "splice_donor_variant", "start_lost"})
NMD = frozenset({"stop_gained", "frameshift_variant"})
EXONIC = frozenset({"stop_gained", "frameshift_variant", "start_lost", "stop_lost",
                    "inframe_insertion", "inframe_deletion", "missense_variant",
                    "synonymous_variant", "5_prime_UTR_variant", "3_prime_UTR_variant",
                    "non_coding_transcript_exon_variant"})


def _stable(s: str) -> int:
    return zlib.crc32(s.encode())


def gene_layout(genes: pl.DataFrame) -> pl.DataFrame:
    """One block per gene: gene_symbol, ncbi_gene_id, chrom, start, end (1-based, inclusive)."""
    rows = []
    for on_x, chroms in ((False, AUTOSOMES), (True, ["chrX"])):
        sel = genes.filter(pl.col("x_linked") == on_x)
        symbols = sorted(sel["gene_symbol"].to_list(), key=lambda s: (_stable(s), s))
        ids = dict(zip(sel["gene_symbol"], sel["ncbi_gene_id"]))
        lengths = np.array([CONTIGS[c] for c in chroms], dtype=float)
        # Genes are dealt to chromosomes in proportion to their length, then spread evenly.
        bounds = np.round(np.cumsum(lengths) / lengths.sum() * len(symbols)).astype(int)
        start_i = 0
        for chrom, stop_i in zip(chroms, bounds):
            chunk = symbols[start_i:stop_i]
            lo, hi = X_NONPAR if chrom == "chrX" else (1_000_000, CONTIGS[chrom] - 1_000_000)
            slot = (hi - lo) / max(len(chunk), 1)
            for k, sym in enumerate(chunk):
                span = int(min(slot * 0.6, 15_000 + _stable(sym + "#len") % 235_000))
                begin = int(lo + k * slot)
                rows.append((sym, ids[sym], chrom, begin, begin + span - 1))
            start_i = stop_i
    out = pl.DataFrame(rows, schema=["gene_symbol", "ncbi_gene_id", "chrom", "start", "end"],
                       orient="row")
    return (out.with_columns(pl.col("chrom").replace_strict(CHROM_ORDER).alias("chrom_idx"))
            .sort("chrom_idx", "start"))
