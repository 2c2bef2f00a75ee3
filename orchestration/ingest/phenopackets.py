"""GA4GH Phenopacket v2 JSON → raw patients, phenotypes and diagnoses rows.

The raw JSON is screened for direct identifiers before anything else (the schema itself
allows e.g. ``subject.dateOfBirth``), then validated by the official ``phenopackets``
protobuf schema, so unknown fields and wrong types are refused with the parser's message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from google.protobuf import json_format
from phenopackets import Family, Interpretation, Phenopacket, Sex

from orchestration.ingest import limits
from orchestration.ingest.identifiers import id_identifier_kind, scan_json
from orchestration.ingest.ids import SHOWN_CHARS, escaped, id_problem, shown
from orchestration.ingest.landing import read_landing
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.lake.schemas import DIAGNOSES, LINEAGE, PATIENTS, PHENOTYPES
from orchestration.reference.hpo import Ontology, load_ontology

_LINEAGE_NAMES = {f.name for f in LINEAGE}


def _body(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f for f in schema if f.name not in _LINEAGE_NAMES])


def _read_json(path: Path) -> tuple[str, dict]:
    """A clinical landing file's text and JSON object, screened for direct identifiers."""
    try:
        # bounded by max_bytes_clinical; phenopackets are plain JSON, never gunzipped
        text = read_landing(Path(path), "clinical", decompress=False).decode("utf-8")
    except UnicodeDecodeError:
        raise FileRejected("not a phenopacket: the file is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRejected(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from None
    except RecursionError:
        raise FileRejected("not valid JSON: nested deeper than the JSON reader allows") from None
    except ValueError as exc:        # e.g. an integer literal longer than Python converts
        raise FileRejected(f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise FileRejected("not a phenopacket: the JSON top level is not an object")
    terms = limits.MAX_RECORDS["clinical"]
    packets = [raw, raw.get("proband")] + (raw.get("relatives") if isinstance(
        raw.get("relatives"), list) else [])
    for packet in packets:
        features = packet.get("phenotypicFeatures") if isinstance(packet, dict) else None
        if isinstance(features, list) and len(features) > terms.value:
            raise terms.refuse(f"phenotypicFeatures has {len(features):,} entries")
    findings = scan_json(raw)
    if findings:
        raise FileRejected("direct identifier: " + "; ".join(findings[:10]))
    return text, raw


def _check_packet(packet: Phenopacket, where: str = "") -> Phenopacket:
    """The checks the schema cannot make; ``where`` prefixes field names (``proband.``)."""
    if not packet.subject.id.strip():
        raise FileRejected(f"{where}subject.id is missing, so the patient cannot be identified")
    problem = id_problem(packet.subject.id)
    if problem:
        raise FileRejected(f"{where}subject.id {shown(packet.subject.id)} {problem}")
    # proto3 enums accept any integer, so a number outside the enum passes Parse.
    if packet.subject.sex not in Sex.values():
        raise FileRejected(f"{where}subject.sex has the unknown value {packet.subject.sex}")
    for i, interp in enumerate(packet.interpretations):
        if interp.progress_status not in Interpretation.ProgressStatus.values():
            raise FileRejected(f"{where}interpretations[{i}].progressStatus has the unknown "
                               f"value {interp.progress_status}")
    kind = id_identifier_kind(packet.subject.id)
    if kind:
        raise FileRejected(f"direct identifier: {where}subject.id looks like a {kind}")
    return packet


def read_phenopacket(path: Path) -> Phenopacket:
    """Load, screen for direct identifiers and schema-validate one phenopacket file."""
    text, _ = _read_json(path)
    packet = Phenopacket()
    try:
        json_format.Parse(text, packet)
    except json_format.ParseError as exc:
        raise FileRejected(f"fails the Phenopacket v2 schema: {exc}") from None
    return _check_packet(packet)


def _family(text: str) -> Family:
    """A GA4GH Family message (proband, relatives, pedigree), schema-validated and checked."""
    family = Family()
    try:
        json_format.Parse(text, family)
    except json_format.ParseError as exc:
        raise FileRejected(f"fails the Phenopacket v2 Family schema: {exc}") from None
    _check_packet(family.proband, "proband.")
    for j, relative in enumerate(family.relatives):
        _check_packet(relative, f"relatives[{j}].")
    return family


def _genes(interpretation) -> list[str]:
    genes: list[str] = []
    for gi in interpretation.diagnosis.genomic_interpretations:
        which = gi.WhichOneof("call")
        if which == "gene":
            symbol = gi.gene.symbol
        elif which == "variant_interpretation":
            symbol = gi.variant_interpretation.variation_descriptor.gene_context.symbol
        else:
            symbol = ""
        if symbol and symbol not in genes:
            genes.append(symbol)
    return genes


def phenopacket_rows(packet: Phenopacket, onto: Ontology
                     ) -> tuple[dict[str, pa.Table], list[QuarantineRecord]]:
    """Rows for patients/phenotypes/diagnoses plus term-level quarantine for one packet."""
    pid = packet.subject.id
    solved = Interpretation.ProgressStatus.Value("SOLVED")
    patients = [{"patient_id": pid, "phenopacket_id": packet.id or None,
                 "sex": Sex.Name(packet.subject.sex),
                 "is_solved": any(i.progress_status == solved for i in packet.interpretations)}]
    phenotypes, quarantine = _phenotypes(packet, pid, onto)
    diagnoses = []
    for interp in packet.interpretations:
        disease = interp.diagnosis.disease
        if not disease.id:
            continue
        status = Interpretation.ProgressStatus.Name(interp.progress_status)
        for gene in _genes(interp) or [None]:
            diagnoses.append({"patient_id": pid, "disease_id": disease.id,
                              "disease_label": disease.label or None, "gene_symbol": gene,
                              "progress_status": status})
    for disease in packet.diseases:
        if disease.term.id and not disease.excluded:
            diagnoses.append({"patient_id": pid, "disease_id": disease.term.id,
                              "disease_label": disease.term.label or None, "gene_symbol": None,
                              "progress_status": None})
    tables = {
        "patients": pa.Table.from_pylist(patients, schema=_body(PATIENTS)),
        "phenotypes": pa.Table.from_pylist(phenotypes, schema=_body(PHENOTYPES)),
        "diagnoses": pa.Table.from_pylist(diagnoses, schema=_body(DIAGNOSES)),
    }
    return tables, quarantine


def _phenotypes(packet: Phenopacket, pid: str, onto: Ontology
                ) -> tuple[list[dict], list[QuarantineRecord]]:
    """One row per (term, excluded), the first occurrence kept; a term both observed and
    excluded is refused as that term, and an unresolvable id is reported once."""
    rows: dict[tuple[str, bool], dict] = {}
    where: dict[str, dict[bool, int]] = {}          # hpo id → excluded → first index
    unresolved: dict[str, tuple[list[int], str]] = {}   # submitted → (indexes, why)
    for i, feat in enumerate(packet.phenotypic_features):
        submitted = feat.type.id.strip()
        hpo_id, how = onto.resolve(submitted)
        if hpo_id is None:
            unresolved.setdefault(submitted, ([], how))[0].append(i)
            continue
        excluded = bool(feat.excluded)
        where.setdefault(hpo_id, {}).setdefault(excluded, i)
        rows.setdefault((hpo_id, excluded), {
            "patient_id": pid, "hpo_id": hpo_id, "hpo_id_submitted": submitted,
            "term_resolution": how, "label": onto.terms[hpo_id].name, "excluded": excluded})
    quarantine = []
    for submitted, (indexes, how) in unresolved.items():
        term = escaped(submitted[:SHOWN_CHARS]) + ("…" if len(submitted) > SHOWN_CHARS else "")
        again = f" (repeated {len(indexes) - 1:,} more times)" if len(indexes) > 1 else ""
        quarantine.append(QuarantineRecord(
            "term", term or None,
            f"phenotypicFeatures[{indexes[0]}] {term or '(empty id)'}: {how}{again}"))
    for hpo_id, seen in where.items():
        if len(seen) == 2:
            del rows[(hpo_id, False)], rows[(hpo_id, True)]
            quarantine.append(QuarantineRecord(
                "term", hpo_id,
                f"{hpo_id} is both observed (phenotypicFeatures[{seen[False]}]) and excluded "
                f"(phenotypicFeatures[{seen[True]}]); the term is refused, neither is kept"))
    return list(rows.values()), quarantine


def parse_phenopacket(path: Path) -> ParseResult:
    """Parse one phenopacket JSON file into raw rows; FileRejected for file-level faults.

    A Family phenopacket (a top-level ``proband``) gives its proband's rows, as a single
    phenopacket would, and its pedigree's rows (``family_pedigrees``). Relatives are not
    patients here: they are read for the pedigree's checks (their sex) only.
    """
    text, raw = _read_json(Path(path))
    if "proband" in raw:
        from orchestration.ingest.pedigree import family_rows
        family = _family(text)
        tables, quarantine = phenopacket_rows(family.proband, load_ontology())
        tables["family_pedigrees"], checks = family_rows(family)
        return ParseResult(tables={k: [v] for k, v in tables.items()},
                           quarantine=quarantine + checks)
    packet = Phenopacket()
    try:
        json_format.Parse(text, packet)
    except json_format.ParseError as exc:
        raise FileRejected(f"fails the Phenopacket v2 schema: {exc}") from None
    tables, quarantine = phenopacket_rows(_check_packet(packet), load_ontology())
    return ParseResult(tables={k: [v] for k, v in tables.items()}, quarantine=quarantine)
