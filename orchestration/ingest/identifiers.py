"""Direct-identifier gate: names, birth dates, addresses, phones, e-mails, national ids/MRNs.

Findings describe *where* an identifier is and what kind it is, never its value, so the
reason can be stored in the quarantine table without leaking the identifier itself.
Checks are deliberately narrow (keys by name, values by unambiguous patterns) so
ordinary clinical text such as HPO labels passes.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

# Keys compared after lower-casing and dropping "_", "-", " ".
IDENTIFIER_KEYS = {
    "name": "person name", "firstname": "person name", "lastname": "person name",
    "surname": "person name", "givenname": "person name", "familyname": "person name",
    "fullname": "person name", "middlename": "person name", "patientname": "person name",
    "maidenname": "person name",
    "dateofbirth": "date of birth", "dob": "date of birth", "birthdate": "date of birth",
    "birthday": "date of birth",
    "address": "address", "streetaddress": "address", "street": "address",
    "postalcode": "address", "postcode": "address", "zipcode": "address", "zip": "address",
    "phone": "phone number", "phonenumber": "phone number", "telephone": "phone number",
    "mobile": "phone number", "fax": "phone number",
    "email": "e-mail address", "emailaddress": "e-mail address", "mail": "e-mail address",
    "ssn": "national id", "socialsecuritynumber": "national id", "nationalid": "national id",
    "nhsnumber": "national id", "passport": "national id", "passportnumber": "national id",
    "insurancenumber": "national id",
    "mrn": "medical record number", "medicalrecordnumber": "medical record number",
}

# The lookbehind starts a match only where a run of local-part characters starts: without
# it a search tries every position of a long run (a 140,000-character id took 50 s).
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                   r"\.[A-Za-z]{2,}")
# Phone numbers need separators between digit groups (or a leading +) so ids, coordinates
# and dates do not match; the digit count is checked separately.
PHONE = re.compile(r"(?<![\w.:/-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?)?"
                   r"\d{2,5}(?:[\s.-]\d{2,5}){1,4}(?![\w.:/-])")
PLUS_PHONE = re.compile(r"(?<![\w])\+\d[\d\s().-]{7,}\d(?![\w])")
SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
SEPARATED_DATE = re.compile(r"(?<!\d)(?:(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
                            r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)\d\d)(?!\d)")
PERSON_NAME = re.compile(r"[A-Z][a-z]+(?:,?\s+[A-Z][a-z]*\.?)*,?\s+[A-Z][a-z]+")
RECORD_NUMBER_TOKEN = re.compile(r"(?i)(?:^|[^a-z])(mrn|ssn|nhs)(?:[^a-z]|$)")


def identifier_key_kind(key: str) -> str | None:
    """The kind of direct identifier a field name denotes, or None."""
    return IDENTIFIER_KEYS.get(re.sub(r"[\s_-]", "", key).lower())


def _phone_like(text: str) -> bool:
    for rx in (PHONE, PLUS_PHONE):
        for m in rx.finditer(text):
            if 9 <= sum(c.isdigit() for c in m.group()) <= 15:
                return True
    return False


def text_identifier_kind(text: str) -> str | None:
    """Kind of identifier found in free text by pattern (e-mail, phone, SSN), or None."""
    if EMAIL.search(text):
        return "e-mail address"
    if SSN.search(text):
        return "national id"
    if _phone_like(text):
        return "phone number"
    return None


def id_identifier_kind(value: str) -> str | None:
    """Kind of direct identifier an id-like value (sample name, subject id, column header)
    looks like — e-mail, phone, SSN, a date of birth, a person's name, an MRN — or None."""
    kind = text_identifier_kind(value)
    if kind:
        return kind
    if SEPARATED_DATE.search(value):
        return "date of birth"
    if PERSON_NAME.fullmatch(value.strip()):
        return "person name"
    if RECORD_NUMBER_TOKEN.search(value):
        return "medical record number"
    return None


def scan_ids(values: Iterable[str], what: str) -> list[str]:
    """Findings for id-like values; each names the position, not the value."""
    return [f"{what} #{i + 1} looks like a {kind}"
            for i, v in enumerate(values) if (kind := id_identifier_kind(v))]


# Schema fields named like identifiers that are not about a person.
# (a Family phenopacket nests a phenopacket's metaData under proband / relatives[i])
_ALLOWED_NAME_PATHS = re.compile(r"^(?:(?:proband|relatives\[\d+\])\.)?metaData\.resources\[\d+\]\.name$")


def scan_json(obj: Any, path: str = "") -> list[str]:
    """Findings in parsed JSON: identifier keys anywhere and e-mail/phone/SSN in string values."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            sub = f"{path}.{key}" if path else str(key)
            kind = identifier_key_kind(str(key))
            if kind and not _ALLOWED_NAME_PATHS.match(sub):
                found.append(f"{sub} is a {kind} field")
                continue
            found.extend(scan_json(value, sub))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found.extend(scan_json(value, f"{path}[{i}]"))
    elif isinstance(obj, str):
        kind = text_identifier_kind(obj)
        if kind:
            found.append(f"{path} contains a {kind}")
    return found


_META_LINE = re.compile(r"^##([^=]+)=(.*)$")
_ATTR = re.compile(r'(?:^|,)\s*([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|[^,]*)')


def scan_vcf_header(meta_lines: list[str], first_line_no: int = 1) -> list[str]:
    """Findings in VCF ``##`` lines: identifier keys/attribute names and e-mail/phone/SSN values."""
    found: list[str] = []
    for i, line in enumerate(meta_lines):
        m = _META_LINE.match(line.rstrip("\r\n"))
        if not m:
            continue
        key, value = m.groups()
        where = f"header line {first_line_no + i} (##{key})"
        kind = identifier_key_kind(key)
        if not kind and value.startswith("<") and value.endswith(">"):
            kind = next((k for a in _ATTR.finditer(value[1:-1])
                         if (k := identifier_key_kind(a.group(1)))), None)
        kind = kind or text_identifier_kind(value)
        if kind:
            found.append(f"{where} carries a {kind}")
    return found
