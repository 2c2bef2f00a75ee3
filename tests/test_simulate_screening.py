"""Screening simulator: libraries, plate runs, planted defects and hidden truth.

Outputs are read back with generic tools (csv, json, RDKit) only, never with the
pipeline's own parsers, so the simulator and the parsers check each other.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rdkit import Chem, RDLogger

from orchestration.simulate import sar
from orchestration.simulate.screening import generate_screening

RDLogger.DisableLog("rdApp.*")
PRIMARY, DR, BAD = "PRIMARY_GBA1_001", "DR_GBA1_001", "PRIMARY_GBA1_bad"
COUNTER = "COUNTER_GBA1_001"


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("screen")
    return home, generate_screening(home, seed=7)


@pytest.fixture(scope="module")
def truth(lake) -> dict:
    home, _ = lake
    return json.loads((home / "truth/screen_001/screening/plates.json").read_text())


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _envision(path: Path) -> dict[str, list[list[str]]]:
    """Barcode -> matrix rows (label first) of a simple EnVision-style export."""
    out, barcode, header, lines = {}, None, None, path.read_text().splitlines()
    for i, line in enumerate(lines):
        cells = line.split(",")
        if header and cells[0] == "Plate":
            header = None
        if line.startswith("Plate,Repeat,Barcode"):
            header = cells
            values = lines[i + 1].split(",")
            barcode = values[cells.index("Barcode")]
        elif line.startswith(",") and barcode:
            rows = []
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                rows.append(row.split(","))
            out[barcode] = [cells] + rows
            barcode = None
    return out


def _signals(run_dir: Path) -> dict[tuple[str, str], float]:
    """(plate, well) -> signal from both signal shapes (numeric values only)."""
    sig = {}
    if (run_dir / "signals_long.csv").exists():
        for r in _csv(run_dir / "signals_long.csv"):
            try:
                sig[(r["plate_id"], r["well"])] = float(r["signal"])
            except ValueError:
                pass
    if (run_dir / "envision_export.csv").exists():
        for plate, rows in _envision(run_dir / "envision_export.csv").items():
            cols = rows[0][1:]
            for row in rows[1:]:
                for c, v in zip(cols, row[1:]):
                    sig[(plate, f"{row[0]}{int(c):02d}")] = float(v)
    return sig


def _robust_z_prime(neg: np.ndarray, pos: np.ndarray) -> float:
    mad = lambda v: 1.4826 * np.median(np.abs(v - np.median(v)))  # noqa: E731
    return 1.0 - 3.0 * (mad(neg) + mad(pos)) / abs(np.median(neg) - np.median(pos))


def test_same_seed_gives_same_bytes(lake, tmp_path):
    home, _ = lake
    generate_screening(tmp_path, seed=7)
    assert _digest(home) == _digest(tmp_path)


def test_approved_drugs_split_between_v2000_and_v3000(lake):
    home, summary = lake
    folder = home / "landing/compounds/chembl_approved"
    ids = {}
    for name in ("approved_drugs.sdf", "approved_drugs_v3000.sdf"):
        mols = list(Chem.SDMolSupplier(str(folder / name)))
        assert all(m is not None for m in mols)
        assert all(m.HasProp("compound_id") and m.HasProp("name") for m in mols)
        ids[name] = [m.GetProp("compound_id") for m in mols]
    assert "V3000" in (folder / "approved_drugs_v3000.sdf").read_text()
    assert "V3000" not in (folder / "approved_drugs.sdf").read_text()
    both = ids["approved_drugs.sdf"] + ids["approved_drugs_v3000.sdf"]
    assert len(both) == len(set(both)) == 2628 - len(summary["skipped_smiles"])
    assert 0.05 < len(ids["approved_drugs_v3000.sdf"]) / len(both) < 0.15


def test_csv_and_smiles_libraries(lake):
    home, summary = lake
    rows = _csv(home / "landing/compounds/solubility_set/huuskonen.csv")
    assert list(rows[0]) == ["compound_id", "smiles", "name"] and len(rows) == 1282
    lines = (home / "landing/compounds/vendor_analogs/analogs.smi").read_text().splitlines()
    assert lines[0].split()[0].lower() == "smiles"
    recs = [ln.split("\t") for ln in lines[1:]]
    assert 350 <= len(recs) <= 450 and summary["libraries"]["vendor_analogs"] == len(recs)
    assert all(Chem.MolFromSmiles(r[0]) is not None for r in recs)
    assert len({r[1] for r in recs}) == len(recs)


def test_broken_vendor_files(lake, truth):
    home, _ = lake
    folder = home / "landing/compounds/vendor_broken"
    mols = list(Chem.SDMolSupplier(str(folder / "broken.sdf")))
    assert len(mols) == 23
    assert [i + 1 for i, m in enumerate(mols) if m is None] == [8, 13, 18]
    with (folder / "broken.sdf").open("rb") as fh:   # a sequential reader loses only the bad ones
        forward = [m.GetProp("compound_id") for m in Chem.ForwardSDMolSupplier(fh) if m]
    assert forward == [f"VB-{k:04d}" for k in range(1, 21)]
    header = (folder / "no_smiles_column.csv").read_text().splitlines()[0]
    assert "smiles" not in header.lower() and "compound_id" in header
    planted = {(d["defect"], d["granularity"]) for d in truth["defects"]}
    assert {("pentavalent_carbon", "record"), ("truncated_atom_block", "record"),
            ("garbage_record", "record"), ("no_smiles_column", "file"),
            ("duplicate_compound_id", "record")} <= planted


def test_run_json_and_control_layout(lake):
    home, _ = lake
    for run, stage in ((PRIMARY, "primary"), (DR, "dose_response"), (BAD, "primary")):
        meta = json.loads((home / "landing/plates" / run / "run.json").read_text())
        assert meta["target_gene"] == "GBA1" and meta["readout"] == "inhibition"
        assert meta["stage"] == stage and meta["plate_format"] == 384 and meta["assay_id"]
    counter = json.loads((home / "landing/plates" / COUNTER / "run.json").read_text())
    assert counter["stage"] == "primary" and counter["readout"] == "inhibition"
    assert counter["target_gene"] not in ("", "GBA1") and counter["counter_screen_for"] == "GBA1"
    assert counter["assay_id"] != meta["assay_id"]
    rows = _csv(home / "landing/plates" / PRIMARY / "plate_map.csv")
    assert list(rows[0]) == ["plate_id", "well", "compound_id", "concentration_um", "role"]
    by_plate: dict[str, list[dict]] = {}
    for r in rows:
        by_plate.setdefault(r["plate_id"], []).append(r)
    assert len(by_plate) == 18
    for plate_rows in by_plate.values():
        assert len(plate_rows) == 384
        for r in plate_rows:
            col = int(r["well"][1:])
            expected = {1: "neg_ctrl", 23: "neg_ctrl", 2: "pos_ctrl", 24: "pos_ctrl"}.get(col)
            if expected:
                assert r["role"] == expected and r["compound_id"] == ""
            else:
                assert r["role"] in ("sample", "blank")
                assert (r["role"] == "sample") == (r["concentration_um"] == "10")


def test_replicates_use_different_positions(lake):
    home, _ = lake
    rows = _csv(home / "landing/plates" / PRIMARY / "plate_map.csv")
    spots: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        if r["role"] == "sample":
            spots.setdefault(r["compound_id"], []).append((r["plate_id"], r["well"]))
    assert len(spots) == 2628 and all(len(v) == 2 for v in spots.values())
    same_well = sum(a[1] == b[1] for a, b in spots.values())
    assert same_well < 0.05 * len(spots)


def test_failed_plate_controls_overlap_and_others_pass(lake, truth):
    home, _ = lake
    sig = _signals(home / "landing/plates" / PRIMARY)
    assert len(sig) == 18 * 384
    roles = {(r["plate_id"], r["well"]): r["role"]
             for r in _csv(home / "landing/plates" / PRIMARY / "plate_map.csv")}
    plates = truth["runs"][PRIMARY]["plates"]
    assert sum(p["failed"] for p in plates.values()) == 1
    for plate_id, info in plates.items():
        neg = np.array([v for k, v in sig.items() if k[0] == plate_id and roles[k] == "neg_ctrl"])
        pos = np.array([v for k, v in sig.items() if k[0] == plate_id and roles[k] == "pos_ctrl"])
        z = _robust_z_prime(neg, pos)
        if info["failed"]:
            assert z < 0 and pos.max() > neg.min()
        else:
            assert z > 0.4


def test_dispenser_fault_is_visible_in_raw_signal(lake, truth):
    home, _ = lake
    sig = _signals(home / "landing/plates" / PRIMARY)
    faulty = [(p, i["dispenser_fault"]) for p, i in truth["runs"][PRIMARY]["plates"].items()
              if i["dispenser_fault"]]
    assert len(faulty) == 1
    plate_id, wells = faulty[0]
    col = {int(w[1:]) for w in wells}
    assert len(col) == 1 and len(wells) == 16
    inner = [v for (p, w), v in sig.items() if p == plate_id and 3 <= int(w[1:]) <= 22]
    stripe = [sig[(plate_id, w)] for w in wells]
    assert np.median(stripe) < 0.8 * np.median(inner)


def test_edge_wells_read_brighter(lake, truth):
    home, _ = lake
    sig = _signals(home / "landing/plates" / PRIMARY)
    roles = {(r["plate_id"], r["well"]): r["role"]
             for r in _csv(home / "landing/plates" / PRIMARY / "plate_map.csv")}
    neg = [(w, v) for (p, w), v in sig.items() if roles[(p, w)] == "neg_ctrl"]
    edge = np.median([v for w, v in neg if w[1:] == "01"])   # col 1 is an edge column
    inner = np.median([v for w, v in neg if w[1:] == "23" and w[0] not in "AP"])
    assert edge > 1.05 * inner


def test_truth_covers_every_library_compound(lake):
    home, _ = lake
    comp = home / "landing/compounds"
    seen = set()
    for sdf in comp.rglob("*.sdf"):
        for m in Chem.SDMolSupplier(str(sdf)):
            if m is not None:
                seen.add((sdf.parent.name, m.GetProp("compound_id")))
    seen |= {("solubility_set", r["compound_id"])
             for r in _csv(comp / "solubility_set/huuskonen.csv")}
    lines = (comp / "vendor_analogs/analogs.smi").read_text().splitlines()[1:]
    seen |= {("vendor_analogs", ln.split("\t")[1]) for ln in lines}
    t = pl.read_parquet(home / "truth/screen_001/screening/compound_activity.parquet")
    assert t.columns == ["library", "compound_id", "smiles", "true_pic50", "true_active",
                         "true_effect_pct", "apparent_effect_pct", "is_interferer",
                         "is_frequent_hitter", "interference_mechanism", "cliff_feature"]
    assert set(zip(t["library"], t["compound_id"])) == seen
    assert t.select(["library", "compound_id"]).is_duplicated().sum() == 0
    active = t.filter(pl.col("true_active"))
    assert active["true_pic50"].null_count() == 0 and active["true_pic50"].min() >= sar.ACTIVE_PIC50
    # inert compounds have no pIC50 and no effect; weak binders sit between 4 and 5
    inert = t.filter(pl.col("true_pic50").is_null())
    assert inert.height > 0 and (inert["true_effect_pct"] == 0).all()
    weak = t.filter(pl.col("true_pic50").is_not_null() & ~pl.col("true_active"))
    assert weak.height > 0 and weak["true_pic50"].is_between(4.0, sar.ACTIVE_PIC50, closed="left").all()
    # the truth effect is the target's only; interferers read higher than it, others do not
    plain = t.filter(~pl.col("is_interferer"))
    assert ((plain["apparent_effect_pct"] - plain["true_effect_pct"]).abs() < 1e-6).all()
    intf = t.filter(pl.col("is_interferer"))
    gain = (intf["apparent_effect_pct"] - intf["true_effect_pct"]) / (100 - intf["true_effect_pct"])
    assert (gain >= 0.29).all()       # interference takes >= 30 % of what the target leaves
    assert intf["interference_mechanism"].null_count() == 0
    assert not t.filter(~pl.col("is_interferer"))["is_frequent_hitter"].any()


def test_hit_rate_in_band_and_analogs_mixed(lake):
    home, summary = lake
    t = pl.read_parquet(home / "truth/screen_001/screening/compound_activity.parquet")
    approved = t.filter(pl.col("library") == "chembl_approved")
    assert 0.02 <= approved["true_active"].mean() <= 0.08
    analogs = t.filter(pl.col("library") == "vendor_analogs")
    assert 0.1 < analogs["true_active"].mean() < 0.8
    assert summary["n_true_actives"] == approved["true_active"].sum()


def test_primary_hit_picks_go_to_dose_response(lake, truth):
    home, summary = lake
    t = pl.read_parquet(home / "truth/screen_001/screening/compound_activity.parquet").filter(
        pl.col("library") == "chembl_approved")
    effect = dict(zip(t["compound_id"], t["true_effect_pct"]))
    interferer = dict(zip(t["compound_id"], t["is_interferer"]))
    picks = set(summary["primary_hit_picks"])
    # picks are the potent compounds and the interferers that read like them
    genuine = [c for c in picks if not interferer[c]]
    assert picks and sum(effect[c] >= 40 for c in genuine) >= 0.9 * len(genuine)
    assert len(genuine) < len(picks) and summary["n_true_positive_picks"] >= 0.5 * len(picks)
    rows = [r for r in _csv(home / "landing/plates" / DR / "plate_map.csv") if r["role"] == "sample"]
    per_cpd: dict[str, list[float]] = {}
    for r in rows:
        per_cpd.setdefault(r["compound_id"], []).append(float(r["concentration_um"]))
    sent = set(truth["dr_hit_picks"]) | set(truth["dr_weak_picks"]) | set(truth["dr_negatives"])
    assert set(per_cpd) == sent and set(truth["dr_hit_picks"]) <= picks
    weak = truth["dr_weak_picks"]   # picked on the lab's noisy means: mostly truly weak
    assert weak and sum(10 <= effect[c] < 50 or interferer[c] for c in weak) >= len(weak) / 2
    for concs in per_cpd.values():
        levels = sorted(set(concs), reverse=True)
        assert len(concs) == 16 and len(levels) == 8 and levels[0] == 30
        assert np.allclose(np.array(levels[:-1]) / np.array(levels[1:]), 3.0, rtol=1e-3)


def test_potent_compounds_show_a_dose_response(lake, truth):
    home, _ = lake
    sig = _signals(home / "landing/plates" / DR)
    rows = [r for r in _csv(home / "landing/plates" / DR / "plate_map.csv") if r["role"] == "sample"]
    potent = {c for c, v in truth["runs"][DR]["compounds"].items()
              if v["true_pic50"] and v["true_pic50"] >= 6.0}
    inactive = {c for c, v in truth["runs"][DR]["compounds"].items()
                if v["true_pic50"] is None and v["interference"] is None}
    assert potent and inactive
    top, low = {}, {}
    for r in rows:
        c, x = float(r["concentration_um"]), sig[(r["plate_id"], r["well"])]
        if c == 30:
            top.setdefault(r["compound_id"], []).append(x)
        elif c < 0.02:
            low.setdefault(r["compound_id"], []).append(x)
    for cid in potent:
        assert np.mean(top[cid]) < 0.5 * np.mean(low[cid])
    for cid in inactive:
        assert np.mean(top[cid]) > 0.75 * np.mean(low[cid])


def test_bad_run_plants_each_defect(lake, truth):
    home, _ = lake
    run = home / "landing/plates" / BAD
    long = _csv(run / "signals_long.csv")
    p1 = [r for r in long if r["plate_id"] == "P003-001"]
    assert len(p1) == 384 - 5 + 2
    wells = [r["well"] for r in p1]
    assert len(wells) - len(set(wells)) == 2
    assert sorted(r["signal"] for r in p1 if r["signal"] in ("NaN", "#N/A", "OVRFLW")) == \
        ["#N/A", "NaN", "OVRFLW"]
    assert sum(r["plate_id"] == "P003-002" for r in long) == 384 - 60
    blocks = _envision(run / "envision_export.csv")
    assert len(blocks["P003-003"][0]) - 1 == 23 and len(blocks["P003-003"]) - 1 == 16
    assert len(blocks["P003-004"][0]) - 1 == 24
    pmap = _csv(run / "plate_map.csv")
    assert {r["role"] for r in pmap if r["plate_id"] == "P003-004"} == {"sample"}
    unknown = [r for r in pmap if r["compound_id"].startswith("UNKNOWN-")]
    assert len(unknown) == 4 and "UNKNOWN-123" in {r["compound_id"] for r in unknown}
    kinds: dict[str, set] = {}
    for d in truth["defects"]:
        kinds.setdefault(d["defect"], set()).add(d["granularity"])
    assert kinds["missing_well"] == kinds["duplicate_well"] == kinds["non_numeric_signal"] == {"well"}
    assert kinds["too_many_missing_wells"] == kinds["wrong_matrix_dimensions"] == {"plate"}
    assert kinds["no_controls"] == {"plate"} and kinds["unknown_compound_id"] == {"well"}
    n_missing = [d for d in truth["defects"] if d["defect"] == "missing_well"]
    assert len(n_missing) == 5 and all(d["locator"].startswith("plate P003-001 well ")
                                       for d in n_missing)


def test_nothing_in_landing_leaks_truth(lake):
    home, _ = lake
    for path in (home / "landing").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="ignore").lower()
            for word in ("true_pic50", "true_active", "truth", "pic50", "interfer", "frequent"):
                assert word not in text, f"{word} in {path}"


def test_without_bad_files_or_positional_bias(lake, truth, tmp_path):
    summary = generate_screening(tmp_path, seed=7, with_bad_files=False, n_replicates=1,
                                 positional_bias=False, counter_screen=False)
    assert not (tmp_path / "landing/compounds/vendor_broken").exists()
    assert not (tmp_path / "landing/plates/PRIMARY_GBA1_bad").exists()
    assert not (tmp_path / "landing/plates" / COUNTER).exists()
    assert summary["runs"]["PRIMARY_GBA1_001"] == 9
    plain = json.loads((tmp_path / "truth/screen_001/screening/plates.json").read_text())
    plates = plain["runs"][PRIMARY]["plates"].values()
    assert all(p["edge"] == 0 and p["gradient"] is None and not p["dispenser_fault"] for p in plates)
    biased = truth["runs"][PRIMARY]["plates"].values()
    assert all(p["edge"] > 0 for p in biased) and any(p["gradient"] for p in biased)
    # with the bias off the edge columns read like the inner ones
    sig = _signals(tmp_path / "landing/plates" / PRIMARY)
    roles = {(r["plate_id"], r["well"]): r["role"]
             for r in _csv(tmp_path / "landing/plates" / PRIMARY / "plate_map.csv")}
    neg = [(w, v) for (p, w), v in sig.items() if roles[(p, w)] == "neg_ctrl"]
    edge = np.median([v for w, v in neg if w[1:] == "01"])
    inner = np.median([v for w, v in neg if w[1:] == "23" and w[0] not in "AP"])
    assert abs(edge / inner - 1) < 0.03


def _npi(run_dir: Path) -> dict[tuple[str, str], float]:
    """(plate, compound) -> % inhibition of its sample well from the plate's own controls
    (median neutral = 0, median inhibited = 100)."""
    sig = _signals(run_dir)
    rows = _csv(run_dir / "plate_map.csv")
    ctrl: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r["role"] in ("neg_ctrl", "pos_ctrl"):
            ctrl.setdefault((r["plate_id"], r["role"]), []).append(sig[(r["plate_id"], r["well"])])
    out = {}
    for r in rows:
        if r["role"] == "sample":
            neg = np.median(ctrl[(r["plate_id"], "neg_ctrl")])
            pos = np.median(ctrl[(r["plate_id"], "pos_ctrl")])
            out[(r["plate_id"], r["compound_id"])] = 100 * (neg - sig[(r["plate_id"], r["well"])]) / (neg - pos)
    return out


def test_potency_is_continuous_with_a_weak_tail(lake, truth):
    home, _ = lake
    t = pl.read_parquet(home / "truth/screen_001/screening/compound_activity.parquet").filter(
        pl.col("library") == "chembl_approved")
    eff = t["true_effect_pct"]
    inert, potent = (eff == 0).mean(), (eff >= 50).mean()
    weak = ((eff >= 10) & (eff < 50)).mean()
    assert 0.7 < inert < 0.95 and 0.05 < weak < 0.2 and 0.02 < potent < 0.08
    assert weak > potent                       # the tail is longer than the potent head
    # and it shows in the plates: weak compounds read between inert and potent ones
    failed = {p for p, i in truth["runs"][PRIMARY]["plates"].items() if i["failed"]}
    npi: dict[str, list[float]] = {}
    for (plate, cid), v in _npi(home / "landing/plates" / PRIMARY).items():
        if plate not in failed:
            npi.setdefault(cid, []).append(v)
    plain = t.filter(~pl.col("is_interferer"))
    med = {band: np.median([np.median(npi[c]) for c in plain.filter(cond)["compound_id"]])
           for band, cond in (("inert", pl.col("true_effect_pct") == 0),
                              ("weak", pl.col("true_effect_pct").is_between(20, 45)),
                              ("potent", pl.col("true_effect_pct") >= 80))}
    assert abs(med["inert"]) < 5 and 20 < med["weak"] < 45 and med["potent"] > 70


def test_activity_cliffs_among_analogs(lake, truth):
    home, _ = lake
    t = pl.read_parquet(home / "truth/screen_001/screening/compound_activity.parquet")
    analogs = t.filter(pl.col("library") == "vendor_analogs")
    # a single substituent flips potency: each cliff feature occurs among the analogs, and
    # analogs of one parent with and without the twist feature differ by >= 10-fold
    assert analogs["cliff_feature"].drop_nulls().str.contains("ortho_biaryl_twist").any()
    parents = truth["analog_parents"]
    by_parent: dict[str, dict[bool, list[float]]] = {}
    for cid, p, feat in zip(analogs["compound_id"], analogs["true_pic50"].fill_null(3.0),
                            analogs["cliff_feature"].fill_null("")):
        by_parent.setdefault(parents[cid], {True: [], False: []})[
            "ortho_biaryl_twist" in feat].append(p)
    gaps = [np.median(v[False]) - np.median(v[True]) for v in by_parent.values() if v[True] and v[False]]
    assert gaps and max(gaps) >= 1.0


def test_interferers_read_active_in_both_runs_and_true_actives_only_in_one(lake, truth):
    home, _ = lake
    t = pl.read_parquet(home / "truth/screen_001/screening/compound_activity.parquet").filter(
        pl.col("library") == "chembl_approved")
    fh = set(t.filter(pl.col("is_frequent_hitter"))["compound_id"])
    actives = set(t.filter(pl.col("true_active") & ~pl.col("is_interferer"))["compound_id"])
    assert 0.01 < t["is_interferer"].mean() < 0.05 and fh
    counter = {c: v for (_, c), v in _npi(home / "landing/plates" / COUNTER).items()}
    assert len(counter) == 640
    in_both = fh & set(counter)
    assert len(in_both) >= 0.8 * len(fh)
    assert np.median([counter[c] for c in in_both]) > 30
    tested_actives = actives & set(counter)
    assert len(tested_actives) >= 0.8 * len(actives)
    assert np.median([counter[c] for c in tested_actives]) < 10
    assert set(truth["runs"][COUNTER]["frequent_hitters"]) == in_both


def test_some_compounds_keep_one_good_replicate_beside_the_failed_plate(lake, truth):
    home, _ = lake
    plates = truth["runs"][PRIMARY]["plates"]
    failed = {p for p, i in plates.items() if i["failed"]}
    where: dict[str, list[str]] = {}
    for r in _csv(home / "landing/plates" / PRIMARY / "plate_map.csv"):
        if r["role"] == "sample":
            where.setdefault(r["compound_id"], []).append(r["plate_id"])
    split = {c for c, ps in where.items() if len(set(ps) & failed) == 1 and len(set(ps) - failed) == 1}
    assert len(split) >= 100 and split == set(truth["runs"][PRIMARY]["one_replicate_on_failed_plate"])
    assert plates[sorted(failed)[0]]["replicate"] == 2


def test_controls_drift_with_plate_order_and_replicates_disagree(lake, truth):
    home, _ = lake
    sig = _signals(home / "landing/plates" / PRIMARY)
    roles = {(r["plate_id"], r["well"]): r["role"]
             for r in _csv(home / "landing/plates" / PRIMARY / "plate_map.csv")}
    plates = truth["runs"][PRIMARY]["plates"]
    good = sorted(p for p, i in plates.items() if not i["failed"])
    ratio = []   # neutral / inhibited control level: free of the plate gain, falls with drift
    for p in good:
        neg = np.median([v for (q, w), v in sig.items() if q == p and roles[(q, w)] == "neg_ctrl"
                         and w[1:] == "23"])
        pos = np.median([v for (q, w), v in sig.items() if q == p and roles[(q, w)] == "pos_ctrl"
                         and w[1:] == "02"])
        ratio.append(neg / pos)
    assert np.mean(ratio[-3:]) < 0.92 * np.mean(ratio[:3])
    drift = [plates[p]["drift"]["neg_factor"] for p in sorted(plates)]
    assert drift == sorted(drift, reverse=True) and drift[0] == 1.0
    assert sum(len(i["outlier_replicates"]) for i in plates.values()) > 20
    # robust Z' mostly in the 0.5-0.8 band a real screen shows
    z = [i["lab_z_prime_robust"] for p, i in plates.items() if not i["failed"]]
    assert np.median(z) > 0.55 and np.mean([0.45 < v < 0.85 for v in z]) >= 0.8


def test_sar_rule_is_structural():
    assert sar.ACTIVE_PIC50 == 5.0
    assert sar.true_pic50(Chem.MolFromSmiles("C")) is None
    drug = "CS(=O)(=O)c1ccc(C(=O)Nc2ccc(Cl)c(-c3ccccn3)c2)cc1Cl"   # vismodegib
    salt = drug + ".Cl"
    a = sar.true_pic50(Chem.MolFromSmiles(drug))
    assert a is not None and a >= 5.0
    assert sar.true_pic50(Chem.MolFromSmiles(salt)) == a
    assert sar.true_pic50(Chem.MolFromSmiles(drug), seed=8) != a
