"""Simulate a screening campaign: compound libraries, primary, counter-screen and
dose-response plate runs.

Landing (what a lab would hand over) goes to landing/compounds/<library>/ and
landing/plates/<run_id>/; the hidden truth (true potencies, interferers, injected plate
artefacts, planted file defects) goes to truth/<batch_id>/screening/ only.

Signal model (raw fluorescence, inhibition assay): neg_ctrl ~ 10,000 RFU, pos_ctrl ~ 1,500;
a sample reads neg - (neg - pos) * effect. The effect combines the compound's true 4PL on
the target (continuous potencies from sar: most compounds inert, a weak tail, few potent)
with assay interference (PAINS-like and aggregator-like compounds read active whatever the
target): effect = 1 - (1 - target) * (1 - interference). Per replicate: extra effect noise
(compound handling), interference that varies between replicates, and occasional outlier
replicates (a missed dispense reads inactive, a precipitate reads active). Per plate:
multiplicative log-normal noise, control and sample levels drifting with plate order
(reagent decay: neutral level falls, inhibited level rises), and, when positional_bias is
on, edge evaporation (outer ring brighter), linear row/column gradients and a dispenser
fault (one column at 65 % volume reads low and mimics inhibition); one failed plate (the
inhibitor control does nothing, so controls overlap) in replicate 2, so its compounds keep
one good replicate; a few wild wells.

Runs: the primary screen (n_replicates plates per compound), a counter-screen on an
unrelated target (FLUC) of primary actives and a random sample (interferers read active
there too, true actives do not), and dose-response of the primary hits, a sample of weak
ones and a few quiet negatives.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from orchestration.settings import LakePaths
from orchestration.simulate.timing import StageTimer
from orchestration.simulate import compound_files as cf
from orchestration.simulate import plate_writer as pw
from orchestration.simulate import sar

NEG_LEVEL = 10_000.0
POS_LEVEL = 1_500.0
NOISE_CV = 0.06
DR_NOISE_CV = 0.05
PRIMARY_CONC_UM = 10.0
DR_CONCS_UM = tuple(30.0 / 3.0 ** k for k in range(8))
DISPENSER_FACTOR = 0.65
HIT_PICK_PERCENT = 50.0
WEAK_PICK_PERCENT = 20.0
N_DR_NEGATIVES = 8
N_DR_WEAK = 8
DR_MAX_PLATES = 11             # confirmation capacity: the strongest primary hits first
REPLICATE_SD = 0.04            # extra per-replicate effect noise (fraction of the window)
INTERFERENCE_REP_SD = 0.25     # log-sd of an interferer's effect between replicates
OUTLIER_P = 0.01               # share of sample wells with an outlier replicate
DRIFT_NEG = (0.08, 0.18)       # neutral level falls by this fraction from first to last plate
DRIFT_POS = (0.04, 0.12)       # inhibited level rises by this fraction
COUNTER_TARGET = "FLUC"
COUNTER_PICK_PERCENT = 30.0
N_COUNTER_PLATES = 2
_STREAMS = ("files", "analogs", "curves", "primary", "artefacts", "dr", "bad", "envision",
            "replicate", "counter")


def _streams(seed: int) -> dict[str, np.random.Generator]:
    return {name: np.random.default_rng([seed, 31, k]) for k, name in enumerate(_STREAMS)}


def _fraction(conc_um: float | np.ndarray, pic50: float | None, curve: dict | None) -> np.ndarray:
    """Fraction inhibited (0..1) at conc from the compound's 4PL on the target; inert
    compounds (no pIC50) do nothing."""
    conc = np.asarray(conc_um, dtype=float)
    if pic50 is None or curve is None:
        return np.zeros_like(conc)
    ic50_um = 10.0 ** (6.0 - pic50)
    pct = curve["bottom"] + (curve["top"] - curve["bottom"]) / (1.0 + (ic50_um / conc) ** curve["hill"])
    return pct / 100.0


def _interference(conc_um: float | np.ndarray, info: dict | None, key: str) -> np.ndarray:
    """Apparent fraction inhibited by assay interference at conc: a curve through
    info[key] % at the primary concentration with the interferer's Hill slope."""
    conc = np.asarray(conc_um, dtype=float)
    pct = info.get(key, 0.0) if info else 0.0
    if pct <= 0:
        return np.zeros_like(conc)
    f, h = pct / 100.0, info["hill"]
    ic50_um = PRIMARY_CONC_UM * ((1.0 - f) / f) ** (1.0 / h)
    return 1.0 / (1.0 + (ic50_um / conc) ** h)


def _draw_artefacts(rng: np.random.Generator, wells: np.ndarray,
                    sample_mask: np.ndarray, edge: tuple[float, float],
                    gradient_p: float, n_noisy: tuple[int, int],
                    positional_bias: bool = True) -> dict:
    """One plate's artefacts. The draws are the same with positional_bias off (so a seed
    places compounds identically); edge and gradient are then zeroed."""
    art: dict = {"edge": round(float(rng.uniform(*edge)), 4), "gradient": None,
                 "dispenser_fault": [], "failed": False, "noisy_wells": {},
                 "gain": round(float(rng.normal(1.0, 0.04)), 4)}
    if rng.random() < gradient_p:
        art["gradient"] = {"direction": str(rng.choice(["row", "column"])),
                           "amplitude": round(float(rng.uniform(0.10, 0.20)
                                                    * rng.choice([-1.0, 1.0])), 4)}
    k = int(rng.integers(*n_noisy)) if n_noisy[1] > n_noisy[0] else n_noisy[0]
    idx = rng.choice(np.flatnonzero(sample_mask.ravel()), size=k, replace=False)
    for i in np.sort(idx):
        factor = rng.uniform(0.35, 0.6) if rng.random() < 0.5 else rng.uniform(1.4, 1.8)
        art["noisy_wells"][str(wells.ravel()[i])] = round(float(factor), 3)
    if not positional_bias:
        art["edge"], art["gradient"] = 0.0, None
    return art


def _signals(rng: np.random.Generator, effect: np.ndarray, art: dict, wells: np.ndarray,
             cv: float, compound_wells: np.ndarray) -> np.ndarray:
    """Raw plate signal (rows x cols) from per-well effect fractions and the artefacts.

    The gradient models sequential compound transfer/incubation timing, so it acts on
    the compound area (compound_wells: sample and blank) and not on the control columns.
    Drift (plate order) moves the neutral and inhibited levels of the whole plate.
    """
    n_rows, n_cols = effect.shape
    drift = art.get("drift") or {}
    neg = NEG_LEVEL * art["gain"] * drift.get("neg_factor", 1.0)
    pos = POS_LEVEL * art["gain"] * drift.get("pos_factor", 1.0)
    if art["failed"]:
        # Detection reagent failed: nothing (not even the control inhibitor) lowers signal.
        effect = np.zeros_like(effect)
        cv = cv * 1.6
    x = neg - (neg - pos) * effect
    x = x * rng.lognormal(-0.5 * cv ** 2, cv, size=effect.shape)
    ring = np.zeros(effect.shape, dtype=bool)
    ring[[0, -1], :] = True
    ring[:, [0, -1]] = True
    x[ring] *= 1.0 + art["edge"]
    if art["gradient"]:
        g = art["gradient"]
        n = n_rows if g["direction"] == "row" else n_cols
        ramp = 1.0 + g["amplitude"] * np.linspace(-1.0, 1.0, n)
        factor = np.broadcast_to(ramp[:, None] if g["direction"] == "row" else ramp[None, :],
                                 x.shape)
        x[compound_wells] *= factor[compound_wells]
    if art["dispenser_fault"]:
        x[np.isin(wells, art["dispenser_fault"])] *= DISPENSER_FACTOR
    for w, f in art["noisy_wells"].items():
        x[wells == w] *= f
    return x


def _percent_inhibition(x: np.ndarray, roles: np.ndarray) -> tuple[np.ndarray, float]:
    """Lab-side normalisation of one plate: % inhibition and robust Z' from its controls."""
    neg, pos = x[roles == "neg_ctrl"], x[roles == "pos_ctrl"]
    mad = lambda v: 1.4826 * np.median(np.abs(v - np.median(v)))  # noqa: E731
    spread = abs(np.median(neg) - np.median(pos))
    z = 1.0 - 3.0 * (mad(neg) + mad(pos)) / spread if spread > 0 else -np.inf
    return 100.0 * (neg.mean() - x) / (neg.mean() - pos.mean()), float(z)


def _drift(t: float, rates: tuple[float, float]) -> dict:
    """Plate-order drift factors at t in [0, 1] (first to last plate of the run)."""
    return {"neg_factor": round(1.0 - rates[0] * t, 4), "pos_factor": round(1.0 + rates[1] * t, 4)}


class _Run:
    """Accumulates one run's plate map, signal rows/blocks and truth."""

    def __init__(self, folder: Path, run_no: int, meta: dict):
        self.folder, self.run_no, self.meta = folder, run_no, meta
        self.map_rows: list[tuple] = []
        self.long: list[list[str]] = []
        self.blocks: list[str] = []
        self.plates: dict[str, dict] = {}

    def plate_id(self, n: int) -> str:
        return f"P{self.run_no:03d}-{n:03d}"

    def add_map(self, plate_id: str, wells: np.ndarray, cids: np.ndarray, concs: np.ndarray,
                roles: np.ndarray) -> None:
        for w, c, k, r in zip(wells.ravel(), cids.ravel(), concs.ravel(), roles.ravel()):
            self.map_rows.append((plate_id, w, c, None if np.isnan(k) else float(k), r))

    def write(self) -> None:
        pw.write_run_json(self.folder, self.meta)
        pw.write_plate_map(self.folder / "plate_map.csv", self.map_rows)
        if self.long:
            pw.write_long(self.folder / "signals_long.csv", self.long)
        if self.blocks:
            pw.write_envision(self.folder / "envision_export.csv", self.blocks)


def _plate_arrays(plate_format: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    wells = pw.well_ids(plate_format)
    roles = pw.control_roles(plate_format)
    cids = np.full(wells.shape, None, dtype=object)
    concs = np.full(wells.shape, np.nan)
    return wells, roles, cids, concs


class _Nature:
    """True response of every screened compound: target 4PL and assay interference."""

    def __init__(self, pic50: dict, curves: dict, interf: dict):
        self.pic50, self.curves, self.interf = pic50, curves, interf

    def target(self, cid: str, conc) -> np.ndarray:
        return _fraction(conc, self.pic50.get(cid), self.curves.get(cid))

    def artefact(self, cid: str, conc, assay: str) -> np.ndarray:
        return _interference(conc, self.interf.get(cid), f"{assay}_pct")

    def effect(self, cid: str, conc, assay: str = "primary") -> np.ndarray:
        """Expected fraction inhibited: target (only in the target assay) and interference."""
        t = self.target(cid, conc) if assay == "primary" else np.zeros_like(np.asarray(conc, float))
        return 1.0 - (1.0 - t) * (1.0 - self.artefact(cid, conc, assay))

    def replicate_effects(self, rng: np.random.Generator, chunk, conc: float, assay: str,
                          wells: np.ndarray) -> tuple[np.ndarray, dict]:
        """Per-well effect of one replicate: handling noise, interference that varies
        between replicates and occasional outlier replicates ({well: kind})."""
        n = len(chunk)
        t = np.array([float(self.target(c, conc)) for c in chunk]) if assay == "primary" \
            else np.zeros(n)
        a = np.array([float(self.artefact(c, conc, assay)) for c in chunk])
        a = np.clip(a * rng.lognormal(0.0, INTERFERENCE_REP_SD, n), 0.0, 0.98)
        e = 1.0 - (1.0 - t) * (1.0 - a) + rng.normal(0.0, REPLICATE_SD, n)
        outliers = {}
        for i in np.flatnonzero(rng.random(n) < OUTLIER_P):
            if rng.random() < 0.5:
                e[i], kind = rng.normal(0.0, REPLICATE_SD), "missed_dispense"
            else:
                e[i], kind = e[i] + rng.uniform(0.3, 0.6), "precipitate"
            outliers[str(wells[i])] = kind
        return e, outliers


def _single_point_plate(plate_format: int, slots: np.ndarray, chunk: np.ndarray):
    """One single-point plate: ``chunk``'s compounds in the sample slots at the primary
    concentration, the slots left over as DMSO-only blanks. Returns the plate arrays, the
    chunk and the row/column indices of its compounds."""
    wells, roles, cids, concs = _plate_arrays(plate_format)
    r, c = slots[:len(chunk), 0], slots[:len(chunk), 1]
    cids[r, c] = chunk
    concs[r, c] = PRIMARY_CONC_UM
    unused = slots[len(chunk):]
    roles[unused[:, 0], unused[:, 1]] = "blank"   # DMSO-only filler wells
    return wells, roles, cids, concs, chunk, r, c


TRUTH_SCHEMA = {
    "library": pl.String, "compound_id": pl.String, "smiles": pl.String,
    "true_pic50": pl.Float64, "true_active": pl.Boolean, "true_effect_pct": pl.Float64,
    "apparent_effect_pct": pl.Float64, "is_interferer": pl.Boolean,
    "is_frequent_hitter": pl.Boolean, "interference_mechanism": pl.String,
    "cliff_feature": pl.String}


def truth_row(lib: str, cid: str, smi: str, seed: int) -> tuple[tuple, float | None, dict, dict | None]:
    """(a compound_activity.parquet row in TRUTH_SCHEMA's order, true pIC50 or None, 4PL
    shape, interference or None) of one compound under the hidden rule ``seed``."""
    p = sar.pic50_from_raw(sar.raw_pic50_smiles(smi, seed))
    shape = sar.curve_shape(smi, seed)
    info = sar.interference(smi, seed)
    cliffs = sar.cliff_features_smiles(smi)
    true_eff = float(_fraction(PRIMARY_CONC_UM, p, shape)) * 100.0
    apparent = 100.0 * (1.0 - (1.0 - true_eff / 100.0)
                        * (1.0 - float(_interference(PRIMARY_CONC_UM, info, "primary_pct"))))
    row = (lib, cid, smi, p, p is not None and p >= sar.ACTIVE_PIC50, round(true_eff, 3),
           round(apparent, 3), info is not None, bool(info and info["counter_pct"] > 0),
           info["mechanism"] if info else None, ",".join(cliffs) or None)
    return row, p, shape, info


def dr_slots_per_plate(plate_format: int) -> int:
    """Compounds per dose-response plate: 8-point rows in duplicate (two plate rows)."""
    n_rows, n_cols = pw.FORMATS[plate_format]
    return (n_rows // 2) * ((n_cols - 4) // len(DR_CONCS_UM))


def dose_response_plates(run: "_Run", cids: list[str], nature: "_Nature", plate_format: int,
                         noise_rng: np.random.Generator, art_rng: np.random.Generator,
                         positional_bias: bool) -> dict[str, str]:
    """Add ``cids``' dose-response plates to ``run`` (8 concentrations 3-fold from 30 µM in
    duplicate rows, the unused blocks blank, mild artefacts, long signal files); returns
    compound → plate id."""
    n_rows, n_cols = pw.FORMATS[plate_format]
    seg = len(DR_CONCS_UM)
    n_seg = (n_cols - 4) // seg
    slots_per_plate = dr_slots_per_plate(plate_format)
    placed: dict[str, str] = {}
    for k in range(-(-len(cids) // slots_per_plate) if cids else 0):
        plate_id = run.plate_id(k + 1)
        wells, roles, plate_cids, concs = _plate_arrays(plate_format)
        roles[:, 2 + n_seg * seg:n_cols - 2] = "blank"
        effect = np.zeros(wells.shape)
        effect[roles == "pos_ctrl"] = 1.0
        chunk = cids[k * slots_per_plate:(k + 1) * slots_per_plate]
        for s in range(slots_per_plate):
            r0, c0 = 2 * (s // n_seg), 2 + seg * (s % n_seg)
            block = (slice(r0, r0 + 2), slice(c0, c0 + seg))
            if s >= len(chunk):
                roles[block] = "blank"
                continue
            cid = chunk[s]
            plate_cids[block] = cid
            concs[block] = np.array(DR_CONCS_UM)[None, :]
            effect[block] = nature.effect(cid, np.array(DR_CONCS_UM))[None, :] \
                + noise_rng.normal(0.0, REPLICATE_SD / 2, (2, seg))
            placed[cid] = plate_id
        art = _draw_artefacts(art_rng, wells, roles == "sample", (0.03, 0.06), 0.0, (0, 0),
                              positional_bias)
        x = _signals(art_rng, effect, art, wells, DR_NOISE_CV, np.isin(roles, ("sample", "blank")))
        run.long += pw.long_rows(plate_id, wells, x)
        run.add_map(plate_id, wells, plate_cids, concs, roles)
        run.plates[plate_id] = {"replicate": 1, "signal_file": "long", **art}
    return placed


def generate_screening(home: Path, seed: int = 7, batch_id: str = "screen_001",
                       target_gene: str = "GBA1", with_bad_files: bool = True,
                       n_replicates: int = 2, plate_format: int = 384,
                       positional_bias: bool = True, counter_screen: bool = True) -> dict:
    """Write compound libraries, plate runs and their hidden truth under home.

    positional_bias off: no edge, gradient or dispenser artefacts (same compound placement
    and the same other draws as with it on). counter_screen off: no FLUC counter run.
    Same arguments give byte-identical files. Returns counts, run ids and hit picks.
    """
    if plate_format not in pw.FORMATS:
        raise ValueError(f"plate_format must be one of {sorted(pw.FORMATS)}, got {plate_format}")
    if n_replicates < 1:
        raise ValueError(f"n_replicates must be >= 1, got {n_replicates}")
    timer = StageTimer()
    paths = LakePaths(Path(home))
    comp_dir = paths.landing_domain("compounds")
    plate_dir = paths.landing_domain("plates")
    truth_dir = paths.truth / batch_id / "screening"
    truth_dir.mkdir(parents=True, exist_ok=True)
    rng = _streams(seed)
    defects: list[dict] = []
    lap = timer.lap

    # --- compound libraries --------------------------------------------------------
    drugs_all = cf.load_approved()
    approved = cf.write_approved(comp_dir / "chembl_approved", drugs_all, rng["files"])
    drugs = approved["records"]
    sol, sol_defects = cf.write_solubility_csv(comp_dir / "solubility_set" / "huuskonen.csv",
                                               cf.load_solubility())
    defects += sol_defects
    analogs, analog_parent = cf.make_analogs(drugs, rng["analogs"], seed)
    cf.write_smi(comp_dir / "vendor_analogs" / "analogs.smi", analogs)
    libraries = {"chembl_approved": drugs, "solubility_set": sol, "vendor_analogs": analogs}
    if with_bad_files:
        pick = rng["files"].choice(len(drugs), size=20, replace=False)
        good = [(f"VB-{k:04d}", drugs[i][1], drugs[i][2]) for k, i in enumerate(pick, start=1)]
        broken_good, broken_defects = cf.write_broken(comp_dir / "vendor_broken", good)
        libraries["vendor_broken"] = broken_good
        defects += broken_defects

    lap("compound_files")
    truth_rows = []
    pic50: dict[str, float | None] = {}
    curves: dict[str, dict] = {}
    interf: dict[str, dict] = {}
    for lib, recs in libraries.items():
        for cid, _, smi in recs:
            row, p, shape, info = truth_row(lib, cid, smi, seed)
            truth_rows.append(row)
            if lib == "chembl_approved":
                pic50[cid] = p
                if p is not None:
                    curves[cid] = shape
                if info is not None:
                    interf[cid] = info
    nature = _Nature(pic50, curves, interf)

    def active(cid: str) -> bool:
        return pic50.get(cid) is not None and pic50[cid] >= sar.ACTIVE_PIC50

    lap("true_activity")
    # --- primary screen --------------------------------------------------------------
    ids = np.array([r[0] for r in drugs], dtype=object)
    n_rows, n_cols = pw.FORMATS[plate_format]
    slots = pw.sample_positions(plate_format)
    per_plate = len(slots)
    n_per_rep = -(-len(ids) // per_plate)
    run_id = f"PRIMARY_{target_gene}_001"
    assay_id = f"{target_gene}_INH_{plate_format}"
    primary = _Run(plate_dir / run_id, 1, {
        "assay_id": assay_id, "target_gene": target_gene, "readout": "inhibition",
        "stage": "primary", "plate_format": plate_format,
        "description": f"{target_gene} inhibition primary screen, single point "
                       f"{PRIMARY_CONC_UM:g} uM, {n_replicates} replicate plates"})
    n_plates = n_replicates * n_per_rep
    ra, rr = rng["artefacts"], rng["replicate"]
    dispenser_plate = int(ra.integers(0, max(1, n_per_rep - 1)))
    failed_plate = (n_per_rep + int(ra.integers(0, max(1, n_per_rep - 1)))
                    if n_replicates > 1 else (dispenser_plate + 1) % max(2, n_plates))
    sample_cols = np.unique(slots[:, 1])
    fault_col = int(ra.choice(sample_cols[1:-1]))
    drift_rates = (float(rr.uniform(*DRIFT_NEG)), float(rr.uniform(*DRIFT_POS)))
    per_compound: dict[str, list[float]] = {c: [] for c in ids}
    placed: dict[str, list[str]] = {c: [] for c in ids}
    for rep in range(n_replicates):
        order = ids[rng["primary"].permutation(len(ids))]
        for k in range(n_per_rep):
            pno = rep * n_per_rep + k
            plate_id = primary.plate_id(pno + 1)
            wells, roles, cids, concs, chunk, r, c = _single_point_plate(
                plate_format, slots, order[k * per_plate:(k + 1) * per_plate])
            effect = np.zeros(wells.shape)
            effect[roles == "pos_ctrl"] = 1.0
            effect[r, c], outliers = nature.replicate_effects(rr, chunk, PRIMARY_CONC_UM,
                                                              "primary", wells[r, c])
            art = _draw_artefacts(ra, wells, roles == "sample", (0.08, 0.13),
                                  0.35, (2, 6), positional_bias)
            if pno == dispenser_plate and positional_bias:
                art["dispenser_fault"] = [str(w) for w in wells[:, fault_col]]
            art["failed"] = pno == failed_plate
            art["drift"] = _drift(pno / max(1, n_plates - 1), drift_rates)
            art["outlier_replicates"] = outliers
            x = _signals(ra, effect, art, wells, NOISE_CV, np.isin(roles, ("sample", "blank")))
            fmt = "long" if pno % 2 == 0 else "envision"
            if fmt == "long":
                primary.long += pw.long_rows(plate_id, wells, x)
            else:
                primary.blocks.append(pw.envision_block(plate_id, x, pno + 1, rng["envision"]))
            primary.add_map(plate_id, wells, cids, concs, roles)
            pinh, zp = _percent_inhibition(x, roles)
            for cid in chunk:
                placed[cid].append(plate_id)
            if zp >= 0.5:
                for cid, v in zip(chunk, pinh[r, c]):
                    per_compound[cid].append(float(v))
            primary.plates[plate_id] = {"replicate": rep + 1, "signal_file": fmt, **art,
                                        "lab_z_prime_robust": round(zp, 3),
                                        "n_samples": int(len(chunk))}
    primary.write()
    failed_ids = {p for p, i in primary.plates.items() if i["failed"]}
    split = sorted(c for c, ps in placed.items()
                   if any(p in failed_ids for p in ps) and any(p not in failed_ids for p in ps))
    mean_inh = {c: float(np.mean(v)) for c, v in per_compound.items() if v}
    picks = sorted(c for c, v in mean_inh.items() if v >= HIT_PICK_PERCENT)
    weak_pool = sorted(c for c, v in mean_inh.items() if WEAK_PICK_PERCENT <= v < HIT_PICK_PERCENT)
    weak_picks = sorted(rng["dr"].choice(weak_pool, size=min(N_DR_WEAK, len(weak_pool)),
                                         replace=False).tolist()) if weak_pool else []
    quiet = sorted(c for c, v in mean_inh.items() if v < WEAK_PICK_PERCENT)
    negatives = sorted(rng["dr"].choice(quiet, size=min(N_DR_NEGATIVES, len(quiet)),
                                        replace=False).tolist())
    runs = {run_id: {"stage": "primary", "assay_id": assay_id, "plates": primary.plates,
                     "true_actives": sorted(c for c in ids if active(c)),
                     "interferers": sorted(c for c in ids if c in interf),
                     "one_replicate_on_failed_plate": split,
                     "drift_rates": {"neg": round(drift_rates[0], 4), "pos": round(drift_rates[1], 4)},
                     "dispenser_factor": DISPENSER_FACTOR, "noise_cv": NOISE_CV,
                     "replicate_sd": REPLICATE_SD, "outlier_p": OUTLIER_P}}

    # --- counter-screen on an unrelated target ---------------------------------------------
    counter_target = COUNTER_TARGET if target_gene != COUNTER_TARGET else "RLUC"
    counter_id = None
    if counter_screen:
        counter_id, runs[f"COUNTER_{target_gene}_001"] = _counter_run(
            plate_dir, target_gene, counter_target, plate_format, ids, mean_inh, nature,
            rng["counter"], rng["envision"], positional_bias, drift_rates)

    # --- dose response ------------------------------------------------------------------
    dr_id = f"DR_{target_gene}_001"
    dr = _Run(plate_dir / dr_id, 2, {
        "assay_id": assay_id, "target_gene": target_gene, "readout": "inhibition",
        "stage": "dose_response", "plate_format": plate_format,
        "description": f"{target_gene} inhibition confirmation, 8-point 3-fold from 30 uM, "
                       "duplicates"})
    room = max(0, DR_MAX_PLATES * dr_slots_per_plate(plate_format) - len(weak_picks)
               - len(negatives))
    dr_hits = sorted(sorted(picks, key=lambda c: (-mean_inh[c], c))[:room])
    role_of = {**{c: "primary_hit" for c in dr_hits}, **{c: "weak_sample" for c in weak_picks},
               **{c: "negative_control" for c in negatives}}
    dr_cids = [str(c) for c in rng["dr"].permutation(np.array(dr_hits + weak_picks + negatives,
                                                              dtype=object))]
    placed_dr = dose_response_plates(dr, dr_cids, nature, plate_format, rng["dr"], ra,
                                     positional_bias)
    dr_truth = {cid: {"true_pic50": pic50[cid], **(curves.get(cid) or {}),
                      "picked_as": role_of[cid], "interference": interf.get(cid),
                      "primary_mean_inhibition": round(mean_inh[cid], 2), "plate_id": plate_id}
                for cid, plate_id in placed_dr.items()}
    dr.write()
    runs[dr_id] = {"stage": "dose_response", "assay_id": assay_id, "plates": dr.plates,
                   "true_actives": sorted(c for c in dr_cids if active(c)),
                   "compounds": dict(sorted(dr_truth.items())),
                   "concentrations_um": list(DR_CONCS_UM), "noise_cv": DR_NOISE_CV}

    # --- a run with broken plates --------------------------------------------------------
    if with_bad_files:
        bad_id = f"PRIMARY_{target_gene}_bad"
        bad, bad_truth = _bad_run(plate_dir / bad_id, bad_id, assay_id, target_gene,
                                  plate_format, ids, nature, active, rng["bad"], rng["envision"])
        runs[bad_id] = bad_truth
        defects += bad

    lap("plates")
    # --- truth ----------------------------------------------------------------------------
    truth = pl.DataFrame(truth_rows, schema=TRUTH_SCHEMA, orient="row")
    truth.write_parquet(truth_dir / "compound_activity.parquet")
    plates_truth = {
        "batch_id": batch_id, "seed": seed, "target_gene": target_gene,
        "active_pic50": sar.ACTIVE_PIC50, "positional_bias": positional_bias,
        "counter_screen": {"run_id": counter_id, "target_gene": counter_target} if counter_id else None,
        "layout": {"plate_format": plate_format, "neg_ctrl_columns": [1, n_cols - 1],
                   "pos_ctrl_columns": [2, n_cols], "primary_fill": "column-major over cols 3..N-2",
                   "blank": "DMSO-only filler well, reads like neg_ctrl"},
        "signal_model": {"neg_level": NEG_LEVEL, "pos_level": POS_LEVEL,
                         "effect": "1-(1-target)*(1-interference): target = fraction inhibited "
                                   "from the compound's 4PL at the well's concentration (0 for "
                                   "inert compounds; only in the target assay); interference = "
                                   "apparent curve through the interferer's primary_pct/counter_pct "
                                   "at 10 uM; per replicate +N(0, replicate_sd), interference x "
                                   f"lognormal(0, {INTERFERENCE_REP_SD}), outlier_replicates",
                         "artefacts": "drift: neg level x neg_factor, pos level x pos_factor "
                                      "(linear in plate order); edge: outer ring x(1+edge); "
                                      "gradient: compound wells x(1+amp*linspace(-1,1)) along rows "
                                      "(direction row) or columns; dispenser_fault wells x0.65; "
                                      "failed: controls and samples at neg level; noisy_wells x factor; "
                                      "outlier_replicates: missed_dispense reads ~0 effect, "
                                      "precipitate +0.3..0.6"},
        "curves": dict(sorted(curves.items())),
        "interference": dict(sorted(interf.items())),
        "analog_parents": analog_parent,
        "primary_hit_picks": picks, "dr_hit_picks": dr_hits, "dr_weak_picks": weak_picks,
        "dr_negatives": negatives,
        "runs": runs, "defects": defects,
    }
    (truth_dir / "plates.json").write_text(json.dumps(plates_truth, indent=1, sort_keys=True) + "\n")
    lap("truth")

    n_act = {lib: sum(1 for row in truth_rows if row[0] == lib and row[4]) for lib in libraries}
    n_weak = sum(1 for row in truth_rows if row[0] == "chembl_approved" and row[3] is not None
                 and not row[4])
    return {
        "batch_id": batch_id, "seed": seed, "target_gene": target_gene,
        "compounds_dir": str(comp_dir), "plates_dir": str(plate_dir), "truth_dir": str(truth_dir),
        "libraries": {lib: len(recs) for lib, recs in libraries.items()},
        "approved_v2000": approved["n_v2000"], "approved_v3000": approved["n_v3000"],
        "skipped_smiles": approved["skipped"],
        "true_actives_by_library": n_act,
        "n_true_actives": n_act["chembl_approved"],
        "n_weak": n_weak, "n_interferers": len(interf),
        "counter_screen_run": counter_id,
        "runs": {rid: len(r["plates"]) for rid, r in runs.items()},
        "n_plates": sum(len(r["plates"]) for r in runs.values()),
        "primary_hit_picks": picks, "n_primary_hit_picks": len(picks),
        "n_true_positive_picks": sum(active(c) for c in picks),
        "dr_compounds": len(dr_cids),
        "defects": [f"{d['defect']}: {d['file']} {d['locator']}" for d in defects],
        "seconds": timer.seconds,
        "stage_seconds": timer.stages,
    }


def _counter_run(plate_dir: Path, target_gene: str, counter_target: str, plate_format: int,
                 ids: np.ndarray, mean_inh: dict, nature: _Nature, rng: np.random.Generator,
                 env_rng: np.random.Generator, positional_bias: bool,
                 drift_rates: tuple[float, float]) -> tuple[str, dict]:
    """Counter-screen: the primary actives (lab-side mean >= COUNTER_PICK_PERCENT) and a
    random sample of the rest, once each, against an unrelated target with the same
    readout. Interferers read active here too; true actives of the target do not."""
    run_id = f"COUNTER_{target_gene}_001"
    slots = pw.sample_positions(plate_format)
    per_plate = len(slots)
    capacity = N_COUNTER_PLATES * per_plate
    ranked = sorted(mean_inh.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [c for c, v in ranked if v >= COUNTER_PICK_PERCENT][:capacity]
    rest = sorted(set(ids.tolist()) - set(chosen))
    fill = rng.choice(rest, size=min(capacity - len(chosen), len(rest)), replace=False).tolist()
    order = np.array(chosen + fill, dtype=object)[rng.permutation(len(chosen) + len(fill))]
    run = _Run(plate_dir / run_id, 4, {
        "assay_id": f"{counter_target}_INH_{plate_format}", "target_gene": counter_target,
        "readout": "inhibition", "stage": "primary", "plate_format": plate_format,
        "counter_screen_for": target_gene,
        "description": f"counter-screen of the {target_gene} primary actives and a random "
                       f"sample against {counter_target} (unrelated target, same readout), "
                       f"single point {PRIMARY_CONC_UM:g} uM, one replicate"})
    n_plates = -(-len(order) // per_plate)
    for k in range(n_plates):
        plate_id = run.plate_id(k + 1)
        wells, roles, cids, concs, chunk, r, c = _single_point_plate(
            plate_format, slots, order[k * per_plate:(k + 1) * per_plate])
        effect = np.zeros(wells.shape)
        effect[roles == "pos_ctrl"] = 1.0
        effect[r, c], outliers = nature.replicate_effects(rng, chunk, PRIMARY_CONC_UM,
                                                          "counter", wells[r, c])
        art = _draw_artefacts(rng, wells, roles == "sample", (0.08, 0.13), 0.35, (1, 4),
                              positional_bias)
        art["drift"] = _drift(k / max(1, n_plates - 1), (drift_rates[0] / 3, drift_rates[1] / 3))
        art["outlier_replicates"] = outliers
        x = _signals(rng, effect, art, wells, NOISE_CV, np.isin(roles, ("sample", "blank")))
        fmt = "long" if k % 2 == 0 else "envision"
        if fmt == "long":
            run.long += pw.long_rows(plate_id, wells, x)
        else:
            run.blocks.append(pw.envision_block(plate_id, x, k + 1, env_rng))
        run.add_map(plate_id, wells, cids, concs, roles)
        run.plates[plate_id] = {"replicate": 1, "signal_file": fmt, **art,
                                "n_samples": int(len(chunk))}
    run.write()
    screened = set(order.tolist())
    return run_id, {"stage": "primary", "assay_id": run.meta["assay_id"],
                    "target_gene": counter_target, "counter_screen_for": target_gene,
                    "plates": run.plates, "true_actives": [],
                    "picked_as_primary_active": sorted(chosen),
                    "interferers": sorted(c for c in screened if c in nature.interf),
                    "frequent_hitters": sorted(c for c in screened if c in nature.interf
                                               and nature.interf[c]["counter_pct"] > 0)}


def _bad_run(folder: Path, run_id: str, assay_id: str, target_gene: str, plate_format: int,
             ids: np.ndarray, nature: "_Nature", active, rng: np.random.Generator,
             env_rng: np.random.Generator) -> tuple[list[dict], dict]:
    """Five plates, each carrying one kind of defect, in both signal shapes."""
    run = _Run(folder, 3, {"assay_id": assay_id, "target_gene": target_gene,
                           "readout": "inhibition", "stage": "primary",
                           "plate_format": plate_format,
                           "description": f"{target_gene} primary screen, rerun plates"})
    slots = pw.sample_positions(plate_format)
    defects: list[dict] = []
    rel_long = f"plates/{run_id}/signals_long.csv"
    rel_env = f"plates/{run_id}/envision_export.csv"
    rel_map = f"plates/{run_id}/plate_map.csv"
    screened = set()

    def defect(file: str, kind: str, gran: str, plate: str, well: str | None = None,
               detail: str = "") -> None:
        loc = f"plate {plate}" + (f" well {well}" if well else "")
        defects.append({"file": file, "defect": kind, "granularity": gran, "locator": loc,
                        "detail": detail})

    for n, kind in enumerate(("bad_wells", "many_missing", "wrong_dimensions", "no_controls",
                              "unknown_compounds"), start=1):
        plate_id = run.plate_id(n)
        wells, roles, cids, concs = _plate_arrays(plate_format)
        if kind == "no_controls":
            roles[:] = "sample"
            pos = np.argwhere(roles == "sample")
        else:
            pos = slots
        chunk = ids[rng.choice(len(ids), size=len(pos), replace=False)]
        cids[pos[:, 0], pos[:, 1]] = chunk
        concs[pos[:, 0], pos[:, 1]] = PRIMARY_CONC_UM
        if kind == "unknown_compounds":
            for j, i in enumerate(sorted(rng.choice(len(pos), size=4, replace=False))):
                cids[pos[i, 0], pos[i, 1]] = f"UNKNOWN-{123 + j}"
                defect(rel_map, "unknown_compound_id", "well", plate_id,
                       str(wells[pos[i, 0], pos[i, 1]]), f"UNKNOWN-{123 + j} is in no library")
        screened.update(c for c in cids.ravel() if c and not str(c).startswith("UNKNOWN"))
        effect = np.zeros(wells.shape)
        effect[roles == "pos_ctrl"] = 1.0
        effect[pos[:, 0], pos[:, 1]] = [
            float(nature.effect(c, PRIMARY_CONC_UM)) for c in cids[pos[:, 0], pos[:, 1]]]
        art = _draw_artefacts(rng, wells, roles == "sample", (0.08, 0.13), 0.0, (0, 0))
        x = _signals(rng, effect, art, wells, NOISE_CV, np.isin(roles, ("sample", "blank")))
        run.add_map(plate_id, wells, cids, concs, roles)
        flat_w, flat_x = wells.ravel(), x.ravel().astype(object)
        if kind == "bad_wells":
            sample_idx = np.flatnonzero((roles == "sample").ravel())
            chosen = rng.choice(sample_idx, size=10, replace=False)
            missing, dup, nonnum = chosen[:5], chosen[5:7], chosen[7:]
            for i in sorted(missing):
                defect(rel_long, "missing_well", "well", plate_id, str(flat_w[i]),
                       "well absent from the export")
            for i in sorted(dup):
                defect(rel_long, "duplicate_well", "well", plate_id, str(flat_w[i]),
                       "well listed twice with different signals")
            for i, token in zip(sorted(nonnum), ("NaN", "#N/A", "OVRFLW")):
                flat_x[i] = token
                defect(rel_long, "non_numeric_signal", "well", plate_id, str(flat_w[i]),
                       f"signal {token!r}")
            keep = np.setdiff1d(np.arange(flat_w.size), missing)
            rows = pw.long_rows(plate_id, flat_w[keep], flat_x[keep])
            rows += pw.long_rows(plate_id, flat_w[np.sort(dup)],
                                 (x.ravel()[np.sort(dup)] * 1.03).astype(object))
            run.long += rows
        elif kind == "many_missing":
            n_drop = max(60, -(-flat_w.size * 3 // 20))   # >10% on every plate format
            drop = rng.choice(flat_w.size, size=n_drop, replace=False)
            keep = np.setdiff1d(np.arange(flat_w.size), drop)
            run.long += pw.long_rows(plate_id, flat_w[keep], flat_x[keep])
            defect(rel_long, "too_many_missing_wells", "plate", plate_id,
                   detail=f"{n_drop} of {flat_w.size} wells absent (>10%)")
        elif kind == "wrong_dimensions":
            run.blocks.append(pw.envision_block(plate_id, x[:, :-1], n, env_rng, zero_pad=False))
            defect(rel_env, "wrong_matrix_dimensions", "plate", plate_id,
                   detail=f"{x.shape[0]}x{x.shape[1] - 1} matrix is no plate format")
        elif kind == "no_controls":
            run.blocks.append(pw.envision_block(plate_id, x, n, env_rng, zero_pad=False))
            defect(rel_map, "no_controls", "plate", plate_id,
                   detail="plate map has only sample wells; cannot normalise")
        else:
            run.long += pw.long_rows(plate_id, flat_w, x.ravel())
        run.plates[plate_id] = {"replicate": 1, "defect": kind,
                                "signal_file": "envision" if kind in ("wrong_dimensions",
                                                                      "no_controls") else "long",
                                **art}
    run.write()
    return defects, {"stage": "primary", "assay_id": assay_id, "plates": run.plates,
                     "true_actives": sorted(c for c in screened if active(c))}
