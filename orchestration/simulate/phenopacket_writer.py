"""GA4GH Phenopacket v2 JSON built from the official protobuf classes, so it is schema-valid."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import phenopackets as pps
from google.protobuf.json_format import MessageToJson
from google.protobuf.timestamp_pb2 import Timestamp

from orchestration.simulate.cohort import Patient
from orchestration.simulate.phenotypes import Feature

ALLELIC_STATE = {
    "het": ("GENO:0000135", "heterozygous"),
    "hom": ("GENO:0000136", "homozygous"),
    "hemi": ("GENO:0000134", "hemizygous"),
}


def _resources(hpo_version: str, disease_id: str | None) -> list[pps.Resource]:
    out = [pps.Resource(id="hp", name="human phenotype ontology",
                        url="http://purl.obolibrary.org/obo/hp.owl", version=hpo_version,
                        namespace_prefix="HP", iri_prefix="http://purl.obolibrary.org/obo/HP_"),
           pps.Resource(id="geno", name="Genotype Ontology",
                        url="http://purl.obolibrary.org/obo/geno.owl", version="2022-03-05",
                        namespace_prefix="GENO",
                        iri_prefix="http://purl.obolibrary.org/obo/GENO_")]
    if disease_id and disease_id.startswith("OMIM"):
        out.append(pps.Resource(id="omim", name="Online Mendelian Inheritance in Man",
                                url="https://www.omim.org", version="2025-01-16",
                                namespace_prefix="OMIM", iri_prefix="https://omim.org/entry/"))
    elif disease_id:
        out.append(pps.Resource(id="ordo", name="Orphanet Rare Disease Ontology",
                                url="http://www.orpha.net/ordo", version="4.6",
                                namespace_prefix="ORPHA",
                                iri_prefix="http://www.orpha.net/ORDO/Orphanet_"))
    return out


def build_phenopacket(patient: Patient, features: list[Feature], causal: list[dict],
                      hpo_version: str, created: datetime, age_years: int,
                      rng: np.random.Generator) -> pps.Phenopacket:
    """The patient's phenopacket; solved patients carry a SOLVED interpretation.

    causal: dicts with chrom, pos, ref, alt, zygosity (het | hom | hemi).
    """
    subject = pps.Individual(
        id=patient.patient_id,
        sex=pps.Sex.Value(patient.sex),
        time_at_last_encounter=pps.TimeElement(
            age=pps.Age(iso8601duration=f"P{age_years}Y{int(rng.integers(0, 12))}M")),
    )
    pfs = [pps.PhenotypicFeature(type=pps.OntologyClass(id=f.hpo_id, label=f.label),
                                 excluded=f.excluded) for f in features]
    ts = Timestamp()
    ts.FromDatetime(created.astimezone(timezone.utc).replace(tzinfo=None))
    meta = pps.MetaData(created=ts, created_by="orphanlake-simulator",
                        resources=_resources(hpo_version, patient.disease_id if
                                             patient.solved else None),
                        phenopacket_schema_version="2.0")
    pp = pps.Phenopacket(id=f"{patient.patient_id}-pp", subject=subject,
                         phenotypic_features=pfs, meta_data=meta)
    if patient.solved:
        disease = pps.OntologyClass(id=patient.disease_id, label=patient.disease_name)
        pp.diseases.append(pps.Disease(term=disease))
        gis = []
        for k, v in enumerate(causal):
            geno_id, geno_label = ALLELIC_STATE[v["zygosity"]]
            vd = pps.VariationDescriptor(
                id=f"{patient.patient_id}-var{k + 1}",
                gene_context=pps.GeneDescriptor(value_id=f"NCBIGene:{patient.ncbi_gene_id}",
                                                symbol=patient.gene_symbol),
                vcf_record=pps.VcfRecord(genome_assembly="GRCh38", chrom=v["chrom"],
                                         pos=int(v["pos"]), ref=v["ref"], alt=v["alt"]),
                molecule_context=pps.MoleculeContext.Value("genomic"),
                allelic_state=pps.OntologyClass(id=geno_id, label=geno_label))
            gis.append(pps.GenomicInterpretation(
                subject_or_biosample_id=patient.patient_id,
                interpretation_status=pps.GenomicInterpretation.InterpretationStatus.CAUSATIVE,
                variant_interpretation=pps.VariantInterpretation(
                    acmg_pathogenicity_classification=pps.AcmgPathogenicityClassification.Value(
                        "PATHOGENIC" if k == 0 or v["zygosity"] != "het" else
                        "LIKELY_PATHOGENIC"),
                    variation_descriptor=vd)))
        pp.interpretations.append(pps.Interpretation(
            id=f"{patient.patient_id}-interpretation",
            progress_status=pps.Interpretation.ProgressStatus.SOLVED,
            diagnosis=pps.Diagnosis(disease=disease, genomic_interpretations=gis)))
    elif rng.random() < 0.3:
        # Real unsolved cases often carry an open interpretation with no diagnosis.
        pp.interpretations.append(pps.Interpretation(
            id=f"{patient.patient_id}-interpretation",
            progress_status=pps.Interpretation.ProgressStatus.IN_PROGRESS))
    return pp


def to_json(pp: pps.Phenopacket) -> str:
    """Canonical proto3 JSON (camelCase field names), 2-space indent."""
    return MessageToJson(pp, indent=2) + "\n"


def created_at(seed: int, index: int) -> datetime:
    """A deterministic creation time for a batch member."""
    return (datetime(2025, 2, 1, tzinfo=timezone.utc)
            + timedelta(days=seed % 365, minutes=7 * index))
