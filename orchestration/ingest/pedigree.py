"""Pedigrees: PED files (genomic batches) and Family phenopackets → raw ``pedigrees`` rows.

Both sources become the same rows (family, individual, father, mother, sex, affected) and
pass the same checks, each refused at the smallest granularity — one parent link, one
individual, one line — so the rest of the family is still used:

* a line without the 6 PED columns, or an id failing the id rule (``ids.id_problem``):
  that line is refused;
* an individual listed twice with different parents, sex or status ("two fathers"):
  the conflicting value is dropped (null) and both places are named;
* a father who is female or a mother who is male: that parent link is dropped;
* a cycle (an individual among their own ancestors): the links on the cycle are dropped;
* an affected parent is allowed (kept, and reported), but downstream such a parent is
  never used as "unaffected" evidence (de novo, inherited from an unaffected parent).

Checks that need other files (is a person a sample of a VCF? does the PED sex agree
with the phenopacket?) are made in dbt (int_family_members), where both are known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa

from orchestration.ingest.ids import id_problem, shown
from orchestration.ingest.landing import open_landing
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.lake.schemas import PEDIGREES, without_lineage

PED_MAX_BYTES = 16 * 1024 * 1024          # a PED is a few lines per family
PED_SEX = {"1": "MALE", "2": "FEMALE", "0": "UNKNOWN_SEX", "other": "UNKNOWN_SEX"}
PED_AFFECTED = {"2": True, "1": False, "0": None, "-9": None}
MISSING_PARENT = "0"


@dataclass(frozen=True)
class Person:
    family_id: str
    individual_id: str
    father_id: str | None
    mother_id: str | None
    sex: str                        # MALE | FEMALE | UNKNOWN_SEX (phenopacket names)
    affected: bool | None           # None: unknown / missing
    where: str                      # "line 4" / "pedigree.persons[2]"


def _rows(persons: list[Person]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"family_id": p.family_id, "individual_id": p.individual_id, "father_id": p.father_id,
          "mother_id": p.mother_id, "sex": p.sex, "affected": p.affected, "locator": p.where}
         for p in persons], schema=without_lineage(PEDIGREES))


def _merge_duplicates(persons: list[Person], out: list[QuarantineRecord]) -> list[Person]:
    """One Person per (family, individual); values two entries disagree on become null."""
    first: dict[tuple[str, str], Person] = {}
    for p in persons:
        key = (p.family_id, p.individual_id)
        seen = first.get(key)
        if seen is None:
            first[key] = p
            continue
        merged = seen
        for attr, what, null in (("father_id", "two fathers", None),
                                 ("mother_id", "two mothers", None),
                                 ("sex", "two sexes", "UNKNOWN_SEX"),
                                 ("affected", "two affected statuses", None)):
            a, b = getattr(seen, attr), getattr(p, attr)
            if a != b and getattr(merged, attr) != null:
                out.append(QuarantineRecord(
                    "record", seen.where,
                    f"individual {shown(p.individual_id)} of family {shown(p.family_id)} has "
                    f"{what}: {seen.where} says {_say(a)}, {p.where} says {_say(b)}; "
                    f"neither is used"))
                merged = replace(merged, **{attr: null})
        if merged == seen and p == replace(seen, where=p.where):
            out.append(QuarantineRecord(
                "record", p.where, f"individual {shown(p.individual_id)} of family "
                f"{shown(p.family_id)} is listed again ({seen.where}); the repeat is ignored"))
        first[key] = merged
    return list(first.values())


def _say(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "affected" if value else "unaffected"
    return shown(value)


def _check_parent_sex(persons: list[Person], out: list[QuarantineRecord]) -> list[Person]:
    by_key = {(p.family_id, p.individual_id): p for p in persons}
    fixed = []
    for p in persons:
        for attr, role, wrong in (("father_id", "father", "FEMALE"), ("mother_id", "mother", "MALE")):
            parent = by_key.get((p.family_id, getattr(p, attr)))
            if parent is not None and parent.sex == wrong:
                out.append(QuarantineRecord(
                    "record", p.where,
                    f"the {role} of {shown(p.individual_id)} ({p.where}), "
                    f"{shown(parent.individual_id)}, is {wrong.lower()} ({parent.where}); "
                    f"that parent link is not used"))
                p = replace(p, **{attr: None})
        fixed.append(p)
    return fixed


def _break_cycles(persons: list[Person], out: list[QuarantineRecord]) -> list[Person]:
    """Drop every parent link that lies on a cycle (someone among their own ancestors).

    Depth-first over child → parent links with an explicit stack, so a pedigree of any
    depth is walked without recursion."""
    by_key = {(p.family_id, p.individual_id): p for p in persons}
    on_cycle: dict[tuple[str, str], set[str]] = {}        # child key -> links to drop
    done: set[tuple[str, str]] = set()

    def parents(key):
        p = by_key[key]
        return [(p.family_id, getattr(p, a)) for a in ("father_id", "mother_id")
                if getattr(p, a) is not None and (p.family_id, getattr(p, a)) in by_key]

    for root in by_key:
        if root in done:
            continue
        path, where_in_path = [root], {root: 0}
        stack = [iter(parents(root))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                key = path.pop()
                del where_in_path[key]
                done.add(key)
                continue
            if nxt in where_in_path:
                cycle = path[where_in_path[nxt]:] + [nxt]
                names = " → ".join(f"{shown(k[1])} ({by_key[k].where})" for k in cycle)
                out.append(QuarantineRecord(
                    "record", by_key[cycle[0]].where,
                    f"pedigree cycle in family {shown(nxt[0])}: {names} (child → parent); "
                    "the parent links on the cycle are not used"))
                for a, b in zip(cycle, cycle[1:]):
                    link = "father_id" if by_key[a].father_id == b[1] else "mother_id"
                    on_cycle.setdefault(a, set()).add(link)
            elif nxt not in done:
                where_in_path[nxt] = len(path)
                path.append(nxt)
                stack.append(iter(parents(nxt)))
    return [replace(p, **{attr: None for attr in on_cycle.get((p.family_id, p.individual_id), ())})
            for p in persons]


def _report_affected_parents(persons: list[Person], out: list[QuarantineRecord]) -> None:
    by_key = {(p.family_id, p.individual_id): p for p in persons}
    for p in persons:
        for attr, role in (("father_id", "father"), ("mother_id", "mother")):
            parent = by_key.get((p.family_id, getattr(p, attr)))
            if parent is not None and parent.affected:
                out.append(QuarantineRecord(
                    "record", parent.where,
                    f"{shown(parent.individual_id)} ({parent.where}), {role} of "
                    f"{shown(p.individual_id)}, is affected: kept, but never used as "
                    "unaffected-parent evidence (de novo, inherited from an unaffected parent)"))


def check_pedigree(persons: list[Person]) -> tuple[list[Person], list[QuarantineRecord]]:
    """The persons that can be used (conflicting values and bad links dropped) and why
    anything was dropped or should be known (module doc)."""
    out: list[QuarantineRecord] = []
    persons = _merge_duplicates(persons, out)
    persons = _check_parent_sex(persons, out)
    persons = _break_cycles(persons, out)
    _report_affected_parents(persons, out)
    return persons, out


def _id_or_refuse(value: str, what: str, where: str, out: list) -> bool:
    problem = id_problem(value)
    if problem:
        out.append(QuarantineRecord("record", where, f"{where}: {what} {shown(value)} {problem}; "
                                                     "the line is not used"))
    return problem is None


def read_ped_text(path: Path) -> str:
    """A PED file's text (plain UTF-8, at most PED_MAX_BYTES), opened without following links."""
    with open_landing(path) as fh:
        data = fh.read(PED_MAX_BYTES + 1)
    if len(data) > PED_MAX_BYTES:
        raise FileRejected(f"the PED file is more than {PED_MAX_BYTES:,} bytes")
    if data[:2] == b"\x1f\x8b":
        raise FileRejected("a gzip-compressed PED is not read; land it as plain text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not a PED file: not UTF-8 text (byte {exc.start})") from None


def parse_ped_text(text: str) -> tuple[list[Person], list[QuarantineRecord]]:
    """PED lines (family, individual, father, mother, sex, phenotype; '#' comments) →
    checked persons and what was refused or reported, each naming its line."""
    persons: list[Person] = []
    out: list[QuarantineRecord] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"line {n}"
        cols = line.split()
        if len(cols) != 6:
            out.append(QuarantineRecord("record", where, f"{where} has {len(cols)} columns, not "
                                        "the 6 of a PED line (family, individual, father, "
                                        "mother, sex, phenotype); the line is not used"))
            continue
        fam, ind, fa, mo, sex, pheno = cols
        if not all(_id_or_refuse(v, w, where, out) for v, w in
                   ((fam, "family id"), (ind, "individual id"), (fa, "father id"),
                    (mo, "mother id"))):
            continue
        if ind in (fa, mo):
            out.append(QuarantineRecord("record", where, f"{where}: {shown(ind)} is named as "
                                        "their own parent (a pedigree cycle); the line is not used"))
            continue
        if sex not in PED_SEX or sex == "other":
            out.append(QuarantineRecord("record", where, f"{where}: sex {shown(sex)} is not 1 "
                                        "(male), 2 (female) or 0 (unknown); read as unknown"))
        if pheno not in PED_AFFECTED:
            out.append(QuarantineRecord("record", where, f"{where}: phenotype {shown(pheno)} is "
                                        "not 2 (affected), 1 (unaffected), 0 or -9 (unknown); "
                                        "read as unknown"))
        persons.append(Person(fam, ind, None if fa == MISSING_PARENT else fa,
                              None if mo == MISSING_PARENT else mo,
                              PED_SEX.get(sex, "UNKNOWN_SEX"), PED_AFFECTED.get(pheno), where))
    if not persons and not out:
        raise FileRejected("not a PED file: no pedigree lines")
    persons, checks = check_pedigree(persons)
    return persons, out + checks


def parse_ped(path: Path) -> ParseResult:
    """Parse one PED file of a genomic batch into ``pedigrees`` rows + record quarantine."""
    persons, quarantine = parse_ped_text(read_ped_text(Path(path)))
    return ParseResult(tables={"pedigrees": [_rows(persons)]}, quarantine=quarantine)


def family_persons(family) -> tuple[list[Person], list[QuarantineRecord]]:
    """A Family phenopacket's pedigree.persons, checked as a PED is, plus a sex conflict
    between a person and their own phenopacket (proband or relative) in the same file."""
    from phenopackets import Pedigree, Sex

    persons, out = [], []
    status = {Pedigree.Person.AffectedStatus.Value("AFFECTED"): True,
              Pedigree.Person.AffectedStatus.Value("UNAFFECTED"): False}
    for i, person in enumerate(family.pedigree.persons):
        where = f"pedigree.persons[{i}]"
        values = ((person.family_id, "familyId"), (person.individual_id, "individualId"))
        if not all(_id_or_refuse(v, w, where, out) for v, w in values):
            continue
        parents = []
        for value, what in ((person.paternal_id, "paternalId"), (person.maternal_id, "maternalId")):
            if value in ("", MISSING_PARENT):
                parents.append(None)
            elif _id_or_refuse(value, what, where, out):
                parents.append(value)
            else:
                parents.append(None)
        if person.sex not in Sex.values():
            out.append(QuarantineRecord("record", where, f"{where}: sex has the unknown value "
                                        f"{person.sex}; read as unknown"))
        sex = Sex.Name(person.sex) if person.sex in Sex.values() else "UNKNOWN_SEX"
        sex = "UNKNOWN_SEX" if sex == "OTHER_SEX" else sex
        persons.append(Person(person.family_id, person.individual_id, *parents, sex,
                              status.get(person.affected_status), where))
    packets = {family.proband.subject.id: ("proband", family.proband)}
    for j, rel in enumerate(family.relatives):
        packets.setdefault(rel.subject.id, (f"relatives[{j}]", rel))
    checked, conflicted = [], set()
    for p in persons:
        own = packets.get(p.individual_id)
        if own is not None:
            sex = Sex.Name(own[1].subject.sex) if own[1].subject.sex in Sex.values() else ""
            if sex in ("MALE", "FEMALE") and p.sex in ("MALE", "FEMALE") and sex != p.sex:
                out.append(QuarantineRecord(
                    "sample", p.individual_id,
                    f"sex conflict for {shown(p.individual_id)}: {p.where} says {p.sex.lower()}, "
                    f"its phenopacket ({own[0]}.subject.sex) says {sex.lower()}; the sex is "
                    "not used and the individual's parent links (as child and as parent) are "
                    "not used"))
                conflicted.add(p.individual_id)
                p = replace(p, sex="UNKNOWN_SEX", father_id=None, mother_id=None)
        checked.append(p)
    checked = [replace(p, father_id=None if p.father_id in conflicted else p.father_id,
                       mother_id=None if p.mother_id in conflicted else p.mother_id)
               for p in checked]
    persons, checks = check_pedigree(checked)
    return persons, out + checks


def family_rows(family) -> tuple[pa.Table, list[QuarantineRecord]]:
    """``pedigrees`` rows for a Family phenopacket (see ``family_persons``)."""
    persons, out = family_persons(family)
    return _rows(persons), out


