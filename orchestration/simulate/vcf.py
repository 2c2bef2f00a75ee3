"""VCF 4.2 text with a VEP CSQ field, built in bulk with polars string expressions.

Each file picks one CSQ layout (field order and optional fields vary), so a parser has
to read the field order from the ##INFO=<ID=CSQ> header, as with real VEP output.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from orchestration.simulate.genome import CONTIGS, EXONIC, IMPACT

CSQ_BASE = ["Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "Feature_type", "Feature",
            "BIOTYPE", "EXON", "INTRON", "HGVSc", "HGVSp"]
CSQ_LAYOUTS = [
    CSQ_BASE + ["STRAND", "REVEL", "CADD_PHRED", "gnomADe_AF", "gnomAD_AF", "MAX_AF"],
    CSQ_BASE + ["STRAND", "MAX_AF", "CADD_PHRED", "gnomAD_AF", "CLIN_SIG", "REVEL", "gnomADe_AF"],
    CSQ_BASE + ["STRAND", "SIFT", "REVEL", "CADD_PHRED", "gnomADe_AF", "MAX_AF"],
    CSQ_BASE + ["STRAND", "gnomAD_AF", "REVEL", "CADD_PHRED", "Existing_variation"],
]
LAYOUT_WEIGHTS = [0.45, 0.3, 0.15, 0.1]
CHROMS = list(CONTIGS)


def _fmt(values: np.ndarray, spec: str) -> list[str]:
    return ["" if np.isnan(v) else format(v, spec) for v in values]


def _impact(csq: np.ndarray) -> list[str]:
    return [IMPACT[c.split("&")[0]] for c in csq]


def site_strings(sites: dict, layout: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """One row per (sorted) site: the fixed VCF columns and the CSQ value for each layout."""
    gene = sites["gene"]
    genic = gene >= 0
    sym = layout["gene_symbol"].to_numpy()
    gid = layout["ncbi_gene_id"].to_numpy()
    n_exons = 4 + (gid.astype(np.int64) % 31)
    ref, alt, csq = sites["ref"], sites["alt"], sites["consequence"]
    allele = [a if len(r) == len(a) else ("-" if len(a) < len(r) else a[1:])
              for r, a in zip(ref, alt)]
    top = np.array([c.split("&")[0] for c in csq])
    exonic = np.isin(top, list(EXONIC))
    nx = np.where(genic, n_exons[np.maximum(gene, 0)], 1)
    which = (rng.random(len(gene)) * nx).astype(np.int64) + 1
    prefix = np.where(top == "non_coding_transcript_exon_variant", "NR_", "NM_")
    feature = np.where(genic, np.char.add(np.char.add(prefix, np.char.zfill(
        (gid[np.maximum(gene, 0)].astype(np.int64) * 7 % 999_983).astype(str), 6)), ".4"), "")
    snv = np.array([len(r) == 1 == len(a) for r, a in zip(ref, alt)])
    coding = np.isin(top, ["missense_variant", "synonymous_variant", "stop_gained",
                           "start_lost", "stop_lost"])
    cpos = (sites["pos"] % 3000) + 1
    hgvsc = [f"{f}:c.{p}{r}>{a}" if (s and c) else ""
             for f, p, r, a, s, c in zip(feature, cpos, ref, alt, snv, coding)]
    base = pl.DataFrame({
        "chrom": np.array(CHROMS)[sites["chrom_idx"]],
        "pos": sites["pos"].astype(str),
        # lists, not astype(str): one long allele (a published 2 kb deletion) would make numpy
        # pad every row to its width
        "ref": pl.Series(ref.tolist(), dtype=pl.String), "alt": pl.Series(alt.tolist(), dtype=pl.String),
        "qual": _fmt(np.where(sites["kind"] == 0, rng.gamma(2.0, 400.0, len(gene)),
                              rng.uniform(80, 900, len(gene))), ".2f"),
        "Allele": allele, "Consequence": csq.astype(str), "IMPACT": _impact(csq),
        "SYMBOL": np.where(genic, sym[np.maximum(gene, 0)], ""),
        "Gene": np.where(genic, gid[np.maximum(gene, 0)], ""),
        "Feature_type": np.where(genic, "Transcript", ""),
        "Feature": feature,
        "BIOTYPE": np.where(genic, np.where(top == "non_coding_transcript_exon_variant",
                                            "lncRNA", "protein_coding"), ""),
        "EXON": np.where(genic & exonic, np.char.add(np.char.add(which.astype(str), "/"),
                                                     nx.astype(str)), ""),
        "INTRON": np.where(genic & ~exonic & (top != "upstream_gene_variant")
                           & (top != "downstream_gene_variant"),
                           np.char.add(np.char.add(np.minimum(which, nx - 1).clip(1).astype(str),
                                                   "/"), (nx - 1).clip(1).astype(str)), ""),
        "HGVSc": hgvsc, "HGVSp": [""] * len(gene),
        "STRAND": np.where(gid[np.maximum(gene, 0)].astype(np.int64) % 2 == 0, "1", "-1"),
        "REVEL": _fmt(sites["revel"], ".3f"), "CADD_PHRED": _fmt(sites["cadd"], ".1f"),
        "gnomADe_AF": _fmt(sites["gnomade"], ".4g"), "gnomAD_AF": _fmt(sites["gnomadg"], ".4g"),
        "MAX_AF": _fmt(sites["maxaf"], ".4g"),
        "SIFT": [""] * len(gene), "CLIN_SIG": [""] * len(gene),
        "Existing_variation": [""] * len(gene),
        "second": sites["second"].astype(str),
    })
    second_impact = [IMPACT[c.split("&")[0]] if c else "" for c in sites["second"]]
    alt_tx = pl.col("Feature").str.replace(r"^N[MR]_", "XM_").str.replace(r"\.4$", ".1")
    entry2 = {"Consequence": pl.col("second"), "IMPACT": pl.Series(second_impact),
              "Feature": alt_tx, "REVEL": pl.lit(""), "EXON": pl.lit(""), "HGVSc": pl.lit("")}
    exprs = []
    for k, fields in enumerate(CSQ_LAYOUTS):
        first = pl.concat_str([pl.col(f) for f in fields], separator="|")
        second = pl.concat_str([entry2.get(f, pl.col(f)) for f in fields], separator="|")
        exprs.append(pl.when(pl.col("second") != "").then(pl.concat_str([first, second],
                                                                        separator=","))
                     .otherwise(first).alias(f"csq{k}"))
    return base.select("chrom", "pos", "ref", "alt", "qual", *exprs)


def header(samples: list[str], layout_k: int, with_csq_header: bool = True) -> str:
    """The ## meta lines and #CHROM line of one file."""
    fields = "|".join(CSQ_LAYOUTS[layout_k])
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=LowQual,Description="Low quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth">',
        *(f"##contig=<ID={c},length={n},assembly=GRCh38>" for c, n in CONTIGS.items()),
        "##reference=GRCh38",
        "##source=orphanlake-simulator",
        '##VEP="v110" time="2025-01-20 10:00:00" cache="/opt/vep/.vep/homo_sapiens_refseq/'
        '110_GRCh38" ensembl=110.584a8f3 assembly="GRCh38.p14"',
    ]
    if with_csq_header:
        lines.append('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations '
                     f'from Ensembl VEP. Format: {fields}">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                            "FORMAT", *samples]))
    return "\n".join(lines) + "\n"


_GT = {0: "0/0", 1: "0/1", 2: "1/1", 3: "./."}


def _sample_col(rng: np.random.Generator, codes: np.ndarray, on_x: np.ndarray,
                haploid_x: bool) -> tuple[pl.Expr, np.ndarray]:
    n = len(codes)
    dp = np.maximum(rng.negative_binomial(8, 8 / (8 + 45), n), 3)
    gq = np.minimum(99, (dp * 3 + rng.normal(0, 6, n)).astype(np.int64).clip(3))
    gt = pl.Series(codes).replace_strict(_GT, return_dtype=pl.String)
    if haploid_x:
        gt = pl.select(pl.when(pl.lit(pl.Series(on_x))).then(
            pl.lit(gt).replace({"1/1": "1", "0/0": "0"})).otherwise(pl.lit(gt))).to_series()
    gq_s = pl.when(pl.lit(pl.Series(codes)) == 3).then(pl.lit(".")).otherwise(
        pl.lit(pl.Series(gq)).cast(pl.String))
    return pl.concat_str([pl.lit(gt), pl.lit(pl.Series(dp)).cast(pl.String), gq_s],
                         separator=":"), dp


def body(strings: pl.DataFrame, idx: np.ndarray, codes: np.ndarray, layout_k: int,
         rng: np.random.Generator, haploid_x: tuple[bool, ...], causal: np.ndarray) -> str:
    """Data lines for sites idx (sorted); codes is (n_sites, n_samples) with 0/1/2, 3=missing."""
    rows = strings[idx]
    on_x = (rows["chrom"] == "chrX").to_numpy()
    samples, depth = [], np.zeros(len(idx), dtype=np.int64)
    for j in range(codes.shape[1]):
        col, dp = _sample_col(rng, codes[:, j], on_x, haploid_x[j])
        samples.append(col)
        depth += dp
    low = (rng.random(len(idx)) < 0.01) & ~causal
    rows = rows.with_columns(filter=pl.Series(np.where(low, "LowQual", "PASS")),
                             depth=pl.Series(depth))
    line = pl.concat_str(
        [pl.col("chrom"), pl.col("pos"), pl.lit("."), pl.col("ref"), pl.col("alt"),
         pl.col("qual"), pl.col("filter"),
         pl.concat_str([pl.lit("DP="), pl.col("depth").cast(pl.String), pl.lit(";CSQ="),
                        pl.col(f"csq{layout_k}")]),
         pl.lit("GT:DP:GQ"), *samples], separator="\t")
    return rows.select(line.str.join("\n")).item() + "\n"
