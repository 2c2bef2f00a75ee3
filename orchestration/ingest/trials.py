"""Clinical-trial datasets (``landing/trials/<study>/``) → the raw trial tables.

One file is one dataset and becomes one table of ``trial_schemas.TRIAL_SCHEMAS``:

* formats by suffix: ``.xpt`` (SAS transport v5, read by pyreadstat from the bytes
  ``read_landing`` returned, so nothing is re-opened by path or through a link; character
  data UTF-8, else latin-1), ``.json`` (CDISC Dataset-JSON v1.1, or v1.0 with exactly one
  item group; ``ITEMGROUPDATASEQ`` is dropped) and ``.csv`` (UTF-8, header of the
  standard variable names; every value is text). ``patient_links.csv`` is the study's
  link file (USUBJID, PATIENT_ID, optional STUDYID) → ``trial_links``. Any other suffix,
  and any dataset the lake does not read (SUPP--, RELREC, CM, an ADaM dataset that is
  neither ADSL/ADAE/ADTTE nor BDS with PARAMCD and AVAL …), is refused as a file.
* the dataset's name is the Dataset-JSON ``name``, the xpt member name or the file stem;
  a DOMAIN column must agree with it (a split dataset such as LBCH with DOMAIN LB is read
  as its domain).
* variables are matched by upper-cased name to the schema's lower-case columns (the
  findings domains without their two-letter prefix, ``--LOBXFL`` standing in for a missing
  ``--BLFL``); every other variable goes to ``extra``, a JSON object with sorted keys
  (numbers stay numbers for xpt and Dataset-JSON numeric variables; CSV values are text).
  A dataset without one of ``KEY_VARIABLES`` is refused naming it.
* values: trailing blanks are stripped and empty text is null; SAS missing numerics
  (``.``, ``.A`` … ``._``) are null; a numeric in a character column is written without
  a trailing ``.0``; numeric ``*DT`` variables (ADaM dates, days since 1960-01-01) become
  ISO dates and numeric ``*DTM`` variables (seconds since 1960) ISO date-times.

Refused per record (the record is left out, one ``QuarantineRecord`` per record with every
reason; locator "record <n> (USUBJID=…)"): a null key variable (``KEY_VARIABLES``); a
STUDYID/USUBJID (and a link's PATIENT_ID) failing ``ids.id_problem``; a key variable's
value that is not a number or not a date; and in the one-row-per-subject datasets (DM,
ADSL, the link file) a subject given twice: both rows when they disagree on the arm /
planned treatment / patient, else the later rows.

Refused per value (granularity "value": the value is nulled, the record kept; locator
"record <n> (USUBJID=…) <VARIABLE>"): a value of a numeric variable that is not a number;
a ``*DTC`` (or text ``*DT``/``*DTM``) value that is not ISO 8601 or not a real calendar
date — SDTM's partial dates with ``-`` placeholders ("2021---15", "--12-15") too, since
every reader of the raw tables takes a date's leading part as its precision; a value
outside a non-extensible CDISC codelist (``trial_codelists``; case is normalized first);
e-mail addresses, phone numbers or SSNs (``identifiers.text_identifier_kind``) in a
free-text value (the reason names the kind and variable, never the value; id and date
variables are not scanned, as "01-701-1015" style ids look like phone numbers). An AE
with an unreadable onset date is still an AE (the analyses treat an unknown onset
conservatively), which refusing the record would lose.

Refused per variable (granularity "variable"): a variable whose name denotes a direct
identifier (``identifiers.identifier_key_kind`` plus SDTM-style SUBJNAME, PATNAME,
INITIALS …, and INVNAM, the investigator's name) is dropped and the rest of the dataset
read.

Transformed without a quarantine record (a documented transformation, not a refusal): a
birth date (BRTHDTC, ADaM BRTHDT) is cut to its year before any check, whatever its
spelling ("1961-07-14", "14/07/1961" → "1961"; no year → null), the precision the analyses
need, so a full date of birth is never stored nor quoted in a reason.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyreadstat

from orchestration.ingest import limits
from orchestration.ingest.identifiers import identifier_key_kind, text_identifier_kind
from orchestration.ingest.ids import escaped, id_problem, shown
from orchestration.ingest.landing import read_landing
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.ingest.trial_codelists import bound_columns
from orchestration.ingest.trial_codelists import problem as codelist_problem
from orchestration.lake.schemas import without_lineage
from orchestration.lake.trial_schemas import (ADAM_TABLES, DESIGN_DOMAINS, FINDINGS_DOMAINS,
                                              KEY_VARIABLES, SDTM_TABLES, TRIAL_SCHEMAS)

DOMAIN = "trials"                       # the landing domain (and its limits' key)
LINKS_FILE = "patient_links.csv"
SUFFIXES = (".xpt", ".json", ".csv")
SAS_EPOCH = datetime(1960, 1, 1)
ROW = "_row"                            # 1-based record number while conforming
# SDTM-style spellings of a subject's name the generic identifier keys do not list.
IDENTIFIER_VARIABLES = {v: "person name" for v in
                        ("SUBJNAME", "PATNAME", "PTNAME", "PATIENTNM", "INITIALS", "SUBJINIT",
                         "PATINIT", "PTINIT", "INIT")}
# The investigator's name (DM.INVNAM) is a person's name too: dropped like the subject's.
IDENTIFIER_VARIABLES["INVNAM"] = "investigator name"
BIRTH_VARIABLES = ("BRTHDTC", "BRTHDT")   # cut to the year
# Columns a dataset variable never fills: the parser sets them.
_SET_BY_PARSER = ("locator", "extra", "dataset")
# Findings variables that carry no domain prefix.
_UNPREFIXED = ("studyid", "domain", "usubjid", "visitnum", "visit")
# One row per subject: the variable two rows of one subject must agree on, and its plural.
SUBJECT_LEVEL = {"trial_dm": ("arm", "arms"), "trial_adsl": ("trt01p", "planned treatments"),
                 "trial_links": ("patient_id", "patients")}
ID_COLUMNS = ("studyid", "usubjid", "patient_id")
_JSON_NUMERIC = ("integer", "float", "double", "decimal")
_ISO = re.compile(r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
                  r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?"
                  r"(?:Z|[+-](?P<zh>\d{2}):(?P<zm>\d{2}))?)?)?)?")
_PLACEHOLDER = re.compile(r"[\d-]*--[\d-]*(?:T.*)?|-+\d.*")


@dataclass
class _Dataset:
    name: str                # upper-cased dataset name
    frame: pl.DataFrame      # upper-cased variables; Float64 (numeric) or String columns


# --------------------------------------------------------------------------- values
def num_text(value: float) -> str:
    """A numeric value as text: integers without ".0" (a numeric SITEID 101 → "101")."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _number(text: str) -> float | None:
    """``text`` as a finite float, or None."""
    text = text.strip()
    if not text or "_" in text:          # float() would accept "1_000"
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def iso8601_problem(value: str) -> str | None:
    """Why ``value`` is not an ISO 8601 date / date-time as SDTM writes it (YYYY, YYYY-MM,
    YYYY-MM-DD, then optionally Thh, Thh:mm, Thh:mm:ss(.f) and Z or ±hh:mm) on a real
    calendar date, or None when it is."""
    m = _ISO.fullmatch(value)
    if m is None:
        if _PLACEHOLDER.fullmatch(value):
            return "is a partial date with '-' placeholders, which is not read"
        return "is not an ISO 8601 date"
    g = m.groupdict()
    try:
        if g["d"]:
            date(int(g["y"]), int(g["m"]), int(g["d"]))
        elif g["m"] and not 1 <= int(g["m"]) <= 12:
            return "is not a real calendar date (month)"
    except ValueError:
        return "is not a real calendar date"
    if (g["H"] and int(g["H"]) > 23 or g["M"] and int(g["M"]) > 59
            or g["S"] and int(g["S"]) > 59 or g["zh"] and int(g["zh"]) > 14
            or g["zm"] and int(g["zm"]) > 59):
        return "is not a real time of day"
    return None


def sas_date(days: float) -> str | None:
    """A SAS date (days since 1960-01-01) as an ISO date, or None when out of range."""
    try:
        return (SAS_EPOCH + timedelta(days=math.floor(days))).date().isoformat()
    except (OverflowError, ValueError):
        return None


def sas_datetime(seconds: float) -> str | None:
    """A SAS date-time (seconds since 1960-01-01T00:00) as ISO 8601, or None when out of range."""
    try:
        value = SAS_EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None
    return value.isoformat(timespec="seconds" if seconds.is_integer() else "milliseconds")


# --------------------------------------------------------------------------- reading
def _check_records(n: int, name: str) -> None:
    limit = limits.MAX_RECORDS[DOMAIN]
    if n > limit.value:
        raise limit.refuse(f"{escaped(name)} has {n:,} records")


def _read_xpt(data: bytes, stem: str) -> _Dataset:
    """SAS transport v5 from memory (pyreadstat reads a file-like object, so no copy of
    the data is written anywhere); character data UTF-8, else latin-1."""
    error: Exception | None = None
    for encoding in ("utf-8", "latin1"):
        try:
            _, meta = pyreadstat.read_xport(io.BytesIO(data), metadataonly=True, encoding=encoding)
            _check_records(meta.number_rows or 0, meta.table_name or stem)
            frame, meta = pyreadstat.read_xport(io.BytesIO(data), encoding=encoding,
                                                disable_datetime_conversion=True,
                                                output_format="polars")
            _check_records(frame.height, meta.table_name or stem)
            break
        except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, UnicodeDecodeError,
                ValueError, TypeError) as exc:
            # TypeError: a NAMESTR record with a blank variable name reaches the frame's
            # constructor as a None column name (found by `make fuzz`)
            error = exc
    else:
        raise FileRejected(f"not a readable SAS transport (XPORT v5) file: {escaped(error)}")
    return _Dataset(str(meta.table_name or stem), frame)


def _json_number(value: int | float) -> float | None:
    """A JSON number as a finite float, or None: json reads 1e400 as inf, and an integer
    of 309 or more digits does not fit a float."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _json_column(name: str, values: list, numeric: bool) -> pl.Series:
    """One Dataset-JSON column: Float64 when declared numeric and every value is a finite
    number (or a number written as text, as v1.1 writes decimals), else String."""
    for i, v in enumerate(values, start=1):
        if isinstance(v, (dict, list)):
            raise FileRejected(f"record {i}: {escaped(name)} holds a JSON "
                               f"{'object' if isinstance(v, dict) else 'array'}, not a value")
    if numeric:
        nums = [None if v is None else
                (_json_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                 else _number(v) if isinstance(v, str) else None) for v in values]
        if all(n is not None or v is None or v == "" for n, v in zip(nums, values)):
            return pl.Series(name, nums, dtype=pl.Float64)
    # a number that is not a finite float stays as written ("inf", all its digits): a
    # numeric schema column then refuses its record as not a number
    text = [None if v is None else
            ("true" if v else "false") if isinstance(v, bool) else
            (num_text(n) if (n := _json_number(v)) is not None else str(v))
            if isinstance(v, (int, float)) else str(v) for v in values]
    return pl.Series(name, text, dtype=pl.String)


def _refuse_constant(token: str):
    raise FileRejected(f"not valid JSON: {token} is not a JSON value")


def _read_json(data: bytes) -> _Dataset:
    """CDISC Dataset-JSON v1.1 (``columns``/``rows``) or v1.0 (one item group)."""
    try:
        doc = json.loads(data.decode("utf-8-sig"), parse_constant=_refuse_constant)
    # ValueError besides JSONDecodeError: an integer of more than 4,300 digits
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FileRejected(f"not valid JSON: {escaped(exc)}") from None
    if not isinstance(doc, dict):
        raise FileRejected("not a CDISC Dataset-JSON file: the top level is not an object")
    if "columns" in doc:
        name, columns, rows = doc.get("name"), doc["columns"], doc.get("rows")
        key = "dataType"
    else:
        body = doc.get("clinicalData") or doc.get("referenceData")
        groups = body.get("itemGroupData") if isinstance(body, dict) else None
        if not isinstance(groups, dict):
            raise FileRejected("not a CDISC Dataset-JSON file: neither 'columns'/'rows' (v1.1) "
                               "nor 'clinicalData'/'referenceData' → 'itemGroupData' (v1.0)")
        if len(groups) != 1:
            raise FileRejected(f"the Dataset-JSON file holds {len(groups)} item groups; one file "
                               "must be one dataset")
        oid, group = next(iter(groups.items()))
        if not isinstance(group, dict):
            raise FileRejected(f"item group {shown(oid)} is not an object")
        name = group.get("name") or str(oid).removeprefix("IG.")
        columns, rows, key = group.get("items"), group.get("itemData"), "type"
    if not isinstance(name, str) or not name.strip():
        raise FileRejected("the Dataset-JSON file names no dataset ('name')")
    if not isinstance(columns, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns):
        raise FileRejected(f"{shown(name)}: the column definitions are not a list of objects "
                           "with a 'name'")
    rows = [] if rows is None else rows
    if not isinstance(rows, list):
        raise FileRejected(f"{shown(name)}: the rows are not a list")
    _check_records(len(rows), name)
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != len(columns):
            raise FileRejected(f"{shown(name)}: record {i} is not a list of {len(columns)} values")
    series = [_json_column(c["name"], [row[j] for row in rows],
                           str(c.get(key, "")).lower() in _JSON_NUMERIC)
              for j, c in enumerate(columns)]
    _check_names([s.name for s in series], name)
    return _Dataset(name.strip(), pl.DataFrame(series))


def _read_csv(data: bytes, name: str) -> _Dataset:
    """A CSV with a header of variable names; every value is read as text."""
    limits.check_line_lengths(data, 1, limits.MAX_LINE_BYTES.value)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not UTF-8 text: {exc}") from None
    if not data.strip():
        raise FileRejected("the CSV file is empty (no header)")
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    _check_records(lines - 1, name)
    try:
        frame = pl.read_csv(data, infer_schema=False, has_header=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise FileRejected(f"unreadable CSV: {escaped(exc)}") from None
    return _Dataset(name, frame)


def _check_names(names: list[str], dataset: str) -> None:
    upper = [n.strip().upper() for n in names]
    dupes = sorted({n for n in upper if upper.count(n) > 1})
    if dupes:
        raise FileRejected(f"{shown(dataset)}: variable(s) {', '.join(map(shown, dupes))} "
                           "given more than once")
    if any(not n for n in upper):
        raise FileRejected(f"{shown(dataset)}: a variable has no name")


def _read(path: Path) -> _Dataset:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FileRejected(f"not a trial dataset: {escaped(path.name)} is not .xpt (SAS "
                           "transport v5), .json (CDISC Dataset-JSON) or .csv")
    data = read_landing(path, DOMAIN)
    stem = path.stem.upper()
    if suffix == ".xpt":
        ds = _read_xpt(data, stem)
    elif suffix == ".json":
        ds = _read_json(data)
    else:
        ds = _read_csv(data, stem)
    _check_names(ds.frame.columns, ds.name)
    frame = ds.frame.rename({c: c.strip().upper() for c in ds.frame.columns})
    frame = frame.drop([c for c in frame.columns if c == "ITEMGROUPDATASEQ"])
    # SAS pads character values with blanks and writes a missing one as blanks
    frame = frame.with_columns(
        [pl.col(c).str.strip_chars_end(" ").replace("", None) for c, t in frame.schema.items()
         if t == pl.String]
        + [pl.col(c).cast(pl.Float64).fill_nan(None) for c, t in frame.schema.items()
           if t != pl.String])
    return _Dataset(ds.name.strip().upper(), frame)


# --------------------------------------------------------------------------- mapping
def _dataset_table(name: str, variables: set[str], links: bool) -> tuple[str, str | None]:
    """(raw table, SDTM domain) of a dataset (``links``: the study's link file), or
    FileRejected saying why it is not read."""
    if links:
        return "trial_links", None
    if name in SDTM_TABLES:
        return SDTM_TABLES[name], name
    if name in FINDINGS_DOMAINS:
        return "trial_findings", name
    if name in DESIGN_DOMAINS:
        return "trial_design", name
    if name in ADAM_TABLES:
        return ADAM_TABLES[name], None
    if name.startswith("AD") and {"PARAMCD", "AVAL"} <= variables:
        return "trial_adbds", None
    shown_name = escaped(name[:40])
    if name.startswith("SUPP"):
        raise FileRejected(f"{shown_name}: supplemental qualifiers (SUPP--) are not read yet")
    if name == "RELREC":
        raise FileRejected("RELREC: related records are not read yet")
    if name.startswith("AD"):
        raise FileRejected(f"{shown_name}: an ADaM dataset that is neither ADSL, ADAE, ADTTE nor "
                           "a BDS dataset (PARAMCD and AVAL); it is not read")
    raise FileRejected(
        f"{shown_name}: not a dataset the lake reads (SDTM {', '.join(SDTM_TABLES)}; findings "
        f"{', '.join(FINDINGS_DOMAINS)}; trial design {', '.join(DESIGN_DOMAINS)}; ADaM "
        f"{', '.join(ADAM_TABLES)} and BDS datasets with PARAMCD and AVAL)")


def _domain_of(name: str, frame: pl.DataFrame) -> str:
    """The dataset's name as its DOMAIN column confirms it; a split findings dataset (LBCH
    with DOMAIN LB) is read as its domain. FileRejected when they disagree."""
    if "DOMAIN" not in frame.columns:
        return name
    values = sorted(frame.get_column("DOMAIN").cast(pl.String).drop_nulls().unique().to_list())
    if len(values) > 1:
        raise FileRejected(f"{escaped(name[:40])}: the DOMAIN column holds several domains "
                           f"({', '.join(shown(v) for v in values[:5])})")
    if not values or values[0].upper() == name:
        return name
    domain = values[0].upper()
    if domain in FINDINGS_DOMAINS and name.startswith(domain) and len(name) <= len(domain) + 2:
        return domain
    raise FileRejected(f"the dataset is named {escaped(name[:40])} but its DOMAIN is "
                       f"{shown(values[0])}")


def _candidates(table: str, column: str, domain: str | None) -> tuple[str, ...]:
    """The file variables that fill ``column``, in order of preference."""
    if table == "trial_findings" and column not in _UNPREFIXED:
        names = (domain + column.upper(),)
        return names + (domain + "LOBXFL",) if column == "blfl" else names
    return (column.upper(),)


def _targets(table: str, domain: str | None, variables: list[str]) -> dict[str, str]:
    """{schema column: file variable} for the columns the file fills."""
    out = {}
    for field in without_lineage(TRIAL_SCHEMAS[table]):
        if field.name in _SET_BY_PARSER:
            continue
        found = [v for v in _candidates(table, field.name, domain) if v in variables]
        if found:
            out[field.name] = found[0]
    return out


def _identifier_kind(variable: str) -> str | None:
    return IDENTIFIER_VARIABLES.get(variable) or (
        None if variable in BIRTH_VARIABLES else identifier_key_kind(variable))


# --------------------------------------------------------------------------- checks
Problems = list[pl.DataFrame]          # frames of (ROW, reason)


def _value_level(found: pl.DataFrame, var: str, table: str,
                 targets: dict[str, str] | None = None) -> pl.DataFrame:
    """A problem with one value of a variable the record can do without: that value is
    nulled and reported (granularity "value"), the record kept. A key variable's problem
    refuses the record (no ``variable`` column)."""
    keys = {(targets or {}).get(c, c.upper()) for c in KEY_VARIABLES[table]}
    return found if var in keys else found.with_columns(pl.lit(var).alias("variable"))


def _judge(frame: pl.DataFrame, var: str,
           judge: Callable[[object], str | None]) -> pl.DataFrame | None:
    """(ROW, reason) for the records whose ``var`` value ``judge`` finds a reason against;
    each distinct value is judged once."""
    bad = {v: r for v in frame.get_column(var).drop_nulls().unique().to_list() if (r := judge(v))}
    if not bad:
        return None
    col = pl.col(var)
    return (frame.filter(col.is_in(list(bad)))
            .select(ROW, col.replace_strict(bad, return_dtype=pl.String).alias("reason")))


def _convert(frame: pl.DataFrame, var: str, convert: Callable[[object], object],
             dtype: pl.DataType) -> pl.DataFrame:
    """``var`` replaced by ``convert`` of each distinct value (None where it gives None)."""
    mapping = {v: convert(v) for v in frame.get_column(var).drop_nulls().unique().to_list()}
    return frame.with_columns(pl.col(var).replace_strict(mapping, default=None, return_dtype=dtype))


def _sas_dates(frame: pl.DataFrame, problems: Problems) -> pl.DataFrame:
    """Numeric ``*DT`` / ``*DTM`` variables → ISO text (a value out of range: a problem)."""
    for var, dtype in frame.schema.items():
        if dtype != pl.Float64 or not var.endswith(("DT", "DTM")):
            continue
        to_iso, unit = (sas_date, "date") if var.endswith("DT") else (sas_datetime, "date-time")
        found = _judge(frame, var, lambda v, var=var, to_iso=to_iso, unit=unit:
                       None if to_iso(v) else f"{var} {num_text(v)} is not a SAS {unit}")
        if found is not None:
            problems.append(found)
        frame = _convert(frame, var, to_iso, pl.String)
    return frame


def _subject_repeats(frame: pl.DataFrame, usubjid: str, value_var: str | None,
                     noun: str) -> pl.DataFrame | None:
    """(ROW, reason) for a subject given more than once: every record of a subject whose
    records disagree on ``value_var``, else each record after the first."""
    value = pl.col(value_var) if value_var else pl.lit(None, pl.String)
    rows = (frame.filter(pl.col(usubjid).is_not_null())
            .select(ROW, pl.col(usubjid).alias("u"), value.alias("v"))
            .filter(pl.len().over("u") > 1))
    if rows.is_empty():
        return None
    out = []
    for (u,), group in rows.group_by("u", maintain_order=True):
        recs = group.get_column(ROW).to_list()
        vals = group.get_column("v").to_list()
        if len(set(vals)) > 1:
            listed = ", ".join(f"{'null' if v is None else shown(v)} (record {r})"
                               for r, v in zip(recs, vals))
            out += [(r, f"subject {shown(u)} is given with {len(set(vals))} different {noun}: "
                        f"{listed}") for r in recs]
        else:
            out += [(r, f"subject {shown(u)} is given twice: a duplicate of record {recs[0]}")
                    for r in recs[1:]]
    return pl.DataFrame(out, schema={ROW: pl.UInt32, "reason": pl.String}, orient="row")


def _scanned_for_identifiers(var: str) -> bool:
    """Free text is scanned for e-mail/phone/SSN; ids, dates and DOMAIN are not."""
    return not (var.endswith(("ID", "DTC", "DT", "DTM")) or var in ("DOMAIN", "USUBJID"))


def _check(frame: pl.DataFrame, table: str, targets: dict[str, str],
           problems: Problems) -> pl.DataFrame:
    """Append the record-level problems of ``frame``; return it with schema numeric columns
    as Float64 and schema text columns as String."""
    schema = TRIAL_SCHEMAS[table]
    # before any conversion: a value that is not a number is reported as that, not as missing
    for col in KEY_VARIABLES[table]:
        var = targets[col]
        problems.append(frame.filter(pl.col(var).is_null())
                        .select(ROW, pl.lit(f"{var} missing").alias("reason")))
    for col, var in targets.items():
        numeric = schema.field(col).type == pa.float64()
        dtype = frame.schema[var]
        if numeric and dtype == pl.String:
            found = _judge(frame, var, lambda v, var=var:
                           None if _number(v) is not None else f"{var} {shown(v)} is not a number")
            if found is not None:
                problems.append(_value_level(found, var, table))
            frame = _convert(frame, var, _number, pl.Float64)
        elif not numeric and dtype == pl.Float64:
            frame = _convert(frame, var, num_text, pl.String)
    for var, dtype in frame.schema.items():
        if dtype == pl.String and var.endswith(("DTC", "DT", "DTM")):
            found = _judge(frame, var, lambda v, var=var:
                           (f"{var} {shown(v)} {p}" if (p := iso8601_problem(v)) else None))
            if found is not None:
                problems.append(_value_level(found, var, table, targets))
        if dtype == pl.String and _scanned_for_identifiers(var):
            found = _judge(frame, var, lambda v, var=var:
                           (f"{var} contains a direct identifier ({k}); free text with "
                            "one is not accepted" if (k := text_identifier_kind(v)) else None))
            if found is not None:
                problems.append(_value_level(found, var, table, targets))
    for col, codelist in bound_columns(table).items():
        if col in targets and frame.schema[targets[col]] == pl.String:
            var = targets[col]
            found = _judge(frame, var, lambda v, var=var, cl=codelist: codelist_problem(v, var, cl))
            if found is not None:
                problems.append(_value_level(found, var, table, targets))
            # written as the codelist's submission value ("Mild" → "MILD")
            frame = frame.with_columns(pl.col(var).str.strip_chars().str.to_uppercase())
    for col in ID_COLUMNS:
        if col in targets:
            var = targets[col]
            found = _judge(frame, var, lambda v, var=var:
                           (f"{var} {shown(v)} {p}" if (p := id_problem(v)) else None))
            if found is not None:
                problems.append(found)
    if table in SUBJECT_LEVEL and "usubjid" in targets:
        col, noun = SUBJECT_LEVEL[table]
        found = _subject_repeats(frame, targets["usubjid"], targets.get(col), noun)
        if found is not None:
            problems.append(found)
    return frame


def _cut_birth_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """Birth dates cut to their year, whatever their spelling ("1961-07-14", "14/07/1961"
    → "1961"; no year found → null), before any check, so that a full date of birth is
    never kept and never quoted in a reason."""
    year = r"((?:18|19|20)\d\d)"
    return frame.with_columns(
        pl.coalesce(pl.col(v).str.extract(r"^" + year, 1), pl.col(v).str.extract(r"\b" + year + r"\b", 1))
        .alias(v) for v in BIRTH_VARIABLES if v in frame.columns and frame.schema[v] == pl.String)


# --------------------------------------------------------------------------- the parser
def parse_trial_file(path: Path) -> ParseResult:
    """Parse one trial dataset (``.xpt``, Dataset-JSON ``.json``, ``.csv``) or the study's
    ``patient_links.csv`` into its raw trial table (see the module doc for what is refused
    as a file, a variable or a record, and why)."""
    path = Path(path)
    ds = _read(path)
    name, frame = ds.name, ds.frame
    domain = _domain_of(name, frame)
    table, domain = _dataset_table(domain, set(frame.columns), path.name.lower() == LINKS_FILE)
    quarantine: list[QuarantineRecord] = []
    for var in list(frame.columns):
        kind = _identifier_kind(var)
        if kind:
            frame = frame.drop(var)
            quarantine.append(QuarantineRecord(
                "variable", escaped(var),
                f"direct identifier ({kind}) not accepted; variable dropped"))
    targets = _targets(table, domain, frame.columns)
    missing = [_candidates(table, c, domain)[0] for c in KEY_VARIABLES[table] if c not in targets]
    if missing:
        raise FileRejected(f"{escaped(name)} lacks the key variable(s) {', '.join(missing)}; "
                           "the dataset cannot be used")
    schema = without_lineage(TRIAL_SCHEMAS[table])
    extras = sorted(v for v in frame.columns if v not in targets.values() and v != "DOMAIN")
    if extras and "extra" not in schema.names:
        raise FileRejected(f"{escaped(name)}: unexpected column(s) "
                           f"{', '.join(shown(v) for v in extras[:10])} (a link file has "
                           "STUDYID, USUBJID and PATIENT_ID)")
    frame = frame.with_row_index(ROW, offset=1)
    problems: Problems = []
    frame = _cut_birth_dates(frame)
    frame = _sas_dates(frame, problems)
    frame = _check(frame, table, targets, problems)
    records = [p for p in problems if "variable" not in p.columns]
    values = [p for p in problems if "variable" in p.columns]
    quarantine += _record_quarantine(frame, targets.get("usubjid"), records)
    if records:
        bad_rows = pl.concat([p.select(pl.col(ROW).cast(pl.UInt32)) for p in records])
        frame = frame.join(bad_rows, on=ROW, how="anti")
    frame, nulled = _null_values(frame, values)
    quarantine += _value_quarantine(frame, targets.get("usubjid"), nulled)
    columns = []
    for field in schema:
        dtype = pl.Float64 if field.type == pa.float64() else pl.String
        if field.name == "locator":
            expr = pl.format("record {}", pl.col(ROW))
        elif field.name == "extra":
            expr = (pl.struct(extras).struct.json_encode() if extras
                    else pl.lit("{}"))
        elif field.name == "dataset":
            expr = pl.lit(name)
        elif field.name == "domain" and table in ("trial_findings", "trial_design"):
            expr = pl.lit(domain)
        elif field.name in targets:
            expr = pl.col(targets[field.name])
        else:
            expr = pl.lit(None)
        columns.append(expr.cast(dtype).alias(field.name))
    out = frame.select(columns).to_arrow().cast(schema)
    return ParseResult(tables={table: [out]}, quarantine=quarantine)


def _null_values(frame: pl.DataFrame, values: Problems) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``frame`` with each refused value (ROW, variable) nulled, and those refusals for the
    records still in (a refused record's values are not reported twice)."""
    empty = pl.DataFrame(schema={ROW: pl.UInt32, "variable": pl.String, "reason": pl.String})
    if not values:
        return frame, empty
    found = (pl.concat([p.select(pl.col(ROW).cast(pl.UInt32), "variable", "reason") for p in values])
             .join(frame.select(pl.col(ROW).cast(pl.UInt32)), on=ROW, how="semi"))
    for (var,), rows in found.group_by("variable"):
        frame = frame.with_columns(pl.when(pl.col(ROW).is_in(rows[ROW].to_list()))
                                   .then(None).otherwise(pl.col(var)).alias(var))
    return frame, found.sort(ROW, "variable")


def _value_quarantine(frame: pl.DataFrame, usubjid: str | None,
                      found: pl.DataFrame) -> list[QuarantineRecord]:
    """One QuarantineRecord per refused value: granularity "value", locator
    "record <n> (USUBJID=…) <VARIABLE>"."""
    if found.is_empty():
        return []
    subject = frame.select(pl.col(ROW).cast(pl.UInt32), (pl.col(usubjid) if usubjid
                                                         else pl.lit(None, pl.String)).alias("_u"))
    out = []
    for row, var, reason, u in found.join(subject, on=ROW, how="left").iter_rows():
        who = "" if usubjid is None else " (USUBJID missing)" if u is None else f" (USUBJID={shown(u)})"
        out.append(QuarantineRecord("value", f"record {row}{who} {escaped(var)}",
                                    f"{reason}; the value is left out, the record kept"))
    return out


def _record_quarantine(frame: pl.DataFrame, usubjid: str | None,
                       problems: Problems) -> list[QuarantineRecord]:
    """One record-level QuarantineRecord per refused record, every reason joined."""
    problems = [p.select(pl.col(ROW).cast(pl.UInt32), "reason") for p in problems if p.height]
    if not problems:
        return []
    grouped = (pl.concat(problems).with_row_index("_order")
               .group_by(ROW).agg(pl.col("reason").sort_by("_order").unique(maintain_order=True))
               .sort(ROW))
    subject = frame.select(ROW, (pl.col(usubjid) if usubjid else pl.lit(None, pl.String))
                           .alias("_u"))
    out = []
    for row, reasons, u in grouped.join(subject, on=ROW, how="left").iter_rows():
        where = (f"record {row}" if usubjid is None else
                 f"record {row} (USUBJID missing)" if u is None else
                 f"record {row} (USUBJID={shown(u)})")
        out.append(QuarantineRecord("record", where, "; ".join(reasons)))
    return out
