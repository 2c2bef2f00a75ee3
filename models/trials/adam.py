"""ADaM analysis datasets derived from SDTM, the way the ADaM implementation guide does,
or conformed from the ADaM datasets a sponsor sent, so the statistics never care which.

Inputs are polars frames with the lower-case SDTM / ADaM variables of
``orchestration.lake.trial_schemas`` (lineage, ``extra`` and ``locator`` are tolerated and
ignored). Every function handles one study or many: subjects are keyed by
(studyid, usubjid). Output dates are ``pl.Date`` (calendar dates; ``.dt.to_string()``
gives the ISO 8601 text); date inputs may be ISO 8601 text (``2024-03-05``,
``2024-03-05T10:30``, partial ``2024-03`` / ``2024``) or ``pl.Date``.

Derivations (what each output variable means)
---------------------------------------------
ADSL (``derive_adsl``), one row per subject of DM:

- ``trt01p`` = DM.ARM; ``trt01a`` = DM.ACTARM, falling back to ARM when ACTARM is empty.
- ``trtsdt`` = the earliest complete EXSTDTC date; ``trtedt`` = the latest complete
  EXENDTC date (EXSTDTC where EXENDTC is missing). Null when the subject has no EX record.
  ``trtdurd`` = trtedt − trtsdt + 1 (days).
- ``randdt`` = the date of DM.RFSTDTC (reference start, the randomization / enrolment date
  for an undosed subject); ADTTE starts an undosed ITT subject's clock there.
- ``agegr1``: "<18", "18-64", ">=65" from AGE.
- ``saffl`` = "Y" when the subject has any EX record (dosed), else "N".
- ``ittfl`` = "Y" when randomized: ARM not one of ``NOT_RANDOMIZED_ARMS`` (nor empty) and
  ARMCD not one of ``NOT_RANDOMIZED_ARMCDS``, else "N".
- ``eosstt`` / ``dcsreas`` / ``eosdt`` from the subject's disposition event: the DS record
  with DSCAT "DISPOSITION EVENT" (or a null DSCAT whose DSDECOD is not a protocol
  milestone, ``DS_MILESTONES``), the latest by date then DSSEQ. DSDECOD "COMPLETED" →
  "COMPLETED"; any other → "DISCONTINUED" with ``dcsreas`` = DSDECOD; no such record →
  "ONGOING". ``eosdt`` = that record's DSSTDTC date.
- ``dthfl`` = "Y" when DM.DTHFL is "Y", DM.DTHDTC is given, or a disposition DSDECOD is
  "DEATH"; else DM.DTHFL as sent.
- ``lstaldt`` (last known alive date) = the latest of: any complete DSSTDTC date, trtedt,
  DM.RFENDTC, and, when ``ae`` is passed, any complete AESTDTC / AEENDTC date. (A death
  date is a DS date too, so a subject who died has lstaldt = date of death at the latest.)

ADAE (``derive_adae``):

- ``astdt`` from AESTDTC: a complete date as is; a partial ``YYYY-MM`` is imputed to the
  first day of the month (``astdtf`` = "D"), ``YYYY`` to January 1 (``astdtf`` = "M"); and
  if the partial date's month (or year) is that of trtsdt, to trtsdt instead — an event in
  the month treatment started is assumed treatment-emergent, the conservative ADaM rule.
  ``aendt`` = the complete AEENDTC date (partial end dates are not imputed).
- ``astdy`` = astdt − trtsdt + 1 on or after trtsdt, astdt − trtsdt before (no day 0).
- ``trtemfl`` = "Y" when trtsdt ≤ astdt ≤ trtedt + ``followup_days``, "N" otherwise, null
  when the subject was never treated (or astdt is unknown).
- ``trta`` = ADSL.TRT01A.

ADTTE (``derive_adtte``), rows per subject × endpoint, for ITT or safety subjects with a
start date; ``startdt`` = trtsdt, or randdt (DM.RFSTDTC) for an undosed subject;
``aval`` = adt − startdt + 1 (days); ``cnsr`` 0 = event, 1 = censored; a censoring date
before startdt is moved to startdt (aval 1):

- ``TTPD`` time to progression or death: event = the earliest disposition-event DS record
  with DSDECOD in ``TTPD_EVENTS``, at its date; else censored at eosdt, else at lstaldt.
- ``TTDISC`` time to discontinuation (any reason): event = eosstt "DISCONTINUED" at eosdt;
  censored at eosdt (completed) or lstaldt (ongoing).
- ``TTAE`` time to first treatment-emergent AE: event = the first TEAE's astdt; censored
  at the earlier of trtedt + 30 days and eosdt (lstaldt when both are missing).
- ``events`` (``{paramcd: DSDECOD values}``) replaces TTPD's event list or adds further
  DS-based endpoints of the same shape (e.g. ``{"TTDTH": ("DEATH",)}``).

BDS (``derive_bds``) for findings (LB → ADLB, VS → ADVS, QS → ADQS, any --  → AD--):
``paramcd`` = TESTCD, ``param`` = TEST, ``avisit`` / ``avisitn`` = VISIT / VISITNUM,
``aval`` = STRESN, ``adt`` = the DTC date, ``ady`` study day as for astdy.
``ablfl`` = "Y" on one record per subject × paramcd: the last (by date, visit, seq) with
a value among those flagged BLFL = "Y"; when none is flagged, the last record with a value
dated on or before trtsdt. ``base`` = that record's aval on every record of the
subject × paramcd; ``chg`` = aval − base on post-baseline records (a later visit number,
or a later date when visit numbers are missing), null on the baseline and before.
``anl01fl`` = "Y" on the last record with a value per subject × paramcd × visit (the one
an analysis by visit uses). Rows come grouped by subject × paramcd (groups in no
particular order), by date, visit and seq within.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import polars as pl

KEY = ["studyid", "usubjid"]
NOT_RANDOMIZED_ARMS = ("Screen Failure", "Not Assigned", "Not Treated", "")
NOT_RANDOMIZED_ARMCDS = ("SCRNFAIL", "NOTASSGN")
DISPOSITION_EVENT = "DISPOSITION EVENT"
# DS records that are milestones, not the end of study, when a sponsor leaves DSCAT empty.
DS_MILESTONES = ("RANDOMIZED", "INFORMED CONSENT OBTAINED", "ENROLLED", "SCREENED",
                 "ELIGIBILITY CRITERIA MET", "FIRST DOSE")
# "LACK OF EFFICACY" is a reason to stop, not progression: such a subject is censored at
# that date (as are withdrawals), as the endpoint's name says
TTPD_EVENTS = ("PROGRESSIVE DISEASE", "DEATH")
TTAE_FOLLOWUP_DAYS = 30
TEAE_FOLLOWUP_DAYS = 30
ENDPOINTS = {"TTPD": "Time to progression or death (days)",
             "TTDISC": "Time to discontinuation (days)",
             "TTAE": "Time to first treatment-emergent adverse event (days)"}

S, F, DT, I = pl.String, pl.Float64, pl.Date, pl.Int64
ADSL_SCHEMA = pl.Schema({
    "studyid": S, "usubjid": S, "subjid": S, "siteid": S, "arm": S, "trt01p": S, "trt01a": S,
    "trtsdt": DT, "trtedt": DT, "trtdurd": I, "randdt": DT, "age": F, "agegr1": S, "sex": S,
    "race": S, "saffl": S, "ittfl": S, "efffl": S, "eosstt": S, "dcsreas": S, "eosdt": DT,
    "dthfl": S, "lstaldt": DT})
ADAE_SCHEMA = pl.Schema({
    "studyid": S, "usubjid": S, "aeseq": F, "aedecod": S, "aebodsys": S, "aesev": S,
    "aeser": S, "astdt": DT, "astdtf": S, "aendt": DT, "astdy": I, "trtemfl": S, "trta": S})
ADTTE_SCHEMA = pl.Schema({
    "studyid": S, "usubjid": S, "paramcd": S, "param": S, "startdt": DT, "adt": DT,
    "aval": F, "cnsr": I, "evntdesc": S, "trtp": S})
BDS_SCHEMA = pl.Schema({
    "studyid": S, "usubjid": S, "dataset": S, "paramcd": S, "param": S, "avisit": S,
    "avisitn": F, "aval": F, "ablfl": S, "base": F, "chg": F, "anl01fl": S, "trtp": S,
    "ady": I, "adt": DT})


# ---- helpers ---------------------------------------------------------------------------

def conform(df: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """``df`` with exactly ``schema``'s columns, in order and typed; missing ones null."""
    return df.select([
        (pl.col(c) if c in df.columns else pl.lit(None)).cast(t, strict=False).alias(c)
        for c, t in schema.items()])


def _need(df: pl.DataFrame, name: str, *cols: str) -> pl.DataFrame:
    """``df`` with every optional SDTM column of ``cols`` present (null when not sent);
    the key variables must be there unless ``df`` has no rows (a domain not sent)."""
    for c in KEY:
        if c not in df.columns:
            if df.height:
                raise ValueError(f"{name}: required variable {c!r} is missing")
            df = df.with_columns(pl.lit(None, S).alias(c))  # a domain not sent: no rows
    return df.with_columns(*[pl.col(c).cast(S) for c in KEY],
                           *[pl.lit(None, S).alias(c) for c in cols if c not in df.columns])


def _date(col: str | pl.Expr) -> pl.Expr:
    """The complete calendar date of an ISO 8601 text (or Date) column; null when partial."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.cast(S).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _first_possible_date(col: str | pl.Expr) -> pl.Expr:
    """The date of an ISO 8601 text, a partial one (``YYYY-MM``, ``YYYY``) imputed to the
    first day it can be: a disposition or dosing record with a partial date still counts
    (its event is never lost), at the earliest date it may have happened."""
    e = pl.col(col) if isinstance(col, str) else col
    txt = e.cast(S).str.strip_chars()
    return pl.coalesce(_date(txt),
                       pl.when(txt.str.contains(r"^\d{4}-\d{2}($|T)"))
                       .then((txt.str.slice(0, 7) + "-01").str.to_date("%Y-%m-%d", strict=False)),
                       pl.when(txt.str.contains(r"^\d{4}($|T)"))
                       .then((txt.str.slice(0, 4) + "-01-01").str.to_date("%Y-%m-%d", strict=False)))


def _as_date(df: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return df.with_columns([_date(c).alias(c) for c in cols if c in df.columns])


def study_day(date: pl.Expr, ref: pl.Expr) -> pl.Expr:
    """CDISC study day: date − ref + 1 on or after ref, date − ref before (no day 0)."""
    d = (date - ref).dt.total_days()
    return pl.when(d >= 0).then(d + 1).otherwise(d)


def _days(n: int | pl.Expr) -> pl.Expr:
    return pl.duration(days=n)


def _disposition(ds: pl.DataFrame) -> pl.DataFrame:
    """The DS records that are disposition events (see the module docstring)."""
    ds = _need(ds, "DS", "dscat", "dsdecod", "dsstdtc", "dsseq")
    cat = pl.col("dscat").str.to_uppercase().str.strip_chars()
    decod = pl.col("dsdecod").str.to_uppercase().str.strip_chars()
    return (ds.filter((cat == DISPOSITION_EVENT)
                      | (pl.col("dscat").is_null() & ~decod.is_in(DS_MILESTONES)))
            .with_columns(decod.alias("dsdecod"), _first_possible_date("dsstdtc").alias("dsdt")))


# ---- ADSL ------------------------------------------------------------------------------

def _exposure(ex: pl.DataFrame) -> pl.DataFrame:
    """trtsdt / trtedt per dosed subject."""
    ex = _need(ex, "EX", "exstdtc", "exendtc")
    return (ex.with_columns(_first_possible_date("exstdtc").alias("_st"),
                            pl.coalesce(_date("exendtc"), _first_possible_date("exstdtc")).alias("_en"))
            .group_by(KEY).agg(pl.col("_st").min().alias("trtsdt"),
                               pl.col("_en").max().alias("trtedt"),
                               pl.lit("Y").alias("saffl")))


def _end_of_study(ds: pl.DataFrame) -> pl.DataFrame:
    """eosstt / dcsreas / eosdt per subject with a disposition event."""
    last = (_disposition(ds).sort([*KEY, "dsdt", "dsseq"], nulls_last=False)
            .group_by(KEY, maintain_order=True).last())
    completed = pl.col("dsdecod") == "COMPLETED"
    return last.select(
        *KEY,
        pl.when(completed).then(pl.lit("COMPLETED")).otherwise(pl.lit("DISCONTINUED"))
        .alias("eosstt"),
        pl.when(completed).then(None).otherwise(pl.col("dsdecod")).alias("dcsreas"),
        pl.col("dsdt").alias("eosdt"),
        (pl.col("dsdecod") == "DEATH").alias("_ds_death"))


def _last_alive(dm: pl.DataFrame, ex: pl.DataFrame, ds: pl.DataFrame,
                ae: pl.DataFrame | None) -> pl.DataFrame:
    """lstaldt per subject: the latest known date (see the module docstring)."""
    ds = _need(ds, "DS", "dsstdtc")
    parts = [ds.select(*KEY, _date("dsstdtc").alias("d")),
             _exposure(ex).select(*KEY, pl.col("trtedt").alias("d")),
             _need(dm, "DM", "rfendtc").select(*KEY, _date("rfendtc").alias("d"))]
    if ae is not None:
        ae = _need(ae, "AE", "aestdtc", "aeendtc")
        parts += [ae.select(*KEY, _date("aestdtc").alias("d")),
                  ae.select(*KEY, _date("aeendtc").alias("d"))]
    return pl.concat(parts).group_by(KEY).agg(pl.col("d").max().alias("lstaldt"))


def agegr1(age: pl.Expr) -> pl.Expr:
    """"<18", "18-64", ">=65" (null when age is missing)."""
    return (pl.when(age < 18).then(pl.lit("<18")).when(age < 65).then(pl.lit("18-64"))
            .when(age >= 65).then(pl.lit(">=65")).otherwise(None))


def _randomized(arm: pl.Expr, armcd: pl.Expr) -> pl.Expr:
    """ittfl: "Y" when the subject was randomized to an arm, else "N"."""
    arm = arm.fill_null("").str.strip_chars()
    out = (~arm.str.to_lowercase().is_in([a.lower() for a in NOT_RANDOMIZED_ARMS])
           & ~armcd.fill_null("").str.strip_chars().str.to_uppercase()
           .is_in(NOT_RANDOMIZED_ARMCDS))
    return pl.when(out).then(pl.lit("Y")).otherwise(pl.lit("N"))


def derive_adsl(dm: pl.DataFrame, ex: pl.DataFrame, ds: pl.DataFrame,
                ae: pl.DataFrame | None = None) -> pl.DataFrame:
    """ADSL, one row per (studyid, usubjid) of DM, columns ``ADSL_SCHEMA`` (derivations in
    the module docstring). ``ae`` (optional SDTM AE) adds AE dates to lstaldt."""
    dm = _need(dm, "DM", "subjid", "siteid", "arm", "armcd", "actarm", "rfstdtc", "age",
               "sex", "race", "dthfl", "dthdtc").unique(KEY, keep="first", maintain_order=True)
    blank = lambda c: pl.col(c).cast(S).str.strip_chars().replace("", None)  # noqa: E731
    out = (dm.with_columns(pl.col("age").cast(F, strict=False))
           .join(_exposure(ex), on=KEY, how="left")
           .join(_end_of_study(ds), on=KEY, how="left")
           .join(_last_alive(dm, ex, ds, ae), on=KEY, how="left")
           .with_columns(
               trt01p=pl.col("arm"),
               trt01a=pl.coalesce(blank("actarm"), pl.col("arm")),
               trtdurd=(pl.col("trtedt") - pl.col("trtsdt")).dt.total_days() + 1,
               randdt=_date("rfstdtc"),
               agegr1=agegr1(pl.col("age")),
               saffl=pl.col("saffl").fill_null("N"),
               ittfl=_randomized(pl.col("arm"), pl.col("armcd")),
               eosstt=pl.col("eosstt").fill_null("ONGOING"),
               dthfl=pl.when((pl.col("dthfl") == "Y") | blank("dthdtc").is_not_null()
                             | pl.col("_ds_death").fill_null(False))
               .then(pl.lit("Y")).otherwise(pl.col("dthfl"))))
    return conform(out, ADSL_SCHEMA)


def _subjects(adsl: pl.DataFrame) -> pl.DataFrame:
    """ADSL (derived or sent) with its date columns as dates."""
    return _as_date(adsl, "trtsdt", "trtedt", "randdt", "eosdt", "lstaldt")


# ---- ADAE ------------------------------------------------------------------------------

def _impute_start(dtc: pl.Expr, trtsdt: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(astdt, astdtf) for a possibly partial AESTDTC (rule in the module docstring)."""
    txt = dtc.cast(S).str.strip_chars()
    full = _date(txt)
    ym = (txt.str.slice(0, 7) + "-01").str.to_date("%Y-%m-%d", strict=False)
    y = (txt.str.slice(0, 4) + "-01-01").str.to_date("%Y-%m-%d", strict=False)
    is_ym = full.is_null() & txt.str.contains(r"^\d{4}-\d{2}$|^\d{4}-\d{2}[^-\d]")
    is_y = full.is_null() & ~is_ym & txt.str.contains(r"^\d{4}($|[^-\d]|-+$)")
    same_month = (ym.dt.year() == trtsdt.dt.year()) & (ym.dt.month() == trtsdt.dt.month())
    same_year = y.dt.year() == trtsdt.dt.year()
    astdt = (pl.when(full.is_not_null()).then(full)
             .when(is_ym).then(pl.when(same_month.fill_null(False)).then(trtsdt).otherwise(ym))
             .when(is_y).then(pl.when(same_year.fill_null(False)).then(trtsdt).otherwise(y))
             .otherwise(None))
    flag = (pl.when(full.is_not_null()).then(None).when(is_ym).then(pl.lit("D"))
            .when(is_y).then(pl.lit("M")).otherwise(None))
    return astdt, flag


def derive_adae(ae: pl.DataFrame, adsl: pl.DataFrame,
                followup_days: int = TEAE_FOLLOWUP_DAYS) -> pl.DataFrame:
    """ADAE, one row per AE record, columns ``ADAE_SCHEMA``: imputed start date, study day,
    treatment-emergence (trtsdt ≤ astdt ≤ trtedt + ``followup_days``) and actual arm; see
    the module docstring."""
    ae = _need(ae, "AE", "aeseq", "aedecod", "aebodsys", "aesev", "aeser", "aestdtc",
               "aeendtc")
    subj = _subjects(adsl).select(*KEY, "trtsdt", "trtedt", pl.col("trt01a").alias("trta"))
    out = ae.drop([c for c in ("trta", "trtsdt", "trtedt") if c in ae.columns]).join(
        subj, on=KEY, how="left")
    astdt, flag = _impute_start(pl.col("aestdtc"), pl.col("trtsdt"))
    out = out.with_columns(astdt=astdt, astdtf=flag, aendt=_date("aeendtc"),
                           aesev=pl.col("aesev").str.to_uppercase(),
                           aeser=pl.col("aeser").str.to_uppercase())
    emergent = ((pl.col("astdt") >= pl.col("trtsdt"))
                & (pl.col("astdt") <= pl.col("trtedt") + _days(followup_days)))
    # an AE of a treated subject whose onset is unknown counts as treatment-emergent unless
    # it ended before the first dose (the conservative reading, as SAPs usually specify)
    ended_before = pl.col("aendt").is_not_null() & (pl.col("aendt") < pl.col("trtsdt"))
    out = out.with_columns(
        astdy=study_day(pl.col("astdt"), pl.col("trtsdt")),
        trtemfl=pl.when(pl.col("trtsdt").is_null()).then(None)
        .when(pl.col("astdt").is_null()).then(pl.when(ended_before).then(pl.lit("N")).otherwise(pl.lit("Y")))
        .when(emergent).then(pl.lit("Y")).otherwise(pl.lit("N")))
    return conform(out, ADAE_SCHEMA)


# ---- ADTTE -----------------------------------------------------------------------------

def _tte_population(adsl: pl.DataFrame, safety: bool = False) -> pl.DataFrame:
    """Efficacy endpoints: the ITT subjects, clock from trtsdt (else randdt), by planned
    arm; safety endpoints (``safety``): the dosed subjects, clock from trtsdt, by actual
    arm. ``_arm`` is the arm the row is analysed in (ADTTE.TRTP)."""
    subjects = _subjects(adsl)
    if safety:
        return (subjects.filter((pl.col("saffl") == "Y") & pl.col("trtsdt").is_not_null())
                .with_columns(startdt=pl.col("trtsdt"), _arm=pl.col("trt01a")))
    return (subjects.filter(pl.col("ittfl") == "Y")
            .with_columns(startdt=pl.coalesce("trtsdt", "randdt"), _arm=pl.col("trt01p"))
            .filter(pl.col("startdt").is_not_null()))


def _tte_rows(pop: pl.DataFrame, paramcd: str, param: str, event_dt: pl.Expr,
              event_desc: pl.Expr, censor_dt: pl.Expr, censor_desc: pl.Expr) -> pl.DataFrame:
    is_event = event_dt.is_not_null()
    adt = pl.when(is_event).then(event_dt).otherwise(censor_dt)
    adt = pl.when(adt.is_null() | (adt < pl.col("startdt"))).then(pl.col("startdt")).otherwise(adt)
    return pop.select(
        *KEY, pl.lit(paramcd).alias("paramcd"), pl.lit(param).alias("param"), "startdt",
        adt.alias("adt"),
        ((adt - pl.col("startdt")).dt.total_days() + 1).cast(F).alias("aval"),
        pl.when(is_event).then(0).otherwise(1).cast(I).alias("cnsr"),
        pl.when(is_event).then(event_desc).otherwise(censor_desc).alias("evntdesc"),
        pl.col("_arm").alias("trtp"))


def _ds_endpoint(pop: pl.DataFrame, ds: pl.DataFrame, paramcd: str,
                 decods: Iterable[str]) -> pl.DataFrame:
    """Event = the earliest disposition event with DSDECOD in ``decods``; censored at
    eosdt, else lstaldt."""
    decods = [d.upper() for d in decods]
    first = (_disposition(ds).filter(pl.col("dsdecod").is_in(decods) & pl.col("dsdt").is_not_null())
             .sort([*KEY, "dsdt"]).group_by(KEY, maintain_order=True).first()
             .select(*KEY, pl.col("dsdt").alias("_evdt"), pl.col("dsdecod").alias("_evdesc")))
    pop = pop.join(first, on=KEY, how="left")
    param = ENDPOINTS.get(paramcd) or f"Time to {' / '.join(d.lower() for d in decods)} (days)"
    return _tte_rows(pop, paramcd, param, pl.col("_evdt"), pl.col("_evdesc"),
                     pl.coalesce("eosdt", "lstaldt"),
                     pl.when(pl.col("eosdt").is_not_null()).then(pl.lit("CENSORED AT END OF STUDY"))
                     .otherwise(pl.lit("CENSORED AT LAST KNOWN ALIVE DATE")))


def derive_adtte(adsl: pl.DataFrame, ds: pl.DataFrame, ae: pl.DataFrame,
                 events: Mapping[str, Iterable[str]] | None = None) -> pl.DataFrame:
    """ADTTE rows per subject × endpoint (TTPD, TTDISC, TTAE and any DS-based endpoint of
    ``events``), columns ``ADTTE_SCHEMA``; ``ae`` is SDTM AE or an ADAE (with trtemfl).
    Definitions in the module docstring."""
    pop = _tte_population(adsl)
    ds_endpoints = {"TTPD": TTPD_EVENTS, **(events or {})}
    parts = [_ds_endpoint(pop, ds, p, d) for p, d in ds_endpoints.items()]

    discontinued = pl.col("eosstt") == "DISCONTINUED"
    parts.append(_tte_rows(
        pop, "TTDISC", ENDPOINTS["TTDISC"],
        pl.when(discontinued).then(pl.col("eosdt")), pl.col("dcsreas"),
        pl.coalesce("eosdt", "lstaldt"),
        pl.when(pl.col("eosstt") == "COMPLETED").then(pl.lit("COMPLETED"))
        .otherwise(pl.lit("CENSORED AT LAST KNOWN ALIVE DATE"))))

    adae = ae if "trtemfl" in ae.columns else derive_adae(ae, adsl)
    adae = _as_date(adae, "astdt")
    first_teae = (adae.filter((pl.col("trtemfl") == "Y") & pl.col("astdt").is_not_null())
                  .sort([*KEY, "astdt"]).group_by(KEY, maintain_order=True).first()
                  .select(*KEY, pl.col("astdt").alias("_aedt"),
                          pl.col("aedecod").alias("_aedesc")))
    # the earlier of end of treatment + follow-up and end of study (min ignores nulls)
    censor = pl.min_horizontal(pl.col("trtedt") + _days(TTAE_FOLLOWUP_DAYS), pl.col("eosdt"))
    parts.append(_tte_rows(
        _tte_population(adsl, safety=True).join(first_teae, on=KEY, how="left"), "TTAE", ENDPOINTS["TTAE"],
        pl.col("_aedt"), pl.col("_aedesc"), pl.coalesce(censor, pl.col("lstaldt")),
        pl.lit("CENSORED AT END OF TREATMENT-EMERGENT PERIOD")))
    out = pl.concat([conform(p, ADTTE_SCHEMA) for p in parts])
    return out.sort([*KEY, "paramcd"])


# ---- BDS -------------------------------------------------------------------------------

def derive_bds(findings: pl.DataFrame, adsl: pl.DataFrame) -> pl.DataFrame:
    """ADLB / ADVS / ADQS … from the findings table, columns ``BDS_SCHEMA``: baseline flag,
    base, change from baseline, analysis flag, study day (module docstring)."""
    f = _need(findings, "findings", "domain", "seq", "testcd", "test", "visit", "visitnum",
              "stresn", "blfl", "dtc")
    subj = _subjects(adsl).select(*KEY, "trtsdt", pl.col("trt01p").alias("trtp"))
    grp = [*KEY, "paramcd"]
    out = (f.drop([c for c in ("trtp", "trtsdt") if c in f.columns])
           .join(subj, on=KEY, how="left")
           .select(*KEY, ("AD" + pl.col("domain").str.to_uppercase()).alias("dataset"),
                   pl.col("testcd").alias("paramcd"), pl.col("test").alias("param"),
                   pl.col("visit").alias("avisit"), pl.col("visitnum").cast(F).alias("avisitn"),
                   pl.col("stresn").cast(F).alias("aval"), _date("dtc").alias("adt"),
                   pl.col("seq").cast(F).alias("_seq"), pl.col("blfl"), "trtsdt", "trtp")
           .with_columns(ady=study_day(pl.col("adt"), pl.col("trtsdt")),
                         # sorting on a hash of the group is 3x faster than on its strings
                         # (1M rows); a collision would only interleave two groups' rows
                         _g=pl.struct(grp).hash())
           .sort(["_g", "adt", "avisitn", "_seq"], nulls_last=False))
    # a row's order within its subject × paramcd (date, visit, seq), comparable in-group
    out = out.with_columns(_i=pl.int_range(pl.len()))
    has = pl.col("aval").is_not_null()
    flagged = has & (pl.col("blfl") == "Y")
    pre = has & (pl.col("adt") <= pl.col("trtsdt")).fill_null(False)
    # the last flagged record of the subject × paramcd, else the last pre-dose one
    chosen = pl.coalesce(pl.when(flagged).then(pl.col("_i")).max(),
                         pl.when(pre).then(pl.col("_i")).max()).over(grp)
    out = out.with_columns(_bl=(pl.col("_i") == chosen).fill_null(False))
    at_base = lambda c: pl.when(pl.col("_bl")).then(pl.col(c)).max()  # noqa: E731
    out = out.with_columns(
        [at_base(c).over(grp).alias(a) for c, a in (("aval", "base"), ("avisitn", "_bvn"),
                                                     ("adt", "_bdt"))],
        _last=pl.when(has).then(pl.col("_i")).max().over([*grp, "avisitn"]))
    post = ~pl.col("_bl") & pl.coalesce(pl.col("avisitn") > pl.col("_bvn"),
                                        pl.col("adt") > pl.col("_bdt"), pl.lit(False))
    out = out.with_columns(
        ablfl=pl.when(pl.col("_bl")).then(pl.lit("Y")),
        chg=pl.when(post).then(pl.col("aval") - pl.col("base")),
        anl01fl=pl.when(pl.col("_i") == pl.col("_last")).then(pl.lit("Y")))
    return conform(out, BDS_SCHEMA)


# ---- ADaM the sponsor sent ---------------------------------------------------------------

def normalize_adsl(adsl: pl.DataFrame) -> pl.DataFrame:
    """A sent ADSL (trial_adsl) with the derived ADSL's columns: dates as dates, arm /
    trt01a falling back to trt01p, trtdurd and agegr1 computed when absent, the rest null."""
    df = _subjects(_need(adsl, "ADSL", "arm", "trt01p", "trt01a", "trtsdt", "trtedt", "age",
                         "saffl", "ittfl", "eosstt"))
    df = df.with_columns(
        arm=pl.coalesce("arm", "trt01p"), trt01a=pl.coalesce("trt01a", "trt01p"),
        age=pl.col("age").cast(F, strict=False),
        eosstt=pl.col("eosstt").str.to_uppercase())
    extra = {}
    if "trtdurd" not in df.columns:
        extra["trtdurd"] = (pl.col("trtedt") - pl.col("trtsdt")).dt.total_days() + 1
    if "agegr1" not in df.columns:
        extra["agegr1"] = agegr1(pl.col("age"))
    return conform(df.with_columns(**extra), ADSL_SCHEMA)


def normalize_adae(adae: pl.DataFrame) -> pl.DataFrame:
    """A sent ADAE (trial_adae) with the derived ADAE's columns (dates as dates)."""
    df = _as_date(_need(adae, "ADAE"), "astdt", "aendt")
    return conform(df.with_columns([pl.col(c).str.to_uppercase() for c in ("aesev", "aeser")
                                     if c in df.columns]), ADAE_SCHEMA)


def normalize_adtte(adtte: pl.DataFrame) -> pl.DataFrame:
    """A sent ADTTE (trial_adtte) with the derived ADTTE's columns (dates as dates)."""
    return conform(_as_date(_need(adtte, "ADTTE"), "startdt", "adt"), ADTTE_SCHEMA)


def normalize_bds(adbds: pl.DataFrame) -> pl.DataFrame:
    """Sent BDS datasets (trial_adbds: ADLB, ADQS, …) with the derived BDS columns."""
    return conform(_as_date(_need(adbds, "ADBDS"), "adt"), BDS_SCHEMA)
