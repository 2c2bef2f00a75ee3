import copy
import json

import pytest

from orchestration.ingest.identifiers import id_identifier_kind, scan_json, text_identifier_kind
from orchestration.ingest.phenopackets import parse_phenopacket
from orchestration.ingest.quarantine import FileRejected
from orchestration.reference.hpo import load_ontology


def _hpo_examples():
    onto = load_ontology()
    primary = next(iter(sorted(onto.terms)))
    alt, alt_target = sorted(onto.alt_to_primary.items())[0]
    old = next(t for t in sorted(onto.obsolete.values(), key=lambda t: t.id)
               if t.replaced_by and t.id not in onto.alt_to_primary and onto.alt_to_primary.get(t.replaced_by, t.replaced_by) in onto.terms)
    return onto, primary, alt, alt_target, old


def packet(**over):
    base = {
        "id": "pp-1",
        "subject": {"id": "PAT-0001", "sex": "FEMALE"},
        "phenotypicFeatures": [{"type": {"id": "HP:0001250", "label": "Seizure"}},
                               {"type": {"id": "HP:0001249", "label": "Intellectual disability"},
                                "excluded": True}],
        "diseases": [{"term": {"id": "OMIM:100100", "label": "Some disease"}}],
        "interpretations": [{
            "id": "i1", "progressStatus": "SOLVED",
            "diagnosis": {"disease": {"id": "OMIM:300000", "label": "Other disease"},
                          "genomicInterpretations": [
                              {"subjectOrBiosampleId": "PAT-0001", "interpretationStatus": "CAUSATIVE",
                               "variantInterpretation": {"variationDescriptor": {
                                   "id": "v1", "geneContext": {"valueId": "HGNC:1", "symbol": "ABC1"}}}},
                              {"subjectOrBiosampleId": "PAT-0001", "interpretationStatus": "CAUSATIVE",
                               "gene": {"valueId": "HGNC:2", "symbol": "DEF2"}}]}}],
        "metaData": {"created": "2024-01-02T03:04:05Z", "createdBy": "curator",
                     "resources": [{"id": "hp", "name": "human phenotype ontology",
                                    "url": "http://purl.obolibrary.org/obo/hp.owl",
                                    "version": "2025-01-16", "namespacePrefix": "HP",
                                    "iriPrefix": "http://purl.obolibrary.org/obo/HP_"}],
                     "phenopacketSchemaVersion": "2.0"},
    }
    base.update(over)
    return base


def _write(tmp_path, obj, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return path


def _table(result, name):
    return [row for t in result.tables[name] for row in t.to_pylist()]


def test_good_phenopacket(tmp_path):
    result = parse_phenopacket(_write(tmp_path, packet()))
    assert _table(result, "patients") == [{"patient_id": "PAT-0001", "phenopacket_id": "pp-1",
                                           "sex": "FEMALE", "is_solved": True}]
    pheno = {r["hpo_id"]: r for r in _table(result, "phenotypes")}
    assert pheno["HP:0001250"]["term_resolution"] == "primary" and not pheno["HP:0001250"]["excluded"]
    assert pheno["HP:0001249"]["excluded"] is True
    dx = {(r["disease_id"], r["gene_symbol"], r["progress_status"]) for r in _table(result, "diagnoses")}
    assert dx == {("OMIM:300000", "ABC1", "SOLVED"), ("OMIM:300000", "DEF2", "SOLVED"),
                  ("OMIM:100100", None, None)}
    assert result.quarantine == []


def test_alt_and_obsolete_ids_are_mapped_and_bad_terms_quarantined(tmp_path):
    onto, primary, alt, alt_target, old = _hpo_examples()
    feats = [{"type": {"id": alt}}, {"type": {"id": old.id}}, {"type": {"id": "HP:9999999"}},
             {"type": {"id": "MP:0000001"}}]
    p = packet(phenotypicFeatures=feats, interpretations=[])
    result = parse_phenopacket(_write(tmp_path, p))
    rows = {r["hpo_id_submitted"]: r for r in _table(result, "phenotypes")}
    assert (rows[alt]["hpo_id"], rows[alt]["term_resolution"]) == (alt_target, "alt_id")
    assert rows[old.id]["term_resolution"] == "replaced_by"
    assert rows[old.id]["hpo_id"] == onto.alt_to_primary.get(old.replaced_by, old.replaced_by)
    assert rows[alt]["label"] == onto.terms[alt_target].name
    q = {r.locator: r for r in result.quarantine}
    assert set(q) == {"HP:9999999", "MP:0000001"} and all(r.granularity == "term" for r in q.values())
    assert "unknown in HPO release" in q["HP:9999999"].reason
    assert _table(result, "patients")[0]["is_solved"] is False      # patient kept


@pytest.mark.parametrize("mutate, match", [
    (lambda p: p.update(unknownField=1), "fails the Phenopacket v2 schema"),
    (lambda p: p["subject"].update(sex="NOT_A_SEX"), "fails the Phenopacket v2 schema"),
    (lambda p: p["subject"].update(sex=42), "subject.sex has the unknown value 42"),
    (lambda p: p["subject"].pop("id"), "subject.id is missing"),
    (lambda p: p["subject"].update(dateOfBirth="1980-05-01T00:00:00Z"), "direct identifier"),
    (lambda p: p["subject"].update(firstName="Ann"), "direct identifier"),
    (lambda p: p.update(contact={"email": "x"}), "direct identifier"),
    (lambda p: p["phenotypicFeatures"][0].update(description="call mum at 0161 496 0736"),
     "direct identifier"),
    (lambda p: p["subject"].update(id="Ann Example"), "direct identifier"),
])
def test_bad_phenopackets_rejected(tmp_path, mutate, match):
    p = copy.deepcopy(packet())
    mutate(p)
    with pytest.raises(FileRejected, match=match) as err:
        parse_phenopacket(_write(tmp_path, p))
    assert "0161" not in str(err.value) and "1980" not in str(err.value)


def test_not_json(tmp_path):
    with pytest.raises(FileRejected, match="not valid JSON.*line 1"):
        parse_phenopacket(_write(tmp_path, "{nope"))


def test_hpo_labels_and_ids_are_not_identifiers():
    onto = load_ontology()
    flagged = [t.name for t in onto.terms.values() if text_identifier_kind(t.name)]
    assert flagged == []
    assert scan_json(packet()) == []
    for ok in ("PAT-0001", "P0001", "HG00096", "NA12878", "sample_1", "20240115_S1", "CASE-12-3"):
        assert id_identifier_kind(ok) is None, ok
    for bad, kind in (("jane@x.org", "e-mail address"), ("1980-05-12", "date of birth"),
                      ("Doe, John", "person name"), ("MRN_123456", "medical record number"),
                      ("078-05-1120", "national id"), ("+1 415 555 2671", "phone number")):
        assert id_identifier_kind(bad) == kind, bad
