"""The trial dataset reader: SAS transport v5 (written by pyreadstat and by a hand-built
TS-140 writer, cross-checked with pandas' own XPORT reader), Dataset-JSON v1.1 / v1.0 and
CSV are conformed to the raw trial tables; every refusal (file, variable, record) says
what and why."""

from __future__ import annotations

import json
import math
import os
import struct
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyreadstat
import pytest

from orchestration.ingest.quarantine import FileRejected
from orchestration.ingest.trials import iso8601_problem, parse_trial_file, sas_date
from orchestration.lake.schemas import without_lineage
from orchestration.lake.trial_schemas import TRIAL_SCHEMAS

SECRET = b"root:x:0:0:SECRET-CONTENT-OUTSIDE-THE-LAKE\n"


# --------------------------------------------------------------------------- helpers
def _study(tmp_path: Path, study: str = "S1") -> Path:
    folder = tmp_path / "lake" / "landing" / "trials" / study
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_xpt(folder: Path, name: str, frame: pd.DataFrame, **kw) -> Path:
    path = folder / f"{name.lower()}.xpt"
    pyreadstat.write_xport(frame, str(path), file_format_version=5, table_name=name, **kw)
    return path


def _parse(path: Path):
    """(table name, rows as dicts, quarantine) of a file that yields one table."""
    result = parse_trial_file(path)
    [(table, [data])] = result.tables.items()
    assert data.schema == without_lineage(TRIAL_SCHEMAS[table])
    return table, data.to_pylist(), result.quarantine


def _reasons(quarantine) -> dict[str, str]:
    return {q.locator: q.reason for q in quarantine}


# A minimal SAS transport v5 writer following SAS TS-140, independent of ReadStat.
def ibm_float(x: float | None) -> bytes:
    """8-byte IBM 370 double: sign, excess-64 base-16 exponent, 56-bit fraction; SAS
    missing '.' is 0x2e followed by zeros."""
    if x is None:
        return b"." + bytes(7)
    if x == 0:
        return bytes(8)
    sign = 0x80 if x < 0 else 0
    mantissa, exp2 = math.frexp(abs(x))
    exp16 = -(-exp2 // 4)
    frac = round(mantissa * 2.0 ** (exp2 - 4 * exp16) * 2 ** 56)
    if frac >= 2 ** 56:
        frac >>= 4
        exp16 += 1
    return bytes([sign | (exp16 + 64)]) + frac.to_bytes(7, "big")


def _blank_padded(data: bytes) -> bytes:
    return data + b" " * (-len(data) % 80)


def xport_v5(member: str, columns: list[tuple[str, str, str, int]], rows: list[tuple],
             encoding: str = "ascii") -> bytes:
    """A one-member XPORT v5 file; ``columns`` are (name, label, "num"|"char", length)."""
    stamp = b"01JAN25:00:00:00"

    def header(kind: bytes, tail: bytes = b"0" * 30) -> bytes:
        return b"HEADER RECORD*******" + kind.ljust(8) + b"HEADER RECORD!!!!!!!" + tail + b"  "

    records = [header(b"LIBRARY"),
               b"SAS     SAS     SASLIB  9.4     X64_10PR" + b" " * 24 + stamp,
               stamp + b" " * 64,
               header(b"MEMBER", b"0" * 17 + b"16" + b"0" * 8 + b"140"),
               header(b"DSCRPTR"),
               b"SAS     " + member.encode().ljust(8) + b"SASDATA 9.4     X64_10PR" + b" " * 24 + stamp,
               stamp + b" " * 16 + b"hand-built".ljust(40) + b" " * 8,
               header(b"NAMESTR", b"000000" + b"%04d" % len(columns) + b"0" * 20)]
    assert all(len(r) == 80 for r in records)
    namestrs, position = b"", 0
    for number, (name, label, kind, length) in enumerate(columns, start=1):
        namestrs += struct.pack(">hhhh8s40s8shhh2s8shhi52s", 1 if kind == "num" else 2, 0,
                                length, number, name.encode().ljust(8), label.encode().ljust(40),
                                b" " * 8, 0, 0, 0, b"  ", b" " * 8, 0, 0, position, bytes(52))
        position += length
    assert len(namestrs) == 140 * len(columns)
    body = b"".join(ibm_float(v) if kind == "num" else (v or "").encode(encoding).ljust(length)
                    for row in rows for (_, _, kind, length), v in zip(columns, row))
    return b"".join([*records, _blank_padded(namestrs), header(b"OBS"), _blank_padded(body)])


# --------------------------------------------------------------------------- formats
def test_ibm_float_matches_known_encodings():
    # TS-140's examples: 1 = 41 10 00 .., -1 = C1 10 .., 0.5 = 40 80 .., 100 = 42 64 ..
    assert ibm_float(1.0) == bytes.fromhex("4110000000000000")
    assert ibm_float(-1.0) == bytes.fromhex("C110000000000000")
    assert ibm_float(0.5) == bytes.fromhex("4080000000000000")
    assert ibm_float(100.0) == bytes.fromhex("4264000000000000")


def test_xpt_written_by_pyreadstat_is_conformed(tmp_path):
    dm = pd.DataFrame({
        "STUDYID": ["S1", "S1"], "DOMAIN": ["DM", "DM"], "USUBJID": ["01-701-1015", "01-701-1023"],
        "SITEID": [701.0, 702.0], "ARM": ["Placebo", "Drug 10 mg once daily by mouth for 12 weeks"],
        "AGE": [63.0, math.nan],
        "SEX": ["F", "M"], "BRTHDTC": ["1961-07-14", "1950"], "RFSTDTC": ["2021-03-05", ""],
        "INVNAM": ["Smith", "Jones"], "DMXFN": [3.0, 2.5]})
    path = _write_xpt(_study(tmp_path), "DM", dm,
                      column_labels=["Study", "Domain", "Subject", "Site", "Arm", "Age", "Sex",
                                     "Birth", "Ref start", "Investigator", "Extra num"])
    # an independent reader sees the values written (pandas counts records right only when
    # a record is over 80 bytes: it takes blank 8-byte words in the last card for padding)
    theirs = pd.read_sas(path, format="xport", encoding="utf-8")
    assert theirs["USUBJID"].tolist() == ["01-701-1015", "01-701-1023"]
    assert theirs["SITEID"].tolist() == [701.0, 702.0] and math.isnan(theirs["AGE"][1])
    table, rows, quarantine = _parse(path)
    # the investigator's name is a person's name: dropped like a subject's, the rest kept
    assert table == "trial_dm" and [(q.granularity, q.locator) for q in quarantine] == [
        ("variable", "INVNAM")]
    first, second = rows
    assert first["usubjid"] == "01-701-1015" and first["siteid"] == "701"   # no ".0"
    assert first["age"] == 63.0 and second["age"] is None                  # SAS missing → null
    assert first["brthdtc"] == "1961" and second["brthdtc"] == "1950"      # cut to the year
    assert first["rfstdtc"] == "2021-03-05" and second["rfstdtc"] is None  # "" → null
    assert first["locator"] == "record 1" and second["locator"] == "record 2"
    assert first["armcd"] is None                                         # absent → null
    assert json.loads(first["extra"]) == {"DMXFN": 3.0}
    assert "Smith" not in json.dumps(rows)


def test_hand_built_xpt_latin1_missing_and_negative_numbers(tmp_path):
    columns = [("STUDYID", "Study", "char", 8), ("DOMAIN", "Domain", "char", 2),
               ("USUBJID", "Subject", "char", 20), ("AESEQ", "Seq", "num", 8),
               ("AETERM", "Reported term", "char", 40), ("AEDECOD", "Decoded", "char", 40),
               ("AESTDTC", "Start", "char", 19), ("AESTDY", "Study day", "num", 8)]
    rows = [("S1", "AE", "S1-001", 1.0, "Kopfschmerz nach Einnahme (äöü)", "Headache",
             "2021-03-05T10:30", -3.0),
            ("S1", "AE", "S1-002", 2.0, "", "Nausea", "2021-04", None),
            ("S1", "AE", "S1-003", 3.0, "fatigue", "Fatigue", "2021", 0.1)]
    path = _study(tmp_path) / "ae.xpt"
    path.write_bytes(xport_v5("AE", columns, rows, encoding="latin-1"))
    theirs = pd.read_sas(path, format="xport", encoding="latin-1")
    assert theirs["AETERM"][0] == "Kopfschmerz nach Einnahme (äöü)"
    assert theirs["AESTDY"][0] == -3.0 and math.isnan(theirs["AESTDY"][1])
    assert theirs["AESTDY"][2] == pytest.approx(0.1, rel=1e-15)
    table, ours, quarantine = _parse(path)
    assert table == "trial_ae" and quarantine == []
    assert [r["aeterm"] for r in ours] == ["Kopfschmerz nach Einnahme (äöü)", None, "fatigue"]
    assert [r["aestdy"] for r in ours] == [-3.0, None, theirs["AESTDY"][2]]
    assert [r["aeseq"] for r in ours] == [1.0, 2.0, 3.0]
    assert [r["aestdtc"] for r in ours] == ["2021-03-05T10:30", "2021-04", "2021"]
    assert all(json.loads(r["extra"]) == {} for r in ours)


def test_adam_numeric_dates_become_iso_dates(tmp_path):
    adsl = pd.DataFrame({"STUDYID": ["S1", "S1"], "USUBJID": ["S1-001", "S1-002"],
                         "TRT01P": ["Drug", "Placebo"], "TRTSDT": [date(2021, 3, 5), None],
                         "TRTEDT": [22344.0, 0.0], "RANDDT": [-1.0, 22344.0]})
    path = _write_xpt(_study(tmp_path), "ADSL", adsl)
    assert pyreadstat.read_xport(str(path))[1].original_variable_types["TRTSDT"] == "DATE"
    _, rows, quarantine = _parse(path)
    assert quarantine == []
    assert [r["trtsdt"] for r in rows] == ["2021-03-05", None]
    # 22344 days after 1960-01-01 is 2021-03-05; day 0 is the SAS epoch itself
    assert [r["trtedt"] for r in rows] == ["2021-03-05", "1960-01-01"]
    assert json.loads(rows[0]["extra"]) == {"RANDDT": "1959-12-31"}
    assert sas_date(22344) == (date(1960, 1, 1) + pd.Timedelta(days=22344)).isoformat()


def test_dataset_json_v11(tmp_path):
    doc = {"datasetJSONCreationDateTime": "2025-01-01T00:00:00", "datasetJSONVersion": "1.1.0",
           "itemGroupOID": "IG.ADTTE", "records": 2, "name": "ADTTE", "label": "Time to event",
           "columns": [{"itemOID": "IT.ITEMGROUPDATASEQ", "name": "ITEMGROUPDATASEQ", "dataType": "integer"},
                       {"itemOID": "IT.STUDYID", "name": "STUDYID", "dataType": "string"},
                       {"itemOID": "IT.USUBJID", "name": "USUBJID", "dataType": "string"},
                       {"itemOID": "IT.PARAMCD", "name": "PARAMCD", "dataType": "string"},
                       {"itemOID": "IT.AVAL", "name": "AVAL", "dataType": "decimal"},
                       {"itemOID": "IT.CNSR", "name": "CNSR", "dataType": "integer"},
                       {"itemOID": "IT.ADT", "name": "ADT", "dataType": "date",
                        "targetDataType": "integer"},
                       {"itemOID": "IT.SRCSEQ", "name": "SRCSEQ", "dataType": "integer"}],
           "rows": [[1, "S1", "S1-001", "OS", "120.5", 0, "2021-07-03", 4],
                    [2, "S1", "S1-002", "OS", "30", 1, None, None]]}
    path = _study(tmp_path) / "adtte.json"
    path.write_text(json.dumps(doc))
    table, rows, quarantine = _parse(path)
    assert table == "trial_adtte" and quarantine == []
    assert [(r["aval"], r["cnsr"], r["adt"]) for r in rows] == [(120.5, 0.0, "2021-07-03"),
                                                                (30.0, 1.0, None)]
    assert json.loads(rows[0]["extra"]) == {"SRCSEQ": 4.0}          # a number stays a number
    assert "ITEMGROUPDATASEQ" not in rows[1]["extra"]


def test_dataset_json_v10_bds_dataset(tmp_path):
    items = [{"OID": "ITEMGROUPDATASEQ", "name": "ITEMGROUPDATASEQ", "type": "integer"},
             {"OID": "IT.STUDYID", "name": "studyid", "type": "string"},
             {"OID": "IT.USUBJID", "name": "usubjid", "type": "string"},
             {"OID": "IT.PARAMCD", "name": "PARAMCD", "type": "string"},
             {"OID": "IT.AVISITN", "name": "AVISITN", "type": "integer"},
             {"OID": "IT.AVAL", "name": "AVAL", "type": "float"},
             {"OID": "IT.CHG", "name": "CHG", "type": "float"},
             {"OID": "IT.ADT", "name": "ADT", "type": "integer"}]
    doc = {"creationDateTime": "2025-01-01T00:00:00", "datasetJSONVersion": "1.0.0",
           "clinicalData": {"studyOID": "S1", "metaDataVersionOID": "MDV.1", "itemGroupData": {
               "IG.ADLB": {"records": 2, "name": "ADLB", "label": "Lab", "items": items,
                           "itemData": [[1, "S1", "S1-001", "ALT", 0, 31.0, None, 22344],
                                        [2, "S1", "S1-001", "ALT", 4, 40.5, 9.5, 22372]]}}}}
    path = _study(tmp_path) / "adlb.json"
    path.write_text(json.dumps(doc))
    table, rows, quarantine = _parse(path)
    assert table == "trial_adbds" and quarantine == []
    assert [r["dataset"] for r in rows] == ["ADLB", "ADLB"]
    assert [(r["avisitn"], r["aval"], r["chg"]) for r in rows] == [(0.0, 31.0, None),
                                                                   (4.0, 40.5, 9.5)]
    assert [r["adt"] for r in rows] == ["2021-03-05", "2021-04-02"]    # numeric *DT → ISO


def test_findings_prefixes_are_dropped_csv_lb_and_xpt_vs(tmp_path):
    folder = _study(tmp_path)
    (folder / "lb.csv").write_text(
        "STUDYID,DOMAIN,USUBJID,LBSEQ,LBTESTCD,LBTEST,LBORRES,LBSTRESN,LBSTRESU,LBBLFL,"
        "VISITNUM,VISIT,LBDTC,LBDY,LBSPEC\n"
        "S1,LB,S1-001,1,ALT,Alanine aminotransferase,31,31,U/L,Y,1,BASELINE,2021-03-05,1,SERUM\n")
    table, [lb], quarantine = _parse(folder / "lb.csv")
    assert table == "trial_findings" and quarantine == []
    assert {k: lb[k] for k in ("domain", "seq", "testcd", "test", "orres", "stresn", "stresu",
                               "blfl", "visitnum", "visit", "dtc", "dy")} == {
        "domain": "LB", "seq": 1.0, "testcd": "ALT", "test": "Alanine aminotransferase",
        "orres": "31", "stresn": 31.0, "stresu": "U/L", "blfl": "Y", "visitnum": 1.0,
        "visit": "BASELINE", "dtc": "2021-03-05", "dy": 1.0}
    assert json.loads(lb["extra"]) == {"LBSPEC": "SERUM"}       # CSV values stay text
    vs = pd.DataFrame({"STUDYID": ["S1"], "USUBJID": ["S1-001"], "VSTESTCD": ["SYSBP"],
                       "VSSTRESN": [120.0], "VSLOBXFL": ["Y"], "VSDTC": ["2021-03-05T08:00"]})
    table, [row], _ = _parse(_write_xpt(folder, "VS", vs))
    assert (row["domain"], row["testcd"], row["stresn"], row["blfl"], row["dtc"]) == \
        ("VS", "SYSBP", 120.0, "Y", "2021-03-05T08:00")


def test_split_findings_dataset_is_read_as_its_domain(tmp_path):
    path = _study(tmp_path) / "lbch.csv"
    path.write_text("STUDYID,DOMAIN,USUBJID,LBTESTCD\nS1,LB,S1-001,ALT\n")
    table, [row], _ = _parse(path)
    assert table == "trial_findings" and row["domain"] == "LB" and row["testcd"] == "ALT"


def test_design_domain_rows_are_json(tmp_path):
    path = _study(tmp_path) / "ts.csv"
    path.write_text("STUDYID,DOMAIN,TSSEQ,TSPARMCD,TSVAL\nS1,TS,1,TPHASE,Phase II\n")
    table, [row], _ = _parse(path)
    assert table == "trial_design" and row["domain"] == "TS"
    assert json.loads(row["extra"]) == {"TSPARMCD": "TPHASE", "TSSEQ": "1", "TSVAL": "Phase II"}


def test_patient_links(tmp_path):
    path = _study(tmp_path) / "patient_links.csv"
    path.write_text("usubjid,patient_id\nS1-001,P0001\nS1-002,P0002\nS1-002,P0003\n")
    table, rows, quarantine = _parse(path)
    assert table == "trial_links"
    assert rows == [{"studyid": None, "usubjid": "S1-001", "patient_id": "P0001",
                     "locator": "record 1"}]
    assert [q.locator for q in quarantine] == ["record 2 (USUBJID='S1-002')",
                                               "record 3 (USUBJID='S1-002')"]
    assert "2 different patients" in quarantine[0].reason


# --------------------------------------------------------------------------- file refusals
@pytest.mark.parametrize("name, text, reason", [
    ("notes.txt", "x", r"not a trial dataset: notes.txt"),
    ("dm.csv.gz", "x", r"not a trial dataset"),
    ("suppae.csv", "STUDYID,RDOMAIN,USUBJID\nS1,AE,S1-001\n",
     r"^SUPPAE: supplemental qualifiers \(SUPP--\) are not read yet$"),
    ("relrec.csv", "STUDYID,RDOMAIN\nS1,AE\n", r"^RELREC: related records are not read yet$"),
    ("xy.csv", "STUDYID,USUBJID\nS1,S1-001\n", r"^XY: not a dataset the lake reads"),
    ("adxx.csv", "STUDYID,USUBJID\nS1,S1-001\n", r"^ADXX: an ADaM dataset that is neither"),
    ("ae.csv", "STUDYID,DOMAIN,USUBJID,AEDECOD\nS1,CM,S1-001,Headache\n",
     r"^the dataset is named AE but its DOMAIN is 'CM'$"),
    ("ae.csv", "STUDYID,DOMAIN,AETERM\nS1,AE,Headache\n",
     r"^AE lacks the key variable\(s\) USUBJID, AEDECOD; the dataset cannot be used$"),
    ("lb.csv", "STUDYID,USUBJID,LBTEST\nS1,S1-001,ALT\n", r"^LB lacks the key variable\(s\) LBTESTCD;"),
    ("dm.csv", "STUDYID,USUBJID,usubjid,ARM\nS1,a,b,A\n", r"'USUBJID' given more than once"),
    ("patient_links.csv", "USUBJID,PATIENT_ID,NAME_OF_DOG\nS1-001,P1,Rex\n",
     r"unexpected column\(s\) 'NAME_OF_DOG'"),
    ("dm.xpt", "not an xport file", r"^not a readable SAS transport"),
    ("dm.json", "{\"rows\": []}", r"^not a CDISC Dataset-JSON file"),
    ("dm.json", "{\"clinicalData\": {\"itemGroupData\": {\"IG.DM\": {}, \"IG.AE\": {}}}}",
     r"holds 2 item groups; one file must be one dataset"),
])
def test_files_refused_with_reason(tmp_path, name, text, reason):
    path = _study(tmp_path) / name
    path.write_text(text)
    with pytest.raises(FileRejected, match=reason):
        parse_trial_file(path)


def test_symlink_is_not_followed(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"STUDYID,USUBJID,ARM\n" + SECRET)
    link = _study(tmp_path) / "dm.csv"
    os.symlink(outside, link)
    with pytest.raises(FileRejected, match="symbolic link") as exc:
        parse_trial_file(link)
    assert "SECRET" not in str(exc.value)


def test_size_and_record_limits(tmp_path, monkeypatch):
    path = _study(tmp_path) / "dm.csv"
    path.write_text("STUDYID,USUBJID,ARM\n" + "".join(f"S1,S1-{i:03},A\n" for i in range(5)))
    monkeypatch.setenv("ORPHANLAKE_MAX_RECORDS_TRIALS", "4")
    with pytest.raises(FileRejected, match=r"DM has 5 records, over max_records_trials 4 "
                                           r"\(ORPHANLAKE_MAX_RECORDS_TRIALS\)"):
        parse_trial_file(path)
    monkeypatch.delenv("ORPHANLAKE_MAX_RECORDS_TRIALS")
    monkeypatch.setenv("ORPHANLAKE_MAX_BYTES_TRIALS", "50")
    with pytest.raises(FileRejected, match=r"more than 50 bytes, over max_bytes_trials 50 "
                                           r"\(ORPHANLAKE_MAX_BYTES_TRIALS\)"):
        parse_trial_file(path)


# --------------------------------------------------------------------------- record refusals
def test_records_refused_one_by_one(tmp_path):
    path = _study(tmp_path) / "ae.csv"
    path.write_text(
        "STUDYID,USUBJID,AESEQ,AETERM,AEDECOD,AESTDTC,AEENDTC\n"
        "S1,S1-001,1,Headache,Headache,2021-03-05,2021-03-06\n"        # 1 kept
        "S1,S1-001,2,Rash,Rash,03/12/2021,\n"                           # 2 US-style date
        "S1,S1-001,3,Rash,Rash,2021-02-30,\n"                           # 3 no such day
        "S1,S1-001,4,Rash,Rash,2021---15,\n"                            # 4 placeholder partial
        "S1,,5,Rash,Rash,2021-03,\n"                                    # 5 USUBJID missing
        "S1,S1-002,six,Rash,Rash,2021,\n"                               # 6 not a number
        "S1,S1-002,7,call me on +44 20 7946 0958,Rash,2021,\n"          # 7 phone in free text
        "S1,\"S1-0\t03\",8,Rash,Rash,2021,\n"                           # 8 control char in id
        "S1,S1-002,9,Rash,Rash,2021-03-05T25:00,\n")                    # 9 no such hour
    _, rows, quarantine = _parse(path)
    # a key problem (USUBJID missing or not an id) refuses the record; a bad value of
    # another variable is left out and the record kept (the smallest part that is wrong)
    assert [r["locator"] for r in rows] == ["record 1", "record 2", "record 3", "record 4",
                                            "record 6", "record 7", "record 9"]
    kept = {r["locator"]: r for r in rows}
    assert kept["record 2"]["aestdtc"] is None and kept["record 6"]["aeseq"] is None
    assert kept["record 7"]["aeterm"] is None and kept["record 7"]["aedecod"] == "Rash"
    tail = "; the value is left out, the record kept"
    assert {(q.granularity, q.locator): q.reason for q in quarantine} == {
        ("value", "record 2 (USUBJID='S1-001') AESTDTC"): "AESTDTC '03/12/2021' is not an ISO 8601 date" + tail,
        ("value", "record 3 (USUBJID='S1-001') AESTDTC"): "AESTDTC '2021-02-30' is not a real calendar date" + tail,
        ("value", "record 4 (USUBJID='S1-001') AESTDTC"):
            "AESTDTC '2021---15' is a partial date with '-' placeholders, which is not read" + tail,
        ("record", "record 5 (USUBJID missing)"): "USUBJID missing",
        ("value", "record 6 (USUBJID='S1-002') AESEQ"): "AESEQ 'six' is not a number" + tail,
        ("value", "record 7 (USUBJID='S1-002') AETERM"):
            "AETERM contains a direct identifier (phone number); free text with one is not accepted" + tail,
        ("record", "record 8 (USUBJID='S1-0\\t03')"):
            "USUBJID 'S1-0\\t03' contains a control character (U+0009) at character 5",
        ("value", "record 9 (USUBJID='S1-002') AESTDTC"): "AESTDTC '2021-03-05T25:00' is not a real time of day" + tail}
    assert "7946" not in " ".join(q.reason for q in quarantine)


def test_direct_identifier_variables_are_dropped(tmp_path):
    dm = pd.DataFrame({"STUDYID": ["S1"], "USUBJID": ["S1-001"], "ARM": ["A"],
                       "PATNAME": ["Jane Doe"], "EMAIL": ["j@x.org"], "MRN": ["123"],
                       "INITIALS": ["JD"], "RACE": ["ASIAN"]})
    _, [row], quarantine = _parse(_write_xpt(_study(tmp_path), "DM", dm))
    assert {(q.granularity, q.locator, q.reason) for q in quarantine} == {
        ("variable", "PATNAME", "direct identifier (person name) not accepted; variable dropped"),
        ("variable", "EMAIL", "direct identifier (e-mail address) not accepted; variable dropped"),
        ("variable", "MRN",
         "direct identifier (medical record number) not accepted; variable dropped"),
        ("variable", "INITIALS", "direct identifier (person name) not accepted; variable dropped")}
    assert row["race"] == "ASIAN" and json.loads(row["extra"]) == {}
    assert "Jane" not in json.dumps(row)


def test_subject_in_two_arms_and_identical_duplicate(tmp_path):
    path = _study(tmp_path) / "dm.csv"
    path.write_text("STUDYID,USUBJID,ARM,AGE\n"
                    "S1,S1-001,Drug,40\nS1,S1-002,Drug,50\nS1,S1-001,Placebo,40\n"
                    "S1,S1-002,Drug,50\nS1,S1-003,Placebo,60\n")
    _, rows, quarantine = _parse(path)
    assert [r["usubjid"] for r in rows] == ["S1-002", "S1-003"]
    arms = ("subject 'S1-001' is given with 2 different arms: 'Drug' (record 1), "
            "'Placebo' (record 3)")
    assert _reasons(quarantine) == {
        "record 1 (USUBJID='S1-001')": arms, "record 3 (USUBJID='S1-001')": arms,
        "record 4 (USUBJID='S1-002')": "subject 'S1-002' is given twice: a duplicate of record 2"}


@pytest.mark.parametrize("value, ok", [
    ("2021", True), ("2021-03", True), ("2021-03-05", True), ("2021-03-05T10", True),
    ("2021-03-05T10:30", True), ("2021-03-05T10:30:15.250", True), ("2021-03-05T10:30Z", True),
    ("2021-03-05T10:30:15+02:00", True), ("2020-02-29", True),
    ("2021-02-29", False), ("2021-13", False), ("21-03-05", False), ("2021/03/05", False),
    ("2021-3-5", False), ("2021-03-05 10:30", False), ("--12-15", False), ("2021---15", False),
    ("2021-03-05T10:60", False), ("", False), ("UNK", False)])
def test_iso8601(value, ok):
    assert (iso8601_problem(value) is None) is ok


def test_table_is_arrow_typed_for_the_runner(tmp_path):
    path = _study(tmp_path) / "ex.csv"
    path.write_text("STUDYID,USUBJID,EXSEQ,EXTRT,EXDOSE,EXSTDTC\nS1,S1-001,1,DRUG,10.5,2021-03-05\n")
    result = parse_trial_file(path)
    data = result.tables["trial_ex"][0]
    assert isinstance(data, pa.Table) and data.num_rows == 1
    assert data.column("exdose").type == pa.float64() and data.column("exdose")[0].as_py() == 10.5


def test_dataset_json_value_that_is_not_a_number(tmp_path):
    doc = {"datasetJSONVersion": "1.1.0", "name": "DM",
           "columns": [{"name": "STUDYID", "dataType": "string"},
                       {"name": "USUBJID", "dataType": "string"},
                       {"name": "ARM", "dataType": "string"},
                       {"name": "AGE", "dataType": "integer"}],
           "rows": [["S1", "S1-001", "A", 40], ["S1", "S1-002", "A", "forty"]]}
    path = _study(tmp_path) / "dm.json"
    path.write_text(json.dumps(doc))
    _, rows, quarantine = _parse(path)
    # AGE is not a key: the value is left out, the subject kept
    assert [(r["usubjid"], r["age"]) for r in rows] == [("S1-001", 40.0), ("S1-002", None)]
    assert [(q.granularity, q.locator, q.reason) for q in quarantine] == [
        ("value", "record 2 (USUBJID='S1-002') AGE",
         "AGE 'forty' is not a number; the value is left out, the record kept")]


def test_codelist_values_are_checked_against_the_shipped_ct_subset(tmp_path):
    """Non-extensible CDISC codelists (SEX, NY, AESEV, DSCAT): a value in another case is
    written as the submission value, one outside the codelist is left out (the record
    kept) with a reason naming the codelist and the CT version; an extensible one
    (NCOMPLT) refuses nothing."""
    from orchestration.ingest.trial_codelists import terminology

    folder = _study(tmp_path)
    ae = folder / "ae.csv"
    ae.write_text("STUDYID,USUBJID,AESEQ,AEDECOD,AESEV,AESER\n"
                  "S1,S1-001,1,HEADACHE,Mild,n\n"          # 1 kept, normalized
                  "S1,S1-001,2,RASH,Grade 2,N\n"           # 2 not an AESEV value
                  "S1,S1-001,3,RASH,SEVERE,Yes\n")         # 3 not an NY value
    _, rows, quarantine = _parse(ae)
    # the value outside the codelist is left out, the AE kept
    assert [(r["aesev"], r["aeser"]) for r in rows] == [("MILD", "N"), (None, "N"), ("SEVERE", None)]
    reasons = _reasons(quarantine)
    version = terminology()["version"]
    assert reasons["record 2 (USUBJID='S1-001') AESEV"].startswith(
        f"AESEV 'Grade 2' is not in the CDISC codelist AESEV (C66769, {version}")
    assert "codelist NY (C66742" in reasons["record 3 (USUBJID='S1-001') AESER"]
    ds = folder / "ds.csv"
    ds.write_text("STUDYID,USUBJID,DSSEQ,DSCAT,DSDECOD,DSSTDTC\n"
                  "S1,S1-001,1,DISPOSITION EVENT,SPONSOR-SPECIFIC REASON,2021-05-01\n"
                  "S1,S1-001,2,MILESTONE,RANDOMIZED,2021-01-01\n")
    _, rows, quarantine = _parse(ds)
    assert [r["dsdecod"] for r in rows] == ["SPONSOR-SPECIFIC REASON", "RANDOMIZED"]  # extensible
    assert rows[1]["dscat"] is None
    assert "codelist DSCAT" in _reasons(quarantine)["record 2 (USUBJID='S1-001') DSCAT"]


def test_a_full_birth_date_in_any_spelling_is_cut_to_its_year_and_never_quoted(tmp_path):
    path = _study(tmp_path) / "dm.csv"
    path.write_text("STUDYID,USUBJID,ARM,BRTHDTC\n"
                    "S1,S1-001,A,1961-07-14\nS1,S1-002,A,14/07/1961\nS1,S1-003,A,unknown\n")
    _, rows, quarantine = _parse(path)
    assert [r["brthdtc"] for r in rows] == ["1961", "1961", None]
    assert quarantine == []


def test_an_xpt_variable_without_a_name_refuses_the_file(tmp_path):
    """A NAMESTR record whose name is blank (found by `make fuzz`) is an unreadable file,
    refused with a reason, not an error escaping the parser."""
    path = _write_xpt(_study(tmp_path), "DM", pd.DataFrame(
        {"STUDYID": ["S1"], "USUBJID": ["S1-1"], "ARM": ["A"]}))
    data = path.read_bytes()
    at = data.index(b"STUDYID", data.index(b"NAMESTR"))
    path.write_bytes(data[:at] + b" " * 8 + data[at + 8:])
    with pytest.raises(FileRejected, match="not a readable SAS transport"):
        parse_trial_file(path)
