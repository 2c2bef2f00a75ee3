"""The precomputed HPO index behind the phenotype scorer: term closure, information
content and gene/disease annotation matrices, as sparse arrays that save to one .npz.

Gene annotations and the information content follow pyhpo 4.0 exactly (``kind="gene"``
and ``kind="omim"``), so similarity scores computed on this index equal pyhpo's:

* a gene is every (ncbi id, symbol) in ``genes_to_phenotype.txt``, identified by symbol
  first and NCBI id second, as pyhpo's ``Gene`` registry does; its terms are *all* rows
  of the file (inheritance and onset terms included, not only phenotypic abnormalities);
* IC(t) = -ln(#genes annotated to t or a descendant / #genes); 0 for unannotated terms;
* the OMIM IC counts every OMIM disease in ``phenotype.hpoa`` in the denominator and its
  non-NOT annotations of any aspect in the numerator.

Disease term sets for disease-level scoring are the phenotype (aspect P) annotations of
``load_disease_annotations``; gene ↔ disease links come from ``load_gene_diseases``. Each
disease annotation keeps its annotated frequency (``disease_freq``, NaN where phenotype.hpoa
gives none) for the likelihood-ratio scorer of ``models.phenotype_lr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from orchestration.reference.hpo import (
    load_disease_annotations,
    load_gene_diseases,
    load_ontology,
    read_hpoa,
)
from orchestration.settings import hpo_release_dir

FORMAT_VERSION = 2  # 2: disease annotation frequencies (disease_freq)
INDEX_FILENAME = "phenotype_index.npz"


def _bool_csr(rows: list[list[int]], n_cols: int) -> sp.csr_array:
    uniq = [np.unique(np.asarray(r, dtype=np.int32)) for r in rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in uniq])
    indices = np.concatenate(uniq) if uniq else np.zeros(0, dtype=np.int32)
    return sp.csr_array((np.ones(len(indices), dtype=bool), indices, indptr),
                        shape=(len(rows), n_cols))


def _closure(direct: sp.csr_array, anc: sp.csr_array) -> sp.csc_array:
    """Entity x term matrix: True where the entity is annotated to the term or below."""
    prod = direct.astype(np.int32) @ anc.astype(np.int32)
    prod.data = prod.data > 0
    return sp.csc_array(prod.astype(bool))


def _ic(closure: sp.csc_array, n_total: int) -> np.ndarray:
    counts = np.diff(closure.indptr).astype(np.float64)
    ic = np.zeros(closure.shape[1], dtype=np.float64)
    hit = counts > 0
    if n_total:
        ic[hit] = -np.log(counts[hit] / n_total)
    return ic


@dataclass
class PhenotypeIndex:
    """Terms, IC and annotation matrices; build once, then score patients in milliseconds."""

    terms: list[str]
    anc: sp.csr_array                 # term x term, row t = is_a ancestors of t incl. t
    ic: dict[str, np.ndarray]         # kind ("gene", "omim", ...) -> IC per term
    genes: list[str]
    gene_terms: sp.csr_array          # gene x term, direct annotations
    diseases: list[str]
    disease_terms: sp.csr_array       # disease x term, direct annotations
    gene_diseases: sp.csr_array       # gene x disease links
    version: str = ""
    # annotated frequency of each disease_terms entry (its .indices order), NaN when unknown;
    # None: no frequencies known (every annotation then counts as unknown)
    disease_freq: np.ndarray | None = None
    term_pos: dict[str, int] = field(init=False, repr=False)
    anc_csc: sp.csc_array = field(init=False, repr=False)
    gene_closure: sp.csc_array = field(init=False, repr=False)
    disease_closure: sp.csc_array = field(init=False, repr=False)
    gene_rows: np.ndarray = field(init=False, repr=False)     # row id of each gene_terms entry
    disease_rows: np.ndarray = field(init=False, repr=False)  # same for disease_terms

    def __post_init__(self) -> None:
        self.term_pos = {t: i for i, t in enumerate(self.terms)}
        self.anc = sp.csr_array(self.anc, dtype=bool)
        if self.disease_freq is None:
            self.disease_freq = np.full(self.disease_terms.nnz, np.nan)
        self.disease_freq = np.asarray(self.disease_freq, dtype=np.float64)
        if len(self.disease_freq) != self.disease_terms.nnz:
            raise ValueError(f"disease_freq has {len(self.disease_freq)} values for "
                             f"{self.disease_terms.nnz} disease annotations")
        self.anc.sort_indices()
        self.anc_csc = sp.csc_array(self.anc)
        self.gene_closure = _closure(self.gene_terms, self.anc)
        self.disease_closure = _closure(self.disease_terms, self.anc)
        self.gene_rows = np.repeat(np.arange(self.gene_terms.shape[0]),
                                   np.diff(self.gene_terms.indptr))
        self.disease_rows = np.repeat(np.arange(self.disease_terms.shape[0]),
                                      np.diff(self.disease_terms.indptr))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_annotations(
        cls,
        ancestors: Mapping[str, Iterable[str]],
        gene_terms: Mapping[str, Iterable[str]],
        disease_terms: Mapping[str, Iterable[str]] | None = None,
        gene_diseases: Mapping[str, Iterable[str]] | None = None,
        *,
        extra_ic: Mapping[str, Mapping[str, float]] | None = None,
        disease_frequencies: Mapping[str, Mapping[str, float]] | None = None,
        version: str = "",
    ) -> "PhenotypeIndex":
        """Build from plain mappings: term → ancestors (is_a closure incl. itself),
        gene → terms, disease → terms, gene → diseases. The "gene" IC is computed from
        ``gene_terms`` over all its genes, the "disease" IC from ``disease_terms``;
        ``extra_ic`` adds further kinds as term → IC (missing terms get 0);
        ``disease_frequencies`` gives disease → term → annotated frequency (0..1; absent or
        None: unknown). Terms outside ``ancestors`` and diseases without terms are dropped."""
        terms = sorted(ancestors)
        pos = {t: i for i, t in enumerate(terms)}
        anc = _bool_csr([[pos[a] for a in ancestors[t] if a in pos] + [pos[t]] for t in terms],
                        len(terms))

        genes = sorted(gene_terms)
        g_rows = [[pos[t] for t in gene_terms[g] if t in pos] for g in genes]
        disease_terms = disease_terms or {}
        d_rows_all = {d: [pos[t] for t in ts if t in pos] for d, ts in disease_terms.items()}
        diseases = sorted(d for d, r in d_rows_all.items() if r)
        d_pos = {d: i for i, d in enumerate(diseases)}
        gd = gene_diseases or {}
        gd_rows = [[d_pos[d] for d in gd.get(g, ()) if d in d_pos] for g in genes]

        g_mat = _bool_csr(g_rows, len(terms))
        d_mat = _bool_csr([d_rows_all[d] for d in diseases], len(terms))
        anc_csr = anc
        ic = {
            "gene": _ic(_closure(g_mat, anc_csr), len(genes)),
            "disease": _ic(_closure(d_mat, anc_csr), len(diseases)),
        }
        for kind, values in (extra_ic or {}).items():
            ic[kind] = np.array([float(values.get(t, 0.0)) for t in terms])
        freqs = disease_frequencies or {}
        d_freq = np.full(d_mat.nnz, np.nan)
        for r, d in enumerate(diseases):
            known = freqs.get(d) or {}
            for j in range(d_mat.indptr[r], d_mat.indptr[r + 1]):
                f = known.get(terms[d_mat.indices[j]])
                if f is not None:
                    d_freq[j] = float(f)
        return cls(terms=terms, anc=anc_csr, ic=ic, genes=genes, gene_terms=g_mat,
                   diseases=diseases, disease_terms=d_mat,
                   gene_diseases=_bool_csr(gd_rows, len(diseases)), version=version,
                   disease_freq=d_freq)

    @classmethod
    def build(cls, release_dir: str | None = None) -> "PhenotypeIndex":
        """Build the index from an HPO release folder (default: ``hpo_release_dir()``)."""
        folder = Path(release_dir) if release_dir else hpo_release_dir()
        key = str(folder) if release_dir else None
        onto = load_ontology(key)

        def live(hpo_id: str) -> str | None:
            return onto.resolve(hpo_id)[0]

        gene_terms = _pyhpo_gene_terms(folder / "genes_to_phenotype.txt", live)
        ann = load_disease_annotations(key)
        disease_terms: dict[str, set[str]] = {}
        disease_freqs: dict[str, dict[str, float]] = {}
        for d, t, f in ann.select("disease_id", "hpo_id", "frequency").iter_rows():
            r = live(t)
            if r is not None:
                disease_terms.setdefault(d, set()).add(r)
                if f is not None:
                    # several rows (sex, onset, sources) or an alt id and its primary: the
                    # largest stated frequency, as LIRICAL's propagation takes the maximum
                    known = disease_freqs.setdefault(d, {})
                    known[r] = max(f, known.get(r, 0.0))
        links = load_gene_diseases(key)
        gene_diseases: dict[str, set[str]] = {}
        for g, d in links.select("gene_symbol", "disease_id").iter_rows():
            gene_diseases.setdefault(g, set()).add(d)

        omim_total, omim_terms = _omim_annotations(folder / "phenotype.hpoa", live)
        index = cls.from_annotations(onto.ancestors, gene_terms, disease_terms, gene_diseases,
                                     disease_frequencies=disease_freqs, version=onto.version)
        om = _bool_csr([[index.term_pos[t] for t in ts] for ts in omim_terms.values()],
                       len(index.terms))
        index.ic["omim"] = _ic(_closure(om, index.anc), omim_total)
        return index

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` (a .npz file, or a folder that gets phenotype_index.npz)."""
        target = _npz_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION),
            "version": np.array(self.version),
            "terms": np.array(self.terms, dtype=str),
            "genes": np.array(self.genes, dtype=str),
            "diseases": np.array(self.diseases, dtype=str),
            "ic_kinds": np.array(sorted(self.ic), dtype=str),
        }
        for kind, values in self.ic.items():
            arrays[f"ic__{kind}"] = values
        arrays["disease_terms__freq"] = self.disease_freq
        for name in ("anc", "gene_terms", "disease_terms", "gene_diseases"):
            m: sp.csr_array = getattr(self, name)
            arrays[f"{name}__indices"] = m.indices
            arrays[f"{name}__indptr"] = m.indptr
            arrays[f"{name}__shape"] = np.array(m.shape)
        tmp = target.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> "PhenotypeIndex":
        """Read an index written by ``save``."""
        target = _npz_path(path)
        with np.load(target, allow_pickle=False) as z:
            if int(z["format_version"]) != FORMAT_VERSION:
                raise ValueError(f"{target}: phenotype index format {int(z['format_version'])},"
                                 f" this code reads {FORMAT_VERSION}; rebuild it")

            def mat(name: str) -> sp.csr_array:
                idx = z[f"{name}__indices"]
                return sp.csr_array((np.ones(len(idx), dtype=bool), idx, z[f"{name}__indptr"]),
                                    shape=tuple(z[f"{name}__shape"]))

            return cls(terms=z["terms"].tolist(), anc=mat("anc"),
                       ic={k: z[f"ic__{k}"] for k in z["ic_kinds"].tolist()},
                       genes=z["genes"].tolist(), gene_terms=mat("gene_terms"),
                       diseases=z["diseases"].tolist(), disease_terms=mat("disease_terms"),
                       gene_diseases=mat("gene_diseases"), version=str(z["version"]),
                       disease_freq=z["disease_terms__freq"])

    # ------------------------------------------------------------------ lookups
    def split_known(self, hpo_ids: Iterable[str]) -> tuple[list[int], list[str]]:
        """Term positions of the ids in the index (de-duplicated, first-seen order) and the
        ids that are not in it."""
        known: dict[int, None] = {}
        unknown: list[str] = []
        for t in hpo_ids:
            i = self.term_pos.get(t)
            if i is None:
                unknown.append(t)
            else:
                known.setdefault(i, None)
        return list(known), unknown


def _npz_path(path: str | Path) -> Path:
    p = Path(path)
    return p if p.suffix == ".npz" else p / INDEX_FILENAME


def _pyhpo_gene_terms(path: Path, live) -> dict[str, set[str]]:
    """Gene → terms from genes_to_phenotype.txt with pyhpo 4.0's gene identity rules."""
    raw = pl.read_csv(path, separator="\t", infer_schema=False, quote_char=None,
                      columns=["ncbi_gene_id", "gene_symbol", "hpo_id"])
    by_symbol: dict[str, str] = {}
    by_id: dict[str, str] = {}
    terms: dict[str, set[str]] = {}
    for pair, sub in raw.group_by(["ncbi_gene_id", "gene_symbol"], maintain_order=True):
        ncbi, symbol = pair
        # pyhpo names symbol-less genes "Gene <id>"; a CURIE is a clearer stand-in
        name = f"NCBIGene:{ncbi}" if symbol == "-" else symbol
        gene = by_symbol.get(name) or by_id.get(ncbi)
        if gene is None:
            gene = name
            by_id[ncbi] = gene
            by_symbol[name] = gene
        bucket = terms.setdefault(gene, set())
        for t in sub["hpo_id"].unique().to_list():
            r = live(t)
            if r is not None:
                bucket.add(r)
    return terms


def _omim_annotations(path: Path, live) -> tuple[int, dict[str, set[str]]]:
    """All OMIM diseases in phenotype.hpoa (pyhpo's denominator) and their non-NOT terms."""
    raw = read_hpoa(path, columns=["database_id", "qualifier", "hpo_id"])
    omim = raw.filter(pl.col("database_id").str.starts_with("OMIM:"))
    total = omim["database_id"].n_unique()
    out: dict[str, set[str]] = {}
    for d, t in omim.filter(pl.col("qualifier").fill_null("") == "").select(
            "database_id", "hpo_id").unique().iter_rows():
        r = live(t)
        if r is not None:
            out.setdefault(d, set()).add(r)
    return total, out
