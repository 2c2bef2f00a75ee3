"""The design loop on a small temp lake: published designs become library
``orphanlake_designs``, design ids that do not exist or that are re-used for another
structure are refused, and ``generate --design-round`` makes and tests a round."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.plates.prepare import prepare_wells
from orchestration.cli import main
from orchestration.ingest import runner
from orchestration.ingest.designs import DESIGN_LIBRARY, DesignIndex, is_design_id
from orchestration.settings import LakeConfig
from orchestration.simulate import sar
from orchestration.truth_eval import INERT_PIC50, design_truth

TARGET = "GBA1"
SEED = 5
# drug-like analogs around a sulfonamide biaryl (some potent under the hidden rule)
SMILES = [
    "Cc1ccc(S(=O)(=O)Nc2ccc(-c3ccncc3)cc2)cc1",
    "O=S(=O)(Nc1ccc(-c2ccncc2)cc1)c1ccc(Cl)cc1",
    "O=S(=O)(Nc1ccc(-c2ccnc(Cl)c2)cc1)c1ccccc1",
    "CN1CCN(c2ccc(NS(=O)(=O)c3ccc(F)cc3)cc2)CC1",
    "O=C(Nc1ccc(-c2cccnc2)cc1)c1ccc(Cl)cc1",
    "Cc1ccccc1-c1ccc(NS(=O)(=O)c2ccccc2)cc1",
    "O=S(=O)(Nc1cccc(-c2ncccn2)c1)c1ccc(Br)cc1",
    "COc1ccc(S(=O)(=O)Nc2ccc(-c3cccnc3)cc2)cc1",
]


def _lake(tmp_path: Path, rounds: int = 1):
    """A lake with a publication holding designed_compounds (round 1 selected; round 2
    too when asked) and a truth folder saying which rule the screen was simulated with."""
    paths = LakeConfig(tmp_path / "lake").paths.ensure()
    rows = []
    for r in range(1, rounds + 1):
        for i, smi in enumerate(SMILES, start=1):
            rows.append({"design_id": f"D-{TARGET}-R{r}-{i:04d}", "target_gene": TARGET,
                         "round": r, "smiles": smi, "inchikey": None, "selected": i <= 6,
                         "rank": i, "predicted_pic50": 6.0 - 0.1 * i})
    pub = paths.home / "published" / "20260101T000000000000Z"
    pub.mkdir(parents=True)
    pl.DataFrame(rows).write_parquet(pub / "designed_compounds.parquet")
    screen = paths.truth / "screen_001" / "screening"
    screen.mkdir(parents=True)
    (screen / "plates.json").write_text(json.dumps({
        "seed": SEED, "target_gene": TARGET, "layout": {"plate_format": 384}}))
    return paths


def _raw(paths, table: str) -> pl.DataFrame:
    files = [f for f in sorted(paths.raw_table(table).glob("*/*.parquet"))]
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def _quarantine(paths) -> pl.DataFrame:
    files = sorted(paths.raw_table("quarantine").glob("*/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed") if files \
        else pl.DataFrame(schema={"domain": pl.String, "reason": pl.String, "locator": pl.String})


def test_design_id_form():
    assert is_design_id("D-GBA1-R1-0007") and is_design_id("D-HLA-A-R12-0100")
    assert not is_design_id("D-GBA1-R1-7") and not is_design_id("CHEMBL25")


def test_designs_become_a_library_and_reused_ids_are_refused(tmp_path):
    paths = _lake(tmp_path)
    lib = paths.landing_domain("compounds") / "made_by_cro"
    lib.mkdir(parents=True)
    (lib / "made.csv").write_text(
        "compound_id,smiles\n"
        f"D-{TARGET}-R1-0001,{SMILES[0]}\n"          # the design itself: accepted
        f"D-{TARGET}-R1-0002,CCO\n"                  # another structure: refused
        f"D-{TARGET}-R9-0001,CCN\n"                  # no such design: refused
        "CRO-1,c1ccccc1O\n")
    reserved = paths.landing_domain("compounds") / DESIGN_LIBRARY
    reserved.mkdir()
    (reserved / "mine.smi").write_text("CCO X-1\n")

    summary = runner.ingest_compounds(paths)
    # only proposed, never named by a plate: no compound record (the marts hold what exists)
    assert _raw(paths, "compound_records").filter(pl.col("library") == DESIGN_LIBRARY).height == 0
    # a plate map naming two designs (made and tested) makes them library records
    run = paths.landing_domain("plates") / "MADE_R1"
    run.mkdir(parents=True)
    (run / "plate_map.csv").write_text(
        "plate_id;well;compound_id;role\n"
        f"P1;A03;D-{TARGET}-R1-0003;sample\nP1;A04;D-{TARGET}-R1-0005;sample\n")
    again = runner.ingest_compounds(paths)
    assert again.files_ingested == 1                   # the design records, not every library
    records = _raw(paths, "compound_records")
    designs = records.filter(pl.col("library") == DESIGN_LIBRARY)
    assert sorted(designs["compound_id"]) == [f"D-{TARGET}-R1-0003", f"D-{TARGET}-R1-0005"]
    assert designs["inchikey"].null_count() == 0
    made = records.filter(pl.col("library") == "made_by_cro")
    assert sorted(made["compound_id"]) == ["CRO-1", f"D-{TARGET}-R1-0001"]
    reasons = " | ".join(_quarantine(paths)["reason"])
    assert f"design id 'D-{TARGET}-R1-0002' is a published design of another structure" in reasons
    assert f"'D-{TARGET}-R9-0001' has the form of a design id" in reasons
    assert f"{DESIGN_LIBRARY!r} is reserved" in reasons
    assert summary.records_quarantined == 2 and summary.files_quarantined == 1

    # nothing new: nothing written again; the design file is not taken for a stray
    again = runner.ingest_compounds(paths)
    assert again.files_ingested == 0 and not again.outside_changes
    assert _raw(paths, "compound_records").height == records.height


def test_generate_design_round_makes_plates_that_resolve(tmp_path, capsys):
    paths = _lake(tmp_path)
    assert main(["--home", str(paths.home), "generate", "--design-round"]) == 0
    out = capsys.readouterr().out
    assert f"design round 1 of {TARGET}: 6 designs made and tested" in out
    plates = paths.landing_domain("plates")
    run = plates / f"DESIGN_{TARGET}_R1"
    meta = json.loads((run / "run.json").read_text())
    assert meta["target_gene"] == TARGET and meta["stage"] == "primary"
    assert json.loads((plates / f"DESIGN_{TARGET}_R1_DR" / "run.json").read_text())["stage"] \
        == "dose_response"
    plate_map = pl.read_csv(run / "plate_map.csv")
    named = plate_map.filter(pl.col("role") == "sample")
    assert set(named["compound_id"]) == {f"D-{TARGET}-R1-{i:04d}" for i in range(1, 7)}
    assert named.height == 2 * 6                       # 10 µM in duplicate
    truth = pl.read_parquet(paths.truth / f"design_{TARGET.lower()}_r1" / "screening"
                            / "compound_activity.parquet")
    assert set(truth["library"]) == {DESIGN_LIBRARY} and truth.height == 6
    # design_truth: the same hidden rule, for any structure
    values = design_truth(paths, TARGET, truth["smiles"].to_list() + ["not a smiles"])
    expected = truth["true_pic50"].fill_null(INERT_PIC50).to_numpy()
    assert np.allclose(values[:-1], expected) and np.isnan(values[-1])
    assert design_truth(paths, "NOPE", SMILES) is None
    direct = sar.pic50_from_raw(sar.raw_pic50_smiles(SMILES[1], SEED))
    assert values[truth["compound_id"].to_list().index(f"D-{TARGET}-R1-0002")] == \
        (INERT_PIC50 if direct is None else direct)

    # a second make-and-test of the same round adds nothing
    assert main(["--home", str(paths.home), "generate", "--design-round"]) == 0
    assert "was made already" in capsys.readouterr().out

    # the runs ingest cleanly and their wells resolve against the design library ...
    runner.ingest_compounds(paths)
    runner.ingest_plates(paths)
    assert _quarantine(paths).filter(pl.col("domain") == "plates").height == 0
    wells, maps, runs = (_raw(paths, t) for t in ("plate_wells", "plate_maps", "plate_runs"))
    known = set(_raw(paths, "compound_records")["compound_id"])
    now = datetime.now(timezone.utc)
    ready, refused = prepare_wells(runs, wells, maps, known, now)
    assert refused.height == 0
    assert set(ready.filter(pl.col("role") == "sample")["compound_id"]) == \
        {f"D-{TARGET}-R1-{i:04d}" for i in range(1, 7)}
    # ... and a plate map naming a design that does not exist is refused per well
    gone = f"D-{TARGET}-R1-0003"
    _, refused = prepare_wells(runs, wells, maps, known - {gone}, now)
    assert refused.height == 2 + 8 * 2        # two single-point wells, 8 points in duplicate
    assert set(refused["granularity"]) == {"well"}
    assert all(r.startswith(f"design id {gone} does not exist") for r in refused["reason"])
    _, unknown = prepare_wells(runs, wells, maps.with_columns(
        pl.col("compound_id").replace({f"D-{TARGET}-R1-0004": "CAT-404"})), known, now)
    assert set(unknown["reason"]) == {"compound CAT-404 is not in any ingested library"}


def test_newest_round_only_and_no_designs(tmp_path, capsys):
    paths = _lake(tmp_path, rounds=2)
    assert main(["--home", str(paths.home), "generate", "--design-round"]) == 0
    assert (paths.landing_domain("plates") / f"DESIGN_{TARGET}_R2").is_dir()
    assert not (paths.landing_domain("plates") / f"DESIGN_{TARGET}_R1").exists()
    capsys.readouterr()

    empty = LakeConfig(tmp_path / "empty").paths.ensure()
    assert main(["--home", str(empty.home), "generate", "--design-round"]) != 0
    err = capsys.readouterr().err
    assert "no designs to make" in err and "orphanlake refresh" in err


def test_design_index_problem():
    index = DesignIndex({"D-X-R1-0001": "KEY-A"})
    assert index.problem("D-X-R1-0001", "KEY-A") is None
    assert "another structure" in index.problem("D-X-R1-0001", "KEY-B")
    assert "no published design" in index.problem("D-X-R1-0002", "KEY-A")
    assert index.problem("CHEMBL25", "KEY-B") is None


def test_demo_refreshes_makes_round_one_and_refreshes_again(tmp_path, monkeypatch, capsys):
    import orchestration.cli as cli

    paths = _lake(tmp_path)
    (paths.landing_domain("clinical") / "b1").mkdir(parents=True)
    (paths.landing_domain("clinical") / "b1" / "p.json").write_text("{}")   # not empty: no generate
    calls = []
    monkeypatch.setattr(cli, "run_refresh", lambda p, progress=None, full=False: calls.append(
        sorted(f.name for f in p.landing_domain("plates").glob("*"))) or True)
    assert main(["--home", str(paths.home), "demo", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert calls == [[], [f"DESIGN_{TARGET}_R1", f"DESIGN_{TARGET}_R1_DR"]]
    assert f"design round 1 of {TARGET}: 6 designs made and tested" in out
    assert out.count("lake:") == 1                     # one summary, after the last refresh

    calls.clear()                                      # a second demo: round 1 is made already
    assert main(["--home", str(paths.home), "demo", "--verbose"]) == 0
    assert len(calls) == 1 and "was made already" in capsys.readouterr().out
