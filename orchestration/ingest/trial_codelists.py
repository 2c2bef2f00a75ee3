"""CDISC Controlled Terminology for the trial variables the analyses depend on.

The project ships a small, versioned subset of SDTM CT (reference/data/cdisc_ct_subset.json:
SEX, NY, AESEV, DSCAT; NCOMPLT for the disposition reasons the time-to-event derivations
read). At ingest a value of a variable bound to a **non-extensible** codelist is matched
case-insensitively and written as the codelist's submission value ("Mild" → "MILD"); a value
still outside the codelist refuses its record, naming the variable, the codelist and the CT
version. Extensible codelists (a sponsor may add terms) refuse nothing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from orchestration.ingest.ids import shown


@lru_cache(maxsize=1)
def terminology() -> dict:
    """The shipped CT subset (version, codelists, which raw-table column uses which)."""
    return json.loads(resources.files("orchestration.reference").joinpath(
        "data/cdisc_ct_subset.json").read_text(encoding="utf-8"))


def bound_columns(table: str) -> dict[str, str]:
    """{column of ``table``: codelist name} for the non-extensible codelists it uses."""
    ct = terminology()
    return {col: name for col, name in ct["variables"].get(table, {}).items()
            if not ct["codelists"][name]["extensible"]}


def submission_values(codelist: str) -> dict[str, str]:
    """{upper-cased value: submission value} of a codelist."""
    return {v.upper(): v for v in terminology()["codelists"][codelist]["values"]}


def problem(value: str, variable: str, codelist: str) -> str | None:
    """Why ``value`` of ``variable`` is refused, or None when it is in the codelist."""
    if str(value).strip().upper() in submission_values(codelist):
        return None
    ct = terminology()
    allowed = ", ".join(ct["codelists"][codelist]["values"])
    return (f"{variable} {shown(str(value))} is not in the CDISC codelist {codelist} "
            f"({ct['codelists'][codelist]['code']}, {ct['version']}: {allowed})")
