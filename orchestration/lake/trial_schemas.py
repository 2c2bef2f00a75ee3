"""The raw layer's contract for clinical-trial data (``landing/trials/<study>/``).

Each SDTM domain or ADaM dataset a sponsor sends (SAS transport v5 ``.xpt``, CDISC
Dataset-JSON ``.json`` or ``.csv`` with the standard variable names) is conformed to one
of these tables: the standard variables the analyses depend on, named as the SDTM / ADaM
implementation guides name them but lower-cased (SQL-friendly), typed; every other
variable of the file is kept in ``extra`` (a JSON object, variable name → value), so no
variable is lost and dbt's sources never depend on which permissible variables a sponsor
happened to include. Dates stay ISO 8601 text as SDTM carries them (``--DTC``); ADaM's
numeric SAS dates (days since 1960-01-01) are converted to ISO 8601 dates on read.
``locator`` is "record <n>" (1-based row of the dataset) and the lineage columns are the
raw layer's (``schemas.LINEAGE``; ``batch_id`` is the study folder).

The findings domains (LB, VS, QS, EG, …) share one table with their ``--`` prefix
dropped (``LBTESTCD`` → ``testcd``) and ``domain`` saying which; the trial design domains
(TS, TA, TE, TI, TV) share one table with each row as JSON; the ADaM BDS datasets (ADLB,
ADQS, ADVS, …) share one table with ``dataset`` saying which.
"""

from __future__ import annotations

import pyarrow as pa

from orchestration.lake.raw_lineage import LINEAGE
from orchestration.settings import TRIAL_TABLES

S, D = pa.string(), pa.float64()


def _schema(*cols: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in cols]
                     + [pa.field("locator", S), pa.field("extra", S), *LINEAGE])


TRIAL_DM = _schema(
    ("studyid", S), ("usubjid", S), ("subjid", S), ("siteid", S), ("arm", S), ("armcd", S),
    ("actarm", S), ("actarmcd", S), ("rfstdtc", S), ("rfendtc", S), ("rfxstdtc", S),
    ("rfxendtc", S), ("brthdtc", S), ("age", D), ("ageu", S), ("sex", S), ("race", S),
    ("ethnic", S), ("country", S), ("dthfl", S), ("dthdtc", S))
TRIAL_AE = _schema(
    ("studyid", S), ("usubjid", S), ("aeseq", D), ("aeterm", S), ("aedecod", S), ("aebodsys", S),
    ("aesev", S), ("aeser", S), ("aerel", S), ("aeacn", S), ("aeout", S), ("aetoxgr", S),
    ("aestdtc", S), ("aeendtc", S), ("aestdy", D), ("aeendy", D))
TRIAL_EX = _schema(
    ("studyid", S), ("usubjid", S), ("exseq", D), ("extrt", S), ("exdose", D), ("exdosu", S),
    ("exdosfrq", S), ("exroute", S), ("exstdtc", S), ("exendtc", S))
TRIAL_DS = _schema(
    ("studyid", S), ("usubjid", S), ("dsseq", D), ("dsterm", S), ("dsdecod", S), ("dscat", S),
    ("dsstdtc", S))
# LB, VS, QS, EG, …: --TESTCD → testcd, --STRESN → stresn, --BLFL (or --LOBXFL) → blfl, …
TRIAL_FINDINGS = _schema(
    ("studyid", S), ("domain", S), ("usubjid", S), ("seq", D), ("testcd", S), ("test", S),
    ("cat", S), ("orres", S), ("orresu", S), ("stresc", S), ("stresn", D), ("stresu", S),
    ("blfl", S), ("visitnum", D), ("visit", S), ("dtc", S), ("dy", D))
# TS, TA, TE, TI, TV: one row each, its variables as a JSON object in ``extra``
TRIAL_DESIGN = _schema(("studyid", S), ("domain", S))
TRIAL_ADSL = _schema(
    ("studyid", S), ("usubjid", S), ("subjid", S), ("siteid", S), ("arm", S), ("trt01p", S),
    ("trt01a", S), ("trtsdt", S), ("trtedt", S), ("age", D), ("sex", S), ("race", S),
    ("saffl", S), ("ittfl", S), ("efffl", S), ("eosstt", S), ("dcsreas", S), ("dthfl", S))
TRIAL_ADAE = _schema(
    ("studyid", S), ("usubjid", S), ("aeseq", D), ("aedecod", S), ("aebodsys", S), ("aesev", S),
    ("aeser", S), ("astdt", S), ("aendt", S), ("astdy", D), ("trtemfl", S), ("trta", S))
TRIAL_ADTTE = _schema(
    ("studyid", S), ("usubjid", S), ("paramcd", S), ("param", S), ("aval", D), ("cnsr", D),
    ("startdt", S), ("adt", S), ("evntdesc", S), ("trtp", S))
# ADLB, ADQS, ADVS, …
TRIAL_ADBDS = _schema(
    ("studyid", S), ("dataset", S), ("usubjid", S), ("paramcd", S), ("param", S), ("avisit", S),
    ("avisitn", D), ("aval", D), ("base", D), ("chg", D), ("ablfl", S), ("anl01fl", S),
    ("trtp", S), ("ady", D), ("adt", S))
# the study folder's link file (``patient_links.csv``): a trial subject who is a lake patient
TRIAL_LINKS = pa.schema([pa.field("studyid", S), pa.field("usubjid", S), pa.field("patient_id", S),
                         pa.field("locator", S), *LINEAGE])

TRIAL_SCHEMAS: dict[str, pa.Schema] = {
    "trial_dm": TRIAL_DM, "trial_ae": TRIAL_AE, "trial_ex": TRIAL_EX, "trial_ds": TRIAL_DS,
    "trial_findings": TRIAL_FINDINGS, "trial_design": TRIAL_DESIGN, "trial_adsl": TRIAL_ADSL,
    "trial_adae": TRIAL_ADAE, "trial_adtte": TRIAL_ADTTE, "trial_adbds": TRIAL_ADBDS,
    "trial_links": TRIAL_LINKS,
}
assert tuple(TRIAL_SCHEMAS) == TRIAL_TABLES, "settings.TRIAL_TABLES names the raw trial tables"
# Which raw table an SDTM domain / ADaM dataset name goes to (others: see TABLE_FOR prefixes).
SDTM_TABLES = {"DM": "trial_dm", "AE": "trial_ae", "EX": "trial_ex", "DS": "trial_ds"}
FINDINGS_DOMAINS = ("LB", "VS", "QS", "EG", "PE", "FT", "RS", "TR", "MB", "IS")
DESIGN_DOMAINS = ("TS", "TA", "TE", "TI", "TV")
ADAM_TABLES = {"ADSL": "trial_adsl", "ADAE": "trial_adae", "ADTTE": "trial_adtte"}
# Variables without which a dataset cannot be used (the file is refused, naming them).
KEY_VARIABLES = {
    "trial_dm": ("studyid", "usubjid", "arm"),
    "trial_ae": ("studyid", "usubjid", "aedecod"),
    "trial_ex": ("studyid", "usubjid", "exstdtc"),
    "trial_ds": ("studyid", "usubjid", "dsdecod"),
    "trial_findings": ("studyid", "usubjid", "testcd"),
    "trial_design": ("studyid",),
    "trial_adsl": ("studyid", "usubjid", "trt01p"),
    "trial_adae": ("studyid", "usubjid", "aedecod"),
    "trial_adtte": ("studyid", "usubjid", "paramcd", "aval", "cnsr"),
    "trial_adbds": ("studyid", "usubjid", "paramcd", "aval"),
    "trial_links": ("usubjid", "patient_id"),
}
