"""Molecule design against the simulator's hidden activity rule: two design rounds over
several generator seeds, our pipeline against plain mol-ga Graph GA at the same oracle
budget, GuacaMol MPO tasks re-implemented with RDKit, and designs per second.

    python bench/bench_design.py [--seeds 1 2 3] [--workdir DIR] [--from-lakes DIR]
                                 [--parts loop h2h guacamol] [--budget N] [--max-seconds S]
    python bench/bench_design.py --parts pipeline --seeds 1 [--from-lakes DIR]

Parts (each writes its block of bench/results/design.json; parts not run keep theirs):

- loop (the issue's Done-when, core API): per seed, a refreshed screening lake of GBA1
  (``generate_screening(home, seed=s)`` + the real ``orphanlake refresh``, or a copy of
  one under --from-lakes); the lake's activity model scores round 1: ``propose`` from the
  n_parents best tested compounds (measured pIC50) with the model's predicted pIC50 as
  the GA's objective, ``score_designs``, ``select_batch``. The selected batch is "made and
  tested" with the hidden rule (``truth_eval.design_truth``: sar.py seeded as the
  screen was) plus Gaussian assay noise (ASSAY_SD log units), labelled like a
  dose-response curve (below the top concentration's floor, or inert: censored at the
  floor). The activity model is retrained on the lake's labels + the batch
  (``train_activity``, families from --families; XGBoost only by default, for time) and
  round 2 starts from the new best tested compounds. Reported: mean true pIC50 (inert =
  truth_eval.INERT_PIC50) of each round's top 10 by rank among designs passing the gate
  (GATE: QED, SA, MW; no PAINS/Brenk alert) and in the model's domain, against the true
  pIC50 of the best tested parent (best measured) and of the best parent by truth.
- h2h: the same seeds and round-1 models: our propose+score+select against
  ``mol_ga.default_ga`` (README settings: offspring 100, population cap 10,000) started from
  the same parents, its objective the same model's predicted pIC50, with generations cut so
  it evaluates at most the same oracle budget. Each method's top 10 passing the gate and in
  domain (ours by rank, mol-ga by its objective): mean predicted pIC50 and mean true pIC50;
  designs per second.
- guacamol: Osimertinib, Fexofenadine and Ranolazine MPO as GuacaMol defines them
  (geometric mean of Tanimoto similarities on count fingerprints and Gaussian
  desirabilities; ``guacamol`` itself is not installed: it pulls a second RDKit). Both
  methods start from the 8 compounds of the first seed's lake library that score best on
  the task (the scan is not counted); ours = ``propose`` with the task as objective (its
  GA + MMP + BRICS), ranked by the task score; at most the same number of task
  evaluations each. GuacaMol's score: the mean of top-1, mean top-10 and mean top-100.
- pipeline: the real CLI loop on one seed's lake copy: ``orphanlake refresh``, ``orphanlake
  generate --design-round`` (make and test), ``orphanlake refresh``; reads the published
  ``designed_compounds`` mart and scores its rounds with the hidden rule.

Timing figures are wall-clock on whatever the machine is doing (see BENCHMARKS.md §13).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from models.compounds import activity  # noqa: E402  (sets OMP before xgboost loads)
from models.compounds.labels import DR_TOP_CONC_UM  # noqa: E402
from orchestration.truth_eval import INERT_PIC50  # noqa: E402

TARGET = "GBA1"
ASSAY_SD = 0.2                                 # log units of assay noise on a "made" design
FLOOR_PIC50 = 6.0 - math.log10(DR_TOP_CONC_UM)  # a flat curve's censored label (labels.py)
TOP_K = 10
RESULTS = REPO / "bench" / "results" / "design.json"


# --- the hidden rule, as the plate simulator applies it ---------------------------------

def true_pic50(home: Path, smiles: list[str]) -> np.ndarray:
    """True pIC50 under the lake's hidden rule (truth_eval.design_truth: the screen's seed);
    inert = INERT_PIC50."""
    from orchestration.settings import LakePaths
    from orchestration.truth_eval import design_truth

    out = design_truth(LakePaths(home), TARGET, list(smiles))
    if out is None:
        raise RuntimeError(f"{home} has no simulated screen of {TARGET}")
    return np.nan_to_num(np.asarray(out, dtype=np.float64), nan=INERT_PIC50)


def make_and_test(home: Path, smiles: list[str], rng: np.random.Generator) -> pl.DataFrame:
    """A dose-response label per "made" design: true pIC50 + N(0, ASSAY_SD); inert or below
    the top concentration's floor -> pic50 = FLOOR_PIC50, censored (as labels.py does)."""
    truth = true_pic50(home, smiles)
    noise = rng.normal(0.0, ASSAY_SD, size=len(smiles))
    measured = np.where(truth > INERT_PIC50, truth + noise, -np.inf)
    censored = measured < FLOOR_PIC50
    return pl.DataFrame({"smiles": smiles, "true_pic50": truth,
                         "pic50": np.where(censored, FLOOR_PIC50, measured), "censored": censored})


# --- chemistry helpers --------------------------------------------------------------------

def standardized(smiles: list[str]) -> list[tuple[str, str] | None]:
    """(parent SMILES, InChIKey) per input as library compounds are standardized; None
    where standardization refuses the structure."""
    from orchestration.chem.standardize import StructureError, standardize_smiles

    out = []
    for s in smiles:
        try:
            st = standardize_smiles(s)
            out.append((st.smiles, st.inchikey))
        except StructureError:
            out.append(None)
    return out


def property_frame(smiles: list[str]) -> pl.DataFrame:
    """Contract property frame of standardized structures, one row per input that
    standardizes (inputs refused by standardization are left out)."""
    from orchestration.chem.properties import compute_properties

    ok = [x for x in standardized(smiles) if x is not None]
    return compute_properties([x[0] for x in ok], [x[1] for x in ok])


class BudgetSpent(Exception):
    """The oracle has evaluated its budget of distinct structures."""


class Oracle:
    """A batch objective that remembers each distinct structure's score (its evaluations
    are the oracle budget); with a budget it scores only up to it, then raises BudgetSpent."""

    def __init__(self, fn: Callable[[list[str]], np.ndarray], budget: int | None = None):
        self.fn, self.budget, self.scores, self.seconds = fn, budget, {}, 0.0

    @property
    def seen(self) -> dict[str, float]:
        return self.scores

    def __call__(self, smiles: list[str]) -> np.ndarray:
        new = list(dict.fromkeys(s for s in smiles if s not in self.scores))
        room = len(new) if self.budget is None else max(0, self.budget - len(self.scores))
        if new[:room]:
            t0 = time.perf_counter()
            self.scores.update(zip(new[:room], np.asarray(self.fn(new[:room]), dtype=np.float64).tolist()))
            self.seconds += time.perf_counter() - t0
        if len(new) > room:
            raise BudgetSpent(f"{self.budget} evaluations spent")
        return np.asarray([self.scores[s] for s in smiles], dtype=np.float64)


def potency_objective(art) -> Callable[[list[str]], np.ndarray]:
    """Predicted pIC50 of SMILES by the design surrogate of an activity artifact (as
    potency_fn); a structure standardization refuses scores below the censoring floor."""
    from orchestration.chem.properties import compute_properties

    potency = potency_fn(art)

    def f(smiles: list[str]) -> np.ndarray:
        std = standardized(smiles)
        idx = [i for i, x in enumerate(std) if x is not None]
        out = np.full(len(smiles), FLOOR_PIC50 - 1.0)
        if idx:
            props = compute_properties([std[i][0] for i in idx], [std[i][1] for i in idx])
            out[idx] = potency(props)[0]
        return out
    return f


def gated(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows passing the Done-when gate (score_designs' passes_gate) and in the model's domain."""
    return frame.filter(pl.col("passes_gate").fill_null(False) & pl.col("in_domain").fill_null(False))


def gate_check(frame: pl.DataFrame) -> int:
    """Rows where passes_gate disagrees with GATE recomputed from qed/sa_score/mw/alerts."""
    from models.design import passes_gate

    mine = passes_gate(frame["qed"].to_numpy(), frame["sa_score"].to_numpy(), frame["mw"].to_numpy(),
                       frame["alerts"].list.len().fill_null(0).to_numpy())
    return int((mine != frame["passes_gate"].fill_null(False).to_numpy()).sum())


# --- the lake -------------------------------------------------------------------------------

def _refresh(home: Path) -> float:
    env = {**os.environ, "ORPHANLAKE_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster")}
    (home / ".dagster").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "orphanlake"), "refresh"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def lake(work: Path, seed: int, from_lakes: Path | None) -> Path:
    """A refreshed screening lake of TARGET for the seed: a copy of from_lakes/seed_<s>
    when given (never written to), else generate_screening + orphanlake refresh."""
    home = work / f"seed_{seed}"
    if (home / "lake.duckdb").exists():
        return home
    src = from_lakes / f"seed_{seed}" if from_lakes else None
    if src is not None and (src / "lake.duckdb").exists():
        shutil.copytree(src, home, symlinks=True)
        return home
    from orchestration.simulate.screening import generate_screening

    generate_screening(home, seed=seed, target_gene=TARGET, with_bad_files=False)
    _refresh(home)
    return home


def lake_data(home: Path) -> dict:
    """Labels of TARGET with SMILES, the property frame, the round-0 model, the library."""
    from orchestration.assets.compound_models import activity_models
    from orchestration.settings import LakePaths

    paths = LakePaths(home)
    props = pl.read_parquet(paths.evidence / "compound_properties.parquet")
    labels = (pl.read_parquet(paths.evidence / "compound_activity_labels.parquet")
              .filter(pl.col("target_gene") == TARGET)
              .join(props.select("inchikey", "smiles"), on="inchikey")
              .select("inchikey", "smiles", "pic50", pl.col("censored").fill_null(False)))
    art = activity.load(activity_models(paths)[TARGET])
    return {"props": props, "labels": labels, "art": art,
            "library": props["smiles"].drop_nulls().to_list()}


# --- one design round through the core API -------------------------------------------------

def design_round(art, labels: pl.DataFrame, library: list[str], cfg) -> tuple[pl.DataFrame, dict]:
    """propose -> score_designs -> select_batch from the n_parents best measured compounds;
    returns the ranked candidates and timings / oracle use."""
    from models.design import propose, score_designs, select_batch

    from models.design import make_objective

    tested = labels.filter(~pl.col("censored")).sort(["pic50", "inchikey"], descending=[True, False])
    parents = tested["smiles"].head(cfg.n_parents).to_list()
    potency = potency_fn(art)
    oracle = Oracle(make_objective(potency, labels["smiles"].to_list(), cfg))
    t0 = time.perf_counter()
    cands = propose(parents, labels["smiles"].to_list(), oracle, cfg, corpus_pic50=labels["pic50"].to_list())
    t_prop = time.perf_counter() - t0
    t0 = time.perf_counter()
    scored = score_designs(cands, potency, None, labels["smiles"].to_list(), library, cfg)
    ranked = select_batch(scored, cfg).sort("rank")
    t_score = time.perf_counter() - t0
    return ranked, {"parents": parents, "n_candidates": cands.height, "oracle_evals": len(oracle.seen),
                    "propose_s": round(t_prop, 1), "score_select_s": round(t_score, 1),
                    "methods": dict(cands.group_by("method").len().sort("method").iter_rows())}


SURROGATE = "committee"                        # --surrogate: "single" scores with art alone
_MEMBERS: dict[int, list] = {}                   # id(art) -> the surrogate's models


def surrogate(art, props: pl.DataFrame, labels: pl.DataFrame) -> list:
    """The design surrogate's models for an activity artifact (models/design/surrogate.py:
    art + a second opinion per fingerprint family it is not), trained once. Unlike the
    design asset, the bench trains the second opinions on every label of the target: it does
    not leave out potent frequent hitters (``trainable_potency``)."""
    if id(art) not in _MEMBERS:
        from models.design.surrogate import second_opinions

        extra = (second_opinions(art, props, labels.select("inchikey", "pic50", "censored"))
                 if SURROGATE == "committee" else [])
        _MEMBERS[id(art)] = [art, *extra]
    return _MEMBERS[id(art)]


def potency_fn(art) -> Callable[[pl.DataFrame], tuple[np.ndarray, np.ndarray]]:
    """(predicted pIC50, uncertainty) of a property frame by art's surrogate (``surrogate``;
    art alone if none was built): what score_designs and make_objective take."""
    from models.design.surrogate import committee

    return committee(_MEMBERS.get(id(art), [art]))


def top_truth(ranked: pl.DataFrame, home: Path) -> dict:
    """Mean true pIC50 of the TOP_K best-ranked gated, in-domain designs (and what they are)."""
    top = gated(ranked).sort("rank").head(TOP_K)
    truth = true_pic50(home, top["smiles"].to_list())
    # "the best tested compound they started from": the top 10's own parents (a GA product's
    # parent is the most similar parent: it recombines several)
    own = sorted(set(top["parent_smiles"].drop_nulls().to_list())) if "parent_smiles" in top.columns else []
    own_true = true_pic50(home, own) if own else np.array([])
    return {"n_gated": gated(ranked).height, "n_top": top.height,
            "own_parents_best_true_pic50": round(float(own_true.max()), 3) if own_true.size else None,
            "mean_true_pic50": round(float(truth.mean()), 3) if truth.size else None,
            "mean_pred_pic50": round(float(top["predicted_pic50"].mean()), 3) if top.height else None,
            "true_pic50": [round(float(v), 3) for v in truth],
            "smiles": top["smiles"].to_list()}


def loop_seed(home: Path, seed: int, cfg, families: tuple[str, ...], retrain0: bool = False) -> dict:
    """Round 1 with the lake's model (or, retrain0, one trained here on the lake's labels
    like the round-2 retrain), make-and-test its batch, retrain, round 2."""
    d = lake_data(home)
    labels, art, library = d["labels"], d["art"], d["library"]
    if retrain0:
        art = activity.train_activity(d["props"], labels.select("inchikey", "pic50", "censored"), seed=0,
                                      families=families)
    props = d["props"]
    surrogate(art, props, labels)
    out = {"seed": seed, "round0_model": art.model_version, "n_labelled": labels.height}
    rng = np.random.default_rng([seed, 13])
    for rnd in (1, 2):
        ranked, info = design_round(art, labels, library, cfg)
        if rnd == 1:
            _ROUND1[seed] = (ranked, info)
        parents_true = true_pic50(home, info["parents"])
        batch = ranked.filter(pl.col("selected"))
        tested = make_and_test(home, batch["smiles"].to_list(), rng)
        top = top_truth(ranked, home)
        out[f"round{rnd}"] = {
            **info, **top, "gate_mismatches": gate_check(ranked),
            "best_parent_true_pic50": round(float(parents_true[0]), 3),
            "max_parent_true_pic50": round(float(parents_true.max()), 3),
            "batch_size": batch.height,
            "batch_mean_true_pic50": round(float(tested["true_pic50"].mean()), 3) if batch.height else None,
            "batch_best_measured": round(float(tested["pic50"].max()), 3) if batch.height else None,
            "model_version": "+".join(m.model_version for m in _MEMBERS.get(id(art), [art]))}
        print(f"  seed {seed} round {rnd}: {info['n_candidates']} candidates ({info['methods']}), "
              f"{top['n_gated']} gated; top-{TOP_K} true {top['mean_true_pic50']} vs best parent "
              f"{parents_true[0]:.2f} (max {parents_true.max():.2f})", flush=True)
        if rnd == 2:
            break
        new_props = property_frame(tested["smiles"].to_list())
        new = (tested.with_columns(pl.Series("inchikey", _keys(tested["smiles"].to_list())))
               .drop_nulls("inchikey").select("inchikey", "smiles", "pic50", "censored"))
        labels = pl.concat([labels, new]).unique("inchikey", keep="last", maintain_order=True)
        props = pl.concat([props, new_props.select(props.columns)], how="vertical_relaxed")
        library = library + tested["smiles"].to_list()
        t0 = time.perf_counter()
        art = activity.train_activity(props, labels.select("inchikey", "pic50", "censored"), seed=0,
                                      families=families)
        surrogate(art, props, labels)
        out["retrain_s"] = round(time.perf_counter() - t0, 1)
        out["retrain_families"] = list(families)
    r1, r2 = out["round1"], out["round2"]
    out["r1_minus_best_parent"] = _diff(r1["mean_true_pic50"], r1["best_parent_true_pic50"])
    out["r1_minus_max_parent"] = _diff(r1["mean_true_pic50"], r1["max_parent_true_pic50"])
    out["r1_minus_own_parents"] = _diff(r1["mean_true_pic50"], r1["own_parents_best_true_pic50"])
    out["r2_minus_r1"] = _diff(r2["mean_true_pic50"], r1["mean_true_pic50"])
    return out


def _keys(smiles: list[str]) -> list[str | None]:
    return [None if x is None else x[1] for x in standardized(smiles)]


def _diff(a, b):
    return None if a is None or b is None else round(a - b, 3)


# --- head-to-head: plain mol-ga at the same oracle budget -----------------------------------

def run_mol_ga(parents: list[str], objective: Callable, budget: int, seed: int,
               offspring: int = 100) -> tuple[list[tuple[float, str]], Oracle, float]:
    """mol_ga.default_ga from the parents (README settings: offspring 100 per generation,
    population cap 10,000) until it has evaluated `budget` distinct molecules. Returns every
    evaluated (score, smiles) best first, the oracle and the seconds."""
    from mol_ga import default_ga

    oracle = Oracle(objective, budget)
    t0 = time.perf_counter()
    try:
        default_ga(starting_population_smiles=list(parents), scoring_function=lambda s: oracle(s).tolist(),
                   max_generations=budget, offspring_size=offspring, rng=random.Random(seed))
    except BudgetSpent:
        pass
    secs = time.perf_counter() - t0
    return sorted(((v, s) for s, v in oracle.scores.items()), reverse=True), oracle, secs


_ROUND1: dict[int, tuple[pl.DataFrame, dict]] = {}  # seed -> loop's round 1 (same model, config)


def _ga_top(home: Path, evaluated: list[tuple[float, str]], known: set[str], art, labels: pl.DataFrame,
            library: list[str], cfg) -> tuple[pl.DataFrame, pl.DataFrame]:
    """mol-ga's own ranking: its config.shortlist best new molecules by its objective (the
    same shortlist size propose returns), scored like ours for the gate and domain; the
    TOP_K best by its objective that pass (scored shortlist, top)."""
    from models.design import score_designs

    best = [(v, s) for v, s in evaluated if s not in known][: cfg.shortlist]
    cands = pl.DataFrame({"smiles": [s for _, s in best], "ga_objective": [v for v, _ in best],
                          "parent_smiles": [None] * len(best), "method": ["mol_ga"] * len(best)},
                         schema_overrides={"parent_smiles": pl.String})
    scored = score_designs(cands, potency_fn(art), None, labels["smiles"].to_list(), library, cfg)
    return scored, gated(scored).sort("ga_objective", descending=True).head(TOP_K)


def h2h_seed(home: Path, seed: int, cfg) -> dict:
    """Ours vs plain mol-ga (objective: raw predicted pIC50, and THE design objective) from the
    same parents with the same oracle budget, on the lake's round-1 model."""
    from models.design import make_objective

    d = lake_data(home)
    art, labels = d["art"], d["labels"]
    surrogate(art, d["props"], labels)
    ranked, info = _ROUND1.get(seed) or design_round(art, labels, d["library"], cfg)
    ours = top_truth(ranked, home)
    row = {"seed": seed, "budget": cfg.oracle_budget,
           "ours": {"oracle_evals": info["oracle_evals"], "propose_s": info["propose_s"],
                    "score_select_s": info["score_select_s"],
                    "designs_per_s": round(info["oracle_evals"] / max(info["propose_s"], 1e-9), 1),
                    "top10_pred": ours["mean_pred_pic50"], "top10_true": ours["mean_true_pic50"],
                    "n_gated": ours["n_gated"], "n_candidates": info["n_candidates"]}}
    known = set(labels["smiles"].to_list()) | set(info["parents"])
    objectives = {"mol_ga_pic50": potency_objective(art),
                  "mol_ga_design_objective": make_objective(potency_fn(art), labels["smiles"].to_list(), cfg)}
    for name, objective in objectives.items():
        evaluated, oracle, secs = run_mol_ga(info["parents"], objective, cfg.oracle_budget, cfg.seed)
        scored, top = _ga_top(home, evaluated, known, art, labels, d["library"], cfg)
        truth = true_pic50(home, top["smiles"].to_list())
        row[name] = {"oracle_evals": len(oracle.scores), "seconds": round(secs, 1),
                     "oracle_seconds": round(oracle.seconds, 1),
                     "designs_per_s": round(len(oracle.scores) / max(secs, 1e-9), 1),
                     "top10_pred": round(float(top["predicted_pic50"].mean()), 3) if top.height else None,
                     "top10_true": round(float(truth.mean()), 3) if truth.size else None,
                     "n_gated": gated(scored).height, "best_objective": round(evaluated[0][0], 3)}
    print(f"  seed {seed} h2h top-{TOP_K} true pIC50: ours {row['ours']['top10_true']} | mol-ga (pIC50) "
          f"{row['mol_ga_pic50']['top10_true']} | mol-ga (design objective) "
          f"{row['mol_ga_design_objective']['top10_true']}", flush=True)
    return row


# --- GuacaMol MPO tasks, re-implemented with RDKit ------------------------------------------

def _fp(kind: str):
    from rdkit.Chem import rdFingerprintGenerator as g

    if kind == "ECFP6":
        return g.GetMorganGenerator(radius=3)
    if kind == "FCFP4":
        return g.GetMorganGenerator(radius=2, atomInvariantsGenerator=g.GetMorganFeatureAtomInvGen())
    if kind == "AP":
        return g.GetAtomPairGenerator(maxDistance=10)
    raise ValueError(kind)


def _clipped(x, upper):           # GuacaMol ClippedScoreModifier(upper_x), lower_x = 0
    return min(max(x / upper, 0.0), 1.0)


def _min_gauss(x, mu, sigma):      # MinGaussianModifier: 1 below mu
    return 1.0 if x <= mu else math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def _max_gauss(x, mu, sigma):      # MaxGaussianModifier: 1 above mu
    return 1.0 if x >= mu else math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def _gauss(x, mu, sigma):
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def _gmean(vals: list[float]) -> float:
    return 0.0 if min(vals) <= 0 else float(math.exp(sum(math.log(v) for v in vals) / len(vals)))


MPO_TASKS = {
    # name: (reference SMILES, [(fingerprint, modifier)], [(descriptor, modifier)])
    "osimertinib_mpo": ("COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",
                        [("FCFP4", lambda t: _clipped(t, 0.8)), ("ECFP6", lambda t: _min_gauss(t, 0.85, 0.1))],
                        [("tpsa", lambda v: _max_gauss(v, 100, 10)), ("logp", lambda v: _min_gauss(v, 1, 1))]),
    "fexofenadine_mpo": ("CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",
                         [("AP", lambda t: _clipped(t, 0.8))],
                         [("tpsa", lambda v: _max_gauss(v, 90, 10)), ("logp", lambda v: _min_gauss(v, 4, 1))]),
    "ranolazine_mpo": ("COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2",
                       [("AP", lambda t: _clipped(t, 0.7))],
                       [("logp", lambda v: _max_gauss(v, 7, 1)), ("tpsa", lambda v: _max_gauss(v, 95, 20)),
                        ("n_f", lambda v: _gauss(v, 1, 1.0))]),
}


def mpo_objective(task: str) -> Callable[[list[str]], np.ndarray]:
    """GuacaMol's geometric-mean MPO score of a task for a batch of SMILES (invalid: 0)."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import Descriptors

    ref_smiles, sims, props = MPO_TASKS[task]
    ref = Chem.MolFromSmiles(ref_smiles)
    gens = {k: _fp(k) for k, _ in sims}
    ref_fps = {k: g.GetSparseCountFingerprint(ref) for k, g in gens.items()}
    desc = {"tpsa": Descriptors.TPSA, "logp": Descriptors.MolLogP,
            "n_f": lambda m: sum(1 for a in m.GetAtoms() if a.GetSymbol() == "F")}

    def f(smiles: list[str]) -> np.ndarray:
        out = []
        for s in smiles:
            m = Chem.MolFromSmiles(s) if s else None
            if m is None:
                out.append(0.0)
                continue
            parts = [mod(DataStructs.TanimotoSimilarity(gens[k].GetSparseCountFingerprint(m), ref_fps[k]))
                     for k, mod in sims]
            parts += [mod(desc[k](m)) for k, mod in props]
            out.append(_gmean(parts))
        return np.asarray(out)
    return f


def guacamol_score(scores: list[float]) -> dict:
    """GuacaMol's contribution spec (1, 10, 100): mean of top-1, mean top-10, mean top-100."""
    s = sorted(scores, reverse=True)
    parts = {f"top{k}": round(float(np.mean(s[:k])), 4) if len(s) >= k else None for k in (1, 10, 100)}
    vals = [v for v in parts.values() if v is not None]
    return {**parts, "score": round(float(np.mean(vals)), 4) if len(vals) == 3 else None}


def guacamol_task(task: str, pool: list[str], cfg) -> dict:
    """Ours (propose with the task as objective) vs mol-ga from the pool's best 8, same budget."""
    from models.design import propose

    f = mpo_objective(task)
    base = f(pool)
    order = np.argsort(-base, kind="stable")
    parents = [pool[i] for i in order[: cfg.n_parents]]
    oracle = Oracle(f)
    t0 = time.perf_counter()
    cands = propose(parents, pool, oracle, cfg, corpus_pic50=base.tolist())
    ours_s = time.perf_counter() - t0
    smiles = cands["smiles"].to_list()
    # candidates the generators made without asking the oracle are scored within the budget
    unscored = [s for s in smiles if s not in oracle.scores]
    room = max(0, cfg.oracle_budget - len(oracle.scores))
    oracle.scores.update(zip(unscored[:room], f(unscored[:room]).tolist()))
    known = set(pool)   # designs only: the starting pool (parents included) is not counted
    ours = [v for s, v in oracle.scores.items() if s not in known]
    evaluated, ga_oracle, ga_s = run_mol_ga(parents, f, cfg.oracle_budget, cfg.seed)
    ga = [v for v, s in evaluated if s not in known]
    start = {"top1": round(float(base[order[0]]), 4)}
    row = {"task": task, "budget": cfg.oracle_budget, "start_best": start["top1"],
           "ours": {**guacamol_score(ours), "oracle_evals": len(oracle.scores),
                    "n_candidates": len(smiles), "unscored_dropped": max(0, len(unscored) - room),
                    "seconds": round(ours_s, 1), "designs_per_s": round(len(oracle.scores) / max(ours_s, 1e-9), 1)},
           "mol_ga": {**guacamol_score(ga), "oracle_evals": len(ga_oracle.scores),
                      "seconds": round(ga_s, 1), "designs_per_s": round(len(ga_oracle.scores) / max(ga_s, 1e-9), 1)}}
    print(f"  {task}: start {start['top1']:.3f} | ours {row['ours']['score']} | mol-ga {row['mol_ga']['score']}",
          flush=True)
    return row


# --- the real pipeline ------------------------------------------------------------------------

def pipeline_seed(home: Path, seed: int, rounds: int = 1) -> dict:
    """orphanlake refresh (round 1's designs) -> generate --design-round (make and test the
    newest round) -> refresh (the next round), `rounds` times; every round in the
    published designed_compounds mart scored with the hidden rule."""
    from orchestration.lake.io import read_model
    from orchestration.settings import LakePaths

    steps = []
    t0 = time.perf_counter()
    if not (home / "marts" / "designed_compounds.parquet").exists() and not _has_designs(home):
        steps.append(("refresh", _refresh(home)))
    for _ in range(rounds):
        t = time.perf_counter()
        steps.append((_make_and_test(home), time.perf_counter() - t))
        steps.append(("refresh", _refresh(home)))
    mart = read_model(LakePaths(home), "designed_compounds").filter(pl.col("target_gene") == TARGET)
    out = {"seed": seed, "steps": [(n, round(s, 1)) for n, s in steps],
           "total_s": round(time.perf_counter() - t0, 1), "rounds": {}}
    parents = _mart_parents(home, mart)
    for rnd in sorted(mart["round"].unique().to_list()):
        r = mart.filter(pl.col("round") == rnd)
        top = gated(r).sort("rank").head(TOP_K)
        truth = true_pic50(home, top["smiles"].to_list())
        par = true_pic50(home, parents.get(rnd, []))
        out["rounds"][int(rnd)] = {
            "n_designs": r.height, "n_selected": int(r["selected"].sum()), "n_gated": gated(r).height,
            "model_version": r["model_version"][0],
            "top10_true": round(float(truth.mean()), 3) if truth.size else None,
            "top10_pred": round(float(top["predicted_pic50"].mean()), 3) if top.height else None,
            "parents_true": [round(float(v), 3) for v in par]}
    return out


def _has_designs(home: Path) -> bool:
    from orchestration.ingest.designs import latest_designs
    from orchestration.settings import LakePaths

    return latest_designs(LakePaths(home))[0] is not None


def _make_and_test(home: Path) -> str:
    """``orphanlake generate --design-round``; when the CLI refuses the lake (it stops at the
    first target it cannot make, see BENCHMARKS.md §13), the same code for TARGET only
    (design_round.make_and_test). Returns what ran."""
    env = {**os.environ, "ORPHANLAKE_HOME": str(home), "DAGSTER_HOME": str(home / ".dagster")}
    done = subprocess.run([str(Path(sys.executable).parent / "orphanlake"), "generate", "--design-round"],
                          env=env, capture_output=True, text=True)
    if done.returncode == 0:
        return "generate --design-round"
    from orchestration.ingest.designs import latest_designs
    from orchestration.settings import LakePaths
    from orchestration.simulate.design_round import make_and_test as loop_make_and_test
    from orchestration.simulate.design_round import round_batches

    paths = LakePaths(home)
    src, designs = latest_designs(paths)
    round_no, batch = round_batches(designs)[TARGET]
    loop_make_and_test(paths, TARGET, round_no, batch, src.relative_to(paths.home).as_posix())
    reason = (done.stderr.strip().splitlines() or ["?"])[-1]
    return f"design_round.make_and_test({TARGET}, round {round_no}) (CLI refused: {reason[:160]})"


def _mart_parents(home: Path, mart: pl.DataFrame) -> dict[int, list[str]]:
    """Each round's parent structures (distinct parent_smiles of its designs)."""
    if "parent_smiles" not in mart.columns:
        return {}
    return {int(k): sorted(set(g["parent_smiles"].drop_nulls().to_list()))
            for (k,), g in mart.group_by("round")}


# --- reporting --------------------------------------------------------------------------------

def _ms(vals) -> str:
    v = np.array([x for x in vals if x is not None], dtype=float)
    if not v.size:
        return "n/a"
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if v.size > 1 else f"{v.mean():.2f}"


def _signed(v) -> str:
    return "n/a" if v is None else f"{v:+}"


def report(res: dict) -> None:
    for key in ("loop", "loop_round0_retrained"):
        if not res.get(key):
            continue
        rows = res[key]["per_seed"]
        print(f"\n### Two design rounds, core API, round 1's model: {res[key].get('round0', 'lake')}, "
              f"{len(rows)} seeds (top {TOP_K} gated + in domain)\n")
        print("| seed | best parent (true) | top 10's own parents, best (true) | round 1 top-10 "
              "| round 2 top-10 | R1 − best parent | R1 − own parents | R2 − R1 |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['seed']} | {r['round1']['best_parent_true_pic50']} "
                  f"| {r['round1'].get('own_parents_best_true_pic50')} "
                  f"| {r['round1']['mean_true_pic50']} | {r['round2']['mean_true_pic50']} "
                  f"| {r['r1_minus_best_parent']:+} | {_signed(r.get('r1_minus_own_parents'))} "
                  f"| {r['r2_minus_r1']:+} |")
        print(f"| mean ± sd | {_ms([r['round1']['best_parent_true_pic50'] for r in rows])} "
              f"| {_ms([r['round1'].get('own_parents_best_true_pic50') for r in rows])} "
              f"| {_ms([r['round1']['mean_true_pic50'] for r in rows])} "
              f"| {_ms([r['round2']['mean_true_pic50'] for r in rows])} "
              f"| {_ms([r['r1_minus_best_parent'] for r in rows])} "
              f"| {_ms([r.get('r1_minus_own_parents') for r in rows])} | {_ms([r['r2_minus_r1'] for r in rows])} |")
    if res.get("h2h"):
        rows = res["h2h"]["per_seed"]
        print(f"\n### Ours vs plain mol-ga at the same oracle budget ({rows[0]['budget']}), "
              f"{len(rows)} seeds, top {TOP_K} gated + in domain\n")
        print("| method | oracle evals | top-10 predicted pIC50 | top-10 true pIC50 | gated designs "
              "| evaluated designs / s |")
        print("|---|---|---|---|---|---|")
        for m, name in (("ours", "ours: propose (GA + MMP + BRICS) + score_designs + select_batch"),
                        ("mol_ga_pic50", "mol-ga default_ga, objective = predicted pIC50"),
                        ("mol_ga_design_objective", "mol-ga default_ga, objective = make_objective (ours)")):
            print(f"| {name} | {_ms([r[m]['oracle_evals'] for r in rows])} | {_ms([r[m]['top10_pred'] for r in rows])} "
                  f"| {_ms([r[m]['top10_true'] for r in rows])} | {_ms([r[m]['n_gated'] for r in rows])} "
                  f"| {_ms([r[m]['designs_per_s'] for r in rows])} |")
    if res.get("guacamol"):
        rows = res["guacamol"]["tasks"]
        print(f"\n### GuacaMol MPO tasks (RDKit re-implementation), budget {rows[0]['budget']} evaluations\n")
        print("| task | start best | ours score (top1/10/100) | mol-ga score (top1/10/100) | ours / mol-ga designs/s |")
        print("|---|---|---|---|---|")
        for r in rows:
            o, g = r["ours"], r["mol_ga"]
            print(f"| {r['task']} | {r['start_best']} | {o['score']} ({o['top1']}/{o['top10']}/{o['top100']}) "
                  f"| {g['score']} ({g['top1']}/{g['top10']}/{g['top100']}) | {o['designs_per_s']} / {g['designs_per_s']} |")
    if res.get("pipeline"):
        print("\n### Through the pipeline (orphanlake refresh / generate --design-round)\n")
        print(json.dumps(res["pipeline"], indent=1))


def _code_revision() -> dict:
    """HEAD and whether the design code differs from it (the figures are of the working tree)."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"head": git("rev-parse", "--short", "HEAD"),
            "dirty": git("status", "--porcelain", "--", "models/design", "orchestration", "bench/bench_design.py")
            .splitlines(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--parts", nargs="+", default=["loop", "h2h", "guacamol"],
                    choices=["loop", "h2h", "guacamol", "pipeline"])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--from-lakes", type=Path, default=None,
                    help="copy refreshed lakes <dir>/seed_<s> instead of generating (read-only)")
    ap.add_argument("--families", nargs="+", default=["xgboost"], help="families of the retrain")
    ap.add_argument("--budget", type=int, default=None, help="oracle budget (default DesignConfig's)")
    ap.add_argument("--max-seconds", type=float, default=None, help="DesignConfig.max_seconds")
    ap.add_argument("--round0", choices=["lake", "retrain"], default="lake",
                    help="round 1's model: the lake's, or retrained here like round 2's (same recipe)")
    ap.add_argument("--surrogate", choices=["committee", "single"], default="committee",
                    help="design surrogate: the design asset's committee, or the activity model alone")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results JSON (parts not run are kept)")
    args = ap.parse_args()
    global SURROGATE
    SURROGATE = args.surrogate
    from dataclasses import replace

    from models.design import DesignConfig

    cfg = DesignConfig()
    if args.budget:
        cfg = replace(cfg, oracle_budget=args.budget)
    if args.max_seconds:
        cfg = replace(cfg, max_seconds=args.max_seconds)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_design_"))
    res = {}
    res["code"] = _code_revision()
    res["config"] = {**cfg.__dict__, "surrogate": SURROGATE, "assay_sd": ASSAY_SD, "floor_pic50": round(FLOOR_PIC50, 3),
                     "top_k": TOP_K, "inert_pic50": INERT_PIC50}
    homes = {s: lake(work, s, args.from_lakes) for s in args.seeds} if {"loop", "h2h"} & set(args.parts) \
        else {}
    if "loop" in args.parts:
        rows = [loop_seed(homes[s], s, cfg, tuple(args.families), args.round0 == "retrain") for s in args.seeds]
        res["loop" if args.round0 == "lake" else "loop_round0_retrained"] = {
            "seeds": args.seeds, "per_seed": rows, "retrain_families": args.families, "round0": args.round0}
    if "h2h" in args.parts:
        res["h2h"] = {"seeds": args.seeds, "per_seed": [h2h_seed(homes[s], s, cfg) for s in args.seeds]}
    if "guacamol" in args.parts:
        home = homes.get(args.seeds[0]) or lake(work, args.seeds[0], args.from_lakes)
        pool = lake_data(home)["library"]
        res["guacamol"] = {"pool": f"library of seed {args.seeds[0]}'s lake ({len(pool)} compounds)",
                           "tasks": [guacamol_task(t, pool, cfg) for t in MPO_TASKS]}
    if "pipeline" in args.parts:
        res["pipeline"] = [pipeline_seed(lake(work / "pipeline", s, args.from_lakes), s) for s in args.seeds]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}  # re-read: parts run elsewhere
    if args.parts == ["pipeline"]:   # its own run: keep the other parts' config and revision
        res["pipeline_config"], res["pipeline_code"] = res.pop("config"), res.pop("code")
    args.out.write_text(json.dumps({**merged, **res}, indent=2, default=str))
    report(res)


if __name__ == "__main__":
    main()
