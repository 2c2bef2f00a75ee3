"""Make and test a round of designs (``orphanlake generate --design-round``).

Reads the lake's newest published ``designed_compounds``, takes each target's newest
round's selected designs (the batch) and "makes and tests" them against the simulator's
hidden activity rule (orchestration/simulate/sar.py, seeded as the lake's screen was):

* ``landing/plates/DESIGN_<TARGET>_R<k>/``: a single-point run at 10 µM in duplicate
  plates (stage primary), the batch spread at random over each replicate's plates;
* ``landing/plates/DESIGN_<TARGET>_R<k>_DR/``: 8-point dose-response of the whole batch
  in duplicate rows (stage dose_response), as the screening generator confirms its hits;

both with the screening simulator's signal model (controls, log-normal noise, plate-order
drift, edge effects and gradients, per-replicate handling noise, outlier replicates,
assay interference of the designs that carry an interfering motif), plate maps naming the
design ids (the library ``orphanlake_designs``, ingest/designs.py). The truth goes to
``truth/design_<target>_r<k>/screening/`` (the run folder's name in lower case;
compound_activity.parquet with library
``orphanlake_designs``, plates.json) where truth_eval finds it. A round whose run folder
exists was made already and is left alone, so running it twice adds nothing.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import polars as pl

from orchestration.ingest.designs import DESIGN_LIBRARY, latest_designs
from orchestration.lake.safe_paths import safe_name
from orchestration.settings import LakePaths
from orchestration.simulate import plate_writer as pw
from orchestration.simulate import sar
from orchestration.simulate import screening as sc

N_REPLICATES = 2
NEEDED = ("design_id", "target_gene", "round", "smiles", "selected", "rank")


class _DesignRun(sc._Run):
    """A plate run whose plates are named after the run (DESIGN_GBA1_R1-P01), so a
    design round's plate ids never meet the screen's."""

    def plate_id(self, n: int) -> str:
        return f"{self.folder.name}-P{n:02d}"


def run_folder(target_gene: str, round_no: int) -> str:
    """DESIGN_<TARGET>_R<k> (a target name that is no plain symbol made file-safe)."""
    name = target_gene if re.fullmatch(r"[A-Za-z0-9._-]+", target_gene) else safe_name(target_gene)
    return f"DESIGN_{name}_R{round_no}"


def round_batches(designs: pl.DataFrame) -> dict[str, tuple[int, pl.DataFrame]]:
    """target → (newest round, that round's selected designs in rank order)."""
    missing = [c for c in NEEDED if c not in designs.columns]
    if missing:
        raise ValueError(f"the published designed_compounds lacks {', '.join(missing)}")
    out = {}
    for target in sorted(designs["target_gene"].drop_nulls().unique().to_list()):
        rows = designs.filter(pl.col("target_gene") == target)
        newest = int(rows["round"].max())
        batch = rows.filter((pl.col("round") == newest) & pl.col("selected")).sort("rank")
        if batch.height:
            out[target] = (newest, batch)
    return out


def _nature(batch: pl.DataFrame, seed: int) -> tuple[sc._Nature, list[tuple]]:
    """The designs' true response (target 4PL and interference) and truth rows."""
    pic50, curves, interf, rows = {}, {}, {}, []
    for did, smi in batch.select("design_id", "smiles").iter_rows():
        row, p, shape, info = sc.truth_row(DESIGN_LIBRARY, did, smi, seed)
        rows.append(row)
        pic50[did] = p
        if p is not None:
            curves[did] = shape
        if info is not None:
            interf[did] = info
    return sc._Nature(pic50, curves, interf), rows


def _single_point_run(run: _DesignRun, ids: np.ndarray, nature: sc._Nature, plate_format: int,
                      rng: np.random.Generator) -> None:
    """The batch at 10 µM, N_REPLICATES plates per compound (a fresh random order each
    replicate), with the screen's plate artefacts and drift."""
    slots = pw.sample_positions(plate_format)
    per_plate = len(slots)
    n_per_rep = -(-len(ids) // per_plate)
    n_plates = N_REPLICATES * n_per_rep
    drift_rates = (float(rng.uniform(*sc.DRIFT_NEG)), float(rng.uniform(*sc.DRIFT_POS)))
    for rep in range(N_REPLICATES):
        order = ids[rng.permutation(len(ids))]
        for k in range(n_per_rep):
            pno = rep * n_per_rep + k
            plate_id = run.plate_id(pno + 1)
            wells, roles, cids, concs, chunk, r, c = sc._single_point_plate(
                plate_format, slots, order[k * per_plate:(k + 1) * per_plate])
            effect = np.zeros(wells.shape)
            effect[roles == "pos_ctrl"] = 1.0
            effect[r, c], outliers = nature.replicate_effects(rng, chunk, sc.PRIMARY_CONC_UM,
                                                              "primary", wells[r, c])
            art = sc._draw_artefacts(rng, wells, roles == "sample", (0.08, 0.13), 0.35, (1, 3))
            art["drift"] = sc._drift(pno / max(1, n_plates - 1), drift_rates)
            art["outlier_replicates"] = outliers
            x = sc._signals(rng, effect, art, wells, sc.NOISE_CV,
                            np.isin(roles, ("sample", "blank")))
            run.long += pw.long_rows(plate_id, wells, x)
            run.add_map(plate_id, wells, cids, concs, roles)
            run.plates[plate_id] = {"replicate": rep + 1, "signal_file": "long", **art,
                                    "n_samples": int(len(chunk))}
    run.write()


def make_and_test(paths: LakePaths, target_gene: str, round_no: int, batch: pl.DataFrame,
                  source: str) -> dict:
    """Write one target's round: the two plate runs and the truth (see module doc)."""
    from orchestration.truth_eval import INERT_PIC50, simulated_screen

    screen = simulated_screen(paths, target_gene)
    if screen is None:
        raise ValueError(f"no simulated screen of {target_gene} in {paths.truth}: make-and-test "
                         "tests designs against the simulator's hidden rule, which only a lake "
                         "made by `orphanlake generate` has")
    seed = int(screen["seed"])
    plate_format = int((screen.get("layout") or {}).get("plate_format", 384))
    run_id = run_folder(target_gene, round_no)
    dr_id = f"{run_id}_DR"
    assay_id = f"{target_gene}_INH_{plate_format}"
    rng = np.random.default_rng([seed, 131, round_no, zlib.crc32(target_gene.encode())])
    nature, truth_rows = _nature(batch, seed)
    ids = np.array(batch["design_id"].to_list(), dtype=object)
    plate_dir = paths.landing_domain("plates")
    meta = {"assay_id": assay_id, "target_gene": target_gene, "readout": "inhibition",
            "plate_format": plate_format, "design_round": round_no}
    primary = _DesignRun(plate_dir / run_id, 0, {
        **meta, "stage": "primary",
        "description": f"{target_gene} design round {round_no}: the {len(ids)} selected designs "
                       f"made and tested at {sc.PRIMARY_CONC_UM:g} uM, {N_REPLICATES} "
                       "replicate plates"})
    _single_point_run(primary, ids, nature, plate_format, rng)
    dr = _DesignRun(plate_dir / dr_id, 0, {
        **meta, "stage": "dose_response",
        "description": f"{target_gene} design round {round_no}: 8-point 3-fold from 30 uM, "
                       "duplicates, every selected design"})
    placed = sc.dose_response_plates(dr, [str(c) for c in rng.permutation(ids)], nature,
                                     plate_format, rng, rng, True)
    dr.write()

    batch_id = run_id.lower()
    truth_dir = paths.truth / batch_id / "screening"
    truth_dir.mkdir(parents=True, exist_ok=True)
    truth = pl.DataFrame(truth_rows, schema=sc.TRUTH_SCHEMA, orient="row")
    truth.write_parquet(truth_dir / "compound_activity.parquet")
    (truth_dir / "plates.json").write_text(json.dumps({
        "batch_id": batch_id, "seed": seed, "target_gene": target_gene, "design_round": round_no,
        "designs_from": source, "active_pic50": sar.ACTIVE_PIC50,
        "layout": {"plate_format": plate_format}, "noise_cv": sc.NOISE_CV,
        "curves": dict(sorted(nature.curves.items())),
        "interference": dict(sorted(nature.interf.items())),
        "runs": {run_id: {"stage": "primary", "plates": primary.plates},
                 dr_id: {"stage": "dose_response", "plates": dr.plates,
                         "compounds": dict(sorted(placed.items()))}},
    }, indent=1, sort_keys=True) + "\n")
    true = truth["true_pic50"]
    return {"target_gene": target_gene, "round": round_no, "designs": len(ids),
            "runs": [run_id, dr_id], "plates": len(primary.plates) + len(dr.plates),
            "true_actives": int(truth["true_active"].sum()),
            "mean_true_pic50": round(float(true.fill_null(INERT_PIC50).mean()), 3),
            "best_true_pic50": None if true.drop_nulls().is_empty() else float(true.max()),
            "truth_dir": str(truth_dir)}


def generate_design_round(home: Path, rounds: set[int] | None = None) -> dict:
    """Make and test the newest round of every target with designs (only rounds in
    ``rounds`` when given); {target: summary} (a round already made: ``skipped``).
    ValueError when the lake has no published designs."""
    from orchestration.truth_eval import simulated_screen

    paths = LakePaths(Path(home))
    src, designs = latest_designs(paths)
    batches = round_batches(designs) if src is not None else {}
    if not batches:
        raise ValueError(f"no designs to make in {paths.home}: the newest publication has no "
                         "selected designed_compounds (run `orphanlake refresh` on a lake whose "
                         "screen has confirmed actives first)")
    out = {}
    for target, (round_no, batch) in batches.items():
        folder = paths.landing_domain("plates") / run_folder(target, round_no)
        if rounds is not None and round_no not in rounds:
            out[target] = {"round": round_no, "skipped": f"round {round_no} not asked for"}
        elif folder.exists():
            out[target] = {"round": round_no,
                           "skipped": f"round {round_no} was made already ({folder.name})"}
        elif simulated_screen(paths, target) is None:
            out[target] = {"round": round_no,
                           "skipped": f"no simulated screen of {target} here: its hidden rule "
                                      "is unknown, so its designs cannot be made and tested"}
        else:
            out[target] = make_and_test(paths, target, round_no, batch,
                                        src.relative_to(paths.home).as_posix())
    return out
