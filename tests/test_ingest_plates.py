"""Plate landing parsers: run metadata, plate maps, long and EnVision-style signal files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from models.plates.layout import (format_for_dims, parse_well, smallest_format_holding,
                                  well_name)
from orchestration.ingest.plates import (PLATE_MAPS_SCHEMA, PLATE_RUNS_SCHEMA,
                                         PLATE_WELLS_SCHEMA, parse_plate_file)
from orchestration.ingest.quarantine import FileRejected

RUN = {"assay_id": "A1", "target_gene": "GBA1", "readout": "inhibition", "stage": "primary"}


def _run_dir(tmp_path: Path, meta: dict | None = None, name: str = "RUN7") -> Path:
    d = tmp_path / name
    d.mkdir()
    if meta is not None:
        (d / "run.json").write_text(json.dumps(meta))
    return d


def _wells(result):
    return result.tables["plate_wells"][0].to_pylist()


def _long_rows(plate: str, rows: int, cols: int, skip: set[str] = frozenset()) -> list[str]:
    return [f"{plate},{well_name(r, c)},{1000 + r * cols + c}"
            for r in range(rows) for c in range(cols) if well_name(r, c) not in skip]


def _envision_block(barcode: str, plate_no: int, rows: int, cols: int, sep: str = ",") -> list[str]:
    j = sep.join
    out = ["Plate information",
           j(["Plate", "Repeat", "Barcode", "Measured height", "Inside temperature at start",
              "Group", "Label", "Measinfo", "Kinetics", "Measurement date", ""]),
           j([str(plate_no), "1", barcode, "11.2", "27.15", "1", "Lum(1)",
              "De=1st Ex=Top Em=Top Wdw=N/A", "0", "4/21/2015 3:59:01 PM", ""]),
           "",
           "Background information",
           j(["Plate", "Label", "Result", "Signal", "Flashes/Time", "Meastime", "MeasInfo", ""]),
           j([str(plate_no), "Lum", "0", "70330", "40", "00:00:00.000", "De=1st", ""]),
           "",
           "Results for Lum(1) - channel 1 (RFU)",
           j(["", *[f"{c:02d}" for c in range(1, cols + 1)], ""])]
    for r in range(rows):
        out.append(j([chr(65 + r) if r < 26 else "A" + chr(65 + r - 26),
                      *[str(100 * plate_no + r * cols + c) for c in range(cols)], ""]))
    # a second channel for the same plate is ignored (the first matrix wins)
    out += ["", "Results for Lum(2) - channel 2 (RFU)", j(["", *[str(c) for c in range(1, cols + 1)]])]
    out += [j([chr(65 + r) if r < 26 else "A" + chr(65 + r - 26), *(["9"] * cols)]) for r in range(rows)]
    return out + [""]


# --------------------------------------------------------------------------- layout
def test_well_names_and_formats():
    assert parse_well("A1") == (0, 0) == parse_well("a01") == parse_well(" A01 ")
    assert parse_well("P24") == (15, 23)
    assert parse_well("AF48") == (31, 47)
    assert well_name(31, 47) == "AF48" and well_name(2, 6) == "C07"
    for bad in ("", "1A", "A0", "A-1", "ABC1"):
        with pytest.raises(ValueError):
            parse_well(bad)
    assert format_for_dims(16, 24) == 384 and format_for_dims(16, 23) is None
    assert smallest_format_holding(7, 11) == 96
    assert smallest_format_holding(7, 12) == 384
    assert smallest_format_holding(31, 47) == 1536
    assert smallest_format_holding(32, 0) is None


def test_schemas_match_contract():
    assert PLATE_RUNS_SCHEMA.names == ["run_id", "assay_id", "target_gene", "readout", "stage",
                                       "plate_format", "description", "hit_potency_percent",
                                       "hit_z_threshold", "replicate_spread_multiple"]
    assert PLATE_WELLS_SCHEMA.names == ["run_id", "plate_id", "well", "row_idx", "col_idx",
                                        "plate_rows", "plate_cols", "signal"]
    assert PLATE_MAPS_SCHEMA.names == ["run_id", "plate_id", "well", "compound_id",
                                       "concentration_um", "role"]


# --------------------------------------------------------------------------- run.json
def test_run_json_valid(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 384, "description": "GBA1 primary"})
    res = parse_plate_file(d / "run.json")
    assert res.tables["plate_runs"][0].to_pylist() == [{
        "run_id": "RUN7", "assay_id": "A1", "target_gene": "GBA1", "readout": "inhibition",
        "stage": "primary", "plate_format": 384, "description": "GBA1 primary",
        "hit_potency_percent": None, "hit_z_threshold": None, "replicate_spread_multiple": None}]


@pytest.mark.parametrize("readout, patch, expected", [
    ("inhibition", {"hit_potency_percent": 30, "hit_z_threshold": 2.5,
                    "replicate_spread_multiple": 6}, (30.0, 2.5, 6.0)),
    ("inhibition", {"hit_potency_percent_inhibition": 70.5}, (70.5, None, None)),
    ("activation", {"hit_potency_percent_activation": 100, "hit_z_threshold": None},
     (100.0, None, None)),
])
def test_run_json_hit_calling_overrides(tmp_path, readout, patch, expected):
    d = _run_dir(tmp_path, {**RUN, "readout": readout, **patch})
    row = parse_plate_file(d / "run.json").tables["plate_runs"][0].to_pylist()[0]
    assert (row["hit_potency_percent"], row["hit_z_threshold"],
            row["replicate_spread_multiple"]) == expected


@pytest.mark.parametrize("readout, patch, words", [
    ("inhibition", {"hit_potency_percent": 0}, r"run.json: hit_potency_percent '0' is outside \(0, 100\]"),
    ("inhibition", {"hit_potency_percent": 150}, "hit_potency_percent '150' is outside"),
    ("inhibition", {"hit_potency_percent": -50}, "hit_potency_percent '-50' is outside"),
    ("inhibition", {"hit_potency_percent": "50"}, "run.json: hit_potency_percent must be a number"),
    ("inhibition", {"hit_potency_percent": True}, "hit_potency_percent must be a number.*bool"),
    ("inhibition", {"hit_z_threshold": 0}, r"hit_z_threshold '0' is outside \(0, 50\]"),
    ("inhibition", {"hit_z_threshold": 1e6}, "hit_z_threshold .* is outside"),
    ("inhibition", {"hit_z_threshold": "3"}, "hit_z_threshold must be a number.*str"),
    ("inhibition", {"replicate_spread_multiple": -2}, "replicate_spread_multiple '-2' is outside"),
    ("inhibition", {"replicate_spread_multiple": False}, "replicate_spread_multiple must be a number"),
    ("activation", {"hit_potency_percent_inhibition": 50},
     "run.json: hit_potency_percent_inhibition states a potency cut-off for an inhibition "
     "assay, but the readout is activation"),
    ("inhibition", {"hit_potency_percent_activation": 50}, "for an activation assay"),
    ("inhibition", {"hit_potency_percent": 50, "hit_potency_percent_inhibition": 40},
     "both set the potency cut-off"),
    ("inhibition", {"hit_threshold": 2}, "unknown hit-calling key 'hit_threshold'"),
])
def test_run_json_bad_hit_calling_is_refused_with_file_and_key(tmp_path, readout, patch, words):
    d = _run_dir(tmp_path, {**RUN, "readout": readout, **patch})
    with pytest.raises(FileRejected, match=words):
        parse_plate_file(d / "run.json")


def test_run_yaml(tmp_path):
    d = _run_dir(tmp_path)
    (d / "run.yaml").write_text("assay_id: A2\ntarget_gene: NPC1\nreadout: activation\n"
                                "stage: dose_response\n")
    row = parse_plate_file(d / "run.yaml").tables["plate_runs"][0].to_pylist()[0]
    assert row["readout"] == "activation" and row["plate_format"] is None


@pytest.mark.parametrize("patch, words", [
    ({"readout": "agonism"}, "readout"),
    ({"stage": "secondary"}, "stage"),
    ({"target_gene": " "}, "target_gene"),
    ({"plate_format": 100}, "plate_format"),
])
def test_run_json_invalid_is_rejected(tmp_path, patch, words):
    d = _run_dir(tmp_path, {**RUN, **patch})
    with pytest.raises(FileRejected, match=words):
        parse_plate_file(d / "run.json")


def test_run_json_not_json(tmp_path):
    d = _run_dir(tmp_path)
    (d / "run.json").write_text("{assay_id: ")
    with pytest.raises(FileRejected, match="not valid JSON"):
        parse_plate_file(d / "run.json")


# --------------------------------------------------------------------------- plate map
def test_plate_map_rows_and_bad_rows(tmp_path):
    d = _run_dir(tmp_path)
    lines = ["plate_id,well,compound_id,concentration_um,role",   # line 1
             "P1,A1,CPD-1,10,sample",                             # 2 ok, A1 -> A01
             "P1,A02,,,neg_ctrl",                                 # 3 ok, control without id
             "P1,A03,CPD-2,10,inhibitor",                         # 4 bad role
             "P1,A04,,10,sample",                                 # 5 sample without compound
             "P1,A05,CPD-3,-1,sample",                            # 6 negative concentration
             "P1,A06,CPD-4,ten,sample",                           # 7 non-numeric concentration
             "P1,A07,CPD-5,1,sample",                             # 8 duplicate ...
             "P1,A07,CPD-6,1,sample",                             # 9 ... of line 8
             "P1,D10,CPD-7,1,sample",                             # 10 ok
             "P1,Z99,CPD-9,1,sample",                             # 11 beyond any plate
             "P1,B01,CPD-8,,POS_CTRL"]                            # 12 role case-folded
    (d / "plate_map.csv").write_text("\n".join(lines) + "\n")
    res = parse_plate_file(d / "plate_map.csv")
    rows = res.tables["plate_maps"][0].to_pylist()
    assert [(r["well"], r["role"], r["compound_id"], r["concentration_um"]) for r in rows] == [
        ("A01", "sample", "CPD-1", 10.0), ("A02", "neg_ctrl", None, None),
        ("D10", "sample", "CPD-7", 1.0), ("B01", "pos_ctrl", "CPD-8", None)]
    q = {r.locator: r for r in res.quarantine}
    assert all(r.granularity == "well" for r in res.quarantine)
    assert "role 'inhibitor'" in q["plate P1 well A03 (line 4)"].reason
    assert "without a compound_id" in q["plate P1 well A04 (line 5)"].reason
    assert "'-1'" in q["plate P1 well A05 (line 6)"].reason
    assert "'ten'" in q["plate P1 well A06 (line 7)"].reason
    assert "lines 8, 9" in q["plate P1 well A07 (line 8)"].reason
    assert "plate P1 well A07 (line 9)" in q
    assert "1536-well" in q["plate P1 well Z99 (line 11)"].reason
    assert len(res.quarantine) == 7


def test_plate_map_well_outside_declared_format(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    (d / "plate_map.csv").write_text("plate_id,well,compound_id,concentration_um,role\n"
                                     "P1,H12,C1,1,sample\nP1,I01,C2,1,sample\n")
    res = parse_plate_file(d / "plate_map.csv")
    assert [r["well"] for r in res.tables["plate_maps"][0].to_pylist()] == ["H12"]
    assert "96-well" in res.quarantine[0].reason and "I01" in res.quarantine[0].locator


# --------------------------------------------------------------------------- long signals
def test_long_csv_96_with_bom_crlf_and_short_well_names(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    rows = [r.replace("A01", "A1") for r in _long_rows("P1", 8, 12)]
    (d / "signals.csv").write_bytes(("\ufeffplate_id,well,signal,read_time\r\n"
                                     + "\r\n".join(r + ",t0" for r in rows) + "\r\n").encode())
    res = parse_plate_file(d / "signals.csv")
    wells = _wells(res)
    assert res.quarantine == [] and len(wells) == 96
    assert wells[0] == {"run_id": "RUN7", "plate_id": "P1", "well": "A01", "row_idx": 0,
                        "col_idx": 0, "plate_rows": 8, "plate_cols": 12, "signal": 1000.0}
    assert wells[-1]["well"] == "H12" and wells[-1]["signal"] == 1095.0


def test_long_tsv_1536_inferred_with_quoted_numbers(tmp_path):
    d = _run_dir(tmp_path)            # no run.json: format inferred from the wells
    rows = ["\t".join(f'"{x}"' for x in r.split(",")) for r in _long_rows("P9", 32, 48)]
    (d / "reads.tsv").write_text("plate_id\twell\tsignal\n" + "\n".join(rows) + "\n")
    wells = _wells(parse_plate_file(d / "reads.tsv"))
    assert len(wells) == 1536
    last = wells[-1]
    assert (last["well"], last["row_idx"], last["col_idx"]) == ("AF48", 31, 47)
    assert (last["plate_rows"], last["plate_cols"]) == (32, 48)


def test_semicolon_decimal_comma(tmp_path):
    d = _run_dir(tmp_path)
    rows = [f"P1;{well_name(r, c)};{r},{c}5" for r in range(8) for c in range(12)]
    (d / "signals.csv").write_text("plate_id;well;signal\n" + "\n".join(rows) + "\n")
    wells = _wells(parse_plate_file(d / "signals.csv"))
    assert len(wells) == 96
    assert wells[13]["well"] == "B02" and wells[13]["signal"] == pytest.approx(1.15)


def test_a_long_export_may_list_only_the_wells_it_read(tmp_path):
    """Completeness is judged against the plate map later (models.plates.prepare), not here:
    LIMS exports often hold only the wells that were used."""
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    few = {"A05", "C07", "H12"}
    many = {well_name(r, c) for r in range(2) for c in range(6)}
    (d / "signals.csv").write_text("plate_id,well,signal\n" + "\n".join(
        _long_rows("P1", 8, 12, few) + _long_rows("P2", 8, 12, many)) + "\n")
    res = parse_plate_file(d / "signals.csv")
    wells = _wells(res)
    assert len([w for w in wells if w["plate_id"] == "P1"]) == 93
    assert len([w for w in wells if w["plate_id"] == "P2"]) == 84
    assert {w["plate_rows"] for w in wells} == {8}
    assert res.quarantine == []


def test_duplicate_and_non_numeric_wells(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    rows = _long_rows("P1", 8, 12)
    rows[30] = "P1,C07,n/a"                    # non-numeric
    rows[31] = "P1,C08,"                       # empty
    rows[32] = "P1,C09,-inf"                   # negative infinity
    rows.append("P1,A01,5")                    # duplicate of A01
    rows.append("P1,Q1x,5")                    # not a well id
    (d / "signals.csv").write_text("plate_id,well,signal\n" + "\n".join(rows) + "\n")
    res = parse_plate_file(d / "signals.csv")
    wells = _wells(res)
    assert len(wells) == 96 - 4
    q = {r.locator: r.reason for r in res.quarantine}
    assert "'n/a' is not a finite number" in q["plate P1 well C07"]
    assert "empty signal" in q["plate P1 well C08"]
    assert "'-inf'" in q["plate P1 well C09"]
    assert "duplicate well on lines 2, 98" in q["plate P1 well A01"]
    assert "'Q1x' is not a well id" in q["plate P1 line 99"]
    assert all(r.granularity == "well" for r in res.quarantine)


def test_long_wells_outside_declared_format(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    (d / "signals.csv").write_text("plate_id,well,signal\n" + "\n".join(
        _long_rows("P1", 8, 12) + ["P1,A13,5"] + _long_rows("P2", 8, 12)) + "\n")
    res = parse_plate_file(d / "signals.csv")
    assert {w["plate_id"] for w in _wells(res)} == {"P2"}
    (rec,) = res.quarantine
    assert rec.granularity == "plate" and rec.locator == "plate P1"
    assert "A13" in rec.reason and "96-well" in rec.reason


# --------------------------------------------------------------------------- matrices
def test_envision_multi_block_file_keeps_good_plates(tmp_path):
    d = _run_dir(tmp_path)
    lines = (_envision_block("PLATE_001", 1, 16, 24) + _envision_block("PLATE_002", 2, 16, 23)
             + _envision_block("PLATE_003", 3, 16, 24)
             + ["Basic assay information", "Assay ID: ,,,1234", "",
                "Protocol information", "Protocol name,GBA1 lum", "",
                "Platemap:", "Plate,1",            # a well-type matrix, not signals
                "," + ",".join(f"{c:02d}" for c in range(1, 25))]
             + [chr(65 + r) + "," + ",".join(["S"] * 24) for r in range(16)]
             + ["", "Calculations", "Name,Formula", "Ratio,Calc1/Calc2", ""])
    (d / "envision_export.csv").write_bytes(("\ufeff" + "\r\n".join(lines)).encode())
    res = parse_plate_file(d / "envision_export.csv")
    wells = _wells(res)
    assert len(wells) == 2 * 384
    assert {w["plate_id"] for w in wells} == {"PLATE_001", "PLATE_003"}
    first = wells[0]
    assert (first["well"], first["signal"], first["plate_rows"]) == ("A01", 100.0, 16)
    p3 = [w for w in wells if w["plate_id"] == "PLATE_003"]
    assert p3[-1]["well"] == "P24" and p3[-1]["signal"] == 300 + 383
    (rec,) = res.quarantine
    assert rec.granularity == "plate" and rec.locator == "plate PLATE_002"
    assert "16×23" in rec.reason


def test_envision_tab_96_with_plate_lines_and_bad_cell(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    lines = ["Plate: P-A", "\t" + "\t".join(str(c) for c in range(1, 13))]
    for r in range(8):
        vals = [f"{r * 12 + c}" for c in range(12)]
        if r == 2:
            vals[6] = "OVRFLW"
        lines.append(chr(65 + r) + "\t" + "\t".join(vals) + "\t")
    lines += ["", "Plate: P-B", "\t" + "\t".join(str(c) for c in range(1, 13))]
    lines += [chr(65 + r) + "\t" + "\t".join("7" for _ in range(12)) for r in range(8)]
    (d / "reader.txt").write_text("\n".join(lines) + "\n")
    res = parse_plate_file(d / "reader.txt")
    wells = _wells(res)
    assert len(wells) == 96 + 95
    (rec,) = res.quarantine
    assert (rec.granularity, rec.locator) == ("well", "plate P-A well C07")
    assert "OVRFLW" in rec.reason


def test_matrix_format_conflicting_with_run_json(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 384})
    lines = ["Plate,P1", "," + ",".join(str(c) for c in range(1, 13))]
    lines += [chr(65 + r) + "," + ",".join("1" for _ in range(12)) for r in range(8)]
    (d / "m.csv").write_text("\n".join(lines) + "\n")
    res = parse_plate_file(d / "m.csv")
    assert _wells(res) == []
    assert res.quarantine[0].granularity == "plate" and "declares a 384-well" in res.quarantine[0].reason


def test_matrix_without_plate_id_is_named_after_file(tmp_path):
    d = _run_dir(tmp_path)
    lines = ["," + ",".join(str(c) for c in range(1, 13))]
    lines += [chr(65 + r) + "," + ",".join("1.5" for _ in range(12)) for r in range(8)]
    (d / "BARCODE42.csv").write_text("\n".join(lines) + "\n")
    wells = _wells(parse_plate_file(d / "BARCODE42.csv"))
    assert len(wells) == 96 and wells[0]["plate_id"] == "BARCODE42"


def test_neither_shape_is_rejected(tmp_path):
    d = _run_dir(tmp_path)
    (d / "notes.txt").write_text("some notes\nabout, the run\n")
    with pytest.raises(FileRejected, match="neither"):
        parse_plate_file(d / "notes.txt")


def test_envision_1536_semicolon_decimal_comma(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 1536})
    lines = [ln.replace(",", ";") for ln in _envision_block("BIG", 1, 32, 48)]
    lines = [ln.replace(";100;", ";100,5;", 1) if ln.startswith("A;") else ln for ln in lines]
    (d / "big.csv").write_text("\n".join(lines))
    wells = _wells(parse_plate_file(d / "big.csv"))
    assert len(wells) == 1536
    assert wells[0]["signal"] == 100.5                     # decimal comma, ';' separated
    assert wells[-1]["well"] == "AF48" and wells[-1]["signal"] == 100 + 1535


def test_a_combined_map_and_signal_export_yields_both(tmp_path):
    """A LIMS table with plate_id, well, compound_id, role and signal is a map and a read."""
    run = tmp_path / "RUN_C"
    run.mkdir()
    lines = ["plate_id,well,compound_id,concentration_um,role,signal"]
    for r in "ABCDEFGH":
        for c in range(1, 13):
            role = "neg_ctrl" if c == 1 else "pos_ctrl" if c == 12 else "sample"
            cid = f"C{r}{c}" if role == "sample" else ""
            lines.append(f"P1,{r}{c:02d},{cid},10,{role},{1000 + c}")
    f = run / "export.csv"
    f.write_text("\n".join(lines) + "\n")
    result = parse_plate_file(f)
    maps = pa.concat_tables(list(result.tables["plate_maps"]))
    wells = pa.concat_tables(list(result.tables["plate_wells"]))
    assert maps.num_rows == 96 and wells.num_rows == 96
    assert sorted(set(wells.column("plate_rows").to_pylist())) == [8]
    assert result.quarantine == []


# --------------------------------------------------------------------------- refusal records
def test_refused_readings_carry_plate_and_well_as_fields(tmp_path):
    """What was refused is in structured fields, set where the refusal is made, so the
    screening step joins on them; a plate id with a space (allowed) round-trips."""
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    rows = _long_rows("Plate 1", 8, 12) + _long_rows("P2", 8, 12) + ["P2,A13,5"]
    rows[30] = "Plate 1,C07,n/a"               # non-numeric
    rows.append("Plate 1,A01,5")               # duplicate of A01
    rows.append("Plate 1,Q1x,5")               # not a well id: no well to name
    (d / "signals.csv").write_text("plate_id,well,signal\n" + "\n".join(rows) + "\n")
    res = parse_plate_file(d / "signals.csv")
    fields = sorted(((r.granularity, r.plate_id, r.well) for r in res.quarantine), key=str)
    assert fields == [("plate", "P2", None), ("well", "Plate 1", "A01"),
                      ("well", "Plate 1", "C07"), ("well", None, None)]


def test_refused_plate_map_rows_are_located_by_line_not_by_fields(tmp_path):
    d = _run_dir(tmp_path, {**RUN, "plate_format": 96})
    (d / "map.csv").write_text("plate_id,well,compound_id,concentration_um,role\n"
                               "P1,A01,C1,10,sample\nP1,A02,C1,10,nonsense\n")
    (rec,) = parse_plate_file(d / "map.csv").quarantine
    assert rec.locator == "plate P1 well A02 (line 3)" and (rec.plate_id, rec.well) == (None, None)


def test_the_raw_quarantine_table_keeps_the_fields(tmp_path):
    from datetime import datetime, timezone

    from orchestration.ingest.quarantine import QuarantineRecord
    from orchestration.ingest.runner import _Lineage, _quarantine_table

    records = [QuarantineRecord("well", "plate P 1 well A01", "r", plate_id="P 1", well="A01"),
               QuarantineRecord("record", "line 3", "r")]
    table = _quarantine_table(records, "plates", "landing/plates/R1/s.csv", None,
                              _Lineage("plates/R1/s.csv", "0" * 64, "R1",
                                       datetime(2026, 1, 1, tzinfo=timezone.utc)))
    rows = table.select(["plate_id", "well", "batch_id"]).to_pylist()
    assert rows == [{"plate_id": "P 1", "well": "A01", "batch_id": "R1"},
                    {"plate_id": None, "well": None, "batch_id": "R1"}]
