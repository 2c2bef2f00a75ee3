"""Simulate clinical trials of a screened compound as SDTM studies, with their hidden truth.

``simulate_trial`` builds one study in memory (DM, EX, AE, DS, LB, VS and the trial design
domains TS, TA, TE, upper-case SDTM variables, ISO 8601 dates) and returns the truth the
analyses should recover. ``write_study`` writes the domains as SAS transport v5 (``.xpt``),
CDISC Dataset-JSON v1.1 (``.json``) or CSV, one file per domain (``dm.xpt`` …).
``generate_trials`` is the lake-facing entry point: a randomized and a single-arm study of
the most potent true active of the lake's screen under ``landing/trials/<STUDYID>/``, some
subjects being lake patients of the target's disease (``patient_links.csv``), the truth in
``truth/trials/<STUDYID>.json`` (never under landing/). ``bad_trial_files`` writes the
hostile studies the ingest must refuse or flag, one defect per study folder.

Generative models (days are SDTM study days; day 1 = first dose = randomization):

* Biomarker (e.g. plasma glucosylsphingosine for GBA1): baseline B0 ~ log-normal; the
  change from baseline at the final visit (WEEK 24) is
  ``drift + effect*T + interaction*T*LoF + slope*(B0 - E[B0]) + N(0, noise_sd)``
  (T: treated, LoF: the subject carries a loss-of-function causal variant), so the true
  treated-minus-control difference in change from baseline is ``effect`` in non-carriers
  and ``effect + interaction`` in carriers. Intermediate visits follow the same change
  scaled by ``1 - exp(-day/42)`` (normalised to 1 at day 168) plus visit noise.
* Time to progression or death (TTPD): exponential with control hazard ``hazard0`` and
  ``hazard0 * hr`` when treated; random dropout is exponential and independent;
  administrative censoring at the WEEK 24 visit. The event is the DS disposition event
  "PROGRESSIVE DISEASE" or "DEATH" at its date; completers and dropouts are censored at
  their disposition date. Dropout is independent of the biomarker, so missing late
  visits are missing at random.
* Adverse events: per subject and preferred term, Bernoulli with the arm's probability of
  at least one treatment-emergent occurrence, starting uniformly over the treatment-
  emergent window (first dose to 30 days after the last dose, within participation);
  besides, a few pre-treatment AEs (before the first dose: not treatment-emergent).

Everything is drawn from numpy Generators seeded by ``seed``: same arguments, same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from orchestration.settings import LakePaths

# --- the standard's vocabulary --------------------------------------------------------------

# Variables per domain, in the order they are written (SDTMIG 3.x names).
VARIABLES: dict[str, tuple[str, ...]] = {
    "DM": ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC", "RFENDTC", "RFXSTDTC",
           "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL", "SITEID", "BRTHDTC", "AGE",
           "AGEU", "SEX", "RACE", "ETHNIC", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "COUNTRY"),
    "EX": ("STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT", "EXDOSE", "EXDOSU", "EXDOSFRM",
           "EXDOSFRQ", "EXROUTE", "EPOCH", "EXSTDTC", "EXENDTC", "EXSTDY", "EXENDY"),
    "AE": ("STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD", "AEBODSYS", "AESEV",
           "AESER", "AEACN", "AEREL", "AEOUT", "EPOCH", "AESTDTC", "AEENDTC", "AESTDY",
           "AEENDY"),
    "DS": ("STUDYID", "DOMAIN", "USUBJID", "DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "EPOCH",
           "DSSTDTC", "DSSTDY"),
    "LB": ("STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST", "LBCAT", "LBORRES",
           "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC", "LBSTRESN", "LBSTRESU", "LBSTNRLO",
           "LBSTNRHI", "LBNRIND", "LBSPEC", "LBBLFL", "VISITNUM", "VISIT", "LBDTC", "LBDY"),
    "VS": ("STUDYID", "DOMAIN", "USUBJID", "VSSEQ", "VSTESTCD", "VSTEST", "VSPOS", "VSORRES",
           "VSORRESU", "VSSTRESC", "VSSTRESN", "VSSTRESU", "VSBLFL", "VISITNUM", "VISIT",
           "VSDTC", "VSDY"),
    "TS": ("STUDYID", "DOMAIN", "TSSEQ", "TSPARMCD", "TSPARM", "TSVAL"),
    "TA": ("STUDYID", "DOMAIN", "ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "TABRANCH",
           "TATRANS", "EPOCH"),
    "TE": ("STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR"),
}
DOMAIN_LABELS = {"DM": "Demographics", "EX": "Exposure", "AE": "Adverse Events",
                 "DS": "Disposition", "LB": "Laboratory Test Results", "VS": "Vital Signs",
                 "TS": "Trial Summary", "TA": "Trial Arms", "TE": "Trial Elements"}
NUMERIC = frozenset({"AGE", "EXSEQ", "EXDOSE", "EXSTDY", "EXENDY", "AESEQ", "AESTDY", "AEENDY",
                     "DSSEQ", "DSSTDY", "LBSEQ", "LBSTRESN", "LBSTNRLO", "LBSTNRHI", "VISITNUM",
                     "LBDY", "VSSEQ", "VSSTRESN", "VSDY", "TSSEQ", "TAETORD"})
# Numeric variables whose values are whole numbers (Dataset-JSON dataType "integer").
INTEGER = frozenset(NUMERIC - {"EXDOSE", "LBSTRESN", "LBSTNRLO", "LBSTNRHI", "VSSTRESN"})

# Labels as the SDTMIG gives them (SAS v5: at most 40 characters); the --XXX rows serve
# every domain's prefixed variable.
_LABELS = {
    "STUDYID": "Study Identifier", "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier", "SUBJID": "Subject Identifier for the Study",
    "RFSTDTC": "Subject Reference Start Date/Time", "RFENDTC": "Subject Reference End Date/Time",
    "RFXSTDTC": "Date/Time of First Study Treatment",
    "RFXENDTC": "Date/Time of Last Study Treatment", "RFICDTC": "Date/Time of Informed Consent",
    "RFPENDTC": "Date/Time of End of Participation", "DTHDTC": "Date/Time of Death",
    "DTHFL": "Subject Death Flag", "SITEID": "Study Site Identifier",
    "BRTHDTC": "Date/Time of Birth", "AGE": "Age", "AGEU": "Age Units", "SEX": "Sex",
    "RACE": "Race", "ETHNIC": "Ethnicity", "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm", "ACTARMCD": "Actual Arm Code",
    "ACTARM": "Description of Actual Arm", "COUNTRY": "Country", "EPOCH": "Epoch",
    "VISITNUM": "Visit Number", "VISIT": "Visit Name",
    "EXTRT": "Name of Treatment", "EXDOSE": "Dose", "EXDOSU": "Dose Units",
    "EXDOSFRM": "Dose Form", "EXDOSFRQ": "Dosing Frequency per Interval",
    "EXROUTE": "Route of Administration", "EXSTDTC": "Start Date/Time of Treatment",
    "EXENDTC": "End Date/Time of Treatment", "EXSTDY": "Study Day of Start of Treatment",
    "EXENDY": "Study Day of End of Treatment",
    "AETERM": "Reported Term for the Adverse Event", "AEDECOD": "Dictionary-Derived Term",
    "AEBODSYS": "Body System or Organ Class", "AESEV": "Severity/Intensity",
    "AESER": "Serious Event", "AEACN": "Action Taken with Study Treatment",
    "AEREL": "Causality", "AEOUT": "Outcome of Adverse Event",
    "AESTDTC": "Start Date/Time of Adverse Event", "AEENDTC": "End Date/Time of Adverse Event",
    "AESTDY": "Study Day of Start of Adverse Event", "AEENDY": "Study Day of End of Adverse Event",
    "DSTERM": "Reported Term for the Disposition Event",
    "DSDECOD": "Standardized Disposition Term", "DSCAT": "Category for Disposition Event",
    "DSSTDTC": "Start Date/Time of Disposition Event",
    "DSSTDY": "Study Day of Start of Disposition Event",
    "LBTESTCD": "Lab Test or Examination Short Name", "LBTEST": "Lab Test or Examination Name",
    "LBCAT": "Category for Lab Test", "LBSPEC": "Specimen Type",
    "LBDTC": "Date/Time of Specimen Collection", "LBDY": "Study Day of Specimen Collection",
    "VSTESTCD": "Vital Signs Test Short Name", "VSTEST": "Vital Signs Test Name",
    "VSPOS": "Vital Signs Position of Subject", "VSDTC": "Date/Time of Measurements",
    "VSDY": "Study Day of Vital Signs",
    "TSPARMCD": "Trial Summary Parameter Short Name", "TSPARM": "Trial Summary Parameter",
    "TSVAL": "Parameter Value", "TAETORD": "Planned Order of Element within Arm",
    "ETCD": "Element Code", "ELEMENT": "Description of Element", "TABRANCH": "Branch",
    "TATRANS": "Transition Rule", "TESTRL": "Rule for Start of Element",
    "TEENRL": "Rule for End of Element", "TEDUR": "Planned Duration of Element",
    "--SEQ": "Sequence Number", "--ORRES": "Result or Finding in Original Units",
    "--ORRESU": "Original Units", "--ORNRLO": "Reference Range Lower Limit in Orig Unit",
    "--ORNRHI": "Reference Range Upper Limit in Orig Unit",
    "--STRESC": "Character Result/Finding in Std Format",
    "--STRESN": "Numeric Result/Finding in Standard Units", "--STRESU": "Standard Units",
    "--STNRLO": "Reference Range Lower Limit-Std Units",
    "--STNRHI": "Reference Range Upper Limit-Std Units",
    "--NRIND": "Reference Range Indicator", "--BLFL": "Baseline Flag",
}
XPT_NAME_MAX, XPT_LABEL_MAX, XPT_CHAR_MAX = 8, 40, 200     # SAS transport v5 limits


def variable_label(var: str) -> str:
    """The SDTMIG label of a variable (``--`` rows for prefixed findings variables)."""
    return _LABELS.get(var) or _LABELS.get("--" + var[2:]) or var


# Preferred term → (MedDRA system organ class, investigator verbatims, default probability of
# at least one treatment-emergent occurrence per subject: (placebo, active)).
AE_TERMS: dict[str, tuple[str, tuple[str, ...], tuple[float, float]]] = {
    "NAUSEA": ("GASTROINTESTINAL DISORDERS", ("Nausea", "Feeling sick", "nausea"),
               (0.10, 0.24)),
    "DIARRHOEA": ("GASTROINTESTINAL DISORDERS", ("Diarrhea", "Loose stools"), (0.08, 0.15)),
    "HEADACHE": ("NERVOUS SYSTEM DISORDERS", ("Headache", "headache", "Head ache"),
                 (0.14, 0.17)),
    "DIZZINESS": ("NERVOUS SYSTEM DISORDERS", ("Dizziness", "Dizzy"), (0.05, 0.08)),
    "FATIGUE": ("GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS",
                ("Fatigue", "Tiredness", "Tired"), (0.12, 0.20)),
    "ALANINE AMINOTRANSFERASE INCREASED": ("INVESTIGATIONS", ("ALT increased", "Elevated ALT"),
                                           (0.02, 0.09)),
    "NASOPHARYNGITIS": ("INFECTIONS AND INFESTATIONS", ("Common cold", "Nasopharyngitis"),
                        (0.12, 0.12)),
    "ARTHRALGIA": ("MUSCULOSKELETAL AND CONNECTIVE TISSUE DISORDERS",
                   ("Joint pain", "Arthralgia"), (0.08, 0.09)),
    "BONE PAIN": ("MUSCULOSKELETAL AND CONNECTIVE TISSUE DISORDERS", ("Bone pain",),
                  (0.07, 0.05)),
    "RASH": ("SKIN AND SUBCUTANEOUS TISSUE DISORDERS", ("Rash", "Skin rash"), (0.04, 0.09)),
}
PRETREATMENT_AE_RATE = 0.08            # subjects with an AE between consent and first dose
PRETREATMENT_TERMS = ("HEADACHE", "NASOPHARYNGITIS", "ARTHRALGIA")
TE_WINDOW_DAYS = 30                    # treatment-emergent up to this long after the last dose
ALT_TERM = "ALANINE AMINOTRANSFERASE INCREASED"


@dataclass(frozen=True)
class Biomarker:
    """A disease biomarker measured in LB: code, name, unit, specimen, log-normal baseline."""
    testcd: str
    test: str
    unit: str
    spec: str
    median: float          # baseline median (exp of the log mean)
    log_sd: float


# The target gene's disease biomarker; any other gene gets the generic one.
BIOMARKERS = {
    "GBA1": Biomarker("GLUSPH", "Glucosylsphingosine", "nmol/L", "PLASMA", 180.0, 0.35),
    "GLA": Biomarker("LYSOGB3", "Globotriaosylsphingosine", "nmol/L", "PLASMA", 40.0, 0.35),
    "PAH": Biomarker("PHE", "Phenylalanine", "umol/L", "PLASMA", 900.0, 0.35),
}
GENERIC_BIOMARKER = Biomarker("DISBMK", "Disease Activity Biomarker", "nmol/L", "PLASMA",
                              100.0, 0.35)
DISEASES = {"GBA1": "Gaucher disease", "GLA": "Fabry disease", "PAH": "Phenylketonuria"}

# Visits: (VISITNUM, VISIT, planned study day, window half-width in days).
VISITS = ((1, "SCREENING", None, 0), (2, "BASELINE", 1, 0), (3, "WEEK 4", 29, 3),
          (4, "WEEK 12", 85, 5), (5, "WEEK 24", 169, 5))
FINAL_VISIT = "WEEK 24"
TREATMENT_DAYS = 168                   # 24 weeks of once-daily dosing
RESPONSE_TAU_DAYS = 42.0               # biomarker approaches its final change with this time
ALT_ULN = 40.0

# NCI codelists (C66727 disposition events, C114118 protocol milestones).
DISCONTINUATION_REASONS = (("WITHDRAWAL BY SUBJECT", "Withdrawal by subject", 0.5),
                           ("ADVERSE EVENT", "Adverse event", 0.35),
                           ("LACK OF EFFICACY", "Lack of efficacy", 0.15))
RACES = (("WHITE", 0.74), ("BLACK OR AFRICAN AMERICAN", 0.07), ("ASIAN", 0.10),
         ("AMERICAN INDIAN OR ALASKA NATIVE", 0.01), ("MULTIPLE", 0.03), ("NOT REPORTED", 0.05))
ETHNICITIES = (("NOT HISPANIC OR LATINO", 0.85), ("HISPANIC OR LATINO", 0.10),
               ("NOT REPORTED", 0.05))
COUNTRIES = ("USA", "DEU", "FRA", "GBR", "ISR", "ESP", "ITA", "JPN", "CAN", "NLD")
PLACEHOLDER_COMPOUND = "OL-CMPD-0001"
SPONSOR = "Orphanlake Simulated Sponsor"
_STREAMS = ("sites", "demography", "arms", "biomarker", "events", "ae", "exposure", "visits",
            "vitals")


def _streams(seed: int) -> dict[str, np.random.Generator]:
    return {name: np.random.default_rng([seed, 53, k]) for k, name in enumerate(_STREAMS)}


# --- small pure helpers --------------------------------------------------------------------


def study_day_date(day1: dt.date, dy: int) -> str:
    """ISO 8601 date of study day ``dy`` (SDTM has no day 0: day -1 precedes day 1)."""
    return (day1 + dt.timedelta(days=dy - 1 if dy > 0 else dy)).isoformat()


def collapse_doses(doses: list[float | None], first_day: int = 1) -> list[tuple[int, int, float]]:
    """Constant-dosing intervals (start day, end day, dose) of a daily dose list starting at
    study day ``first_day``; ``None`` is a day without a dose (an interruption)."""
    out: list[tuple[int, int, float]] = []
    for k, dose in enumerate(doses):
        day = first_day + k
        if dose is None:
            continue
        if out and out[-1][1] == day - 1 and out[-1][2] == dose:
            out[-1] = (out[-1][0], day, dose)
        else:
            out.append((day, day, dose))
    return out


def lof_carrier(consequences: str | None) -> bool:
    """Whether a batch-truth ``causal_consequences`` list (``;``-separated VEP terms) holds a
    loss-of-function consequence."""
    from orchestration.simulate.genome import LOF

    return any(c in LOF for c in (consequences or "").split(";"))


def _num(value: float) -> str:
    """A result as --ORRES text: plain decimal, no exponent, no trailing zeros."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _choices(rng: np.random.Generator, table, n: int) -> list[str]:
    """``n`` draws from a (value, weight) table."""
    names, p = zip(*table)
    return [names[k] for k in rng.choice(len(names), size=n, p=np.array(p) / sum(p))]


# --- the study in memory --------------------------------------------------------------------


def simulate_trial(seed: int, *, design: str = "randomized", n_subjects: int = 60,
                   studyid: str | None = None, compound_id: str = PLACEHOLDER_COMPOUND,
                   compound_name: str | None = None, target_gene: str = "GBA1",
                   disease: str | None = None, patients: list[dict] | None = None,
                   true_effect: float | None = None, true_interaction: float | None = None,
                   true_hr: float = 0.6, control_median_days: float = 365.0,
                   dropout_6m: float = 0.12, death_fraction: float = 0.2,
                   carrier_fraction: float = 0.4, ae_rates: dict | None = None,
                   dose_mg: float = 100.0, start_date: str | None = None,
                   ) -> tuple[dict[str, pl.DataFrame], dict]:
    """One simulated SDTM study and its hidden truth: ``(frames, truth)``.

    ``design`` "randomized" (1:1 active:placebo in permuted blocks of 4, double blind) or
    "single_arm" (everyone on active, open label). ``patients``: lake patients who enrol
    (dicts with ``patient_id``, ``lof_carrier`` and optionally ``sex`` "MALE"/"FEMALE"); at
    most ``n_subjects`` of them, placed at random among the subjects; ``truth["links"]``
    pairs them with their USUBJID. ``true_effect``: treated minus control change from
    baseline of the biomarker at WEEK 24 in non-carriers (its unit; default -25 % of the
    baseline median), ``true_interaction``: the extra change in LoF carriers on treatment
    (default -10 %), ``true_hr``: hazard ratio of TTPD, ``ae_rates``: PT → (placebo,
    active) probabilities replacing those of ``AE_TERMS``. Frames carry the ``VARIABLES``
    of each domain. Same arguments give equal frames.
    """
    if design not in ("randomized", "single_arm"):
        raise ValueError(f"design must be 'randomized' or 'single_arm', got {design!r}")
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    if true_hr <= 0:
        raise ValueError(f"true_hr must be > 0, got {true_hr}")
    rates = {pt: (soc, verb, tuple(ae_rates[pt]) if ae_rates and pt in ae_rates else p)
             for pt, (soc, verb, p) in AE_TERMS.items()}
    unknown = sorted(set(ae_rates or ()) - set(AE_TERMS))
    if unknown:
        raise ValueError(f"ae_rates names unknown preferred terms {unknown}; "
                         f"known: {sorted(AE_TERMS)}")
    rng = _streams(seed)
    studyid = studyid or f"OL{seed:04d}-{target_gene}-{201 if design == 'randomized' else 202}"
    marker = BIOMARKERS.get(target_gene, GENERIC_BIOMARKER)
    disease = disease or DISEASES.get(target_gene, f"{target_gene}-related disease")
    name = (compound_name or compound_id).upper()
    effect = -0.25 * marker.median if true_effect is None else float(true_effect)
    interaction = -0.10 * marker.median if true_interaction is None else float(true_interaction)
    drift, slope, noise_sd = 0.02 * marker.median, -0.20, 0.08 * marker.median
    mean_b0 = marker.median * math.exp(marker.log_sd ** 2 / 2)
    hazard0 = math.log(2) / control_median_days
    hazard_drop = -math.log(1 - dropout_6m) / TREATMENT_DAYS
    arms = {"TRT": f"{name} {dose_mg:g} MG QD"}
    if design == "randomized":
        arms["PBO"] = "PLACEBO"
    n = n_subjects

    # Sites, enrolment order, demography.
    r = rng["sites"]
    n_sites = max(1, min(12, n // 8))
    site_ids = [str(101 + k) for k in range(n_sites)]
    site_country = {s: COUNTRIES[int(r.integers(len(COUNTRIES)))] if k else "USA"
                    for k, s in enumerate(site_ids)}
    site_of = [site_ids[int(k)] for k in r.choice(n_sites, size=n, p=_site_weights(r, n_sites))]
    start = np.datetime64(start_date) if start_date else \
        np.datetime64("2021-01-04") + np.timedelta64(int(r.integers(0, 730)), "D")
    enrol = np.sort(r.integers(0, 270, size=n))
    day1 = [(start + np.timedelta64(int(d), "D")).astype(object) for d in enrol]
    screen_dy = [-int(x) for x in r.integers(7, 29, size=n)]
    counter: dict[str, int] = {}
    subjid = []
    for s in site_of:
        counter[s] = counter.get(s, 0) + 1
        subjid.append(f"{s}-{counter[s]:03d}")
    usubjid = [f"{studyid}-{s}" for s in subjid]

    links: list[dict] = []
    carrier = rng["demography"].random(n) < carrier_fraction
    sex = np.where(rng["demography"].random(n) < 0.5, "M", "F").astype(object)
    lake = [p for p in (patients or [])][:n]
    if lake:
        slots = np.sort(rng["arms"].choice(n, size=len(lake), replace=False))
        for i, p in zip(slots.tolist(), lake):
            carrier[i] = bool(p.get("lof_carrier"))
            if p.get("sex") in ("MALE", "FEMALE"):
                sex[i] = p["sex"][0]
            links.append({"STUDYID": studyid, "USUBJID": usubjid[i],
                          "PATIENT_ID": str(p["patient_id"])})
    d = rng["demography"]
    age_days = np.clip(d.normal(38 * 365.25, 14 * 365.25, size=n), 18 * 365.25, 75 * 365.25)
    birth = [day1[i] - dt.timedelta(days=int(age_days[i])) for i in range(n)]
    race, ethnic = _choices(d, RACES, n), _choices(d, ETHNICITIES, n)

    # Arms: permuted blocks of 4 in enrolment order.
    if design == "randomized":
        blocks = [rng["arms"].permutation(["TRT", "TRT", "PBO", "PBO"]) for _ in range(-(-n // 4))]
        armcd = [str(a) for a in np.concatenate(blocks)[:n]]
    else:
        armcd = ["TRT"] * n
    treated = np.array([a == "TRT" for a in armcd])

    # Biomarker: baseline and the final change (the model of the module doc).
    b = rng["biomarker"]
    b0 = marker.median * np.exp(b.normal(0.0, marker.log_sd, size=n))
    change = (drift + effect * treated + interaction * (treated & carrier)
              + slope * (b0 - mean_b0) + b.normal(0.0, noise_sd, size=n))

    # TTPD, dropout, completion.
    e = rng["events"]
    event_t = e.exponential(1.0 / (hazard0 * np.where(treated, true_hr, 1.0)))
    drop_t = e.exponential(1.0 / hazard_drop, size=n)
    completion = 169 + e.integers(-5, 6, size=n)       # the WEEK 24 visit closes treatment
    dies = e.random(n) < death_fraction
    reason_draw = e.random(n)
    visit_jitter = rng["visits"].integers(-5, 6, size=(n, len(VISITS)))

    subjects, truth_subjects = [], []
    for i in range(n):
        ev_day, dr_day = int(math.ceil(event_t[i])), int(math.ceil(drop_t[i]))
        if ev_day < completion[i] and ev_day <= dr_day:
            decod = "DEATH" if dies[i] else "PROGRESSIVE DISEASE"
            ds_day = ev_day
            last_dose = max(1, ev_day - 1) if dies[i] else ev_day
        elif dr_day < completion[i]:
            cum = np.cumsum([w for *_, w in DISCONTINUATION_REASONS])
            decod = DISCONTINUATION_REASONS[int(np.searchsorted(cum, reason_draw[i] * cum[-1]))][0]
            ds_day, last_dose = dr_day, dr_day
        else:
            # the WEEK 24 visit closes treatment: the last dose is the day before
            decod, ds_day, last_dose = "COMPLETED", int(completion[i]), int(completion[i]) - 1
        if decod == "DEATH":
            end_day = ds_day
        elif decod == "WITHDRAWAL BY SUBJECT":
            end_day = ds_day
        else:
            end_day = ds_day + TE_WINDOW_DAYS        # safety follow-up
        subjects.append({"i": i, "decod": decod, "ds_day": ds_day, "last_dose": last_dose,
                         "end_day": end_day})

    # AEs (and the dose interruptions / withdrawals they cause), then exposure.
    ae_rows, interruptions = _adverse_events(rng["ae"], subjects, armcd, rates, screen_dy)
    ae_of: dict[int, list[dict]] = {}
    for a in ae_rows:
        ae_of.setdefault(a["i"], []).append(a)
    for s in subjects:
        if s["decod"] == "ADVERSE EVENT":
            own = [a for a in ae_of.get(s["i"], ()) if 1 <= a["dy"] <= s["last_dose"]]
            if own:
                max(own, key=lambda a: (a["dy"], a["pt"]))["acn"] = "DRUG WITHDRAWN"
            else:   # no AE to blame: the subject stopped treatment of their own accord
                s["decod"] = "WITHDRAWAL BY SUBJECT"

    frames: dict[str, list[dict]] = {k: [] for k in ("DM", "EX", "AE", "DS", "LB", "VS")}
    x = rng["exposure"]
    v = rng["vitals"]
    n_floored = 0
    for s in subjects:
        i = s["i"]
        d1, u = day1[i], usubjid[i]
        date = lambda dy, d1=d1: study_day_date(d1, dy)  # noqa: E731
        base = {"STUDYID": studyid, "USUBJID": u}
        died = s["decod"] == "DEATH"
        frames["DM"].append({
            **base, "DOMAIN": "DM", "SUBJID": subjid[i], "RFSTDTC": date(1),
            "RFENDTC": date(s["end_day"]), "RFXSTDTC": date(1),
            "RFXENDTC": date(s["last_dose"]), "RFICDTC": date(screen_dy[i]),
            "RFPENDTC": date(s["end_day"]), "DTHDTC": date(s["ds_day"]) if died else None,
            "DTHFL": "Y" if died else None, "SITEID": site_of[i],
            "BRTHDTC": str(birth[i].year), "AGE": float(_age(birth[i], d1)), "AGEU": "YEARS",
            "SEX": str(sex[i]), "RACE": race[i], "ETHNIC": ethnic[i], "ARMCD": armcd[i],
            "ARM": arms[armcd[i]], "ACTARMCD": armcd[i], "ACTARM": arms[armcd[i]],
            "COUNTRY": site_country[site_of[i]]})
        # Exposure: daily doses with missed days and AE interruptions, collapsed.
        full = dose_mg if armcd[i] == "TRT" else 0.0
        daily: list[float | None] = [full] * s["last_dose"]
        for k in x.choice(s["last_dose"], size=min(s["last_dose"] - 1, int(x.poisson(0.6))),
                          replace=False) if s["last_dose"] > 1 else ():
            if 0 < k < s["last_dose"] - 1:       # first and last dose days are taken
                daily[int(k)] = None
        for start_dy, length, reduce in interruptions.get(i, ()):
            for dy in range(start_dy, min(start_dy + length, s["last_dose"])):
                daily[dy - 1] = None
            if reduce and armcd[i] == "TRT":
                for dy in range(start_dy + length, s["last_dose"] + 1):
                    daily[dy - 1] = full / 2
        if daily[0] is None:        # an interruption from day 1 starts after the first dose
            daily[0] = full
        for k, (a, z, dose) in enumerate(collapse_doses(daily), start=1):
            frames["EX"].append({
                **base, "DOMAIN": "EX", "EXSEQ": float(k),
                "EXTRT": name if armcd[i] == "TRT" else "PLACEBO", "EXDOSE": float(dose),
                "EXDOSU": "mg", "EXDOSFRM": "TABLET", "EXDOSFRQ": "QD", "EXROUTE": "ORAL",
                "EPOCH": "TREATMENT", "EXSTDTC": date(a), "EXENDTC": date(z),
                "EXSTDY": float(a), "EXENDY": float(z)})
        # Disposition: consent, randomization, the one disposition event.
        ds = [("INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE",
               "SCREENING", screen_dy[i])]
        if design == "randomized":
            ds.append(("RANDOMIZED", "RANDOMIZED", "PROTOCOL MILESTONE", "TREATMENT", 1))
        term = {"COMPLETED": "Completed", "PROGRESSIVE DISEASE": "Disease progression",
                "DEATH": "Death"}.get(s["decod"]) or dict(
                    (c, t) for c, t, _ in DISCONTINUATION_REASONS)[s["decod"]]
        ds.append((term, s["decod"], "DISPOSITION EVENT", "TREATMENT", s["ds_day"]))
        for k, (t, dec, cat, epoch, dy) in enumerate(ds, start=1):
            frames["DS"].append({**base, "DOMAIN": "DS", "DSSEQ": float(k), "DSTERM": t,
                                 "DSDECOD": dec, "DSCAT": cat, "EPOCH": epoch,
                                 "DSSTDTC": date(dy), "DSSTDY": float(dy)})
        # Visits held: screening, baseline, then those before the disposition date.
        held = []
        for j, (num, visit, planned, _) in enumerate(VISITS):
            if planned is None:
                dy = screen_dy[i]
            elif visit == FINAL_VISIT:
                dy = int(completion[i])
            elif planned == 1:
                dy = 1
            else:
                dy = planned + int(visit_jitter[i, j])
            if dy <= s["ds_day"] or visit == "SCREENING" or dy == 1:
                if visit == FINAL_VISIT and s["decod"] != "COMPLETED":
                    continue
                held.append((num, visit, dy))
        alt_ae = [(a["dy"], a["end_dy"]) for a in ae_of.get(i, ()) if a["pt"] == ALT_TERM]
        alt0 = 24.0 * math.exp(x.normal(0, 0.3))
        weight0 = v.normal(78, 12) if sex[i] == "M" else v.normal(66, 11)
        sbp0 = v.normal(124, 12)
        final_scale = 1 - math.exp(-TREATMENT_DAYS / RESPONSE_TAU_DAYS)
        lb_seq = vs_seq = 0
        floored = False
        for num, visit, dy in held:
            if visit == "SCREENING":
                val = b0[i] * math.exp(b.normal(0, 0.08))
            elif dy == 1:
                val = b0[i]
            elif visit == FINAL_VISIT:
                val = b0[i] + change[i]
            else:
                frac = (1 - math.exp(-dy / RESPONSE_TAU_DAYS)) / final_scale
                val = b0[i] + change[i] * frac + b.normal(0, 0.3 * noise_sd)
            if val < 0.05 * b0[i]:   # an assay reads no lower (rare); counted in the truth
                val, n_floored = 0.05 * b0[i], n_floored + 1
                floored = floored or visit == FINAL_VISIT
            alt = alt0 * math.exp(x.normal(0, 0.15))
            if any(a <= dy and (z is None or dy <= z + 7) for a, z in alt_ae):
                alt *= x.uniform(3.0, 5.0)
            blfl = "Y" if dy == 1 else None
            for code, test, cat, unit, spec, value, lo, hi in (
                    (marker.testcd, marker.test, "SPECIAL CHEMISTRY", marker.unit, marker.spec,
                     round(float(val), 1), None, None),
                    ("ALT", "Alanine Aminotransferase", "CHEMISTRY", "U/L", "SERUM",
                     float(round(alt)), 0.0, ALT_ULN)):
                lb_seq += 1
                ind = None if hi is None else ("HIGH" if value > hi else "NORMAL")
                frames["LB"].append({
                    **base, "DOMAIN": "LB", "LBSEQ": float(lb_seq), "LBTESTCD": code,
                    "LBTEST": test, "LBCAT": cat, "LBORRES": _num(value), "LBORRESU": unit,
                    "LBORNRLO": None if lo is None else _num(lo),
                    "LBORNRHI": None if hi is None else _num(hi), "LBSTRESC": _num(value),
                    "LBSTRESN": value, "LBSTRESU": unit, "LBSTNRLO": lo, "LBSTNRHI": hi,
                    "LBNRIND": ind, "LBSPEC": spec, "LBBLFL": blfl, "VISITNUM": float(num),
                    "VISIT": visit, "LBDTC": date(dy), "LBDY": float(dy)})
            for code, test, pos, unit, value in (
                    ("WEIGHT", "Weight", None, "kg", round(weight0 + v.normal(0, 0.8), 1)),
                    ("SYSBP", "Systolic Blood Pressure", "SITTING", "mmHg",
                     float(round(sbp0 + v.normal(0, 7))))):
                vs_seq += 1
                frames["VS"].append({
                    **base, "DOMAIN": "VS", "VSSEQ": float(vs_seq), "VSTESTCD": code,
                    "VSTEST": test, "VSPOS": pos, "VSORRES": _num(value), "VSORRESU": unit,
                    "VSSTRESC": _num(value), "VSSTRESN": float(value), "VSSTRESU": unit,
                    "VSBLFL": blfl, "VISITNUM": float(num), "VISIT": visit, "VSDTC": date(dy),
                    "VSDY": float(dy)})
        truth_subjects.append({
            "usubjid": u, "armcd": armcd[i], "lof_carrier": bool(carrier[i]),
            "baseline": round(float(b0[i]), 4), "true_change_final": round(float(change[i]), 4),
            "event_time_days": round(float(event_t[i]), 3),
            "dropout_time_days": round(float(drop_t[i]), 3), "dsdecod": s["decod"],
            "ds_day": s["ds_day"], "last_dose_day": s["last_dose"], "final_floored": floored})

    # AE records, with their dates, sequence numbers per subject in start order.
    seq: dict[int, int] = {}
    for a in sorted(ae_rows, key=lambda a: (a["i"], a["dy"], a["pt"])):
        i = a["i"]
        seq[i] = seq.get(i, 0) + 1
        frames["AE"].append({
            "STUDYID": studyid, "DOMAIN": "AE", "USUBJID": usubjid[i], "AESEQ": float(seq[i]),
            "AETERM": a["verbatim"], "AEDECOD": a["pt"], "AEBODSYS": rates[a["pt"]][0],
            "AESEV": a["sev"], "AESER": a["ser"], "AEACN": a["acn"], "AEREL": a["rel"],
            "AEOUT": a["out"], "EPOCH": "SCREENING" if a["dy"] < 1 else (
                "TREATMENT" if a["dy"] <= subjects[i]["last_dose"] else "FOLLOW-UP"),
            "AESTDTC": study_day_date(day1[i], a["dy"]),
            "AEENDTC": None if a["end_dy"] is None else study_day_date(day1[i], a["end_dy"]),
            "AESTDY": float(a["dy"]),
            "AEENDY": None if a["end_dy"] is None else float(a["end_dy"])})

    out = {dom: _frame(dom, rows) for dom, rows in frames.items()}
    out.update(_design_domains(studyid, design, arms, name, disease, n, dose_mg, marker,
                               str(start)))
    carriers_treated = carrier[treated]
    truth = {
        "studyid": studyid, "seed": seed, "design": design, "n_subjects": n,
        "compound_id": compound_id, "compound_name": name, "target_gene": target_gene,
        "disease": disease, "arms": arms,
        "biomarker": {
            "lbtestcd": marker.testcd, "lbtest": marker.test, "unit": marker.unit,
            "analysis": f"change from baseline (BASELINE visit, LBBLFL=Y) at {FINAL_VISIT}, "
                        f"{marker.unit}",
            "final_visit": FINAL_VISIT,
            "effect": effect, "interaction_lof": interaction,
            "effect_in_lof_carriers": effect + interaction,
            "carrier_fraction": carrier_fraction,
            "effect_marginal": effect + interaction * carrier_fraction,
            "effect_in_sample": float(effect + interaction * carriers_treated.mean())
            if treated.any() else None,
            "placebo_drift": drift, "slope_on_baseline": slope, "noise_sd": noise_sd,
            "baseline_log_mean": math.log(marker.median), "baseline_log_sd": marker.log_sd,
            "baseline_mean": mean_b0, "n_floored_values": n_floored,
            "model": "change = drift + effect*T + interaction_lof*T*LoF + slope*(B0 - "
                     "baseline_mean) + N(0, noise_sd); B0 ~ lognormal(baseline_log_mean, "
                     "baseline_log_sd); effect is treated minus control in non-carriers"},
        "ttpd": {
            "hazard_ratio": true_hr if design == "randomized" else None,
            "treated_vs_untreated_hazard_ratio": true_hr,
            "control_hazard_per_day": hazard0, "treated_hazard_per_day": hazard0 * true_hr,
            "dropout_hazard_per_day": hazard_drop, "death_fraction_of_events": death_fraction,
            "administrative_censoring": f"the {FINAL_VISIT} visit (study day 164-174)",
            "definition": "time from RFSTDTC to the DS disposition event PROGRESSIVE DISEASE "
                          "or DEATH (DSSTDTC); others censored at their disposition date "
                          "(COMPLETED or discontinuation)",
            "n_events": sum(s["decod"] in ("PROGRESSIVE DISEASE", "DEATH") for s in subjects)},
        "adverse_events": {
            "definition": "probability that a subject has at least one treatment-emergent AE "
                          "(AESTDTC from the first dose to 30 days after the last dose) with "
                          "this AEDECOD",
            "te_window_days": TE_WINDOW_DAYS, "pretreatment_rate": PRETREATMENT_AE_RATE,
            "pretreatment_terms": list(PRETREATMENT_TERMS),
            "terms": {pt: {"aebodsys": soc, "probability": {
                cd: p[0] if cd == "PBO" else p[1] for cd in arms}}
                for pt, (soc, _, p) in rates.items()}},
        "links": links,
        "subjects": truth_subjects,
    }
    return out, truth


def _site_weights(r: np.random.Generator, n_sites: int) -> np.ndarray:
    w = r.gamma(2.0, 1.0, size=n_sites)
    return w / w.sum()


def _age(birth: dt.date, day1: dt.date) -> int:
    """Whole years from birth to day 1 (the birthday counts on the day)."""
    return day1.year - birth.year - ((day1.month, day1.day) < (birth.month, birth.day))


def _adverse_events(r: np.random.Generator, subjects: list[dict], armcd: list[str],
                    rates: dict, screen_dy: list[int]) -> tuple[list[dict], dict]:
    """AE records (internal dicts, study days) and the dose interruptions they cause:
    subject index → [(first day, length, dose reduced afterwards)]."""
    rows: list[dict] = []
    interruptions: dict[int, list[tuple[int, int, bool]]] = {}
    for s in subjects:
        i, arm = s["i"], armcd[s["i"]]
        te_end = max(1, min(s["last_dose"] + TE_WINDOW_DAYS, s["end_day"]))
        draws = r.random(len(rates))
        for (pt, (soc, verbatims, p)), u in zip(rates.items(), draws):
            prob = p[1] if arm == "TRT" else p[0]
            if u >= prob:
                continue
            dy = int(r.integers(1, te_end + 1))
            rows.append(_ae(r, i, pt, verbatims, dy, s, arm, p))
            if dy < s["last_dose"] and rows[-1]["sev"] != "MILD" and r.random() < 0.25:
                rows[-1]["acn"] = "DRUG INTERRUPTED"
                interruptions.setdefault(i, []).append(
                    (dy, int(r.integers(3, 11)), bool(r.random() < 0.4)))
        if r.random() < PRETREATMENT_AE_RATE:
            pt = PRETREATMENT_TERMS[int(r.integers(len(PRETREATMENT_TERMS)))]
            dy = int(r.integers(screen_dy[i], 0))
            row = _ae(r, i, pt, rates[pt][1], dy, s, arm, rates[pt][2])
            row.update(acn="NOT APPLICABLE", rel="NOT RELATED")
            rows.append(row)
    return rows, interruptions


def _ae(r: np.random.Generator, i: int, pt: str, verbatims: tuple[str, ...], dy: int,
        s: dict, arm: str, p: tuple[float, float]) -> dict:
    sev = ("MILD", "MODERATE", "SEVERE")[int(r.choice(3, p=[0.6, 0.3, 0.1]))]
    ser = "Y" if r.random() < {"MILD": 0.02, "MODERATE": 0.06, "SEVERE": 0.35}[sev] else "N"
    # Relatedness follows the excess risk on active: an investigator sees the pattern.
    p_rel = 0.12 + (max(0.0, (p[1] - p[0]) / p[1]) if arm == "TRT" and p[1] > 0 else 0.0)
    rel = (("POSSIBLY RELATED", "RELATED") if r.random() < p_rel
           else ("NOT RELATED", "UNLIKELY RELATED"))[int(r.integers(2))]
    end: int | None = dy + int(r.geometric(1 / 8))
    if end is not None and end > s["end_day"]:
        end = None                      # still ongoing when the subject left
    acn = "DOSE NOT CHANGED" if 1 <= dy <= s["last_dose"] else "NOT APPLICABLE"
    return {"i": i, "pt": pt, "verbatim": verbatims[int(r.integers(len(verbatims)))], "dy": dy,
            "end_dy": end, "sev": sev, "ser": ser, "rel": rel, "acn": acn,
            "out": "RECOVERED/RESOLVED" if end is not None else "NOT RECOVERED/NOT RESOLVED"}


def _frame(domain: str, rows: list[dict]) -> pl.DataFrame:
    """A domain's rows as a frame with exactly ``VARIABLES[domain]`` (numeric: Float64)."""
    cols = VARIABLES[domain]
    schema = {c: pl.Float64 if c in NUMERIC else pl.String for c in cols}
    frame = pl.DataFrame([[row.get(c) for c in cols] for row in rows], schema=schema,
                         orient="row")
    seq = f"{domain}SEQ"
    if "USUBJID" in cols:    # SDTM order: by subject, then sequence number
        frame = frame.sort(["USUBJID", seq] if seq in cols else ["USUBJID"], maintain_order=True)
    return frame


def _design_domains(studyid: str, design: str, arms: dict, name: str, disease: str, n: int,
                    dose_mg: float, marker: Biomarker, start: str) -> dict[str, pl.DataFrame]:
    """TS, TA and TE of the study."""
    randomized = design == "randomized"
    kind = ("Randomized, Double-Blind, Placebo-Controlled" if randomized
            else "Single-Arm, Open-Label")
    ts = [("TITLE", "Trial Title",
           f"A {kind} Phase 2 Study of {name.title()} in Adults With {disease}"),
          ("PHASE", "Trial Phase Classification", "PHASE II TRIAL"),
          ("STYPE", "Study Type", "INTERVENTIONAL"),
          ("TRT", "Investigational Therapy or Treatment", name),
          ("RANDOM", "Trial is Randomized", "Y" if randomized else "N"),
          ("TBLIND", "Trial Blinding Schema", "DOUBLE BLIND" if randomized else "OPEN LABEL"),
          ("TCNTRL", "Control Type", "PLACEBO" if randomized else "NONE"),
          ("INDIC", "Trial Disease/Condition Indication", disease),
          ("PLANSUB", "Planned Number of Subjects", str(n)),
          ("NARMS", "Planned Number of Arms", str(len(arms))),
          ("DOSE", "Dose per Administration", f"{dose_mg:g}"),
          ("DOSU", "Dose Units", "mg"), ("DOSFRQ", "Dosing Frequency", "QD"),
          ("ROUTE", "Route of Administration", "ORAL"),
          ("AGEMIN", "Planned Minimum Age of Subjects", "P18Y"),
          ("AGEMAX", "Planned Maximum Age of Subjects", "P75Y"),
          ("SEXPOP", "Sex of Participants", "BOTH"),
          ("OUTMSPRI", "Primary Outcome Measure",
           f"Change from baseline in plasma {marker.test.lower()} at Week 24"),
          ("OUTMSSEC", "Secondary Outcome Measure", "Time to disease progression or death"),
          ("SSTDTC", "Study Start Date", start),
          ("SPONSOR", "Clinical Study Sponsor", SPONSOR)]
    # TSVAL holds at most 200 characters (SAS v5); a longer title is cut, not split
    ts_rows = [{"STUDYID": studyid, "DOMAIN": "TS", "TSSEQ": 1.0, "TSPARMCD": c, "TSPARM": p,
                "TSVAL": v if len(v) <= XPT_CHAR_MAX else v[:XPT_CHAR_MAX - 3] + "..."}
               for c, p, v in ts]
    elements = {"SCRN": ("Screening", "Informed consent", "28 days after informed consent",
                         "P28D"),
                "TRT": (arms["TRT"], "First dose of study drug", f"{TREATMENT_DAYS} days after "
                        "the first dose", "P24W"),
                "PBO": ("Placebo", "First dose of placebo", f"{TREATMENT_DAYS} days after the "
                        "first dose", "P24W"),
                "FU": ("Follow-up", "Last dose of study treatment",
                       f"{TE_WINDOW_DAYS} days after the last dose", "P30D")}
    te_rows = [{"STUDYID": studyid, "DOMAIN": "TE", "ETCD": cd, "ELEMENT": e, "TESTRL": s,
                "TEENRL": en, "TEDUR": dur} for cd, (e, s, en, dur) in elements.items()
               if cd != "PBO" or randomized]
    ta_rows = []
    for cd, arm in arms.items():
        for k, (etcd, epoch) in enumerate((("SCRN", "SCREENING"), (cd, "TREATMENT"),
                                           ("FU", "FOLLOW-UP")), start=1):
            ta_rows.append({"STUDYID": studyid, "DOMAIN": "TA", "ARMCD": cd, "ARM": arm,
                            "TAETORD": float(k), "ETCD": etcd, "ELEMENT": elements[etcd][0],
                            "TABRANCH": "Randomized to " + arm if randomized and k == 1 else None,
                            "TATRANS": None, "EPOCH": epoch})
    return {"TS": _frame("TS", ts_rows), "TA": _frame("TA", ta_rows),
            "TE": _frame("TE", te_rows)}


# --- writing ---------------------------------------------------------------------------------

FORMATS = ("xpt", "json", "csv")
CREATED = "2024-01-01T00:00:00"
_SAS_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def xpt_problems(domain: str, frame: pl.DataFrame) -> list[str]:
    """Why ``frame`` cannot be a SAS transport v5 dataset (names > 8 characters, labels > 40,
    character values > 200 bytes or not ASCII), one line each naming the variable."""
    out = []
    if len(domain) > XPT_NAME_MAX:
        out.append(f"{domain}: dataset name is over {XPT_NAME_MAX} characters")
    for col in frame.columns:
        if len(col) > XPT_NAME_MAX or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", col):
            out.append(f"{domain}.{col}: not a SAS v5 name (at most {XPT_NAME_MAX} characters, "
                       "letters, digits, underscore)")
        if len(variable_label(col)) > XPT_LABEL_MAX:
            out.append(f"{domain}.{col}: label is over {XPT_LABEL_MAX} characters")
        if frame[col].dtype == pl.String:
            longest = frame[col].str.len_bytes().max() or 0
            if longest > XPT_CHAR_MAX:
                out.append(f"{domain}.{col}: a value is {longest} bytes, over {XPT_CHAR_MAX}")
            if frame[col].str.contains(r"[^\x00-\x7F]").any():
                out.append(f"{domain}.{col}: a value is not ASCII")
    return out


def _sas_stamp(created: str) -> bytes:
    """``ddMMMyy:hh:mm:ss`` as XPORT headers write it."""
    dt = np.datetime64(created, "s").astype(object)
    return dt.strftime("%d%b%y:%H:%M:%S").upper().encode()


def write_xpt(path: Path, domain: str, frame: pl.DataFrame, created: str = CREATED) -> None:
    """One domain as a SAS transport v5 file (pyreadstat), its header dates set to
    ``created`` so the same data give the same bytes."""
    import pyreadstat

    problems = xpt_problems(domain, frame)
    if problems:
        raise ValueError(f"{path.name}: cannot be written as SAS v5 transport: "
                         + "; ".join(problems))
    df = frame.with_columns(pl.col(pl.String).fill_null("")).to_pandas()
    pyreadstat.write_xport(df, str(path), file_label=DOMAIN_LABELS.get(domain, domain),
                           column_labels=[variable_label(c) for c in frame.columns],
                           table_name=domain, file_format_version=5)
    raw = path.read_bytes()
    # The library and member headers carry "created"/"modified" stamps of the wall clock;
    # they all precede the first observation header.
    cut = raw.index(b"HEADER RECORD*******OBS     HEADER RECORD")
    path.write_bytes(_SAS_STAMP.sub(_sas_stamp(created), raw[:cut]) + raw[cut:])


def dataset_json(domain: str, frame: pl.DataFrame, studyid: str,
                 created: str = CREATED) -> dict:
    """A domain as a CDISC Dataset-JSON v1.1 object (columns with itemOID, name, label,
    dataType; rows as arrays in column order)."""
    columns = []
    for k, col in enumerate(frame.columns):
        if col in INTEGER:
            dtype = "integer"
        elif frame[col].dtype == pl.Float64:
            dtype = "double"
        else:
            dtype = "string"
        item = {"itemOID": f"IT.{domain}.{col}", "name": col, "label": variable_label(col),
                "dataType": dtype}
        if dtype == "string":
            item["length"] = max(1, int(frame[col].drop_nulls().str.len_bytes().max() or 1))
        if col in ("STUDYID", "USUBJID") and "USUBJID" in frame.columns:
            item["keySequence"] = 1 if col == "STUDYID" else 2
        columns.append(item)
    ints = [c["dataType"] == "integer" for c in columns]
    rows = [[int(x) if is_int and x is not None else x for x, is_int in zip(row, ints)]
            for row in frame.iter_rows()]
    return {"datasetJSONCreationDateTime": created, "datasetJSONVersion": "1.1.0",
            "fileOID": f"orphanlake.{studyid}.{domain}", "dbLastModifiedDateTime": created,
            "originator": SPONSOR,
            "sourceSystem": {"name": "orphanlake.simulate.trial", "version": "1.0"},
            "studyOID": studyid, "metaDataVersionOID": "MDV.SDTMIG.3.4",
            "itemGroupOID": f"IG.{domain}", "records": frame.height, "name": domain,
            "label": DOMAIN_LABELS.get(domain, domain), "columns": columns, "rows": rows}


def write_study(folder: Path, frames: dict[str, pl.DataFrame], fmt: str = "xpt",
                created: str = CREATED) -> list[Path]:
    """Write each domain as ``<domain lower>.<fmt>`` in ``folder`` ("xpt": SAS transport
    v5; "json": Dataset-JSON v1.1; "csv": header line, empty for null). ``created`` stamps
    the xpt headers and the JSON creation time. Returns the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for domain, frame in frames.items():
        path = folder / f"{domain.lower()}.{fmt}"
        if fmt == "xpt":
            write_xpt(path, domain, frame, created)
        elif fmt == "json":
            studyid = frame["STUDYID"][0] if "STUDYID" in frame.columns and frame.height else ""
            path.write_text(json.dumps(dataset_json(domain, frame, studyid, created),
                                       ensure_ascii=False) + "\n")
        else:   # whole numbers as such ("46", not "46.0")
            frame.with_columns(pl.col(c).cast(pl.Int64) for c in frame.columns
                               if c in INTEGER).write_csv(path)
        written.append(path)
    return written


def write_links(folder: Path, links: list[dict]) -> Path | None:
    """``patient_links.csv`` (STUDYID, USUBJID, PATIENT_ID) of the subjects who are lake
    patients; none is written when there are none."""
    if not links:
        return None
    path = Path(folder) / "patient_links.csv"
    pl.DataFrame(links, schema={"STUDYID": pl.String, "USUBJID": pl.String,
                                "PATIENT_ID": pl.String}).write_csv(path)
    return path


def _created(frames: dict[str, pl.DataFrame]) -> str:
    """The data cut: 14 days after the study's last participation date, 09:00."""
    last = frames["DM"]["RFPENDTC"].drop_nulls().max()
    return str(np.datetime64(last) + np.timedelta64(14, "D")) + "T09:00:00"


# --- the lake ---------------------------------------------------------------------------------


def screened_compound(home: Path, target_gene: str | None = None) -> dict | None:
    """The lake's screen of approved drugs (``truth/<batch>/screening/``: the first by
    batch id, for ``target_gene`` when given; design rounds, whose library is the designs,
    are no such screen) and its most potent true active (the highest true pIC50 when none
    is active): ``{target_gene, compound_id, compound_name, true_pic50, true_active,
    screen}``, or None when the lake has no such screen."""
    for plates in sorted(LakePaths(Path(home)).truth.glob("*/screening/plates.json")):
        target = json.loads(plates.read_text()).get("target_gene")
        activity = plates.parent / "compound_activity.parquet"
        if (target_gene is not None and target != target_gene) or not activity.exists():
            continue
        drugs = pl.read_parquet(activity).filter(
            (pl.col("library") == "chembl_approved") & pl.col("true_pic50").is_not_null())
        if drugs.is_empty():
            continue
        best = drugs.sort(["true_active", "true_pic50", "compound_id"],
                          descending=[True, True, False]).row(0, named=True)
        from orchestration.chem.reference_data import load_approved_drugs

        hit = load_approved_drugs().filter(pl.col("chembl_id") == best["compound_id"])
        name = hit["name"][0] if hit.height and hit["name"][0] else best["compound_id"]
        return {"target_gene": target, "compound_id": best["compound_id"],
                "compound_name": name, "true_pic50": float(best["true_pic50"]),
                "true_active": bool(best["true_active"]), "screen": plates.parent.parent.name}
    return None


def cohort_patients(home: Path, target_gene: str) -> tuple[list[dict], str | None]:
    """Lake patients whose causal gene is ``target_gene`` (from every batch's
    ``truth/<batch>/truth.tsv``; patients planted in bad files are left out, they never
    reach the lake), each ``{patient_id, sex, lof_carrier}``, and their commonest disease."""
    rows = []
    for path in sorted(LakePaths(Path(home)).truth.glob("*/truth.tsv")):
        t = pl.read_csv(path, separator="\t", infer_schema_length=0)
        rows.append(t.select("patient_id", "sex", "disease_name", "gene_symbol",
                             "causal_consequences", "defect"))
    if not rows:
        return [], None
    t = (pl.concat(rows).filter((pl.col("gene_symbol") == target_gene)
                                & (pl.col("defect").is_null() | (pl.col("defect") == "")))
         .unique("patient_id").sort("patient_id"))
    patients = [{"patient_id": r["patient_id"], "sex": r["sex"],
                 "lof_carrier": lof_carrier(r["causal_consequences"])}
                for r in t.iter_rows(named=True)]
    disease = None
    if t.height:
        top = t.group_by("disease_name").len().sort(["len", "disease_name"],
                                                   descending=[True, False])
        disease = top["disease_name"][0]
    return patients, disease


def _folder_name(studyid: str) -> str:
    """A study id used as a folder and file name: letters, digits, '-', '_' and '.' only
    (the target gene in it comes from the lake's truth or the command line)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", studyid):
        raise ValueError(f"study id {studyid!r} cannot name a folder; pass a plain target gene")
    return studyid


def generate_trials(home: Path, seed: int, *, target_gene: str | None = None,
                    n_randomized: int = 60, n_single_arm: int = 30,
                    formats: tuple[str, str] = ("xpt", "xpt"),
                    with_bad_files: bool = False, **model) -> dict:
    """Write a randomized and a single-arm study of the lake's best screened compound under
    ``landing/trials/<STUDYID>/`` (formats[0] and formats[1]: SAS transport, as sponsors
    submit; the defect studies use Dataset-JSON and CSV too), lake patients of the target's
    disease among their subjects (alternately, at most half of each study) with
    ``patient_links.csv``, and each truth in ``truth/trials/<STUDYID>.json``. Without a
    screen the compound is a named placeholder (the truth says so). ``with_bad_files``
    adds the hostile studies of ``bad_trial_files``. ``model``: further
    ``simulate_trial`` arguments. Same arguments give byte-identical files."""
    paths = LakePaths(Path(home))
    landing = paths.landing_domain("trials")
    truth_dir = paths.truth / "trials"
    truth_dir.mkdir(parents=True, exist_ok=True)
    best = screened_compound(paths.home, target_gene)
    if best:
        target = best["target_gene"]
        source = (f"the most potent true active of screen {best['screen']} against {target} "
                  f"(true pIC50 {best['true_pic50']:.2f})")
        compound = {"compound_id": best["compound_id"], "compound_name": best["compound_name"]}
    else:
        target = target_gene or "GBA1"
        source = "placeholder: the lake has no screen" + (f" against {target_gene}"
                                                          if target_gene else "")
        compound = {"compound_id": PLACEHOLDER_COMPOUND, "compound_name": PLACEHOLDER_COMPOUND}
    patients, disease = cohort_patients(paths.home, target)
    summary = {"target_gene": target, "compound_source": source, **compound,
               "n_cohort_patients": len(patients), "truth_dir": str(truth_dir), "studies": {}}
    for k, (design, n, fmt) in enumerate((("randomized", n_randomized, formats[0]),
                                          ("single_arm", n_single_arm, formats[1]))):
        # 2*seed+k: no two calls of different seeds share a study's draws
        frames, truth = simulate_trial(2 * seed + k, design=design, n_subjects=n,
                                       studyid=f"OL{seed:04d}-{target}-{201 + k}",
                                       target_gene=target, disease=disease,
                                       patients=patients[k::2][:n // 2], **compound, **model)
        truth["compound_source"] = source
        truth["generate_trials_seed"] = seed
        studyid = _folder_name(truth["studyid"])
        folder = landing / studyid
        created = _created(frames)
        files = write_study(folder, frames, fmt, created)
        link = write_links(folder, truth["links"])
        files += [link] if link else []
        truth_path = truth_dir / f"{studyid}.json"
        truth_path.write_text(json.dumps({**truth, "format": fmt, "files": sorted(
            f"trials/{studyid}/{f.name}" for f in files)}, indent=1) + "\n")
        summary["studies"][studyid] = {
            "design": design, "format": fmt, "folder": str(folder), "n_subjects": n,
            "n_linked": len(truth["links"]), "files": sorted(f.name for f in files),
            "truth_path": str(truth_path)}
    if with_bad_files:
        summary["bad_studies"] = bad_trial_files(landing, seed, truth_dir=truth_dir)
    return summary


# --- hostile studies --------------------------------------------------------------------------

BAD_DEFECTS = ("missing_aedecod", "non_iso_dates", "unknown_subject", "subject_in_two_arms",
               "direct_identifier", "full_birthdate")


def bad_trial_files(landing_trials: Path, seed: int, truth_dir: Path | None = None,
                    n_subjects: int = 8) -> list[dict]:
    """Hostile studies, one defect each, so no defect hides another: a small clean study
    (DM and AE) in its own folder ``OL<seed>-BAD-<DEFECT>`` under ``landing_trials`` with
    one thing wrong. Defects: AE without AEDECOD (xpt); AESTDTC not ISO 8601, "03/12/2021"
    (csv); an AE of a subject absent from DM (json); a subject in two arms, two DM rows
    (xpt); a direct identifier column PATNAME in DM (csv); full BRTHDTC dates (json).
    Returns one row per defect (study, file, defect, variable, locator); with
    ``truth_dir`` each study's rows also go to ``<truth_dir>/<STUDYID>.json``."""
    rows = []
    fmts = dict(zip(BAD_DEFECTS, ("xpt", "csv", "json", "xpt", "csv", "json")))
    for k, defect in enumerate(BAD_DEFECTS):
        studyid = f"OL{seed:04d}-BAD-{defect.upper().replace('_', '-')}"
        frames, _ = simulate_trial(seed * 100 + 90 + k, n_subjects=n_subjects, studyid=studyid,
                                   ae_rates={pt: (0.5, 0.6) for pt in AE_TERMS})
        dm, ae = frames["DM"], frames["AE"]
        fmt = fmts[defect]
        target = "AE" if defect in ("missing_aedecod", "non_iso_dates", "unknown_subject") \
            else "DM"
        variable, locator = None, None
        if defect == "missing_aedecod":
            ae = ae.drop("AEDECOD")
            variable, locator = "AEDECOD", "whole file"
        elif defect == "non_iso_dates":
            bad = list(range(0, ae.height, 3))
            us = [None if i not in bad else
                  "{1}/{2}/{0}".format(*ae["AESTDTC"][i].split("-")) for i in range(ae.height)]
            ae = ae.with_columns(pl.Series("AESTDTC", [u or o for u, o in zip(
                us, ae["AESTDTC"].to_list())]))
            variable, locator = "AESTDTC", "records " + ",".join(str(i + 1) for i in bad)
        elif defect == "unknown_subject":
            alien = ae.head(1).with_columns(pl.lit(f"{studyid}-999-001").alias("USUBJID"),
                                            pl.lit(1.0).alias("AESEQ"))
            ae = pl.concat([ae, alien])
            variable, locator = "USUBJID", f"record {ae.height} ({studyid}-999-001)"
        elif defect == "subject_in_two_arms":
            twin = dm.head(1)
            other = "PBO" if twin["ARMCD"][0] == "TRT" else "TRT"
            arm = dm.filter(pl.col("ARMCD") == other)["ARM"][0]
            twin = twin.with_columns(pl.lit(other).alias("ARMCD"), pl.lit(arm).alias("ARM"),
                                     pl.lit(other).alias("ACTARMCD"), pl.lit(arm).alias("ACTARM"))
            dm = pl.concat([dm, twin])
            variable, locator = "ARM", f"records 1,{dm.height} ({dm['USUBJID'][0]})"
        elif defect == "direct_identifier":
            names = ("Maria Lopez", "John Smith", "Anna Schmidt", "Wei Chen", "Sarah Cohen",
                     "Luca Rossi", "Emma Dubois", "Kenji Sato")
            dm = dm.with_columns(pl.Series("PATNAME", [names[i % len(names)]
                                                       for i in range(dm.height)]))
            variable, locator = "PATNAME", "every record"
        else:
            r = np.random.default_rng([seed, 97])
            # full dates of birth, every other one as a sponsor's local spelling (DD/MM/YYYY)
            full = [(f"{y}-{m:02d}-{d:02d}" if i % 2 == 0 else f"{d:02d}/{m:02d}/{y}")
                    for i, (y, m, d) in enumerate((y, int(r.integers(1, 13)), int(r.integers(1, 29)))
                                                  for y in dm["BRTHDTC"])]
            dm = dm.with_columns(pl.Series("BRTHDTC", full))
            variable, locator = "BRTHDTC", "every record"
        folder = Path(landing_trials) / studyid
        created = _created(frames)
        write_study(folder, {"DM": dm, "AE": ae}, fmt, created)
        row = {"study": studyid, "file": f"trials/{studyid}/{target.lower()}.{fmt}",
               "defect": defect, "variable": variable, "locator": locator}
        rows.append(row)
        if truth_dir is not None:
            Path(truth_dir).mkdir(parents=True, exist_ok=True)
            (Path(truth_dir) / f"{studyid}.json").write_text(json.dumps(
                {"studyid": studyid, "seed": seed, "defects": [row],
                 "files": [f"trials/{studyid}/dm.{fmt}", f"trials/{studyid}/ae.{fmt}"]},
                indent=1) + "\n")
    return rows
