"""Patient reports: term matches on a tiny ontology (hand-computed and brute force), what
the report reads from catalog-shaped views (optional columns present or not), hostile
values escaped, and the CLI and asset on the end-to-end lake."""

from __future__ import annotations

import html
import math
import random
import re

import duckdb
import pytest

from models.hpo_index import PhenotypeIndex
from models.phenotype_matches import disease_terms, excluded_hits, gene_terms, term_matches
from orchestration.report.collect import (
    UnknownPatient,
    check_patient,
    collect,
    parse_candidates,
    segregation_text,
)
from orchestration.report.render import RESEARCH_USE, render

from fixtures.tiny_ontology import ANC, GENES, PARENTS  # noqa: E402

DISEASES = {"D1": ["A1", "B1"], "D2": ["A2"], "D3": ["AB"], "D5": ["A1", "A3"]}
GENE_DISEASES = {"G2": ["D1", "D2"], "G3": ["D3"]}
LN = math.log


@pytest.fixture(scope="module")
def tiny() -> PhenotypeIndex:
    return PhenotypeIndex.from_annotations(ANC, GENES, DISEASES, GENE_DISEASES)


def test_term_matches_hand_computed(tiny):
    d1 = disease_terms(tiny, "D1")
    assert d1 == ["A1", "B1"]
    got = {m.patient_term: m for m in term_matches(tiny, ["A3", "AB", "C", "HP:X", "A3"], d1)}
    assert list(got) == ["A3", "AB", "C", "HP:X"]          # input order, duplicates dropped
    # A3 sits below A1: the disease's A1 matches through A1 itself (IC ln 5/2)
    assert (got["A3"].target_term, got["A3"].common_ancestor) == ("A1", "A1")
    assert got["A3"].ic == pytest.approx(LN(5 / 2))
    # AB shares A with A1 (ln 5/4) and B with B1 (ln 5/3): B1 through B wins
    assert (got["AB"].target_term, got["AB"].common_ancestor) == ("B1", "B")
    assert got["AB"].ic == pytest.approx(LN(5 / 3))
    # C shares only the root (IC 0): no informative match; an unknown id is flagged
    assert got["C"].target_term is None and got["C"].known
    assert got["HP:X"].target_term is None and not got["HP:X"].known


def test_ties_prefer_the_exact_term(tiny):
    # A1 matches A1 (exact) and A3 (through A1) equally: the exact term explains it
    m = term_matches(tiny, ["A1"], disease_terms(tiny, "D5"))[0]
    assert (m.target_term, m.common_ancestor) == ("A1", "A1")
    assert gene_terms(tiny, "G2") == ["A2", "B1"] and gene_terms(tiny, "nope") == []
    assert disease_terms(tiny, "nope") == []
    assert term_matches(tiny, ["A1"], [])[0].target_term is None


def test_term_matches_equal_brute_force(tiny):
    ic = dict(zip(tiny.terms, tiny.ic["gene"]))
    rng = random.Random(5)
    terms = sorted(PARENTS)
    for _ in range(200):
        patient = rng.sample(terms, rng.randint(1, 4))
        target = rng.sample(terms, rng.randint(1, 4))
        for m in term_matches(tiny, patient, target):
            best = max(max(ic[a] for a in ANC[m.patient_term] & ANC[s]) for s in target)
            assert m.ic == pytest.approx(best if best > 0 else 0.0)
            if m.target_term:
                assert m.common_ancestor in ANC[m.patient_term] & ANC[m.target_term]
                assert ic[m.common_ancestor] == pytest.approx(best)


def test_excluded_terms_count_against_when_the_disease_has_them(tiny):
    hits = excluded_hits(tiny, ["A", "B1", "A2", "HP:X"], disease_terms(tiny, "D1"))
    assert [(h.excluded_term, h.target_terms) for h in hits] == [("A", ("A1",)), ("B1", ("B1",))]
    assert hits[0].ic == pytest.approx(LN(5 / 4))


# ------------------------------------------------------------------ reading the lake

HOSTILE = '<script>window.__pwned=1</script>"\'&'
HOSTILE_SQL = HOSTILE.replace("'", "''")


def _lake(con: duckdb.DuckDBPyConnection, *, segregation: bool, raw_variants: bool = True):
    """Catalog-shaped views in memory: what ``collect`` reads."""
    seg = ", segregation" if segregation else ""
    seg_vals = (", 'de novo'", ", NULL") if segregation else ("", "")
    con.execute(f"""create table patient_gene_rankings as select * replace (score::double as score,
        variant_score::double as variant_score, pheno_score::double as pheno_score) from (values
        ('P1', 'G2', 1, 0.81, 'test ranker', 0.9, 0.7, 'AR', 'chr1:10:A:T missense_variant het; chr1:20:G:GA frameshift_variant het',
         'D1', 'Disease one', 'pheno_score=0.7 (+1.2)', {{'pheno_score': 1.2, 'bias': -3.0, 'variant_score': -0.4}}{seg_vals[0]}),
        ('P1', '{HOSTILE_SQL}', 2, 0.10, 'test ranker', 0.2, 0.1, NULL, NULL, NULL, NULL, '{HOSTILE_SQL}', NULL{seg_vals[1]})
        ) t(patient_id, gene_symbol, rank, score, ranking_method, variant_score, pheno_score, known_modes,
            candidate_variants, best_disease_id, best_disease_name, top_reasons, contributions{seg})""")
    con.execute("""create table patients as select * from (values
        ('P1', 'FEMALE', false, 'p1.json'), ('P2', 'MALE', true, 'p2.json')
        ) t(patient_id, sex, is_solved, phenopacket_file)""")
    con.execute(f"""create table raw_phenotypes as select * from (values
        ('P1', 'AB', 'AB', '{HOSTILE_SQL}', false, 'p1.json'), ('P1', 'A3', 'A3', 'A3', false, 'p1.json'),
        ('P1', 'A1', 'A1', 'A1', false, 'old.json'), ('P1', 'B1', 'B1', 'B1', true, 'p1.json')
        ) t(patient_id, hpo_id, hpo_id_submitted, label, excluded, source_file)""")
    con.execute("""create table hpo_terms as select * from (values
        ('AB', 'Term AB'), ('A1', 'Term A1'), ('B1', 'Term B1'), ('B', 'Term B')) t(hpo_id, name)""")
    if raw_variants:
        con.execute("""create table raw_variants as select * replace (allele_freq::double as
            allele_freq, revel::double as revel, cadd_phred::double as cadd_phred) from (values
            ('P1', 'chr1', 10, 'A', 'T', 'PASS', 'het', 'G2', 'missense_variant', 'MODERATE', 1e-5, 0.8, 25.0, 'v.vcf', TIMESTAMP '2026-01-01'),
            ('P1', 'chr1', 30, 'C', 'G', 'PASS', 'het', 'G2', 'stop_gained', 'HIGH', 0.5, NULL, 40.0, 'v.vcf', TIMESTAMP '2026-01-01'),
            ('P1', 'chr1', 40, 'C', 'G', 'PASS', 'het', 'G2', 'stop_gained', 'HIGH', NULL, NULL, 40.0, 'v.vcf', TIMESTAMP '2026-01-01'),
            ('P1', 'chr1', 50, 'C', 'G', 'PASS', 'het', 'G2', 'intron_variant', 'MODIFIER', NULL, NULL, 2.0, 'v.vcf', TIMESTAMP '2026-01-01'),
            ('P1', 'chr1', 60, 'C', 'G', 'PASS', 'het', 'G2', 'stop_gained', 'HIGH', NULL, NULL, 40.0, 'old.vcf', TIMESTAMP '2025-01-01')
            ) t(patient_id, chrom, pos, ref, alt, filter, zygosity, gene_symbol, consequence, impact,
                allele_freq, revel, cadd_phred, source_file, ingested_at)""")


def test_collect_reads_what_the_report_shows(tiny):
    con = duckdb.connect()
    _lake(con, segregation=True)
    r = collect(con, ["P1", "P9"], index=tiny)["P1"]
    assert [g["gene_symbol"] for g in r.genes] == ["G2", HOSTILE]
    # the current phenopacket only (old.json's A1 is not the patient's any more)
    assert [(t["hpo_id"], t["excluded"]) for t in r.terms] == [("A3", False), ("AB", False),
                                                               ("B1", True)]
    calls = {v["variant_key"]: v for v in r.variants["G2"]}
    # both candidates (one the raw calls lack), then the other rare protein-altering call;
    # common (0.5), intronic and old-file calls are not shown
    assert list(calls) == ["chr1:10:A:T", "chr1:20:G:GA", "chr1:40:C:G"]
    assert calls["chr1:10:A:T"]["revel"] == 0.8 and calls["chr1:10:A:T"]["candidate"]
    assert calls["chr1:20:G:GA"]["consequence"] == "frameshift_variant"
    assert not calls["chr1:40:C:G"]["candidate"]
    m = r.matches["G2"]
    assert m.target_id == "D1"
    assert [(t.patient_term, t.target_term) for t in m.terms] == [("A3", "A1"), ("AB", "B1")]
    assert [e.excluded_term for e in m.excluded] == ["B1"]      # D1 has B1: counts against
    # a gene without a disease is matched on its own annotations (here: none known)
    assert r.matches[HOSTILE].target_id == HOSTILE
    assert r.labels["B"] == "Term B"
    assert segregation_text(r.genes[0]) == "de novo"


def test_collect_reads_calls_joined_to_their_sites(tiny):
    """The trio-era layout: calls per sample (raw_variants) and each site's annotation once
    (raw_variant_sites), joined on file, record and allele."""
    con = duckdb.connect()
    _lake(con, segregation=False)
    con.execute("create table numbered as select row_number() over (order by pos) as record, "
                "1 as allele, * from raw_variants")
    # the ingest keeps VEP's HGVSc/HGVSp per site x gene (null where VEP gives none)
    con.execute("create table raw_variant_sites as select * exclude (patient_id, zygosity, "
                "ingested_at), case when pos = 10 then 'NM_1.1:c.10A>T' end as hgvsc, "
                "case when pos = 10 then 'NP_1.1:p.Lys4=' end as hgvsp from numbered")
    con.execute("create or replace table raw_variants as select patient_id, record, allele, "
                "'0/1' as genotype, zygosity, source_file, ingested_at from numbered")
    con.execute("""insert into raw_variants select 'P1-father', record, allele, '0/1', 'het',
        source_file, TIMESTAMP '2026-01-01' from raw_variant_sites""")
    r = collect(con, ["P1"], index=tiny)["P1"]
    assert [v["variant_key"] for v in r.variants["G2"]] == ["chr1:10:A:T", "chr1:20:G:GA",
                                                            "chr1:40:C:G"]
    assert r.variants["G2"][0]["revel"] == 0.8 and not r.notes
    assert [(v.get("hgvsc"), v.get("hgvsp")) for v in r.variants["G2"]] == [
        ("NM_1.1:c.10A>T", "NP_1.1:p.Lys4="), (None, None), (None, None)]
    page = render(r)
    assert "HGVSC" in page and "NP_1.1:p.Lys4=" in page


def test_collect_without_optional_columns_and_tables(tiny):
    con = duckdb.connect()
    _lake(con, segregation=False, raw_variants=False)
    r = collect(con, ["P1"], index=None, index_note="no index here")["P1"]
    assert "segregation" not in r.genes[0] and segregation_text(r.genes[0]) is None
    assert [v["variant_key"] for v in r.variants["G2"]] == ["chr1:10:A:T", "chr1:20:G:GA"]
    assert r.matches == {} and "no index here" in r.notes
    assert any("raw variant calls" in n for n in r.notes)
    page = render(r)
    assert "Segregation" not in page and "no index here" in page


def test_unknown_and_solved_patients_are_refused():
    con = duckdb.connect()
    _lake(con, segregation=False)
    check_patient(con, "P1")
    with pytest.raises(UnknownPatient, match="no patient 'nobody'"):
        check_patient(con, "nobody")
    with pytest.raises(UnknownPatient, match="is solved"):
        check_patient(con, "P2")


def test_family_flags_in_words():
    assert segregation_text({"seg_de_novo": 1, "seg_n_parents": 2}).startswith("de novo")
    assert "unaffected parent" in segregation_text({"seg_inherited_unaffected": 1})
    assert "2 parent(s)" in segregation_text({"seg_de_novo": 0, "seg_n_parents": 2})
    assert segregation_text({"seg_de_novo": None, "seg_n_parents": None}) is None
    assert parse_candidates("k1 missense het; k2") == [
        {"variant_key": "k1", "consequence": "missense", "zygosity": "het"},
        {"variant_key": "k2", "consequence": None, "zygosity": None}]


def test_ranker_quality_in_words():
    from orchestration.report.collect import ranker_quality

    meta = {"mode": "xgboost", "metrics": {
        "recall": {"xgboost": {"recall_at_1": 0.5, "recall_at_5": 0.75, "recall_at_10": 1.0,
                               "n_patients": 4}},
        "evaluation_scope": "held-out split",
        "calibration": {"top1": {"n": 4, "brier": 0.125, "ece": 0.05, "bins": []},
                        "all_candidates": {"n": 0, "brier": None, "ece": None}}}}
    got = ranker_quality(meta)
    assert got["heldout_recall"].startswith("causal gene at rank 1 / within 5 / within 10: "
                                            "0.50 / 0.75 / 1.00 on 4 held-out")
    assert got["calibration"] == "held out: top-ranked genes: Brier 0.125, ECE 0.050 (n=4)"
    assert ranker_quality(None) == {} and ranker_quality({"metrics": {"recall": {}}}) == {}


def test_report_escapes_hostile_values_and_is_self_contained(tiny):
    con = duckdb.connect()
    _lake(con, segregation=True)
    page = render(collect(con, ["P1"], index=tiny)["P1"])
    # no markup from data: the hostile gene symbol, label and reasons appear as text only
    assert "<script" not in page.lower()
    assert html.escape(HOSTILE, quote=True) in page
    assert page.count(html.escape("<script>", quote=False)) >= 3
    # self-contained: no external resource of any kind (the SVG namespace is not a fetch)
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|//)", page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page
    # what a clinician needs
    assert html.escape(RESEARCH_USE, quote=False) in page
    assert 'id="top-genes"' in page and "0.810" in page and "Disease one" in page
    assert "de novo" in page and "Segregation" in page
    assert "Term B1" in page and "counts against" in page
    assert "chr1:20:G:GA" in page and "frameshift variant" in page
    assert "test ranker" in page


def test_refresh_writes_a_report_per_unsolved_patient(e2e_lake, tmp_path, capsys):
    from orchestration.cli import main
    from orchestration.lake.catalog import connect_readonly
    from orchestration.report.collect import ranked_patients
    from orchestration.report.write import report_path, reports_dir

    paths, _ = e2e_lake
    with connect_readonly(paths) as con:
        unsolved = ranked_patients(con)
    assert unsolved
    pages = sorted(p.name for p in reports_dir(paths).glob("*.html") if p.name != "index.html")
    assert pages == sorted(report_path(paths, p).name for p in unsolved)
    page = report_path(paths, unsolved[0]).read_text()
    assert html.escape(RESEARCH_USE, quote=False) in page and "Phenotype match" in page
    assert "Most informative common ancestor" in page and "candidate" in page
    assert (reports_dir(paths) / "index.html").read_text().count("<tr><td>") == len(unsolved)

    out = tmp_path / "one.html"
    assert main(["report", "--patient", unsolved[0], "--out", str(out), "--top", "3"]) == 0
    assert out.read_text().count('<details id="gene-') == 3
    capsys.readouterr()
    assert main(["report", "--patient", "no-such-patient"]) == 3
    assert capsys.readouterr().err.strip().splitlines() == [
        "orphanlake report: no patient 'no-such-patient' in the lake"]
