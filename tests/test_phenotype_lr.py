"""LIRICAL-style likelihood ratios: hand-computed values on a tiny ontology with annotation
frequencies, disease sources, genes without a disease, and the phenotype_evidence columns."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from models.hpo_index import PhenotypeIndex
from models.phenotype import score_patient, score_patients
from models.phenotype_lr import (
    LRParams,
    LRTables,
    disease_log10_lr,
    gene_log10_lr,
    gene_posterior,
)

# R ─┬─ A ─┬─ A1 ── A3
#    │     └─ A2
#    └─ B ─── B1
ANC = {"R": {"R"}, "A": {"A", "R"}, "B": {"B", "R"}, "A1": {"A1", "A", "R"},
       "A2": {"A2", "A", "R"}, "B1": {"B1", "B", "R"}, "A3": {"A3", "A1", "A", "R"}}
DISEASES = {"OMIM:1": ["A1", "B1"], "OMIM:2": ["A2"], "ORPHA:3": ["B1"]}
FREQS = {"OMIM:1": {"A1": 0.5}, "ORPHA:3": {"B1": 0.2}}   # OMIM:1/B1, OMIM:2/A2: unknown
GENES = {"G1": ["A1", "B1"], "G2": ["A2", "B1"], "G3": ["A2"]}
GENE_DISEASES = {"G1": ["OMIM:1"], "G2": ["OMIM:2", "ORPHA:3"]}  # G3: no disease
L = math.log10
# LIRICAL's rules with a 0.5 partial-match discount; each test varies what it checks
BASE = LRParams(default_freq=1.0, partial=0.5, no_match=0.01, excluded_floor=0.01,
                size_penalty=0.0)


@pytest.fixture(scope="module")
def index() -> PhenotypeIndex:
    return PhenotypeIndex.from_annotations(ANC, GENES, DISEASES, GENE_DISEASES,
                                           disease_frequencies=FREQS)


@pytest.fixture(scope="module")
def tables(index) -> LRTables:
    return LRTables(index, default_freq=1.0)


def _pos(index, terms):
    return index.split_known(terms)[0]


def _by_id(index, values):
    return dict(zip(index.diseases, values.tolist()))


def test_background_is_mean_propagated_frequency(index, tables):
    # F: OMIM:1 {A1 .5, A .5, B1 1, B 1, R 1}; OMIM:2 {A2 1, A 1, R 1}; ORPHA:3 {B1 .2, B .2, R .2}
    bg = dict(zip(index.terms, tables.background.tolist()))
    assert bg["A1"] == pytest.approx(0.5 / 3)
    assert bg["A"] == pytest.approx(1.5 / 3)
    assert bg["B1"] == pytest.approx(1.2 / 3)
    assert bg["R"] == pytest.approx(2.2 / 3)
    assert bg["A3"] == pytest.approx(1e-4)      # never annotated: LIRICAL's floor


def test_exact_partial_and_no_match(index, tables):
    p = BASE
    lr = _by_id(index, disease_log10_lr(tables, _pos(index, ["A1"]), [], p))
    assert lr["OMIM:1"] == pytest.approx(L(0.5 / (0.5 / 3)))        # exact: F / P = 3
    assert lr["OMIM:2"] == pytest.approx(L(0.5 * 1.0 / 0.5))        # shared ancestor A
    assert lr["ORPHA:3"] == pytest.approx(L(0.01))                  # only the root shared
    # a term below a disease term borrows that term's LR, discounted
    lr = _by_id(index, disease_log10_lr(tables, _pos(index, ["A3"]), [], p))
    assert lr["OMIM:1"] == pytest.approx(L(0.5 * 3.0))
    # a term above a disease term is an exact match through propagation
    lr = _by_id(index, disease_log10_lr(tables, _pos(index, ["A"]), [], p))
    assert lr["OMIM:2"] == pytest.approx(L(1.0 / 0.5))


def test_excluded_terms(index, tables):
    p = BASE
    lr = _by_id(index, disease_log10_lr(tables, [], _pos(index, ["B1"]), p))
    assert lr["OMIM:1"] == pytest.approx(L(0.01 / 0.6))   # has B1 at 100%: 1-F floored
    assert lr["OMIM:2"] == pytest.approx(L(1 / 0.6))      # lacks B1: 1 / (1 - P)
    assert lr["ORPHA:3"] == pytest.approx(L(0.8 / 0.6))


def test_composite_is_a_sum_and_genes_take_their_best_disease(index, tables):
    p = BASE
    both = disease_log10_lr(tables, _pos(index, ["A1", "B1"]), _pos(index, ["A2"]), p)
    parts = (disease_log10_lr(tables, _pos(index, ["A1"]), [], p)
             + disease_log10_lr(tables, _pos(index, ["B1"]), [], p)
             + disease_log10_lr(tables, [], _pos(index, ["A2"]), p))
    np.testing.assert_allclose(both, parts)
    val, col, dis = gene_log10_lr(tables, _pos(index, ["B1"]), [], p)
    g = dict(zip(index.genes, zip(val.tolist(), col.tolist())))
    d = _by_id(index, dis)
    assert g["G1"] == (pytest.approx(d["OMIM:1"]), index.diseases.index("OMIM:1"))
    assert g["G2"][0] == pytest.approx(max(d["OMIM:2"], d["ORPHA:3"]))
    # G3 has no disease: its own annotation A2 at default_freq, R shared only -> no match
    assert g["G3"] == (pytest.approx(L(0.01)), -1)


def test_sources_restrict_diseases_and_background(index):
    omim = LRTables(index, 1.0, sources=("OMIM",))
    bg = dict(zip(index.terms, omim.background.tolist()))
    assert bg["B1"] == pytest.approx(1.0 / 2)
    val, col, _ = gene_log10_lr(omim, _pos(index, ["B1"]), [], BASE)
    g = dict(zip(index.genes, col.tolist()))
    assert index.diseases[g["G2"]] == "OMIM:2"          # ORPHA:3 no longer linked


def test_default_frequency_applies_to_unstated_annotations(index):
    half = LRTables(index, default_freq=0.5)
    lr = _by_id(index, disease_log10_lr(half, _pos(index, ["A2"]), [], BASE))
    # OMIM:2/A2 states no frequency: 0.5; background of A2 = 0.5 / 3
    assert lr["OMIM:2"] == pytest.approx(L(0.5 / (0.5 / 3)))


def test_excluded_floor_and_size_penalty(index, tables):
    lr = _by_id(index, disease_log10_lr(tables, [], _pos(index, ["B1"]),
                                        replace(BASE, excluded_floor=0.3)))
    assert lr["OMIM:1"] == pytest.approx(L(0.3 / 0.6))
    assert lr["ORPHA:3"] == pytest.approx(L(0.8 / 0.6))    # 1 - F above the floor: unchanged
    plain = disease_log10_lr(tables, _pos(index, ["A1"]), [], BASE)
    occam = disease_log10_lr(tables, _pos(index, ["A1"]), [], replace(BASE, size_penalty=2.0))
    # OMIM:1 has 2 annotations, the others 1: log10(1 + n) each, times the penalty
    np.testing.assert_allclose(plain - occam, [2 * L(3), 2 * L(2), 2 * L(2)])


def test_posterior_is_a_softmax_over_genes():
    post = gene_posterior(np.array([2.0, 1.0, 1.0]))
    assert post.sum() == pytest.approx(1.0)
    assert post[0] / post[1] == pytest.approx(10.0)


def test_frequencies_survive_save_and_load(index, tmp_path):
    back = PhenotypeIndex.load(index.save(tmp_path / "i"))
    np.testing.assert_array_equal(np.isnan(back.disease_freq), np.isnan(index.disease_freq))
    np.testing.assert_allclose(np.nan_to_num(back.disease_freq), np.nan_to_num(index.disease_freq))


def test_evidence_columns(index, tables):
    frame = score_patient(index, ["A1"], ["B1"])
    val, col, _ = gene_log10_lr(LRTables(index), _pos(index, ["A1"]), _pos(index, ["B1"]))
    got = dict(zip(frame["gene_symbol"], frame["pheno_lr_log10"]))
    assert got == pytest.approx(dict(zip(index.genes, val.tolist())))
    ids = dict(zip(frame["gene_symbol"], frame["pheno_lr_disease_id"]))
    assert ids["G1"] == "OMIM:1" and ids["G3"] is None
    assert frame["pheno_lr_post"].sum() == pytest.approx(1.0)
    # no usable term: every gene gets LR 1 (log 0) and the same posterior
    empty = score_patient(index, ["HP:9999999"], [])
    assert empty["pheno_lr_log10"].to_list() == [0.0] * len(index.genes)
    many = score_patients(index, pl.DataFrame({"patient_id": ["p", "q"], "hpo_id": ["A1", "A2"],
                                               "excluded": [False, False]}))
    assert many.filter(pl.col("patient_id") == "p").drop("patient_id").equals(
        score_patient(index, ["A1"], []))
