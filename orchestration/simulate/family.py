"""Trios: parents' genotypes and the proband's background inherited from them (Mendel).

Each parent draws a background from the shared population; the proband's background is
one allele from each parent per site (on chrX a son gets his mother's only, a daughter
also her father's single X). The causal variants follow the mode: de novo for dominant
(both parents reference), one allele from each parent for a recessive compound het,
both parents carriers for a recessive homozygote, a carrier mother for a hemizygous son.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.simulate.cohort import Patient
from orchestration.simulate.population import CHRX, Population, patient_background


@dataclass
class Trio:
    child: int                          # index of the proband in the cohort
    father_id: str
    mother_id: str
    father: tuple[np.ndarray, np.ndarray]   # (site indices, codes) incl. causal sites
    mother: tuple[np.ndarray, np.ndarray]


def parent_ids(patient: Patient) -> tuple[str, str]:
    """The parents' sample names (they have no phenopacket: not patients)."""
    return f"{patient.patient_id}-F", f"{patient.patient_id}-M"


def _transmitted(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    """One allele passed on per site: a homozygote always, a heterozygote half the time."""
    return np.where(codes == 2, 1, np.where(codes == 1, rng.random(len(codes)) < 0.5, 0))


def inherit(rng: np.random.Generator, chrom_idx: np.ndarray, father: tuple, mother: tuple,
            male_child: bool) -> tuple[np.ndarray, np.ndarray]:
    """(site indices, codes 1=het 2=hom/hemi) of a child of ``father`` and ``mother``.

    A father's chrX codes are 2 (one X, carried) or absent, as ``patient_background`` writes
    them for a male; a son's chrX calls are written 2 (hemizygous) the same way.
    """
    sites = np.union1d(father[0], mother[0])
    fc = np.zeros(len(sites), dtype=np.int8)
    mc = np.zeros(len(sites), dtype=np.int8)
    fc[np.searchsorted(sites, father[0])] = father[1]
    mc[np.searchsorted(sites, mother[0])] = mother[1]
    on_x = chrom_idx[sites] == CHRX
    maternal = _transmitted(rng, mc)
    paternal = _transmitted(rng, fc)
    if male_child:
        paternal[on_x] = 0                       # a son gets his father's Y
        code = maternal + paternal
        code[on_x] = np.where(maternal[on_x] > 0, 2, 0)
    else:
        paternal[on_x] = fc[on_x] > 0            # a daughter gets her father's only X
        code = maternal + paternal
    keep = code > 0
    return sites[keep], code[keep].astype(np.int8)


def causal_in_parents(patient: Patient, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(father's, mother's) genotype codes at the proband's causal sites."""
    n = len(codes)
    father, mother = np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int8)
    if patient.mode == "AR" and list(codes) == [2]:
        father[:] = mother[:] = 1                   # homozygote: both parents carriers
    elif patient.mode == "AR" and n == 2:
        father[0], mother[1] = 1, 1                 # compound het, in trans
    elif patient.male and patient.mode in ("XL", "XR") and list(codes) == [2]:
        mother[:] = 1                               # hemizygous son of a carrier mother
    # dominant (AD, XD, a het X-linked daughter): de novo, both parents reference
    return father, mother


def make_trio(rng: np.random.Generator, pop: Population, background_variants: int, child: int,
              patient: Patient, causal_idx: np.ndarray, causal_codes: np.ndarray
              ) -> tuple[Trio, tuple[np.ndarray, np.ndarray]]:
    """The parents of ``patient`` and the proband's inherited background (without the
    causal sites, which the caller adds as for any patient)."""
    father = patient_background(rng, pop, True, background_variants)
    mother = patient_background(rng, pop, False, background_variants)
    background = inherit(rng, pop.sites["chrom_idx"], father, mother, patient.male)
    fcodes, mcodes = causal_in_parents(patient, causal_codes)
    father_all = (np.concatenate([father[0], causal_idx[fcodes > 0]]),
                  np.concatenate([father[1], fcodes[fcodes > 0]]))
    mother_all = (np.concatenate([mother[0], causal_idx[mcodes > 0]]),
                  np.concatenate([mother[1], mcodes[mcodes > 0]]))
    fid, mid = parent_ids(patient)
    return Trio(child, fid, mid, father_all, mother_all), background


def ped_lines(patient: Patient, trio: Trio) -> list[str]:
    """PED lines (family, individual, father, mother, sex, phenotype) of one trio."""
    fam = f"FAM-{patient.patient_id}"
    sex = "1" if patient.male else "2"
    return [f"{fam}\t{patient.patient_id}\t{trio.father_id}\t{trio.mother_id}\t{sex}\t2",
            f"{fam}\t{trio.father_id}\t0\t0\t1\t1",
            f"{fam}\t{trio.mother_id}\t0\t0\t2\t1"]


def family_json(proband, patient: Patient, trio: Trio) -> str:
    """The proband's phenopacket wrapped in a GA4GH Family message with the trio's pedigree
    (parents have no phenopacket of their own: they are samples, not patients)."""
    from google.protobuf.json_format import MessageToJson
    from phenopackets import Family, Pedigree, Sex

    person = Pedigree.Person
    fam = f"FAM-{patient.patient_id}"
    persons = [
        person(family_id=fam, individual_id=patient.patient_id, paternal_id=trio.father_id,
               maternal_id=trio.mother_id, sex=Sex.Value(patient.sex),
               affected_status=person.AffectedStatus.Value("AFFECTED")),
        person(family_id=fam, individual_id=trio.father_id, sex=Sex.Value("MALE"),
               affected_status=person.AffectedStatus.Value("UNAFFECTED")),
        person(family_id=fam, individual_id=trio.mother_id, sex=Sex.Value("FEMALE"),
               affected_status=person.AffectedStatus.Value("UNAFFECTED"))]
    family = Family(id=fam, proband=proband, pedigree=Pedigree(persons=persons),
                    meta_data=proband.meta_data)
    return MessageToJson(family, indent=2) + "\n"


def bad_ped_lines(singleton: Patient) -> tuple[str, list[dict]]:
    """A PED with one of each family fault ingest and dbt must report, and what each is:
    a father who is female, an affected mother, parents absent from every VCF and a sex
    that contradicts the phenopacket (all on a real singleton proband), a cycle and an
    individual with two fathers."""
    pid = singleton.patient_id
    wrong_sex = "2" if singleton.male else "1"
    lines = ["#family\tindividual\tfather\tmother\tsex\tphenotype",
             f"BADF1\t{pid}\t{pid}-F\t{pid}-M\t{wrong_sex}\t2",
             f"BADF1\t{pid}-F\t0\t0\t2\t1",
             f"BADF1\t{pid}-M\t0\t0\t2\t2",
             "BADF2\tCYC-1\tCYC-2\t0\t1\t2",
             "BADF2\tCYC-2\tCYC-1\t0\t1\t1",
             "BADF3\tTWO-1\tDAD-1\tMUM-1\t1\t2",
             "BADF3\tTWO-1\tDAD-2\tMUM-1\t1\t2"]
    faults = [("pedigree_female_father", "line 2", pid),
              ("pedigree_affected_parent", "line 4", pid),
              ("pedigree_absent_sample", f"{pid}-M", pid),
              ("pedigree_sex_conflict", pid, pid),
              ("pedigree_cycle", "line 5", ""),
              ("pedigree_two_fathers", "line 7", "")]
    return "\n".join(lines) + "\n", [{"defect": d, "locator": loc, "patient_id": p}
                                      for d, loc, p in faults]
