"""Molecule design core (models.design): Pareto ranking, desirability, gate, MMP rules,
batch selection, scoring and the determinism and budget of ``propose`` (toy objective)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import QED

from models.design import GATE, DesignConfig, passes_gate, propose, score_designs, select_batch
from models.design import desirability as d
from models.design import mmp
from models.design.pareto import pareto_rank
from models.design.similarity import fingerprints
from orchestration.chem.standardize import standardize_smiles

CORPUS = [
    "NC(=O)c1ccccc1", "NC(=O)c1ccc(Cl)cc1", "NC(=O)c1ccc(F)cc1", "CNC(=O)c1ccccc1",
    "CNC(=O)c1ccc(Cl)cc1", "CS(=O)(=O)Nc1ccccc1", "CS(=O)(=O)Nc1ccc(Cl)cc1",
    "CS(=O)(=O)Nc1ccc(Cl)cn1", "Cc1ccc(-c2ccccn2)cc1", "Clc1ccc(-c2ccccn2)cc1",
    "COc1ccc(S(N)(=O)=O)cc1", "Clc1ccc(S(N)(=O)=O)cc1", "CCN(CC)CCNC(=O)c1ccccc1",
    "O=C(O)c1ccccc1", "CC(=O)Nc1ccc(O)cc1",
]
PIC50 = [5.0, 6.0, 5.5, 4.8, 5.9, 5.2, 6.1, 6.6, 5.0, 6.0, 4.5, 5.6, 5.1, 3.0, 4.0]


def toy_objective(calls: list[int]):
    """QED plus a bonus per chlorine, counting evaluations."""
    def objective(smiles: list[str]) -> np.ndarray:
        calls.append(len(smiles))
        out = []
        for smi in smiles:
            mol = Chem.MolFromSmiles(smi)
            out.append(QED.qed(mol) + 0.1 * smi.count("Cl"))
        return np.array(out)
    return objective


def toy_potency(props: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    smiles = props["smiles"].to_list()
    return np.array([4.5 + 0.8 * s.count("Cl") for s in smiles]), np.full(len(smiles), 0.5)


def test_pareto_rank_hand_example():
    values = np.array([[3.0, 1.0],   # front 1
                       [1.0, 3.0],   # front 1
                       [2.0, 2.0],   # front 1 (trade-off)
                       [1.0, 1.0],   # dominated by all three: front 2
                       [0.5, 0.5],   # front 3
                       [2.0, 2.0]])  # tie with row 2: neither dominates, front 1
    assert pareto_rank(values).tolist() == [1, 1, 1, 2, 3, 1]
    assert pareto_rank(np.array([[np.nan, 1.0], [0.0, 1.0]])).tolist() == [2, 1]
    assert pareto_rank(np.zeros((0, 3))).tolist() == []


def test_desirability_functions_are_monotone_and_bounded():
    x = np.linspace(0, 10, 50)
    assert np.all(np.diff(d.d_potency(x, np.full(50, 0.5))) > 0)
    assert np.all(np.diff(d.d_potency(np.full(50, 6.0), np.linspace(0, 2, 50))) < 0)
    assert np.all(np.diff(d.d_sa(np.linspace(1, 10, 50))) < 0)
    assert np.all(np.diff(d.d_qed(np.linspace(0, 1, 50))) > 0)
    assert np.all(np.diff(d.d_mw(np.linspace(100, 800, 50))) < 0)
    assert np.all(np.diff(d.d_alerts(np.arange(5))) < 0)
    assert np.all(np.diff(d.d_safety(np.arange(5))) < 0)
    assert np.all(np.diff(d.d_novelty(np.linspace(0, 0.4, 10))) > 0)
    assert d.d_domain(np.array([0.1, 0.35, 0.9]), 0.35).tolist() == pytest.approx([0.1 / 0.35, 1, 1])
    terms = {"potency": np.array([0.9, 0.1]), "qed": np.array([0.8, 0.8]), "safety": np.array([np.nan, 1.0])}
    out = d.combine(terms)
    assert np.all((out >= 0) & (out <= 1)) and out[0] > out[1]
    # a missing term is left out, not counted as 0 or 1
    assert out[0] == pytest.approx(np.exp((3 * np.log(0.9) + np.log(0.8)) / 4))


def test_gate():
    ok = passes_gate(np.array([0.6, 0.4, 0.6, 0.6, 0.6, np.nan]), np.array([3.0, 3.0, 4.5, 3.0, 3.0, 3.0]),
                     np.array([300, 300, 300, 501, 300, 300]), np.array([0, 0, 0, 0, 1, 0]))
    assert ok.tolist() == [True, False, False, False, False, False]
    assert GATE == dict(qed_min=0.5, sa_max=4.0, mw_max=500.0)


def test_mmp_learns_an_improving_transformation_and_applies_it():
    rules = mmp.learn(CORPUS, PIC50)
    to_cl = [t for t in rules[mmp.HYDROGEN] if t.target == "Cl[*:1]"]
    assert to_cl and to_cl[0].median_delta == pytest.approx(1.0) and to_cl[0].n_pairs >= 3
    assert all(t.median_delta >= mmp.MIN_MEDIAN_DELTA for ts in rules.values() for t in ts)
    products = mmp.apply(["CCNC(=O)c1ccccc1"], rules, limit=50, deadline=float("inf"))
    assert "CCNC(=O)c1ccc(Cl)cc1" in {p for p, _, _ in products}
    assert all(parent == "CCNC(=O)c1ccccc1" for _, parent, _ in products)


def _scored(smiles, in_domain, pred, gate=None):
    n = len(smiles)
    return pl.DataFrame({"smiles": smiles, "inchikey": [standardize_smiles(s).inchikey for s in smiles],
                         "predicted_pic50": pred, "uncertainty": [0.5] * n, "in_domain": in_domain,
                         "passes_gate": gate if gate is not None else [True] * n})


def test_select_batch_diversity_size_and_tiers():
    smiles = ["NC(=O)c1ccc(Cl)cc1", "NC(=O)c1ccc(Br)cc1", "CS(=O)(=O)Nc1ccc(Cl)cn1",
              "Clc1ccc(-c2ccccn2)cc1", "CCN(CC)CCNC(=O)c1ccccc1", "COc1ccc(S(N)(=O)=O)cc1"]
    scored = _scored(smiles, [True, True, True, True, False, True], [7.0, 6.9, 6.0, 5.0, 9.0, 4.0])
    out = select_batch(scored, DesignConfig(batch_size=4, diversity=0.4))
    sel = out.filter("selected")
    assert sel.height <= 4
    fps = fingerprints(sel["smiles"].to_list())
    for i in range(len(fps)):
        for j in range(i):
            assert DataStructs.TanimotoSimilarity(fps[i], fps[j]) <= 0.4
    ranked = out.sort("rank")
    assert sorted(out["rank"].to_list()) == list(range(1, len(smiles) + 1))
    assert ranked["selected"].to_list() == sorted(ranked["selected"].to_list(), reverse=True)
    assert ranked["smiles"][0] == "NC(=O)c1ccc(Cl)cc1"  # best in-domain acquisition first
    # the out-of-domain candidate, though best predicted, comes after every in-domain one
    assert ranked["smiles"][-1] == "CCN(CC)CCNC(=O)c1ccccc1" and not ranked["selected"][-1]
    assert "NC(=O)c1ccc(Br)cc1" not in sel["smiles"].to_list()  # too close to the chloro twin
    assert out["acquisition"].to_list()[0] == pytest.approx(7.25)
    big = select_batch(scored, DesignConfig(batch_size=2, diversity=1.0))
    assert big["selected"].sum() == 2


def test_score_designs_columns_flags_and_explanation():
    cands = pl.DataFrame({"smiles": ["NC(=O)c1ccc(Cl)cc1Cl", "O=C(O)c1ccc(Cl)cc1", "not a smiles"],
                          "parent_smiles": ["NC(=O)c1ccc(Cl)cc1"] * 3, "method": ["mmp", "brics", "graph_ga"]})
    cfg = DesignConfig()
    out = score_designs(cands, toy_potency, None, CORPUS, CORPUS, cfg)
    assert out.height == 2  # the unparseable one is dropped
    for col in ("inchikey", "predicted_pic50", "uncertainty", "max_sim_train", "in_domain", "herg_flag",
                "n_admet_flags", "sa_score", "qed", "mw", "alerts", "passes_gate", "novelty",
                "desirability", "pareto_rank", "explanation"):
        assert col in out.columns
    assert out["herg_flag"].null_count() == 2 and out["n_admet_flags"].null_count() == 2
    assert out["desirability"].is_between(0, 1).all() and out["pareto_rank"].min() == 1
    assert out["explanation"][0].startswith("pIC50 6.1 ± 0.5 (in domain")
    assert "by mmp" in out["explanation"][0]

    def safety(smiles):
        return pl.DataFrame({"herg_flag": [True] * len(smiles), "ames_flag": [False] * len(smiles),
                             "dili_flag": [True] * len(smiles), "clintox_flag": [False] * len(smiles)})
    flagged = score_designs(cands, toy_potency, safety, CORPUS, CORPUS, cfg)
    assert flagged["n_admet_flags"].to_list() == [2, 2]
    assert (flagged["desirability"] < out["desirability"]).all()
    assert "2 ADMET flags (herg, dili)" in flagged["explanation"][0]


def test_propose_is_deterministic_within_budget_and_excludes_known():
    cfg = DesignConfig(seed=3, oracle_budget=160, ga_population=20, ga_offspring=30, n_parents=3,
                       max_seconds=60, shortlist=1000)
    parents = ["CS(=O)(=O)Nc1ccc(Cl)cn1", "CS(=O)(=O)Nc1ccc(Cl)cc1", "NC(=O)c1ccc(Cl)cc1"]
    runs = []
    for _ in range(2):
        calls: list[int] = []
        runs.append(propose(parents, CORPUS, toy_objective(calls), cfg, corpus_pic50=PIC50))
        assert sum(calls) <= cfg.oracle_budget
    a, b = runs
    assert a.equals(b)
    assert a.height > 0 and a["inchikey"].n_unique() == a.height
    assert set(a["method"].unique()) <= {"graph_ga", "mmp", "brics"} and "mmp" in set(a["method"])
    known = {standardize_smiles(s).inchikey for s in CORPUS + parents}
    assert not known & set(a["inchikey"])
    assert a["parent_smiles"].is_in(parents).all()
    other = propose(parents, CORPUS, toy_objective([]), DesignConfig(**{**cfg.__dict__, "seed": 4}),
                    corpus_pic50=PIC50)
    assert not other.equals(a)


def test_propose_without_parents_is_empty():
    out = propose(["not a smiles"], CORPUS, toy_objective([]), DesignConfig())
    assert out.height == 0 and "smiles" in out.columns


def test_sanity_rules_refuse_unreasonable_bonds():
    from models.design.sanity import refusal

    assert refusal(Chem.MolFromSmiles("CS(=O)(=O)Nc1ccc(Cl)cn1")) is None
    assert refusal(Chem.MolFromSmiles("COCl")) == "heteroatom-halogen bond"
    assert refusal(Chem.MolFromSmiles("CCOOC")) is not None
    assert refusal(Chem.MolFromSmiles("C1CCCCCCCC1")) == "ring of 9 atoms"


def test_propose_does_not_depend_on_string_hashing(tmp_path):
    """mol-ga keeps its population in sets; the result must not follow PYTHONHASHSEED."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "run.py"
    script.write_text(
        "import sys, hashlib\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_design import CORPUS, PIC50, toy_objective\n"
        "from models.design import DesignConfig, propose\n"
        "cfg = DesignConfig(seed=5, oracle_budget=120, ga_population=15, ga_offspring=30, n_parents=2)\n"
        "out = propose(['CS(=O)(=O)Nc1ccc(Cl)cn1', 'NC(=O)c1ccc(Cl)cc1'], CORPUS, toy_objective([]), cfg,\n"
        "              corpus_pic50=PIC50)\n"
        "print(out.height, hashlib.sha256(out.write_csv().encode()).hexdigest())\n")
    root = Path(__file__).resolve().parents[1]
    outs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h, "PYTHONPATH": str(root)}).stdout
            for h in ("1", "2")]
    assert outs[0] == outs[1] and int(outs[0].split()[0]) > 0


def test_select_batch_exploits_then_explores():
    smiles = ["NC(=O)c1ccc(Cl)cc1", "CS(=O)(=O)Nc1ccc(Cl)cn1", "Clc1ccc(-c2ccccn2)cc1", "COc1ccc(S(N)(=O)=O)cc1"]
    scored = _scored(smiles, [True] * 4, [7.0, 6.5, 6.0, 5.0]).with_columns(
        pl.Series("uncertainty", [2.0, 0.2, 0.2, 3.0]))
    cfg = DesignConfig(batch_size=4, diversity=1.0, kappa=1.0, exploit_fraction=0.5)
    ranked = select_batch(scored, cfg).sort("rank")
    # exploit half by pred - unc: 6.3, 5.8 (then 5.0, 2.0); explore half by pred + unc: 9.0, 8.0
    assert ranked["smiles"].to_list() == [smiles[1], smiles[2], smiles[0], smiles[3]]
    assert ranked["pick"].to_list() == ["exploit", "exploit", "explore", "explore"]
    ucb = select_batch(scored, DesignConfig(**{**cfg.__dict__, "exploit_fraction": 0.0})).sort("rank")
    assert ucb["smiles"].to_list() == [smiles[0], smiles[3], smiles[1], smiles[2]]
    assert ucb["acquisition"].to_list() == pytest.approx([9.0, 8.0, 6.7, 6.2])


def test_a_missing_prediction_scores_no_potency():
    def nan_potency(props):
        return np.full(props.height, np.nan), np.full(props.height, 0.5)
    objective = d.make_objective(nan_potency, CORPUS, DesignConfig())
    good = d.make_objective(toy_potency, CORPUS, DesignConfig())
    smiles = ["NC(=O)c1ccc(Cl)cc1Cl", "not a smiles"]
    assert objective(smiles)[0] < 0.2 * good(smiles)[0]
    assert objective(smiles)[1] == 0.0


def test_committee_averages_members_and_adds_their_disagreement(monkeypatch):
    from types import SimpleNamespace

    from models.compounds import activity
    from models.design import surrogate

    a = SimpleNamespace(family="xgboost", model_version="xgboost-aaa", pred=[5.0, 7.0])
    b = SimpleNamespace(family="mlp", model_version="mlp-bbb", pred=[7.0, 7.0])
    monkeypatch.setattr(activity, "predict_potency",
                        lambda m, frame: (np.array(m.pred), np.full(2, 0.5), None))
    pred, unc = surrogate.committee([a, b])(pl.DataFrame({"x": [1, 2]}))
    assert np.allclose(pred, [6.0, 7.0])
    # members' own uncertainty 0.5; they disagree by +-1 on the first design only
    assert np.allclose(unc, [np.sqrt(0.25 + 1.0), 0.5])
    assert surrogate.committee_version([a, b]) == "xgboost-aaa+mlp-bbb"
    trained = []
    monkeypatch.setattr(activity, "train_activity",
                        lambda props, labels, seed, families: trained.append(families) or families)
    props = pl.DataFrame({"inchikey": ["K1"], "morgan_fp": [b"\x01"]})
    assert surrogate.second_opinions(a, props, pl.DataFrame()) == [("mlp",)]
    assert surrogate.second_opinions(SimpleNamespace(family="chemprop"), props, None) == [("xgboost",), ("mlp",)]
    # no property frame (a lake before its first compound refresh): the lake's model alone
    assert surrogate.second_opinions(a, pl.DataFrame(), pl.DataFrame()) == []
    with pytest.raises(ValueError):
        surrogate.committee([])

    def too_few(props, labels, seed, families):
        raise activity.NotEnoughLabels("2 potent actives")
    monkeypatch.setattr(activity, "train_activity", too_few)
    assert surrogate.second_opinions(a, props, pl.DataFrame()) == []
