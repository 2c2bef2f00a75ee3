"""Defective variants of otherwise normal files, to exercise quarantine at each granularity.

Each function takes the normal content for one patient and returns the defective bytes
plus a locator (line, term or sample) for what is wrong.
"""

from __future__ import annotations

import json

UNKNOWN_TERM = "HP:9999999"


def truncated(gz: bytes) -> tuple[bytes, str]:
    """A .vcf.gz cut mid-stream, as an interrupted copy leaves it."""
    cut = max(64, int(len(gz) * 0.6))
    return gz[:cut], f"byte {cut} of {len(gz)}"


def wrong_column_count(text: str) -> tuple[str, str]:
    """One body line loses its last (sample) column."""
    lines = text.split("\n")
    first_body = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    target = first_body + (len(lines) - 1 - first_body) // 2
    lines[target] = lines[target].rsplit("\t", 1)[0]
    return "\n".join(lines), f"line {target + 1}"


def schema_invalid(pp_json: str) -> tuple[str, str]:
    """phenotypicFeatures written as one free-text string instead of a list of objects."""
    d = json.loads(pp_json)
    labels = [f["type"]["label"] for f in d.get("phenotypicFeatures", [])]
    d["phenotypicFeatures"] = "; ".join(labels)
    return json.dumps(d, indent=2) + "\n", "phenotypicFeatures"


def unknown_term(pp_json: str) -> tuple[str, str]:
    """An HPO id that exists in no release, among valid terms."""
    d = json.loads(pp_json)
    feats = d.setdefault("phenotypicFeatures", [])
    feats.insert(len(feats) // 2, {"type": {"id": UNKNOWN_TERM, "label": "Digital anomaly"}})
    return json.dumps(d, indent=2) + "\n", UNKNOWN_TERM


def direct_identifier(pp_json: str) -> tuple[str, str]:
    """Still schema-valid, but carries a date of birth, a name and an address."""
    d = json.loads(pp_json)
    subject = d["subject"]
    d["subject"] = {"id": subject["id"], "alternateIds": ["MRN:00482913"],
                    "dateOfBirth": "1987-03-14T00:00:00Z",
                    **{k: v for k, v in subject.items() if k != "id"}}
    feats = d.get("phenotypicFeatures", [])
    if feats:
        feats[0]["description"] = ("Reported by mother, Jane Doe, 14 Rosewood Lane, "
                                   "Springfield, phone 555-0143")
    return json.dumps(d, indent=2) + "\n", "subject.dateOfBirth"
