"""Putting runs together (refusals at the right granularity) and labelling activity."""

from datetime import datetime, timezone

import polars as pl

from models.compounds.labels import activity_labels
from models.plates.prepare import no_positional_correction, prepare_wells

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _plate(run: str, plate: str, roles: dict[str, str], source="r/signals.csv") -> tuple:
    wells, maps = [], []
    for i, (well, role) in enumerate(roles.items()):
        wells.append({"run_id": run, "plate_id": plate, "well": well, "row_idx": 0, "col_idx": i,
                      "plate_rows": 8, "plate_cols": 12, "signal": 100.0 + i,
                      "source_file": source, "ingested_at": NOW})
        maps.append({"run_id": run, "plate_id": plate, "well": well,
                     "compound_id": f"C{i}" if role == "sample" else None,
                     "concentration_um": 10.0, "role": role})
    return wells, maps


def test_prepare_refuses_the_smallest_wrong_unit():
    ok_w, ok_m = _plate("R1", "P1", {"A01": "neg_ctrl", "A02": "pos_ctrl", "A03": "sample",
                                     "A04": "sample"})
    bare_w, bare_m = _plate("R1", "P2", {"A01": "sample", "A02": "sample"})
    orphan_w, _ = _plate("R2", "P9", {"A01": "sample"})
    unmapped = [{**ok_w[0], "well": "H12"}]
    wells = pl.DataFrame(ok_w + bare_w + orphan_w + unmapped)
    maps = pl.DataFrame(ok_m + bare_m)
    runs = pl.DataFrame({"run_id": ["R1"]})
    ready, refused = prepare_wells(runs, wells, maps, known_compounds={"C0", "C1", "C2"}, now=NOW,
                                   ambiguous_compounds={"C2"})
    got = {(r["granularity"], r["locator"]): r["reason"] for r in refused.iter_rows(named=True)}
    assert ("plate", "plate P9") in got and "run.json" in got[("plate", "plate P9")]
    assert ("plate", "plate P2") in got and "0 pos_ctrl" in got[("plate", "plate P2")]
    assert ("well", "plate P1 well H12") in got          # a signal the map does not describe
    assert ("well", "plate P1 well A03") in got          # C2: ambiguous across libraries
    assert ("well", "plate P1 well A04") in got          # C3: in no library
    assert set(ready["well"]) == {"A01", "A02"} and set(ready["plate_id"]) == {"P1"}
    assert refused["original_path"].str.starts_with("landing/").all()


def test_the_newest_export_of_a_plate_wins_and_ties_are_decided_by_file_name():
    a_w, maps = _plate("R1", "P1", {"A01": "neg_ctrl", "A02": "pos_ctrl"}, source="r/a.csv")
    b_w, _ = _plate("R1", "P1", {"A01": "neg_ctrl", "A02": "pos_ctrl"}, source="r/b.csv")
    ready, _ = prepare_wells(pl.DataFrame({"run_id": ["R1"]}), pl.DataFrame(a_w + b_w),
                             pl.DataFrame(maps), set(), NOW)
    assert ready["source_file"].unique().to_list() == ["r/b.csv"] and ready.height == 2


def test_dose_response_plates_keep_robust_z():
    wells = pl.DataFrame({"run_id": ["DR", "PRI"], "robust_z": [1.0, 1.0], "corrected": [5.0, 5.0],
                          "npi": [40.0, 40.0], "percent_effect": [55.0, 55.0]})
    plates = pl.DataFrame({"run_id": ["DR", "PRI"], "bias_corrected": [True, True],
                           "bias_reason": ["row effect", "row effect"]})
    w, p = no_positional_correction(wells, plates, {"DR"})
    assert w["corrected"].to_list() == [1.0, 5.0]
    assert w["percent_effect"].to_list() == [40.0, 55.0]      # uncorrected NPI on DR plates
    assert p["bias_corrected"].to_list() == [False, True]
    assert p["bias_reason"][0].startswith("not applied")


def test_labels_confirmation_overrides_primary_and_inconclusive_is_unlabelled():
    calls = pl.DataFrame({
        "run_id": ["P"] * 4, "compound_id": ["hit_confirmed", "hit_flat", "quiet", "lost"],
        "is_hit": [True, True, False, False], "n_valid": [2, 2, 2, 1], "n_above": [2, 2, 0, 1],
        "median_corrected": [6.0, 4.0, 0.1, 5.0],
        "call": ["hit", "hit", "inactive", "inconclusive"]})
    fits = pl.DataFrame({"run_id": ["D", "D"], "compound_id": ["hit_confirmed", "hit_flat"],
                         "curve_class": ["1.1", "4"], "ic50_um": [0.5, None]},
                        schema_overrides={"ic50_um": pl.Float64})
    runs = pl.DataFrame({"run_id": ["P", "D"], "target_gene": ["GBA1", "GBA1"]})
    ids = pl.DataFrame({"compound_id": ["hit_confirmed", "hit_flat", "quiet", "lost"],
                        "inchikey": ["K1", "K2", "K3", "K4"]})
    labels = activity_labels(calls, fits, runs, ids)
    got = {r["inchikey"]: (r["label"], r["source"]) for r in labels.iter_rows(named=True)}
    assert got == {"K1": (1, "dose_response"), "K2": (0, "dose_response"), "K3": (0, "primary")}


def test_wells_absent_from_the_export_are_judged_against_the_map():
    roles = {f"A{c:02d}": ("neg_ctrl" if c == 1 else "pos_ctrl" if c == 2 else "sample")
             for c in range(1, 13)}
    w1, m1 = _plate("R1", "P1", roles)
    w2, m2 = _plate("R1", "P2", roles)
    w3, m3 = _plate("R1", "P3", roles)
    w1 = [w for w in w1 if w["well"] != "A05"]              # 1 of 12 absent: that well
    w2 = [w for w in w2 if w["well"] not in ("A05", "A06")]   # 2 of 12 absent: the plate
    w3 = [w for w in w3 if w["well"] != "A07"]              # quarantined at ingest already
    known = {f"C{i}" for i in range(12)}
    ready, refused = prepare_wells(
        pl.DataFrame({"run_id": ["R1"]}), pl.DataFrame(w1 + w2 + w3), pl.DataFrame(m1 + m2 + m3),
        known, NOW, refused_at_ingest=pl.DataFrame({"run_id": ["R1"], "plate_id": ["P3"],
                                                    "well": ["A07"]}))
    got = {(r["granularity"], r["locator"]): r["reason"] for r in refused.iter_rows(named=True)}
    assert got == {
        ("well", "plate P1 well A05"): "well is in the plate map but absent from the reader export",
        ("plate", "plate P2"): "2 of the 12 wells in the plate map are absent from the reader "
                               "export (more than 10%)",
    }
    assert set(ready["plate_id"]) == {"P1", "P3"} and ready.height == 11 + 11


def test_wells_refused_at_ingest_are_read_from_the_records_fields():
    """The join key is the refusal's plate_id and well, never its message; rows of files
    written before those fields existed fall back to their exact "plate X well Y" locator."""
    from orchestration.assets.screening import wells_refused_at_ingest

    q = pl.DataFrame({
        "domain": ["plates", "plates", "plates", "plates", "compounds"],
        "granularity": ["well", "well", "well", "plate", "well"],
        "locator": ["plate Plate 1 well A01", "plate P2 well B02", "plate P3 well C03 (line 4)",
                    "plate P4", "plate X well Y"],
        "batch_id": ["R1", "R1", "R1", "R1", "R9"],
        "plate_id": ["Plate 1", None, None, "P4", None],
        "well": ["A01", None, None, None, None]})
    got = wells_refused_at_ingest(q)
    assert got.rows() == [("R1", "Plate 1", "A01"), ("R1", "P2", "B02")]
    assert wells_refused_at_ingest(q.drop("plate_id", "well")).rows() == [("R1", "P2", "B02")]
    assert wells_refused_at_ingest(pl.DataFrame(schema={"domain": pl.String})).height == 0
