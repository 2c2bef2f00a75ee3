"""Pedigrees in: PED files and Family phenopackets, and every family fault reported at the
smallest granularity (one line, one parent link, one individual) with the rest kept."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from orchestration.ingest.pedigree import parse_ped, parse_ped_text
from orchestration.ingest.phenopackets import parse_phenopacket
from orchestration.ingest.quarantine import FileRejected
from orchestration.ingest.runner import ingest_genomic
from orchestration.settings import LakePaths
from orchestration.simulate.family import causal_in_parents, inherit
from orchestration.simulate.population import CHRX
from tests.test_ingest_phenopackets import packet

GOOD = """#family individual father mother sex phenotype
F1 kid dad mom 1 2
F1 dad 0 0 1 1
F1 mom 0 0 2 1
"""


def _by_id(persons):
    return {p.individual_id: p for p in persons}


def _reasons(records):
    return [f"{r.locator}: {r.reason}" for r in records]


def test_a_good_ped_gives_one_row_per_individual_and_no_report():
    persons, quarantine = parse_ped_text(GOOD)
    assert quarantine == []
    kid = _by_id(persons)["kid"]
    assert (kid.family_id, kid.father_id, kid.mother_id, kid.sex, kid.affected, kid.where) == \
        ("F1", "dad", "mom", "MALE", True, "line 2")
    assert _by_id(persons)["dad"].father_id is None and _by_id(persons)["mom"].affected is False


@pytest.mark.parametrize("text, locator, words, check", [
    # a line without 6 columns: only that line is dropped
    (GOOD + "F1 extra 0 0 1\n", "line 5", "5 columns", lambda p: "extra" not in p),
    # two fathers: the father link is dropped, the mother kept
    (GOOD + "F1 kid dad2 mom 1 2\n", "line 2", "two fathers: line 2 says 'dad', line 5 says 'dad2'",
     lambda p: p["kid"].father_id is None and p["kid"].mother_id == "mom"),
    # a father who is female: that link only
    (GOOD.replace("F1 dad 0 0 1 1", "F1 dad 0 0 2 1"), "line 2", "'dad', is female (line 3)",
     lambda p: p["kid"].father_id is None and p["kid"].mother_id == "mom"),
    # a cycle: the links on it are dropped
    (GOOD.replace("F1 dad 0 0 1 1", "F1 dad kid 0 1 1"), "line", "pedigree cycle in family 'F1'",
     lambda p: p["kid"].father_id is None and p["dad"].father_id is None),
    # an affected parent is kept (the downstream model will not use them as unaffected)
    (GOOD.replace("F1 mom 0 0 2 1", "F1 mom 0 0 2 2"), "line 4", "is affected: kept",
     lambda p: p["kid"].mother_id == "mom" and p["mom"].affected is True),
    # an id failing the id rule: that line
    (GOOD + "F1 \u202ex 0 0 1 1\n", "line 5", "individual id", lambda p: len(p) == 3),
    # a parent named as themselves
    (GOOD + "F1 self self 0 1 1\n", "line 5", "their own parent", lambda p: "self" not in p),
])
def test_each_ped_fault_is_reported_where_it_is_and_the_rest_kept(text, locator, words, check):
    persons, quarantine = parse_ped_text(text)
    hits = [r for r in _reasons(quarantine) if words in r]
    assert hits, _reasons(quarantine)
    assert hits[0].startswith(locator)
    assert check(_by_id(persons))


def test_a_ped_that_is_not_one_is_refused_as_a_file(tmp_path):
    empty = tmp_path / "empty.ped"
    empty.write_text("# nothing\n\n")
    with pytest.raises(FileRejected, match="no pedigree lines"):
        parse_ped(empty)
    binary = tmp_path / "bin.ped"
    binary.write_bytes(b"F1 \xff 0 0 1 1\n")
    with pytest.raises(FileRejected, match="not UTF-8"):
        parse_ped(binary)


def test_a_family_phenopacket_gives_the_proband_and_its_pedigree(tmp_path):
    proband = packet()
    father = {"id": "pp-f", "subject": {"id": "DAD-1", "sex": "FEMALE"},
              "metaData": proband["metaData"]}
    family = {"id": "fam-1", "proband": proband, "relatives": [father],
              "pedigree": {"persons": [
                  {"familyId": "F1", "individualId": "PAT-0001", "paternalId": "DAD-1",
                   "maternalId": "MUM-1", "sex": "FEMALE", "affectedStatus": "AFFECTED"},
                  {"familyId": "F1", "individualId": "DAD-1", "sex": "MALE",
                   "affectedStatus": "UNAFFECTED"},
                  {"familyId": "F1", "individualId": "MUM-1", "sex": "FEMALE",
                   "affectedStatus": "UNAFFECTED"}]},
              "metaData": proband["metaData"]}
    path = tmp_path / "family.json"
    path.write_text(json.dumps(family))
    result = parse_phenopacket(path)
    patients = [r for t in result.tables["patients"] for r in t.to_pylist()]
    assert [p["patient_id"] for p in patients] == ["PAT-0001"]     # relatives are not patients
    rows = {r["individual_id"]: r for t in result.tables["family_pedigrees"] for r in t.to_pylist()}
    assert set(rows) == {"PAT-0001", "DAD-1", "MUM-1"}
    # the father's own phenopacket says female: a sex conflict, his links are not used
    assert rows["PAT-0001"]["father_id"] is None and rows["PAT-0001"]["mother_id"] == "MUM-1"
    conflict = [r for r in result.quarantine if r.granularity == "sample"]
    assert conflict[0].locator == "DAD-1" and "sex conflict" in conflict[0].reason
    assert "relatives[0].subject.sex" in conflict[0].reason


def test_ped_files_go_to_raw_pedigrees_and_unknown_files_are_still_reported(tmp_path):
    paths = LakePaths(tmp_path / "lake").ensure()
    batch = paths.landing_domain("genomic") / "b1"
    batch.mkdir(parents=True)
    (batch / "fam.ped").write_text(GOOD + "F1 kid dad2 mom 1 2\n")
    (batch / "notes.txt").write_text("not a VCF\n")
    summary = ingest_genomic(paths, datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert (summary.files_ingested, summary.files_quarantined) == (1, 1)
    rows = pl.read_parquet(sorted(paths.raw_table("pedigrees").glob("b1/*.parquet")))
    assert sorted(rows["individual_id"]) == ["dad", "kid", "mom"]
    assert set(rows["source_file"]) == {"genomic/b1/fam.ped"}
    reasons = "\n".join(summary.quarantine_reasons)
    assert "genomic/b1/notes.txt [file]" in reasons
    assert "genomic/b1/fam.ped [record line 2]" in reasons and "two fathers" in reasons


def test_simulated_trio_backgrounds_are_mendelian():
    rng = np.random.default_rng(1)
    n = 4000
    chrom_idx = np.where(np.arange(n) % 10 == 0, CHRX, 1)    # every tenth site on chrX
    father = (np.sort(rng.choice(n, 1500, replace=False)), None)
    mother = (np.sort(rng.choice(n, 1500, replace=False)), None)
    fx = chrom_idx[father[0]] == CHRX
    father = (father[0], np.where(fx, 2, rng.integers(1, 3, len(father[0]))).astype(np.int8))
    mother = (mother[0], rng.integers(1, 3, len(mother[0])).astype(np.int8))
    for male in (True, False):
        idx, codes = inherit(rng, chrom_idx, father, mother, male)
        f = np.zeros(n, np.int8)
        m = np.zeros(n, np.int8)
        c = np.zeros(n, np.int8)
        f[father[0]], m[mother[0]], c[idx] = father[1], mother[1], codes
        auto = chrom_idx != CHRX
        # each allele of the child is one a parent has: 0 <= child - (from mother) <= father
        can_get = (f[auto] > 0).astype(int) + (m[auto] > 0)     # alleles a parent can give
        must_get = (f[auto] == 2).astype(int) + (m[auto] == 2)   # a homozygote always gives
        assert ((c[auto] <= can_get) & (c[auto] >= must_get)).all()
        assert (c[auto] == 1).any() and (c[auto] == 2).any()
        x = ~auto
        if male:   # a son's X is his mother's
            assert ((c[x] == 0) | (m[x] > 0)).all() and ((c[x] == 2) | (m[x] < 2)).all()
            assert set(np.unique(c[x])) <= {0, 2}
        else:      # a daughter always has her father's X
            assert (c[x][f[x] > 0] >= 1).all()


class _P:
    def __init__(self, mode, male):
        self.mode, self.male = mode, male


@pytest.mark.parametrize("mode, male, codes, father, mother", [
    ("AD", False, [1], [0], [0]),          # de novo
    ("AR", True, [2], [1], [1]),           # both carriers
    ("AR", False, [1, 1], [1, 0], [0, 1]),  # in trans
    ("XL", True, [2], [0], [1]),           # carrier mother
    ("XD", True, [2], [0], [0]),           # de novo
])
def test_causal_variants_segregate_by_mode(mode, male, codes, father, mother):
    f, m = causal_in_parents(_P(mode, male), np.array(codes, np.int8))
    assert (f.tolist(), m.tolist()) == (father, mother)


def test_a_deep_pedigree_and_a_long_cycle_are_walked_without_recursion():
    n = 3_000                    # deeper than the recursion limit set here
    chain = "".join(f"F g{i} g{i + 1} 0 1 1\n" for i in range(n)) + f"F g{n} 0 0 1 1\n"
    loop = "".join(f"F g{i} g{(i + 1) % n} 0 1 1\n" for i in range(n))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000)
    try:
        persons, quarantine = parse_ped_text(chain)
        assert len(persons) == n + 1 and quarantine == []
        persons, quarantine = parse_ped_text(loop)
    finally:
        sys.setrecursionlimit(limit)
    assert [r.locator for r in quarantine] == ["line 1"] and "pedigree cycle" in quarantine[0].reason
    assert all(p.father_id is None for p in persons)


@pytest.mark.parametrize("text", ["F a b c 1 2\n" * 3, "\x00\x01 a\n", "F a 0 0 x y\n",
                                  "F a b 0 1 2\nF b a 0 1 2\nF a c 0 1 2\n"])
def test_odd_ped_text_is_read_or_reported_never_crashes(text):
    try:
        persons, quarantine = parse_ped_text(text)
    except FileRejected as exc:
        assert str(exc)
        return
    assert all(r.reason for r in quarantine)
