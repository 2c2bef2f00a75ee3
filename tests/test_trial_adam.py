"""ADaM derivations (models/trials/adam.py) on small hand-made SDTM frames, against
hand-computed values."""

from datetime import date

import polars as pl
import pytest

from models.trials.adam import (ADAE_SCHEMA, ADSL_SCHEMA, ADTTE_SCHEMA, BDS_SCHEMA, derive_adae,
                                derive_adsl, derive_adtte, derive_bds, normalize_adae,
                                normalize_adsl, normalize_adtte, normalize_bds)

D = date


def _dm():
    return pl.DataFrame({
        "studyid": ["S"] * 6,
        "usubjid": [f"S-{i}" for i in range(1, 7)],
        "arm": ["Drug", "Placebo", "Screen Failure", "Drug", "Drug", "Placebo"],
        "armcd": ["D", "P", "SCRNFAIL", "D", "D", "P"],
        "actarm": [None, "Drug", None, "", "Drug", "Placebo"],
        "rfstdtc": ["2024-01-08", "2024-01-02", None, "2024-01-05", "2024-01-01", "2024-01-01"],
        "rfendtc": [None, None, None, None, None, "2024-05-01"],
        "age": [17.0, 40.0, 70.0, 64.0, 65.0, 30.0],
        "sex": ["F", "M", "F", "M", "F", "M"],
        "dthfl": [None, None, None, None, None, None],
        # lineage / extra columns of the raw table are tolerated
        "extra": ["{}"] * 6, "locator": [f"record {i}" for i in range(1, 7)],
    })


def _ex():
    return pl.DataFrame({
        "studyid": ["S"] * 5,
        "usubjid": ["S-1", "S-1", "S-2", "S-5", "S-6"],
        "exstdtc": ["2024-01-10", "2024-02-01T10:00", "2024-01-03", "2024-01-01", "2024-01-02"],
        "exendtc": ["2024-01-31", None, "2024-03-01", "2024-01-31", "2024-04-01"],
    })


def _ds():
    return pl.DataFrame({
        "studyid": ["S"] * 5,
        "usubjid": ["S-1", "S-2", "S-2", "S-4", "S-5"],
        "dsseq": [1.0, 1.0, 2.0, 1.0, 1.0],
        "dscat": ["DISPOSITION EVENT", None, None, "PROTOCOL MILESTONE", "DISPOSITION EVENT"],
        "dsdecod": ["COMPLETED", "RANDOMIZED", "ADVERSE EVENT", "RANDOMIZED", "DEATH"],
        "dsstdtc": ["2024-03-01", "2024-01-02", "2024-03-05", "2024-01-05", "2024-02-15"],
    })


@pytest.fixture(scope="module")
def adsl():
    return derive_adsl(_dm(), _ex(), _ds())


def _row(df, usubjid, **where):
    out = df.filter(pl.col("usubjid") == usubjid)
    for k, v in where.items():
        out = out.filter(pl.col(k) == v)
    assert out.height == 1, (usubjid, where, out)
    return out.row(0, named=True)


def test_adsl_one_row_per_subject_with_schema(adsl):
    assert adsl.schema == ADSL_SCHEMA
    assert adsl["usubjid"].to_list() == [f"S-{i}" for i in range(1, 7)]


def test_adsl_treatment_dates_and_duration(adsl):
    s1 = _row(adsl, "S-1")
    # first EXSTDTC; last EXENDTC, or EXSTDTC when the end is missing (the 2nd record)
    assert (s1["trtsdt"], s1["trtedt"]) == (D(2024, 1, 10), D(2024, 2, 1))
    assert s1["trtdurd"] == 23  # Jan 10 .. Feb 1 inclusive
    s4 = _row(adsl, "S-4")  # randomized, never dosed
    assert s4["trtsdt"] is None and s4["trtdurd"] is None and s4["saffl"] == "N"
    assert s4["randdt"] == D(2024, 1, 5)


def test_adsl_flags_arms_and_age_groups(adsl):
    got = {r["usubjid"]: r for r in adsl.iter_rows(named=True)}
    assert [got[f"S-{i}"]["saffl"] for i in range(1, 7)] == ["Y", "Y", "N", "N", "Y", "Y"]
    assert [got[f"S-{i}"]["ittfl"] for i in range(1, 7)] == ["Y", "Y", "N", "Y", "Y", "Y"]
    # ACTARM, falling back to ARM when null or empty
    assert [got[f"S-{i}"]["trt01a"] for i in (1, 2, 4)] == ["Drug", "Drug", "Drug"]
    assert got["S-2"]["trt01p"] == "Placebo"
    assert [got[f"S-{i}"]["agegr1"] for i in (1, 2, 4, 5)] == ["<18", "18-64", "18-64", ">=65"]


def test_adsl_disposition(adsl):
    s1, s2, s4, s5 = (_row(adsl, u) for u in ("S-1", "S-2", "S-4", "S-5"))
    assert (s1["eosstt"], s1["dcsreas"], s1["eosdt"]) == ("COMPLETED", None, D(2024, 3, 1))
    # the null-DSCAT "RANDOMIZED" milestone is not the end of study
    assert (s2["eosstt"], s2["dcsreas"], s2["eosdt"]) == ("DISCONTINUED", "ADVERSE EVENT",
                                                          D(2024, 3, 5))
    assert (s4["eosstt"], s4["eosdt"]) == ("ONGOING", None)  # only a milestone record
    assert (s5["eosstt"], s5["dcsreas"], s5["dthfl"]) == ("DISCONTINUED", "DEATH", "Y")
    assert s1["dthfl"] is None


def test_adsl_last_alive_date():
    ae = pl.DataFrame({"studyid": ["S"], "usubjid": ["S-1"], "aedecod": ["X"],
                       "aestdtc": ["2024-03-05"], "aeendtc": ["2024-03-10"]})
    no_ae = derive_adsl(_dm(), _ex(), _ds())
    with_ae = derive_adsl(_dm(), _ex(), _ds(), ae=ae)
    assert _row(no_ae, "S-1")["lstaldt"] == D(2024, 3, 1)       # the DS date > trtedt
    assert _row(with_ae, "S-1")["lstaldt"] == D(2024, 3, 10)    # the AE end date
    assert _row(no_ae, "S-6")["lstaldt"] == D(2024, 5, 1)       # DM.RFENDTC > trtedt
    assert _row(no_ae, "S-3")["lstaldt"] is None


def test_adsl_needs_keys():
    with pytest.raises(ValueError, match="DM.*usubjid"):
        derive_adsl(_dm().drop("usubjid"), _ex(), _ds())


# ---- ADAE ----------------------------------------------------------------------------

def _ae(starts, subject="S-1"):
    return pl.DataFrame({"studyid": "S", "usubjid": subject,
                         "aeseq": [float(i) for i in range(1, len(starts) + 1)],
                         "aedecod": [f"PT{i}" for i in range(len(starts))],
                         "aestdtc": starts}, schema_overrides={"aestdtc": pl.String})


def test_teae_boundaries_and_study_day(adsl):
    # S-1: trtsdt 2024-01-10, trtedt 2024-02-01; trtedt + 30 = 2024-03-02 (2024 is leap)
    adae = derive_adae(_ae(["2024-01-09", "2024-01-10", "2024-03-02", "2024-03-03"]), adsl)
    assert adae.schema == ADAE_SCHEMA
    assert adae["trtemfl"].to_list() == ["N", "Y", "Y", "N"]
    assert adae["astdy"].to_list() == [-1, 1, 53, 54]     # no day 0
    assert adae["trta"].to_list() == ["Drug"] * 4
    short = derive_adae(_ae(["2024-02-01", "2024-02-02"]), adsl, followup_days=0)
    assert short["trtemfl"].to_list() == ["Y", "N"]


def test_teae_null_when_never_treated(adsl):
    adae = derive_adae(_ae(["2024-02-01"], subject="S-4"), adsl)
    assert adae["trtemfl"].to_list() == [None]
    assert adae["astdt"].to_list() == [D(2024, 2, 1)]


def test_partial_start_date_imputation(adsl):
    adae = derive_adae(_ae(["2024-01", "2024-02", "2024", "2023", "2024-01-15T08:00", None]),
                       adsl)
    assert adae["astdt"].to_list() == [
        D(2024, 1, 10),   # month of trtsdt → trtsdt
        D(2024, 2, 1),    # another month → its 1st
        D(2024, 1, 10),   # year of trtsdt → trtsdt
        D(2023, 1, 1),    # another year → January 1
        D(2024, 1, 15), None]
    assert adae["astdtf"].to_list() == ["D", "D", "M", "M", None, None]
    # no onset date at all: treatment-emergent (the conservative reading) unless it ended
    # before the first dose
    assert adae["trtemfl"].to_list() == ["Y", "Y", "Y", "N", "Y", "Y"]
    ended = derive_adae(_ae([None]).with_columns(pl.lit("2024-01-02").alias("aeendtc")), adsl)
    assert ended["trtemfl"].to_list() == ["N"]


def test_derive_adae_empty(adsl):
    out = derive_adae(_ae([]), adsl)
    assert out.height == 0 and out.schema == ADAE_SCHEMA


# ---- ADTTE ---------------------------------------------------------------------------

def test_adtte_events_and_censoring(adsl):
    ae = _ae(["2024-01-20", "2024-01-12"])   # S-1's first TEAE: 2024-01-12
    tte = derive_adtte(adsl, _ds(), ae, events={"TTDTH": ("DEATH",)})
    assert tte.schema == ADTTE_SCHEMA
    assert "S-3" not in tte["usubjid"].to_list()  # screen failure: neither ITT nor SAF
    assert sorted(tte["paramcd"].unique()) == ["TTAE", "TTDISC", "TTDTH", "TTPD"]
    r = _row(tte, "S-1", paramcd="TTPD")  # completed: censored at eosdt 2024-03-01
    assert (r["startdt"], r["adt"], r["aval"], r["cnsr"]) == (D(2024, 1, 10), D(2024, 3, 1),
                                                              52.0, 1)
    r = _row(tte, "S-5", paramcd="TTPD")  # died 2024-02-15, dosed from 2024-01-01
    assert (r["adt"], r["aval"], r["cnsr"], r["evntdesc"]) == (D(2024, 2, 15), 46.0, 0, "DEATH")
    assert _row(tte, "S-5", paramcd="TTDTH")["cnsr"] == 0
    assert _row(tte, "S-1", paramcd="TTDTH")["cnsr"] == 1
    r = _row(tte, "S-2", paramcd="TTDISC")  # discontinued (AE) 2024-03-05 from 2024-01-03
    assert (r["aval"], r["cnsr"], r["evntdesc"]) == (63.0, 0, "ADVERSE EVENT")
    assert _row(tte, "S-1", paramcd="TTDISC")["cnsr"] == 1
    r = _row(tte, "S-1", paramcd="TTAE")   # first TEAE 2024-01-12: day 3
    assert (r["aval"], r["cnsr"]) == (3.0, 0)
    # no AE: censored at min(trtedt + 30, eosdt): S-2 trtedt 03-01 + 30 = 03-31 > eosdt 03-05
    r = _row(tte, "S-2", paramcd="TTAE")
    assert (r["adt"], r["cnsr"]) == (D(2024, 3, 5), 1)
    r = _row(tte, "S-6", paramcd="TTAE")   # ongoing: trtedt 04-01 + 30
    assert (r["adt"], r["aval"], r["cnsr"]) == (D(2024, 5, 1), 121.0, 1)
    # undosed ITT subject: the clock starts at randomization (RFSTDTC); no later date → day 1
    r = _row(tte, "S-4", paramcd="TTPD")
    assert (r["startdt"], r["adt"], r["aval"], r["cnsr"]) == (D(2024, 1, 5), D(2024, 1, 5), 1.0, 1)


def test_adtte_accepts_adae(adsl):
    ae = _ae(["2024-01-20", "2024-01-12"])
    a = derive_adtte(adsl, _ds(), ae)
    b = derive_adtte(adsl, _ds(), derive_adae(ae, adsl))
    assert a.equals(b)


# ---- BDS -----------------------------------------------------------------------------

def _findings():
    rows = [
        # S-1 (trtsdt 2024-01-10): no flag → last non-missing on/before trtsdt = visit 2
        ("LB", "S-1", 1, "HGB", 1.0, "SCREENING", 10.0, "2024-01-05", None),
        ("LB", "S-1", 2, "HGB", 2.0, "DAY 1", 11.0, "2024-01-10", None),
        ("LB", "S-1", 3, "HGB", 2.5, "DAY 1 PM", None, "2024-01-10", None),  # no value
        ("LB", "S-1", 4, "HGB", 3.0, "WEEK 4", 14.0, "2024-02-07", None),
        ("LB", "S-1", 5, "HGB", 3.0, "WEEK 4", 15.0, "2024-02-08", None),    # retest
        # S-2: the sponsor's flag wins over the later pre-dose record
        ("VS", "S-2", 1, "SYSBP", 1.0, "SCREENING", 120.0, "2023-12-20", "Y"),
        ("VS", "S-2", 2, "SYSBP", 2.0, "DAY 1", 130.0, "2024-01-02", None),
        ("VS", "S-2", 3, "SYSBP", 3.0, "WEEK 4", 125.0, "2024-01-31", None),
    ]
    cols = ["domain", "usubjid", "seq", "testcd", "visitnum", "visit", "stresn", "dtc", "blfl"]
    df = pl.DataFrame(rows, schema=cols, orient="row").with_columns(
        studyid=pl.lit("S"), seq=pl.col("seq").cast(pl.Float64), test=pl.col("testcd") + " test")
    return df


def test_bds_baseline_and_change(adsl):
    bds = derive_bds(_findings(), adsl).sort("usubjid", "adt", "avisitn")
    assert bds.schema == BDS_SCHEMA
    s1 = bds.filter(pl.col("usubjid") == "S-1")
    assert s1["dataset"].unique().to_list() == ["ADLB"]
    assert s1["ablfl"].to_list() == [None, "Y", None, None, None]
    assert s1["base"].to_list() == [11.0] * 5
    assert s1["chg"].to_list() == [None, None, None, 3.0, 4.0]
    assert s1["ady"].to_list() == [-5, 1, 1, 29, 30]
    assert s1["anl01fl"].to_list() == ["Y", "Y", None, None, "Y"]  # the retest at WEEK 4
    assert s1["trtp"].unique().to_list() == ["Drug"]
    s2 = bds.filter(pl.col("usubjid") == "S-2")
    assert s2["dataset"].unique().to_list() == ["ADVS"]
    assert s2["ablfl"].to_list() == ["Y", None, None]
    assert s2["base"].to_list() == [120.0] * 3
    assert s2["chg"].to_list() == [None, 10.0, 5.0]
    assert (s2["paramcd"][0], s2["param"][0], s2["avisit"][0]) == ("SYSBP", "SYSBP test",
                                                                   "SCREENING")


def test_bds_no_baseline_means_no_change(adsl):
    # S-4 never dosed, nothing flagged: no baseline, no change
    f = _findings().filter(pl.col("usubjid") == "S-1").with_columns(usubjid=pl.lit("S-4"))
    bds = derive_bds(f, adsl)
    assert bds["ablfl"].null_count() == bds.height and bds["chg"].null_count() == bds.height


# ---- ADaM the sponsor sent -----------------------------------------------------------

def test_normalize_sent_adam_has_the_derived_columns():
    sent = pl.DataFrame({"studyid": ["S"], "usubjid": ["S-9"], "trt01p": ["Drug"],
                         "trtsdt": ["2024-01-01"], "trtedt": ["2024-01-10"], "age": [70.0],
                         "saffl": ["Y"], "ittfl": ["Y"], "eosstt": ["completed"],
                         "locator": ["record 1"]})
    adsl = normalize_adsl(sent)
    assert adsl.schema == ADSL_SCHEMA
    r = adsl.row(0, named=True)
    assert (r["arm"], r["trt01a"], r["trtsdt"], r["trtdurd"], r["agegr1"], r["eosstt"]) == (
        "Drug", "Drug", D(2024, 1, 1), 10, ">=65", "COMPLETED")
    assert r["lstaldt"] is None
    adae = normalize_adae(pl.DataFrame({"studyid": ["S"], "usubjid": ["S-9"], "aedecod": ["X"],
                                        "astdt": ["2024-01-02"], "trtemfl": ["Y"],
                                        "aesev": ["mild"]}))
    assert adae.schema == ADAE_SCHEMA and adae["aesev"][0] == "MILD"
    adtte = normalize_adtte(pl.DataFrame({"studyid": ["S"], "usubjid": ["S-9"],
                                          "paramcd": ["OS"], "aval": [10.0], "cnsr": [1.0]}))
    assert adtte.schema == ADTTE_SCHEMA and adtte["cnsr"][0] == 1
    bds = normalize_bds(pl.DataFrame({"studyid": ["S"], "usubjid": ["S-9"], "paramcd": ["X"],
                                      "aval": [1.0], "adt": ["2024-01-02"]}))
    assert bds.schema == BDS_SCHEMA and bds["adt"][0] == D(2024, 1, 2)


def test_a_domain_not_sent_is_empty_not_an_error(adsl):
    none = pl.DataFrame()
    dm_only = derive_adsl(_dm(), none, none)
    assert dm_only.select("saffl", "eosstt").unique().rows() == [("N", "ONGOING")]
    adae = derive_adae(none, adsl)
    assert (adae.height, adae.schema) == (0, ADAE_SCHEMA)
    assert derive_bds(none, adsl).schema == BDS_SCHEMA
    # the 5 ITT subjects start at randomization; TTPD / TTDISC censored; TTAE is a safety
    # endpoint: undosed subjects are not at risk of a treatment-emergent AE
    tte = derive_adtte(dm_only, none, adae)
    assert tte.height == 2 * 5 and tte["cnsr"].unique().to_list() == [1]
    assert "TTAE" not in tte["paramcd"].to_list()


def test_a_partial_death_date_is_still_an_event_and_ttae_is_by_actual_arm():
    """A DS death dated only "2024-02" is an event on 2024-02-01 (the first day it can be),
    not censored; TTAE counts dosed subjects in their actual arm (TRT01A)."""
    ds = _ds().with_columns(pl.when(pl.col("usubjid") == "S-5").then(pl.lit("2024-02"))
                            .otherwise(pl.col("dsstdtc")).alias("dsstdtc"))
    adsl = derive_adsl(_dm(), _ex(), ds)
    tte = derive_adtte(adsl, ds, _ae([]))
    r = _row(tte, "S-5", paramcd="TTPD")
    assert (r["adt"], r["cnsr"], r["evntdesc"]) == (D(2024, 2, 1), 0, "DEATH")
    assert _row(tte, "S-5", paramcd="TTDISC")["cnsr"] == 0
    # S-2 was planned Placebo but received Drug (ACTARM): TTAE in Drug, TTPD in Placebo
    assert _row(tte, "S-2", paramcd="TTAE")["trtp"] == "Drug"
    assert _row(tte, "S-2", paramcd="TTPD")["trtp"] == "Placebo"
    # S-4 (randomized, never dosed) has no TTAE row
    assert _row(tte, "S-4", paramcd="TTPD")["cnsr"] == 1
    assert tte.filter((pl.col("usubjid") == "S-4") & (pl.col("paramcd") == "TTAE")).is_empty()
