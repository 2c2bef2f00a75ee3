"""Variant sites with VEP-like annotations, drawn in bulk with numpy.

A site table is a dict of equal-length numpy arrays (one row per site):
chrom_idx, pos, ref, alt, gene (index into the gene layout, -1 = intergenic),
consequence (VEP terms joined with &), af (true population frequency, nan = unseen),
gnomade, gnomadg, maxaf (nan = not reported), revel, cadd (nan = not scored),
second (consequence on a second transcript, "" = none), kind (0 common, 1 rare, 2 causal).
"""

from __future__ import annotations

import numpy as np

from orchestration.simulate.genome import EXONIC, IMPACT

BASES = np.array(list("ACGT"))
FIELDS = ("chrom_idx", "pos", "ref", "alt", "gene", "consequence", "af", "gnomade",
          "gnomadg", "maxaf", "revel", "cadd", "second", "kind")

# Most-severe consequence mixes, roughly what VEP reports over a real exome's calls.
COMMON_MIX = {
    "intron_variant": 0.36, "synonymous_variant": 0.22, "missense_variant": 0.17,
    "3_prime_UTR_variant": 0.08, "5_prime_UTR_variant": 0.03, "splice_region_variant": 0.03,
    "upstream_gene_variant": 0.03, "downstream_gene_variant": 0.03,
    "non_coding_transcript_exon_variant": 0.02, "intergenic_variant": 0.01,
    "inframe_deletion": 0.003, "inframe_insertion": 0.002, "stop_gained": 0.002,
    "frameshift_variant": 0.002, "splice_donor_variant": 0.0005, "stop_lost": 0.0005,
}
RARE_BENIGN_MIX = {
    "synonymous_variant": 0.35, "intron_variant": 0.35, "3_prime_UTR_variant": 0.12,
    "5_prime_UTR_variant": 0.05, "splice_region_variant": 0.05,
    "upstream_gene_variant": 0.04, "downstream_gene_variant": 0.04,
}
RARE_PROTEIN_MIX = {
    "missense_variant": 0.74, "stop_gained": 0.07, "frameshift_variant": 0.08,
    "splice_acceptor_variant": 0.025, "splice_donor_variant": 0.025,
    "inframe_deletion": 0.03, "inframe_insertion": 0.015, "start_lost": 0.005,
    "stop_lost": 0.005,
}
_FRAMESHIFT_LEN = np.array([1, 2, 4, 5, 7])
_INFRAME_LEN = np.array([3, 6])
_INDEL_OK = [c for c, i in IMPACT.items() if i == "MODIFIER"] + ["splice_region_variant"]
_DEEP = frozenset({"intron_variant", "upstream_gene_variant", "downstream_gene_variant",
                   "intergenic_variant"})


def _pick(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    names = np.array(list(mix))
    p = np.array(list(mix.values()), dtype=float)
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def _alleles(rng: np.random.Generator, csq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(csq)
    anchor = BASES[rng.integers(0, 4, n)]
    alt_snv = BASES[(np.searchsorted(BASES, anchor) + rng.integers(1, 4, n)) % 4]
    length = rng.integers(1, 5, n)
    fs, inframe = csq == "frameshift_variant", np.char.startswith(csq.astype(str), "inframe")
    length[fs] = rng.choice(_FRAMESHIFT_LEN, fs.sum())
    length[inframe] = rng.choice(_INFRAME_LEN, inframe.sum())
    low = np.isin(csq, _INDEL_OK)
    indel = fs | inframe | (low & (rng.random(n) < 0.08))
    is_del = indel & (rng.random(n) < 0.55)
    is_ins = indel & ~is_del
    if csq.size:
        if (csq == "inframe_deletion").any():
            is_del |= csq == "inframe_deletion"
            is_ins &= csq != "inframe_deletion"
        if (csq == "inframe_insertion").any():
            is_ins |= csq == "inframe_insertion"
            is_del &= csq != "inframe_insertion"
    extra = np.full(n, "", dtype=object)
    pool = BASES[rng.integers(0, 4, (n, 7))]
    for i in np.flatnonzero(indel):
        extra[i] = "".join(pool[i, :length[i]])
    anchor, alt_snv = anchor.astype(object), alt_snv.astype(object)
    ref = np.where(is_del, anchor + extra, anchor)
    alt = np.where(is_ins, anchor + extra, np.where(is_del, anchor, alt_snv))
    return ref, alt


def _with_secondary_terms(rng: np.random.Generator, csq: np.ndarray) -> np.ndarray:
    out = csq.astype(object)
    r = rng.random(len(csq))
    out[(csq == "missense_variant") & (r < 0.04)] = "missense_variant&splice_region_variant"
    out[(csq == "synonymous_variant") & (r < 0.03)] = "splice_region_variant&synonymous_variant"
    out[(csq == "splice_region_variant") & (r < 0.7)] = "splice_region_variant&intron_variant"
    out[(csq == "frameshift_variant") & (r < 0.03)] = "frameshift_variant&splice_region_variant"
    return out


def _scores(rng: np.random.Generator, csq: np.ndarray, ref: np.ndarray, alt: np.ndarray,
            rare: bool) -> tuple[np.ndarray, np.ndarray]:
    n = len(csq)
    missense = np.char.startswith(csq.astype(str), "missense")
    revel = np.full(n, np.nan)
    a, b = (1.6, 3.2) if rare else (1.1, 7.0)
    revel[missense] = rng.beta(a, b, missense.sum())
    cadd = rng.gamma(1.5, 2.5, n)
    top = np.array([str(c).split("&")[0] for c in csq])
    cadd[top == "synonymous_variant"] = rng.gamma(2.0, 3.0, (top == "synonymous_variant").sum())
    cadd[top == "splice_region_variant"] = rng.normal(10, 4, (top == "splice_region_variant").sum())
    cadd[missense] = 8 + 22 * revel[missense] + rng.normal(0, 3, missense.sum())
    lof = np.isin(top, ["stop_gained", "splice_donor_variant", "splice_acceptor_variant",
                        "start_lost", "stop_lost"])
    cadd[lof] = rng.normal(36, 5, lof.sum())
    fs = top == "frameshift_variant"
    cadd[fs] = rng.normal(30, 4, fs.sum())
    inframe = np.char.startswith(top, "inframe")
    cadd[inframe] = rng.normal(20, 4, inframe.sum())
    indel = np.array([len(r) != len(x) for r, x in zip(ref, alt)], dtype=bool)
    # CADD's precomputed files cover every SNV but only some indels.
    cadd[indel & (rng.random(n) < 0.4)] = np.nan
    return revel, np.clip(cadd, 0.0, 60.0)


def _reported_afs(rng: np.random.Generator, af: np.ndarray, csq: np.ndarray):
    n = len(af)
    seen = ~np.isnan(af)
    top = np.array([str(c).split("&")[0] for c in csq])
    deep = np.isin(top, list(_DEEP))
    exome = np.where(seen & ~(deep & (rng.random(n) < 0.4)),
                     np.clip(af * rng.lognormal(0, 0.08, n), 1e-6, 1.0), np.nan)
    # gnomAD genomes see every common variant but miss many ultra-rare ones.
    r = rng.random(n)
    genome_seen = seen & ~((af < 3e-5) & (r < 0.6)) & ~((af < 1e-3) & (r < 0.1))
    genome = np.where(genome_seen, np.clip(af * rng.lognormal(0, 0.15, n), 1e-6, 1.0), np.nan)
    base = np.fmax(exome, genome)
    maxaf = np.where(np.isnan(base), np.nan, np.clip(base * rng.uniform(1.0, 1.6, n), 0, 1))
    return exome, genome, maxaf


def _positions(rng: np.random.Generator, layout: dict, gene: np.ndarray,
               csq: np.ndarray) -> np.ndarray:
    start, end = layout["start"][gene], layout["end"][gene]
    pos = start + (rng.random(len(gene)) * (end - start)).astype(np.int64)
    top = np.array([str(c).split("&")[0] for c in csq])
    up, down, inter = (top == "upstream_gene_variant", top == "downstream_gene_variant",
                       top == "intergenic_variant")
    pos[up] = start[up] - rng.integers(100, 5000, up.sum())
    pos[down] = end[down] + rng.integers(100, 5000, down.sum())
    pos[inter] = end[inter] + rng.integers(20_000, 150_000, inter.sum())
    return pos


def draw_sites(rng: np.random.Generator, layout: dict, n: int, mix: dict[str, float],
               af: np.ndarray, kind: int, genes: np.ndarray | None = None) -> dict:
    """n annotated sites; genes are drawn by block length unless given."""
    csq = _pick(rng, mix, n)
    if genes is None:
        w = (layout["end"] - layout["start"]).astype(float)
        genes = rng.choice(len(w), size=n, p=w / w.sum())
    ref, alt = _alleles(rng, csq)
    full = _with_secondary_terms(rng, csq)
    revel, cadd = _scores(rng, full, ref, alt, rare=kind != 0)
    gnomade, gnomadg, maxaf = _reported_afs(rng, af, csq)
    pos = _positions(rng, layout, genes, csq)
    gene_out = np.where(csq == "intergenic_variant", -1, genes)
    second = np.full(n, "", dtype=object)
    has2 = (rng.random(n) < 0.2) & (gene_out >= 0)
    coding = np.isin(csq, list(EXONIC))
    second[has2 & coding] = "intron_variant"
    second[has2 & ~coding] = full[has2 & ~coding]
    return {
        "chrom_idx": layout["chrom_idx"][genes], "pos": pos, "ref": ref, "alt": alt,
        "gene": gene_out, "consequence": full, "af": af, "gnomade": gnomade,
        "gnomadg": gnomadg, "maxaf": maxaf, "revel": revel, "cadd": cadd, "second": second,
        "kind": np.full(n, kind, dtype=np.int8),
    }


def concat(tables: list[dict]) -> dict:
    """Row-wise concatenation of site tables."""
    return {f: np.concatenate([t[f] for t in tables]) for f in FIELDS}


def take(table: dict, idx: np.ndarray) -> dict:
    """Rows idx of a site table."""
    return {f: table[f][idx] for f in FIELDS}
