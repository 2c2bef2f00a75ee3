"""Replay published rare-disease cases as landing batches: real patients over a simulated exome.

Each case of phenopacket-store (``orchestration/reference/data/phenopacket-store``) keeps its
real HPO terms (observed and excluded, with the ids as published, old and new releases
alike) and its real causal variant(s) (``vcfRecord`` on GRCh38, allelic state, consequence
read from the published HGVS). What a case report does not give — the rest of the exome — is
simulated, with counts per exome taken from population studies:

* rare (allele frequency < 1 % or unseen) protein-altering calls: ``RARE_PROTEIN_PER_EXOME``
  (Poisson mean 250; ExAC, Lek et al. 2016, and the 1000 Genomes Project, 2015, report
  a few hundred rare missense/in-frame/LoF calls per exome), of which loss-of-function
  (stop-gained, frameshift, canonical splice, start-lost) ``RARE_LOF_SHARE`` = 7 %, about
  18 (ExAC: 85 heterozygous + 35 homozygous protein-truncating variants per person, most of
  them common; ~2 singletons);
* ``DISEASE_GENE_SHARE`` = 30 % of those fall in genes with an HPO disease annotation
  (about 4,500 of ~19,000 protein-coding genes, longer than average), the rest in genes
  without one (named ``LOC9xxxxxx`` here, as VEP names uncharacterised loci);
* rare non-coding/synonymous calls (``RARE_OTHER_PER_EXOME``) and common calls from a
  shared pool with Hardy-Weinberg genotypes (``COMMON_PER_EXOME``; a real exome has
  ~20,000 common calls, all removed by the frequency filter, so fewer are written);
* gnomAD-like frequencies (log-uniform 1e-5..1e-2, ``UNSEEN_SHARE`` unseen), REVEL only on
  missense (what VEP's REVEL plugin covers) and CADD on SNVs and ~60 % of indels.

Causal variants get what VEP would report for a published pathogenic variant: REVEL drawn
from the skewed-high distribution of pathogenic missense (about a fifth below 0.5, as REVEL's
own ClinVar evaluation shows), CADD by consequence, and gnomAD absence for most dominant
variants but carrier frequencies up to 1 % for recessive ones.

Cases are left out, and counted by reason, when a causal variant has no ``vcfRecord`` (most
are structural variants), is structural, mitochondrial, or on another assembly.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from orchestration.settings import LakePaths
from orchestration.simulate.catalog import load_catalog
from orchestration.simulate.compress import bgzf
from orchestration.simulate.genome import CHROM_ORDER, gene_layout
from orchestration.simulate.sites import concat, draw_sites, take
from orchestration.simulate.vcf import CSQ_LAYOUTS, body, header, site_strings

CASES_PATH = (Path(__file__).resolve().parents[1] / "reference" / "data" / "phenopacket-store"
              / "cases.jsonl.gz")

RARE_PROTEIN_PER_EXOME = 250
RARE_LOF_SHARE = 0.07
DISEASE_GENE_SHARE = 0.30
RARE_OTHER_PER_EXOME = 150
COMMON_PER_EXOME = 150
COMMON_POOL = 3_000
UNSEEN_SHARE = 0.10
HOM_SHARE = 0.02           # rare background calls seen homozygous (some consanguinity)
N_OTHER_GENES = 14_000     # protein-coding genes without an HPO disease annotation
# Published case reports carry no pedigrees; diagnostic labs sequence trios. This share of
# dominant cases becomes a trio with the variant de novo, and of recessive ones a trio with
# one allele from each parent (both parents carriers for a homozygote).
TRIO_SHARE = 0.3

_LOF_MIX = {"stop_gained": 0.40, "frameshift_variant": 0.40, "splice_acceptor_variant": 0.08,
            "splice_donor_variant": 0.10, "start_lost": 0.02}
_NONLOF_MIX = {"missense_variant": 0.93, "inframe_deletion": 0.04, "inframe_insertion": 0.02,
               "stop_lost": 0.01}
_OTHER_MIX = {"synonymous_variant": 0.40, "intron_variant": 0.30, "3_prime_UTR_variant": 0.12,
              "5_prime_UTR_variant": 0.05, "splice_region_variant": 0.08,
              "upstream_gene_variant": 0.05}
_COMMON_MIX = {"intron_variant": 0.36, "synonymous_variant": 0.24, "missense_variant": 0.20,
               "3_prime_UTR_variant": 0.10, "5_prime_UTR_variant": 0.04,
               "splice_region_variant": 0.03, "upstream_gene_variant": 0.03}
ZYGOSITY = {"heterozygous": "het", "homozygous": "hom", "hemizygous": "hemi"}
LOF_TERMS = frozenset(_LOF_MIX)


@dataclass
class ReplayVariant:
    chrom: str
    pos: int
    ref: str
    alt: str
    zygosity: str          # het | hom | hemi
    consequence: str       # SO term read from the HGVS
    hgvs_c: str = ""
    hgvs_p: str = ""


@dataclass
class ReplayCase:
    case_id: str           # the published phenopacket id (kept in truth only)
    sex: str
    gene_symbol: str
    gene_id: str
    disease_id: str
    disease_label: str
    features: list[dict]   # phenotypicFeatures as published (type, excluded)
    variants: list[ReplayVariant]
    hpo_version: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_observed(self) -> int:
        return sum(not f.get("excluded", False) for f in self.features)

    @property
    def n_excluded(self) -> int:
        return sum(bool(f.get("excluded", False)) for f in self.features)

    @property
    def inheritance(self) -> str:
        """What the genotype says: dominant (one het), recessive (hom or two hets), X (hemi)."""
        states = [v.zygosity for v in self.variants]
        if "hemi" in states:
            return "x_linked"
        if "hom" in states or len(states) >= 2:
            return "recessive"
        return "dominant"

    @property
    def consequence_class(self) -> str:
        """The most damaging class among the causal variants (for breakdowns)."""
        return consequence_class({v.consequence for v in self.variants})


def consequence_class(terms: set[str]) -> str:
    """truncating | canonical_splice | missense | inframe | other, the most damaging first."""
    terms = {t.split("&")[0] for t in terms}
    if terms & {"stop_gained", "frameshift_variant", "start_lost"}:
        return "truncating"
    if terms & {"splice_donor_variant", "splice_acceptor_variant"}:
        return "canonical_splice"
    if "missense_variant" in terms:
        return "missense"
    if terms & {"inframe_deletion", "inframe_insertion", "stop_lost"}:
        return "inframe"
    return "other"


_MISSENSE = re.compile(r"p\.\(?([A-Z][a-z]{2})(\d+)([A-Z][a-z]{2})\)?$")
_SPLICE = re.compile(r"c\.[-*]?\d+([+-])(\d+)")


def consequence_from_hgvs(hgvs_c: str, hgvs_p: str, ref: str, alt: str) -> str:
    """The SO consequence VEP would give, read from the published HGVS (protein first)."""
    p = hgvs_p.split(":")[-1] if hgvs_p else ""
    if p and "?" not in p:
        if "fs" in p:
            return "frameshift_variant"
        if re.search(r"p\.\(?Ter\d+", p) or "ext" in p:
            return "stop_lost"
        if re.search(r"(Ter|\*)\)?$", p):
            return "stop_gained"
        if re.search(r"p\.\(?Met1", p):
            return "start_lost"
        if "dup" in p or "ins" in p:
            return "inframe_insertion"
        if "del" in p:
            return "inframe_deletion"
        if p.endswith("=") or p.endswith("=)"):
            return "synonymous_variant"
        if _MISSENSE.search(p):
            return "missense_variant"
    if "Met1" in p:
        return "start_lost"
    c = hgvs_c.split(":")[-1] if hgvs_c else ""
    m = _SPLICE.search(c)
    if m:
        offset = int(m.group(2))
        if offset <= 2:
            return "splice_donor_variant" if m.group(1) == "+" else "splice_acceptor_variant"
        if offset <= 8:
            return "splice_region_variant"
        return "intron_variant"
    if c.startswith("c.-"):
        return "5_prime_UTR_variant"
    if c.startswith("c.*"):
        return "3_prime_UTR_variant"
    if len(ref) != len(alt):
        return "frameshift_variant" if (len(ref) - len(alt)) % 3 else (
            "inframe_deletion" if len(ref) > len(alt) else "inframe_insertion")
    return "missense_variant" if c else "coding_sequence_variant"


def _variant(gi: dict) -> tuple[ReplayVariant | None, str, str, str]:
    """(variant, gene symbol, gene id, reason it cannot be replayed or "")."""
    vd = gi.get("variantInterpretation", {}).get("variationDescriptor", {})
    gc = vd.get("geneContext", {})
    symbol, gid = gc.get("symbol", ""), gc.get("valueId", "")
    if vd.get("structuralType"):
        return None, symbol, gid, "structural variant"
    rec = vd.get("vcfRecord")
    if not rec:
        return None, symbol, gid, "no vcfRecord"
    if rec.get("genomeAssembly", "").lower() not in ("hg38", "grch38"):
        return None, symbol, gid, "not on GRCh38"
    chrom = rec["chrom"] if rec["chrom"].startswith("chr") else "chr" + rec["chrom"]
    if chrom == "chrMT" or chrom not in CHROM_ORDER or chrom == "chrM":
        return None, symbol, gid, "mitochondrial or unplaced"
    ref, alt = rec.get("ref", ""), rec.get("alt", "")
    if not re.fullmatch(r"[ACGTN]+", ref) or not re.fullmatch(r"[ACGTN]+", alt):
        return None, symbol, gid, "symbolic allele"
    exprs = {e.get("syntax"): e.get("value", "") for e in vd.get("expressions", [])}
    state = vd.get("allelicState", {}).get("label", "heterozygous")
    zyg = ZYGOSITY.get(state, "het")
    csq = consequence_from_hgvs(exprs.get("hgvs.c", ""), exprs.get("hgvs.p", ""), ref, alt)
    return (ReplayVariant(chrom, int(rec["pos"]), ref, alt, zyg, csq, exprs.get("hgvs.c", ""),
                          exprs.get("hgvs.p", "")), symbol, gid, "")


def load_cases(path: Path = CASES_PATH) -> tuple[list[ReplayCase], Counter]:
    """Every replayable case, in file order, and the count of cases left out by reason."""
    cases, left_out = [], Counter()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            pp = json.loads(line)
            dx = [i.get("diagnosis", {}) for i in pp.get("interpretations", [])]
            gis = [gi for d in dx for gi in d.get("genomicInterpretations", [])]
            if not gis:
                left_out["no causal variant"] += 1
                continue
            variants, genes, reason = [], set(), ""
            for gi in gis:
                v, sym, gid, why = _variant(gi)
                genes.add((sym, gid))
                reason = reason or why
                if v is not None and (v.chrom, v.pos, v.ref, v.alt) not in {
                        (w.chrom, w.pos, w.ref, w.alt) for w in variants}:
                    variants.append(v)
            if reason:
                left_out[reason] += 1
                continue
            if len({g for g, _ in genes}) != 1:
                left_out["causal variants in more than one gene"] += 1
                continue
            (symbol, gid), = genes
            disease = dx[0].get("disease", {})
            hp = [r for r in pp.get("metaData", {}).get("resources", []) if r.get("id") == "hp"]
            cases.append(ReplayCase(
                case_id=pp.get("id", ""), sex=pp.get("subject", {}).get("sex", "UNKNOWN_SEX"),
                gene_symbol=symbol, gene_id=gid, disease_id=disease.get("id", ""),
                disease_label=disease.get("label", ""),
                features=[{"type": f["type"], **({"excluded": True} if f.get("excluded") else {})}
                          for f in pp.get("phenotypicFeatures", []) if f.get("type", {}).get("id")],
                variants=variants, hpo_version=hp[0].get("version", "") if hp else "",
                meta=pp.get("metaData", {})))
    return cases, left_out


STRESS = {
    "two_terms": "2 observed terms, none excluded",
    "no_excluded": "all observed terms, none excluded",
}


def stressed(case: ReplayCase, kind: str) -> ReplayCase:
    """The case as a sparser clinic would send it: ``two_terms`` keeps its first two observed
    terms and no excluded one; ``no_excluded`` drops the excluded terms."""
    observed = [f for f in case.features if not f.get("excluded")]
    if kind == "two_terms":
        kept = observed[:2]
    elif kind == "no_excluded":
        kept = observed
    else:
        raise ValueError(f"unknown stress {kind!r}; expected one of {sorted(STRESS)}")
    return ReplayCase(**{**case.__dict__, "features": kept})


# --------------------------------------------------------------------------- the exome
@dataclass
class _Genome:
    layout: pl.DataFrame      # gene_symbol, ncbi_gene_id, chrom, start, end, chrom_idx
    arrays: dict
    disease_rows: np.ndarray  # layout rows of genes with an HPO disease annotation
    other_rows: np.ndarray
    row_of: dict[str, int]
    common: dict              # the shared pool of common sites


def _genome(rng: np.random.Generator, extra_genes: list[tuple[str, str]]) -> _Genome:
    cat = load_catalog()
    known = set(cat.genes["gene_symbol"].to_list())
    others = pl.DataFrame({
        "gene_symbol": [f"LOC9{k:06d}" for k in range(N_OTHER_GENES)],
        "ncbi_gene_id": [str(900_000_000 + k) for k in range(N_OTHER_GENES)],
        # about 4 % of protein-coding genes are on chrX
        "x_linked": [k % 25 == 0 for k in range(N_OTHER_GENES)],
    })
    extra = pl.DataFrame({"gene_symbol": [s for s, _ in extra_genes if s not in known],
                          "ncbi_gene_id": [g for s, g in extra_genes if s not in known],
                          "x_linked": [False] * sum(s not in known for s, _ in extra_genes)},
                         schema={"gene_symbol": pl.String, "ncbi_gene_id": pl.String,
                                 "x_linked": pl.Boolean}).unique("gene_symbol")
    genes = pl.concat([cat.genes.select("gene_symbol", "ncbi_gene_id", "x_linked"),
                       others, extra])
    layout = gene_layout(genes.with_columns(
        pl.col("ncbi_gene_id").str.replace(r"^\D+", "").cast(pl.Int64, strict=False)
        .fill_null(1).cast(pl.String)))
    arrays = {k: layout[k].to_numpy() for k in ("start", "end", "chrom_idx")}
    symbols = layout["gene_symbol"].to_list()
    row_of = {s: i for i, s in enumerate(symbols)}
    disease = np.array([row_of[s] for s in sorted(known)])
    other = np.array([row_of[s] for s in symbols if s not in known])
    # shared common sites: a cohort's common calls recur across its members
    afs = np.where(rng.random(COMMON_POOL) < 0.2, np.exp(rng.uniform(np.log(0.01), np.log(0.05),
                                                                     COMMON_POOL)),
                   rng.uniform(0.05, 0.6, COMMON_POOL))
    common = draw_sites(rng, arrays, COMMON_POOL, _COMMON_MIX, afs, kind=0)
    return _Genome(layout, arrays, disease, other, row_of, common)


def _rare_afs(rng: np.random.Generator, n: int, unseen: float = UNSEEN_SHARE) -> np.ndarray:
    af = np.exp(rng.uniform(np.log(1e-5), np.log(0.0099), n))
    af[rng.random(n) < unseen] = np.nan
    return af


def _rare_genes(rng: np.random.Generator, g: _Genome, n: int,
                disease_share: float = DISEASE_GENE_SHARE) -> np.ndarray:
    in_disease = rng.random(n) < disease_share
    w = (g.arrays["end"] - g.arrays["start"]).astype(float)
    out = np.empty(n, dtype=np.int64)
    for mask, rows in ((in_disease, g.disease_rows), (~in_disease, g.other_rows)):
        p = w[rows] / w[rows].sum()
        out[mask] = rows[rng.choice(len(rows), size=int(mask.sum()), p=p)]
    return out


def _exome_params(rng: np.random.Generator) -> dict:
    """Per-exome settings drawn around the stated means, so that a model cannot lean on one
    lab's exact background (capture kit, ancestry, consanguinity and annotation differ)."""
    return {"n_protein": RARE_PROTEIN_PER_EXOME * rng.uniform(0.6, 1.6),
            "unseen": rng.uniform(0.04, 0.25), "disease_share": rng.uniform(0.22, 0.4),
            "hom": rng.choice([0.005, HOM_SHARE, 0.06], p=[0.4, 0.45, 0.15])}


def _background(rng: np.random.Generator, g: _Genome, params: dict | None = None
                ) -> tuple[dict, np.ndarray]:
    """(site table, genotype codes) of one exome's background calls."""
    p = params or {"n_protein": RARE_PROTEIN_PER_EXOME, "unseen": UNSEEN_SHARE,
                   "disease_share": DISEASE_GENE_SHARE, "hom": HOM_SHARE}
    n_prot = int(rng.poisson(p["n_protein"]))
    n_lof = int(rng.binomial(n_prot, RARE_LOF_SHARE))
    n_other = int(rng.poisson(RARE_OTHER_PER_EXOME))
    parts = []
    for n, mix in ((n_lof, _LOF_MIX), (n_prot - n_lof, _NONLOF_MIX), (n_other, _OTHER_MIX)):
        parts.append(draw_sites(rng, g.arrays, n, mix, _rare_afs(rng, n, p["unseen"]), kind=1,
                                genes=_rare_genes(rng, g, n, p["disease_share"])))
    rare = concat(parts)
    rare_codes = np.where(rng.random(len(rare["pos"])) < p["hom"], 2, 1).astype(np.int8)
    p = g.common["af"]
    carried = rng.random(len(p)) < 1 - (1 - p) ** 2
    idx = np.flatnonzero(carried)
    if len(idx) > COMMON_PER_EXOME:
        idx = np.sort(rng.choice(idx, size=COMMON_PER_EXOME, replace=False))
    q = p[idx]
    common_codes = np.where(rng.random(len(idx)) < q * q / (1 - (1 - q) ** 2), 2, 1).astype(np.int8)
    return concat([take(g.common, idx), rare]), np.concatenate([common_codes, rare_codes])


def _trio_background(rng: np.random.Generator, g: _Genome, male_child: bool
                     ) -> tuple[dict, np.ndarray]:
    """(site table, codes n × 3 for child, father, mother): two parental exomes and the
    child's background inherited from them (``simulate.family.inherit``: Mendel, chrX too)."""
    from orchestration.simulate.family import inherit

    fs, fc = _background(rng, g, _exome_params(rng))
    ms, mc = _background(rng, g, _exome_params(rng))
    table = concat([fs, ms])
    nf, nm = len(fc), len(mc)
    father, mother = (np.arange(nf), fc), (nf + np.arange(nm), mc)
    child_idx, child_codes = inherit(rng, table["chrom_idx"], father, mother, male_child)
    codes = np.zeros((nf + nm, 3), dtype=np.int8)
    codes[child_idx, 0] = child_codes
    codes[:nf, 1], codes[nf:, 2] = fc, mc
    return table, codes


def _causal_in_parents(case: ReplayCase) -> np.ndarray:
    """Codes (n × 2: father, mother) of the causal variants in the parents: de novo for a
    single heterozygous variant, in trans for two, both carriers of a homozygote, a carrier
    mother of a hemizygous son."""
    n = len(case.variants)
    out = np.zeros((n, 2), dtype=np.int8)
    states = [v.zygosity for v in case.variants]
    if states == ["hom"]:
        out[:] = 1
    elif len(states) == 2:
        out[0, 0], out[1, 1] = 1, 1
    elif states == ["hemi"]:
        out[0, 1] = 1
    return out


def _causal_sites(rng: np.random.Generator, g: _Genome, case: ReplayCase) -> tuple[dict, np.ndarray]:
    n = len(case.variants)
    row = g.row_of[case.gene_symbol]
    csq = np.array([v.consequence for v in case.variants], dtype=object)
    missense = csq == "missense_variant"
    revel = np.full(n, np.nan)
    # pathogenic missense: REVEL skewed high, about a fifth below 0.5
    revel[missense] = rng.beta(3.2, 1.1, int(missense.sum()))
    snv = np.array([len(v.ref) == 1 == len(v.alt) for v in case.variants])
    lof = np.isin(csq, list(LOF_TERMS))
    cadd = np.where(missense, 10 + 20 * revel + rng.normal(0, 3, n),
                    np.where(lof, rng.normal(34, 5, n), rng.normal(22, 5, n)))
    cadd[~snv & (rng.random(n) < 0.4)] = np.nan
    recessive = case.inheritance == "recessive"
    af = np.full(n, np.nan)
    for i in range(n):
        u = rng.random()
        if recessive and u < 0.45:
            af[i] = np.exp(rng.uniform(np.log(1e-5), np.log(3e-3 if u > 0.05 else 1e-2)))
        elif not recessive and u < 0.12:
            af[i] = np.exp(rng.uniform(np.log(4e-6), np.log(5e-5)))
    maxaf = np.where(np.isnan(af), np.nan, np.clip(af * rng.uniform(1.0, 1.6, n), 0, 1))
    sites = {
        "chrom_idx": np.array([CHROM_ORDER[v.chrom] for v in case.variants]),
        "pos": np.array([v.pos for v in case.variants], dtype=np.int64),
        "ref": np.array([v.ref for v in case.variants], dtype=object),
        "alt": np.array([v.alt for v in case.variants], dtype=object),
        "gene": np.full(n, row), "consequence": csq, "af": af, "gnomade": af.copy(),
        "gnomadg": af.copy(), "maxaf": maxaf, "revel": revel, "cadd": np.clip(cadd, 0, 60),
        "second": np.full(n, "", dtype=object), "kind": np.full(n, 2, dtype=np.int8),
    }
    codes = np.array([1 if v.zygosity == "het" else 2 for v in case.variants], dtype=np.int8)
    return sites, codes


def _sorted_unique(sites: dict, codes: np.ndarray) -> tuple[dict, np.ndarray]:
    """Sites by chrom/pos with causal sites winning a position clash. ``codes`` is one column
    per sample (or a vector for one); a position listed twice (a common site both parents
    carry) keeps one row whose codes add up, capped at homozygous."""
    order = np.lexsort((-sites["kind"].astype(np.int16), sites["pos"], sites["chrom_idx"]))
    c, p = sites["chrom_idx"][order], sites["pos"][order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (c[1:] != c[:-1]) | (p[1:] != p[:-1])
    group = np.cumsum(first) - 1
    matrix = codes[order].reshape(len(order), -1).astype(np.int16)
    merged = np.zeros((int(first.sum()), matrix.shape[1]), dtype=np.int16)
    np.add.at(merged, group, matrix)
    merged = np.minimum(merged, 2).astype(np.int8)
    return take(sites, order[first]), merged.reshape(-1) if codes.ndim == 1 else merged


def _with_hgvs(strings: pl.DataFrame, sites: dict, case: ReplayCase, layout_k: int) -> pl.DataFrame:
    """Put the published HGVS of the causal variants into their CSQ entries."""
    fields = CSQ_LAYOUTS[layout_k]
    ic, ip = fields.index("HGVSc"), fields.index("HGVSp")
    by_key = {(CHROM_ORDER[v.chrom], v.pos): v for v in case.variants}
    col = strings[f"csq{layout_k}"].to_list()
    for i in np.flatnonzero(sites["kind"] == 2):
        v = by_key.get((int(sites["chrom_idx"][i]), int(sites["pos"][i])))
        if v is None:
            continue
        entries = []
        for entry in col[i].split(","):
            parts = entry.split("|")
            parts[ic], parts[ip] = (v.hgvs_c.replace(",", "%2C").replace("|", "%7C"),
                                    v.hgvs_p.replace(",", "%2C").replace("|", "%7C"))
            entries.append("|".join(parts))
        col[i] = ",".join(entries)
    return strings.with_columns(pl.Series(f"csq{layout_k}", col))


def _phenopacket(case: ReplayCase, pid: str, solved: bool) -> dict:
    pp: dict = {
        "id": f"{pid}-pp",
        "subject": {"id": pid, "sex": case.sex},
        "phenotypicFeatures": case.features,
        "metaData": {"created": case.meta.get("created", "2024-01-01T00:00:00Z"),
                     "createdBy": "orphanlake replay of phenopacket-store",
                     "resources": case.meta.get("resources", []),
                     "phenopacketSchemaVersion": "2.0"},
    }
    if solved:
        gis = [{
            "subjectOrBiosampleId": pid,
            "interpretationStatus": "CAUSATIVE",
            "variantInterpretation": {"variationDescriptor": {
                "id": f"{pid}-var{k + 1}",
                "geneContext": {"valueId": case.gene_id or f"SYMBOL:{case.gene_symbol}",
                                "symbol": case.gene_symbol},
                "vcfRecord": {"genomeAssembly": "GRCh38", "chrom": v.chrom, "pos": str(v.pos),
                              "ref": v.ref, "alt": v.alt},
                "moleculeContext": "genomic",
                "allelicState": {"id": {"het": "GENO:0000135", "hom": "GENO:0000136",
                                        "hemi": "GENO:0000134"}[v.zygosity],
                                 "label": {"het": "heterozygous", "hom": "homozygous",
                                           "hemi": "hemizygous"}[v.zygosity]}}},
        } for k, v in enumerate(case.variants)]
        disease = {"id": case.disease_id, "label": case.disease_label}
        pp["diseases"] = [{"term": disease}]
        pp["interpretations"] = [{"id": f"{pid}-interpretation", "progressStatus": "SOLVED",
                                  "diagnosis": {"disease": disease,
                                                "genomicInterpretations": gis}}]
    return pp


def replay_batch(home: Path, cases: list[ReplayCase], seed: int = 0, batch_id: str = "replay",
                 solved: bool = True, id_prefix: str = "RC", chunk: int = 400,
                 trio_share: float = TRIO_SHARE) -> dict:
    """Write ``cases`` as one landing batch (a VCF and a phenopacket each) plus its truth.

    Patients get pseudonymous ids ``<id_prefix>-<5 digits>``; the published case id, gene,
    disease and causal variants go to ``truth/<batch_id>/truth.tsv`` only. ``solved`` writes
    the diagnosis into the phenopacket (a training lake); without it the lake must find it.
    Exomes are rendered ``chunk`` cases at a time (one vectorised annotation pass each).
    ``trio_share`` of the dominant and recessive cases are written as trios: a 3-sample VCF
    (proband, father ``<id>-F``, mother ``<id>-M``, unaffected) and lines of ``<batch>.ped``.
    """
    paths = LakePaths(Path(home))
    dirs = {d: paths.landing_domain(d) / batch_id for d in ("genomic", "clinical")}
    dirs["truth"] = paths.truth / batch_id
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 7])
    g = _genome(rng, sorted({(c.gene_symbol, c.gene_id.split(":")[-1]) for c in cases}))
    truth, n_background, ped = [], [], []
    # which cases become trios: a share of those whose genotype says dominant or recessive
    trio_draw = [case.inheritance in ("dominant", "recessive") and rng.random() < trio_share
                 for case in cases]
    for lo in range(0, len(cases), chunk):
        exomes = []
        for k in range(lo, min(lo + chunk, len(cases))):
            case = cases[k]
            cs, c_codes = _causal_sites(rng, g, case)
            if trio_draw[k]:
                bg, bg_codes = _trio_background(rng, g, case.sex == "MALE")
                c_codes = np.column_stack([c_codes, _causal_in_parents(case)])
            else:
                bg, bg_codes = _background(rng, g, _exome_params(rng))
            sites, codes = _sorted_unique(concat([cs, bg]), np.concatenate([c_codes, bg_codes]))
            exomes.append((k, sites, codes))
            n_background.append(int((bg_codes if bg_codes.ndim == 1 else bg_codes[:, 0]).astype(bool).sum()))
        # one annotation pass for the whole chunk, then each exome's rows
        strings = site_strings(concat([s for _, s, _ in exomes]), g.layout, rng)
        start = 0
        for k, sites, codes in exomes:
            case, pid = cases[k], f"{id_prefix}-{k + 1:05d}"
            rows = strings.slice(start, len(codes))
            start += len(codes)
            layout_k = int(rng.integers(len(CSQ_LAYOUTS)))
            rows = _with_hgvs(rows, sites, case, layout_k)
            trio = codes.ndim == 2
            samples = [pid, f"{pid}-F", f"{pid}-M"] if trio else [pid]
            matrix = codes if trio else codes[:, None]
            keep = matrix.any(axis=1)  # a parent's private site the child did not inherit stays
            text = (header(samples, layout_k)
                    + body(rows, np.flatnonzero(keep), matrix[keep], layout_k, rng,
                           (case.sex == "MALE", True, False)[:len(samples)],
                           (sites["kind"] == 2)[keep]))
            name = f"{pid}_trio.vcf.gz" if trio else f"{pid}.vcf.gz"
            (dirs["genomic"] / name).write_bytes(bgzf(text.encode()))
            if trio:
                sex = {"MALE": "1", "FEMALE": "2"}.get(case.sex, "0")
                ped += [f"FAM-{pid}\t{pid}\t{pid}-F\t{pid}-M\t{sex}\t2",
                        f"FAM-{pid}\t{pid}-F\t0\t0\t1\t1", f"FAM-{pid}\t{pid}-M\t0\t0\t2\t1"]
            (dirs["clinical"] / f"{pid}.json").write_text(
                json.dumps(_phenopacket(case, pid, solved), indent=1) + "\n", encoding="utf-8")
            truth.append({**_truth_row(case, pid, solved), "is_trio": trio})
    if ped:
        (dirs["genomic"] / f"{batch_id}.ped").write_text(
            "#family\tindividual\tfather\tmother\tsex\tphenotype\n" + "\n".join(ped) + "\n")
    truth_path = dirs["truth"] / "truth.tsv"
    pl.DataFrame(truth).write_csv(truth_path, separator="\t")
    return {"batch_id": batch_id, "n_cases": len(cases), "truth_path": str(truth_path),
            "n_trios": int(sum(trio_draw)),
            "background_calls_per_exome": float(np.mean(n_background)) if n_background else 0.0}


def _truth_row(case: ReplayCase, pid: str, solved: bool) -> dict:
    return {
        "patient_id": pid, "case_id": case.case_id, "gene_symbol": case.gene_symbol,
        "disease_id": case.disease_id, "inheritance": case.inheritance,
        "consequence_class": case.consequence_class,
        "causal_consequences": ";".join(v.consequence for v in case.variants),
        "causal_variants": ";".join(f"{v.chrom}:{v.pos}:{v.ref}:{v.alt}" for v in case.variants),
        "n_observed_terms": case.n_observed, "n_excluded_terms": case.n_excluded,
        "sex": case.sex, "is_solved": solved,
    }


def rare_background_counts(seed: int = 0, n: int = 200) -> dict:
    """Measured per-exome counts of what ``replay_batch`` simulates for a singleton, with the
    per-exome settings drawn as it draws them (mean over ``n`` exomes)."""
    rng = np.random.default_rng([seed, 7])
    g = _genome(rng, [])
    rows = []
    for _ in range(n):
        sites, codes = _background(rng, g, _exome_params(rng))
        top = np.array([c.split("&")[0] for c in sites["consequence"]])
        af = np.nan_to_num(sites["af"], nan=0.0)
        rare = af < 0.01
        prot = np.isin(top, list(_LOF_MIX) + list(_NONLOF_MIX))
        rows.append({"calls": len(codes), "rare_protein_altering": int((rare & prot).sum()),
                     "rare_lof": int((rare & np.isin(top, list(_LOF_MIX))).sum()),
                     "rare_in_disease_genes": int((rare & prot & np.isin(
                         sites["gene"], g.disease_rows)).sum())})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

