"""Tests for the compound models: metrics, scaffold folds, features, activity, solubility, ranking.

Property frames are built here with a few RDKit calls (same columns as the contract's
``compound_properties``) so these tests do not depend on orchestration.chem.
"""

from __future__ import annotations

import json
import math

# activity first: it sets OMP_WAIT_POLICY before xgboost loads OpenMP (see models/ranker.py).
from models.compounds import activity  # isort: skip

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from rdkit import Chem, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.Scaffolds import MurckoScaffold

from models.compounds import ranking, solubility
from models.compounds.features import DESCRIPTORS, N_BITS, FeatureSpec, feature_matrix, fit_feature_spec
from models.compounds.metrics import enrichment_factor, pr_auc, regression_metrics, roc_auc
from models.compounds.chemprop_model import ChempropConfig, ChempropRegressor, predict_ensemble
from models.compounds.labels import single_point_pic50
from models.compounds.mlp import MLP, MLPConfig
from models.compounds.scaffold_split import scaffold_folds, scaffold_groups

RDLogger.DisableLog("rdApp.*")
FAST_MLP = MLPConfig(max_epochs=12, patience=3)
FAST_CHEMPROP = ChempropConfig(max_epochs=5, patience=3, hidden=64, ffn_hidden=64, batch_size=50)

# Ring systems found in marketed drugs, each attached to a para-substituted benzene.
RINGS = [
    "C1CCNCC1", "C1COCCN1", "C1CNCCN1", "c1ccncc1", "c1ccccn1", "c1cncnc1", "c1ccc2ccccc2c1",
    "c1ccc2[nH]ccc2c1", "c1ccc2ncccc2c1", "c1ccsc1", "c1ccoc1", "c1cn[nH]c1", "c1nccn1C",
    "C1CCCCC1", "C1CCCC1", "c1ccc2c(c1)OCO2", "C1CCOCC1", "c1ncc[nH]1", "c1ccc2occc2c1",
    "c1ccc2sccc2c1", "C1CC1", "c1cnoc1", "C1CCN(C)CC1", "c1ccc2nc[nH]c2c1", "C1CCC(=O)N1",
    "c1cc2ccccc2o1", "C1CC2CCC1C2", "c1ccc(cc1)C", "c1ccnnc1", "c1csc(n1)N",
]
# Substituents; the first two define "active" (a sulfonamide or a nitro group anywhere).
SUBSTITUENTS = ["NS(=O)(=O)", "O=[N+]([O-])", "F", "Cl", "C", "CO", "N#C", "OC", "CC(=O)N", "FC(F)(F)"]
ACTIVE_PATTERNS = [Chem.MolFromSmarts("S(=O)(=O)[NX3;H2]"), Chem.MolFromSmarts("[N+](=O)[O-]")]
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=N_BITS)


def props_frame(smiles: list[str]) -> pl.DataFrame:
    """Contract-shaped property frame (sa_score left null) for valid SMILES."""
    rows = []
    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        assert mol is not None, smi
        fp = np.packbits(_MORGAN.GetFingerprintAsNumPy(mol).astype(np.uint8), bitorder="big").tobytes()
        rows.append({
            "inchikey": Chem.MolToInchiKey(mol), "smiles": Chem.MolToSmiles(mol),
            "mw": Descriptors.MolWt(mol), "clogp": Crippen.MolLogP(mol), "tpsa": rdMolDescriptors.CalcTPSA(mol),
            "hbd": Lipinski.NumHDonors(mol), "hba": Lipinski.NumHAcceptors(mol),
            "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds(mol),
            "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings(mol),
            "fraction_csp3": rdMolDescriptors.CalcFractionCSP3(mol), "heavy_atoms": mol.GetNumHeavyAtoms(),
            "qed": QED.qed(mol), "sa_score": None,
            "scaffold": MurckoScaffold.MurckoScaffoldSmiles(mol=mol), "morgan_fp": fp,
        })
    return pl.DataFrame(rows, schema_overrides={"sa_score": pl.Float64, "morgan_fp": pl.Binary})


@pytest.fixture(scope="module")
def sar():
    """300 molecules (30 scaffolds × 10 substituents); potent (pIC50 6–7) = sulfonamide or nitro
    present, else inert: censored at the single-point floor (≈ 3.72)."""
    smiles = [f"{sub}c1ccc(cc1){ring}" for ring in RINGS for sub in SUBSTITUENTS]
    props = props_frame(smiles).unique("inchikey", maintain_order=True)
    mols = [Chem.MolFromSmiles(s) for s in props["smiles"]]
    label = [int(any(m.HasSubstructMatch(p) for p in ACTIVE_PATTERNS)) for m in mols]
    rng = np.random.default_rng(0)
    floor = single_point_pic50(0.0)
    pic50 = [6.0 + rng.random() if a else floor for a in label]
    labels = pl.DataFrame({"inchikey": props["inchikey"], "pic50": pic50,
                           "censored": [not a for a in label], "label": label})
    return props, labels


@pytest.fixture(scope="module")
def trained(sar):
    props, labels = sar
    return activity.train_activity(props, labels, seed=0, n_folds=3, mlp_config=FAST_MLP,
                                   chemprop_config=FAST_CHEMPROP)


# ---------------------------------------------------------------- metrics

def test_roc_auc_hand_computed():
    # positives 0.9, 0.7; negatives 0.8, 0.1 → 3 of 4 pairs ordered correctly
    assert roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.75)
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0], [0.2, 0.5, 0.5]) == pytest.approx(0.25)  # one loss, one tie
    assert math.isnan(roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_pr_auc_hand_computed():
    # P@1 = 1 (R .5), P@3 = 2/3 (R 1): AP = .5·1 + .5·2/3
    assert pr_auc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 1 / 3)
    # tied top pair is one threshold: P = 1/2 at R = 1/2, then P = 2/3 at R = 1
    assert pr_auc([1, 0, 1], [0.5, 0.5, 0.1]) == pytest.approx(0.25 + 1 / 3)
    assert pr_auc([0, 1, 0, 1], [0.5, 0.5, 0.1, 0.1]) == pytest.approx(pr_auc([1, 0, 1, 0], [0.5, 0.5, 0.1, 0.1]))
    assert math.isnan(pr_auc([0, 0], [0.1, 0.2]))


def test_enrichment_factor_hand_computed():
    y = [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    s = np.linspace(1.0, 0.1, 10)
    assert enrichment_factor(y, s, 0.10) == pytest.approx((1 / 1) / (2 / 10))
    assert enrichment_factor(y, s, 0.05) == pytest.approx(5.0)  # ceil(0.5) = 1 compound
    assert enrichment_factor(y, s, 0.50) == pytest.approx((2 / 5) / (2 / 10))
    # a tied pair (one active) straddles a 1-compound cut-off: expected 0.5 hits
    assert enrichment_factor([1, 0, 0, 0], [1, 1, 0, 0], 0.25) == pytest.approx(0.5 / 0.25)
    assert enrichment_factor([0, 1, 0, 0], [1, 1, 0, 0], 0.25) == pytest.approx(2.0)
    assert math.isnan(enrichment_factor([0, 0, 0], [1, 2, 3], 0.5))
    with pytest.raises(ValueError):
        enrichment_factor(y, s, 0.0)


def test_metrics_do_not_depend_on_row_order():
    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.2
    s = np.round(rng.random(200), 1)  # many ties
    perm = rng.permutation(200)
    for f in (roc_auc, pr_auc, lambda a, b: enrichment_factor(a, b, 0.05)):
        assert f(y, s) == pytest.approx(f(y[perm], s[perm]))


def test_regression_metrics_hand_computed():
    m = regression_metrics([1, 2, 3], [1, 2, 4])
    assert m["rmse"] == pytest.approx(math.sqrt(1 / 3))
    assert m["mae"] == pytest.approx(1 / 3)
    assert m["r2"] == pytest.approx(1 - 1 / 2)
    assert m["n"] == 3


# ---------------------------------------------------------------- scaffold folds

def test_scaffold_folds_keep_groups_whole_and_balanced():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 15, size=40)
    scaffolds = [f"S{g}" for g, n in enumerate(sizes) for _ in range(n)] + ["", "", ""]
    folds = scaffold_folds(scaffolds, n_folds=5, seed=1)
    for sc in set(scaffolds) - {""}:
        assert len({folds[i] for i, s in enumerate(scaffolds) if s == sc}) == 1
    counts = np.bincount(folds, minlength=5)
    assert counts.max() - counts.min() <= sizes.max()
    assert np.array_equal(folds, scaffold_folds(scaffolds, n_folds=5, seed=1))


def test_acyclic_molecules_are_singletons_unless_keyed_alike():
    groups = scaffold_groups(["", "", "A", "A", None])
    assert len(set(groups)) == 4
    keyed = scaffold_groups(["", "", "A"], keys=["CCO", "CCO", "c1ccccc1"])
    assert keyed[0] == keyed[1] != keyed[2]


def test_scaffold_folds_spread_positives_over_folds():
    # 10 big inactive scaffolds and 5 small active ones: every fold must get an active scaffold
    scaffolds = [f"big{g}" for g in range(10) for _ in range(20)] + [f"act{g}" for g in range(5) for _ in range(2)]
    labels = [0] * 200 + [1] * 10
    folds = scaffold_folds(scaffolds, n_folds=5, seed=0, labels=labels)
    pos_per_fold = np.bincount(folds[np.array(labels) == 1], minlength=5)
    assert (pos_per_fold == 2).all()


# ---------------------------------------------------------------- features

def test_feature_matrix_unpacks_big_endian_bits_and_fills_training_medians():
    props = props_frame(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"])
    x, names = feature_matrix(props)
    assert x.dtype == np.float32 and x.shape == (3, N_BITS + len(DESCRIPTORS))
    assert names[:2] == ["fp_0000", "fp_0001"] and names[N_BITS:] == DESCRIPTORS
    bits = _MORGAN.GetFingerprintAsNumPy(Chem.MolFromSmiles("CCO"))
    assert np.array_equal(x[0, :N_BITS], bits.astype(np.float32))
    spec = fit_feature_spec(props.with_columns(pl.Series("mw", [10.0, None, 30.0])))
    assert spec.medians["mw"] == 20.0 and spec.medians["sa_score"] == 0.0  # all-null column
    new = props.head(1).with_columns(pl.lit(None, dtype=pl.Float64).alias("mw"))
    assert spec.transform(new)[0, N_BITS + DESCRIPTORS.index("mw")] == 20.0
    assert FeatureSpec.from_json(spec.to_json()) == spec


def test_count_fingerprint_counts_environments_where_the_stored_bit_is_set():
    props = props_frame(["Clc1ccc(Cl)cc1", "Clc1ccccc1", "CC(=O)Nc1ccc(O)cc1"])
    spec = fit_feature_spec(props, fingerprint="counts")
    x = spec.transform(props)
    counts = _MORGAN.GetCountFingerprintAsNumPy(Chem.MolFromSmiles("Clc1ccc(Cl)cc1"))
    assert np.allclose(x[0, :N_BITS], np.log1p(counts.astype(np.float64)), atol=1e-6)
    # the same environments as the stored bits, with multiplicity: two chlorines are not one
    assert np.array_equal(x[:, :N_BITS] > 0, feature_matrix(props)[0][:, :N_BITS] > 0)
    shared = (x[0, :N_BITS] > 0) & (x[1, :N_BITS] > 0)  # e.g. the chlorine's own environment
    assert (x[0, :N_BITS][shared] > x[1, :N_BITS][shared]).any()
    # computed from the SMILES, so a frame without the packed fingerprint still scores,
    # and an unreadable structure is an all-zero row like a missing fingerprint
    assert np.array_equal(spec.transform(props.drop("morgan_fp")), x)
    odd = props.head(1).with_columns(pl.lit("not a smiles").alias("smiles"))
    assert not spec.transform(odd)[0, :N_BITS].any()
    assert FeatureSpec.from_json(spec.to_json()) == spec
    old = json.loads(spec.to_json())
    del old["fingerprint"]  # a spec saved before the encoding was recorded meant bits
    assert FeatureSpec.from_json(json.dumps(old)).fingerprint == "bits"
    with pytest.raises(ValueError, match="fingerprint must be one of"):
        FeatureSpec(fingerprint="maccs")


# ---------------------------------------------------------------- MLP

def test_mlp_round_trip_and_regression(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    y = x[:, 0] * 2 - x[:, 1]
    cfg = MLPConfig(hidden=(32,), lr=1e-2, batch_size=32, dropout=0.0, max_epochs=100, patience=10)
    reg = MLP(task="regression", config=cfg, seed=0).fit(x, y)
    assert regression_metrics(y, reg.predict(x))["r2"] > 0.8
    reg.save(tmp_path / "m.pt")
    assert np.array_equal(MLP.load(tmp_path / "m.pt").predict(x), reg.predict(x))


# ---------------------------------------------------------------- activity

def test_activity_learns_substructure_sar_on_scaffold_cv(trained, sar):
    props, labels = sar
    m = trained.metrics
    assert m["n_compounds"] == props.height and m["n_positives"] == int(labels["label"].sum())
    assert m["n_censored"] == int(labels["censored"].sum())
    assert m["n_folds"] == 3 and all(p > 0 for p in m["fold_positives"])
    assert set(m["families"]) == {"xgboost", "mlp", "chemprop"} and m["chosen"] == trained.family
    chosen = m["families"][trained.family]
    assert set(chosen["pooled"]) == set(activity.METRIC_KEYS)
    assert chosen["pooled"]["roc_auc"] > 0.8 and chosen["pooled"]["spearman"] > 0.4
    assert len(chosen["per_fold"]) == 3
    for other in m["families"]:
        assert (chosen["mean"]["pr_auc"], chosen["mean"]["spearman"]) >= (
            m["families"][other]["mean"]["pr_auc"], m["families"][other]["mean"]["spearman"])
        assert m["families"][other]["pooled"]["rmse"] >= 0
    # the D-MPNN really trained: its held-out ranking beats chance on unseen scaffolds
    assert m["families"]["chemprop"]["pooled"]["roc_auc"] > 0.6
    assert m["residual_sd"] == chosen["pooled"]["rmse"]
    assert chosen["pooled"]["rmse"] == round(chosen["pooled"]["rmse"], 3)   # 3 decimals
    assert trained.oof.columns == ["inchikey", "fold", "family", "pred"]
    assert trained.oof.height == 3 * props.height
    assert len(trained.models) == 3
    assert trained.model_version == f"{trained.family}-{trained.fingerprint[:12]}"


def test_activity_save_load_and_streaming_give_identical_predictions(trained, sar, tmp_path):
    props, labels = sar
    mean, std = activity.predict(trained, props)
    assert (std >= 0).all() and np.isfinite(mean).all()
    pred, unc, p = activity.predict_potency(trained, props)
    # uncertainty combines the fold spread with the held-out residual SD; p from normal(pred, unc)
    assert np.allclose(unc, np.sqrt(std ** 2 + trained.residual_sd ** 2))
    assert np.allclose(p, 1 - 0.5 * (1 + np.vectorize(math.erf)((5.0 - pred) / (unc * math.sqrt(2)))))
    assert roc_auc(labels.sort("inchikey")["label"].to_numpy(),
                   pl.DataFrame({"inchikey": props["inchikey"], "p": p}).sort("inchikey")["p"]) > 0.8
    loaded = activity.load(activity.save(trained, tmp_path / "act"))
    mean2, std2 = activity.predict(loaded, props)
    assert np.array_equal(mean, mean2) and np.array_equal(std, std2)
    assert loaded.model_version == trained.model_version
    assert_frame_equal(loaded.oof, trained.oof)
    batches = [props.slice(i, 64) for i in range(0, props.height, 64)]
    streamed = pl.concat(list(activity.score_batches(loaded, batches)))
    assert streamed.columns == ["inchikey", "predicted_pic50", "pic50_uncertainty", "p_active"]
    assert np.allclose(streamed["predicted_pic50"].to_numpy(), mean, atol=1e-7)
    assert np.allclose(streamed["pic50_uncertainty"].to_numpy(), unc, atol=1e-7)
    assert np.allclose(streamed["p_active"].to_numpy(), p, atol=1e-7)
    # arrow record batches (what ParquetFile.iter_batches yields) work too
    arrow = list(activity.score_batches(loaded, props.to_arrow().to_batches(max_chunksize=100)))
    assert np.allclose(pl.concat(arrow)["predicted_pic50"].to_numpy(), mean, atol=1e-7)


def test_chemprop_regressor_round_trips_and_reads_censored_floors(sar):
    props, labels = sar
    small = labels.head(120)
    smiles = props.head(120)["smiles"].to_list()
    model = ChempropRegressor(config=FAST_CHEMPROP, seed=0).fit(
        smiles, small["pic50"].to_numpy(), small["censored"].to_numpy())
    pred = model.predict(smiles + ["not a smiles"])
    assert np.isnan(pred[-1]) and np.isfinite(pred[:-1]).all()
    back = ChempropRegressor.from_bytes(model.to_bytes())
    assert np.array_equal(back.predict(smiles), pred[:-1])
    again = ChempropRegressor(config=FAST_CHEMPROP, seed=0).fit(
        smiles, small["pic50"].to_numpy(), small["censored"].to_numpy())
    assert np.allclose(again.predict(smiles), pred[:-1])   # seeded: the same model
    # one molecule, and a last batch of one: chemprop's loader would drop it by default
    assert np.allclose(predict_ensemble([model], smiles[:1]), pred[:1])
    assert np.allclose(predict_ensemble([model], smiles[:5], batch_size=4), pred[:5])


def test_activity_model_file_tampering_is_detected(trained, tmp_path):
    d = activity.save(trained, tmp_path / "act")
    model_file = sorted(d.glob("fold_0.*"))[0]
    model_file.write_bytes(model_file.read_bytes() + b"x")
    with pytest.raises(ValueError, match="checksum"):
        activity.load(d)


def test_not_enough_labels(sar):
    props, labels = sar
    few = labels.with_columns(pl.when(pl.int_range(pl.len()) < 4).then(pl.lit(6.5)).otherwise(4.0)
                              .alias("pic50"))
    with pytest.raises(activity.NotEnoughLabels):
        activity.train_activity(props, few, families=("xgboost",))
    # plenty of actives, but all on one scaffold
    one_scaffold = props.select("inchikey", (pl.col("scaffold") == pl.col("scaffold").first()).alias("a"))
    lab = labels.join(one_scaffold, on="inchikey").with_columns(
        pl.when(pl.col("a")).then(6.5).otherwise(4.0).alias("pic50"), pl.lit(False).alias("censored"))
    with pytest.raises(activity.NotEnoughLabels, match="scaffold"):
        activity.train_activity(props, lab, families=("xgboost",))


# ---------------------------------------------------------------- solubility

def test_solubility_trains_reports_test_and_round_trips(sar, tmp_path):
    props, _ = sar
    rng = np.random.default_rng(0)
    data = props.with_columns((-0.8 * pl.col("clogp") - 0.01 * pl.col("mw") + 1.0).alias("logS"))
    is_test = rng.random(data.height) < 0.25
    art = solubility.train_solubility(data.filter(pl.Series(~is_test)), data.filter(pl.Series(is_test)),
                                      n_folds=3, mlp_config=FAST_MLP, xgb_rounds=100)
    m = art.metrics
    assert set(m["cv"]) == {"xgboost", "mlp"} and m["chosen"] == art.family
    assert set(m["test"]) == {"rmse", "mae", "r2", "n"} and m["test"]["n"] == int(is_test.sum())
    assert m["test"]["r2"] > 0.5
    assert all(p["n_test"] and p["citation"] for p in solubility.PUBLISHED)
    loaded = solubility.load(solubility.save(art, tmp_path / "sol"))
    test = data.filter(pl.Series(is_test))
    assert np.array_equal(solubility.predict_logS(loaded, test), solubility.predict_logS(art, test))


# ---------------------------------------------------------------- ranking

def _rank_input() -> pl.DataFrame:
    return pl.DataFrame({
        "inchikey": ["A", "B", "C", "D", "E", "F"],
        "p_active": [0.2, 0.9, 0.5, None, 0.3, 0.4],
        "tested": [True, False, False, False, True, False],
        "observed_active": [True, None, None, None, False, None],
        "qed": [0.5, 0.8, None, 0.5, 0.9, 0.5],
        "n_pains": [0, 1, 0, 0, 0, 0],
        "n_brenk": [0, 0, 2, 0, 0, 0],
        "lipinski_pass": [True, True, False, True, True, True],
        "predicted_logS": [-3.0, -7.0, -9.0, None, -2.0, -3.0],
    })


def test_ranking_follows_the_documented_formula():
    out = ranking.rank_compounds(_rank_input())
    got = {r["inchikey"]: r for r in out.iter_rows(named=True)}
    # A: confirmed active → acquisition 1; dev = (0.5+0.25)
    assert got["A"]["acquisition"] == 1.0 and got["A"]["developability"] == pytest.approx(0.75)
    # B: p_active 0.9; dev = 0.9 (qed) × 0.5 (1 PAINS) × solubility(-7) = 0.75
    assert got["B"]["developability"] == pytest.approx(0.9 * 0.5 * 0.75)
    assert got["B"]["score"] == pytest.approx(0.9 * 0.9 * 0.5 * 0.75)
    # C: p_active 0.5; qed unknown → 0.75; 2 Brenk; Lipinski fail; logS -9 → floor 0.5
    assert got["C"]["acquisition"] == pytest.approx(0.5)
    assert got["C"]["developability"] == pytest.approx(0.75 * 0.81 * 0.7 * 0.5)
    # E: confirmed inactive → 0
    assert got["E"]["score"] == 0.0 and got["E"]["evidence"] == "observed_inactive"
    # D: no prediction → null score, last of the compounds still to test
    assert got["D"]["score"] is None and got["D"]["rank"] == 4
    # what to test next first; compounds with an observed call (A, E) after them
    assert out["inchikey"].to_list() == ["B", "F", "C", "D", "A", "E"]
    assert out["rank"].to_list() == [1, 2, 3, 4, 5, 6]


def test_ranking_safety_interference_and_tie_break():
    df = _rank_input().filter(pl.col("inchikey").is_in(["F"]))
    twin = pl.concat([df.with_columns(pl.lit("Z").alias("inchikey")), df])
    out = ranking.rank_compounds(twin)
    assert out["inchikey"].to_list() == ["F", "Z"]  # equal scores → inchikey order
    assert out["acquisition"][0] == pytest.approx(0.4) and out["score"][0] == pytest.approx(0.3)
    # ADMET's safety_factor and the screen's interferer flag multiply the score; null = neutral
    flagged = twin.with_columns(pl.Series("safety_factor", [0.25, None]),
                                pl.Series("likely_interferer", [None, True]))
    got = {r["inchikey"]: r["score"] for r in ranking.rank_compounds(flagged).iter_rows(named=True)}
    assert got["Z"] == pytest.approx(0.3 * 0.25)
    assert got["F"] == pytest.approx(0.3 * ranking.INTERFERER_FACTOR)


def test_ranking_spreads_the_next_plate_over_scaffolds():
    df = pl.DataFrame({
        "inchikey": ["A1", "A2", "A3", "B1"],
        "scaffold": ["c1ccccc1", "c1ccccc1", "c1ccccc1", "C1CCNCC1"],
        "p_active": [0.60, 0.56, 0.55, 0.52],
        "tested": [False] * 4, "observed_active": [None] * 4, "qed": [0.5] * 4,
        "n_pains": [0] * 4, "n_brenk": [0] * 4, "lipinski_pass": [True] * 4,
        "predicted_logS": [-3.0] * 4,
    })
    out = ranking.rank_compounds(df)
    # A2 and A3 are worth 0.9 and 0.81 of their score: the other chemotype comes second
    assert out["inchikey"].to_list() == ["A1", "B1", "A2", "A3"]
    got = {r["inchikey"]: r for r in out.iter_rows(named=True)}
    assert got["A3"]["priority"] == pytest.approx(got["A3"]["score"] * ranking.SCAFFOLD_DECAY ** 2)


# ---------------------------------------------------------------- content addressing

def test_activity_fingerprint_and_version_follow_the_training_content(trained, sar, tmp_path):
    props, labels = sar
    kw = dict(n_folds=3, mlp_config=FAST_MLP, chemprop_config=FAST_CHEMPROP)
    fp = activity.fingerprint(props, labels, seed=0, **kw)
    assert trained.fingerprint == fp
    assert trained.model_version == f"{trained.family}-{fp[:12]}"   # no training time in it
    shuffled = activity.fingerprint(props.sample(fraction=1.0, shuffle=True, seed=3),
                                    labels.reverse(), seed=0, **kw)
    assert shuffled == fp
    assert activity.fingerprint(props, labels, seed=1, **kw) != fp
    moved = labels.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("pic50") + 0.5)
                                .otherwise(pl.col("pic50")).alias("pic50"))
    assert activity.fingerprint(props, moved, seed=0, **kw) != fp
    uncensored = labels.with_columns(pl.lit(False).alias("censored"))
    assert activity.fingerprint(props, uncensored, seed=0, **kw) != fp
    assert activity.fingerprint(props, labels, seed=0, n_folds=3, mlp_config=FAST_MLP,
                                chemprop_config=ChempropConfig(max_epochs=7)) != fp
    folder = tmp_path / "act"
    assert activity.reuse(folder, fp) is None
    import dataclasses

    activity.save(dataclasses.replace(trained, target="../../odd/target"), folder)
    back = activity.reuse(folder, fp)
    assert back is not None and back.model_version == trained.model_version
    assert back.target == "../../odd/target"
    assert np.array_equal(activity.predict(back, props)[0], activity.predict(trained, props)[0])
    assert activity.reuse(folder, "0" * 64) is None


def test_solubility_version_is_its_fingerprint(sar):
    props, _ = sar
    data = props.with_columns((-0.8 * pl.col("clogp") + 1.0).alias("logS"))
    kw = dict(n_folds=3, families=("xgboost",), xgb_rounds=20)
    art = solubility.train_solubility(data, data.head(0), source_digest="abc", **kw)
    assert art.fingerprint == solubility.fingerprint("abc", **kw)
    assert art.model_version == f"logS-xgboost-{art.fingerprint[:12]}"
    assert solubility.fingerprint("abd", **kw) != art.fingerprint


def test_activity_model_folder_of_a_hostile_target_stays_in_the_lake(tmp_path):
    import json

    from orchestration.assets.compound_models import ACTIVITY_DIR, activity_folder, activity_models
    from orchestration.settings import LakePaths

    paths = LakePaths(tmp_path / "lake")
    root = (paths.models / ACTIVITY_DIR).resolve()
    for target in ("../../x", "/etc", "GENE/../../y", "..", "ABC1"):
        folder = activity_folder(paths, target)
        assert folder.parent == root and not folder.name.startswith(".")
        folder.mkdir(parents=True)
        (folder / activity.META_FILE).write_text(json.dumps({"target": target}))
    assert activity_folder(paths, "ABC1") != activity_folder(paths, "ABC1 ")
    assert sorted(activity_models(paths)) == sorted(["../../x", "/etc", "GENE/../../y", "..", "ABC1"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_label_evidence_is_the_measurement_that_decided_it_whatever_the_row_order():
    """A structure screened in two primary runs of one target (a hit in one) and fitted
    twice: the evidence quoted is the active measurement's, for every row order."""
    from models.compounds.labels import activity_labels

    calls = pl.DataFrame({
        "run_id": ["P1", "P2", "P1", "P2"], "compound_id": ["c1", "c1", "c2", "c2"],
        "is_hit": [False, True, False, False], "n_valid": [2, 2, 2, 2], "n_above": [0, 2, 0, 1],
        "median_corrected": [0.5, 6.0, 0.1, 0.2], "call": ["inactive", "hit", "inactive", "inactive"]})
    fits = pl.DataFrame({"run_id": ["D1", "D2"], "compound_id": ["c3", "c3"],
                         "curve_class": ["4", "1.1"], "ic50_um": [None, 0.5]},
                        schema_overrides={"ic50_um": pl.Float64})
    runs = pl.DataFrame({"run_id": ["P1", "P2", "D1", "D2"], "target_gene": ["T"] * 4})
    ids = pl.DataFrame({"compound_id": ["c1", "c2", "c3"], "inchikey": ["K1", "K2", "K3"]})
    first = activity_labels(calls, fits, runs, ids)
    evidence = dict(zip(first["inchikey"], first["evidence"]))
    assert evidence["K1"].startswith("primary: median score 6.0")
    assert evidence["K3"] == "dose-response: class 1.1, IC50 0.5 µM"
    assert evidence["K2"].startswith("primary: median score 0.1")   # no hit: the first run
    for seed in range(5):
        again = activity_labels(calls.sample(fraction=1.0, shuffle=True, seed=seed),
                                fits.reverse(), runs.reverse(), ids.reverse())
        assert_frame_equal(again, first)


def test_screen_evidence_keeps_the_best_hit_class_per_target_and_structure(tmp_path):
    from orchestration.assets.compound_models import screen_evidence
    from orchestration.settings import LakePaths

    paths = LakePaths(tmp_path / "lake")
    assert screen_evidence(paths).height == 0   # no screen yet: empty, typed
    paths.marts.mkdir(parents=True)
    pl.DataFrame({
        "run_id": ["R1", "R2", "R1", "R2", "R3"], "inchikey": ["K1", "K1", "K2", "K2", "K1"],
        "target_gene": ["T", "T", "T", "T", "U"],
        "hit_class": ["inactive", "weak", "inconclusive", "inactive", "hit"],
        "n_valid_replicates": [2, 1, 0, 2, 2], "needs_retest": [False, True, True, False, False],
        "likely_interferer": [False, True, False, None, False],
        "frequent_hitter": [False, False, False, False, True],
    }).write_parquet(paths.marts / "int_hts_compound_calls.parquet")
    got = {(r["target_gene"], r["inchikey"]): r for r in screen_evidence(paths).iter_rows(named=True)}
    assert (got[("T", "K1")]["hit_class"], got[("T", "K1")]["n_valid_replicates"],
            got[("T", "K1")]["needs_retest"]) == ("weak", 1, True)
    assert got[("T", "K1")]["likely_interferer"] and not got[("T", "K1")]["frequent_hitter"]
    assert got[("T", "K2")]["hit_class"] == "inconclusive"   # hit > weak > inconclusive > inactive
    assert got[("U", "K1")]["hit_class"] == "hit" and got[("U", "K1")]["frequent_hitter"]


def test_trainable_potency_leaves_out_only_potent_frequent_hitters():
    from orchestration.assets.compound_models import trainable_potency

    labels = pl.DataFrame({"target_gene": ["T"] * 4, "inchikey": ["A", "B", "C", "D"],
                           "pic50": [6.0, 4.0, 6.5, None], "censored": [False, True, False, False]})
    hits = pl.DataFrame({"target_gene": ["T"] * 3, "inchikey": ["A", "B", "C"],
                         "frequent_hitter": [True, True, False]})
    potency, n_out = trainable_potency(labels, hits)
    # A: potent and a frequent hitter (left out); B: an inactive frequent hitter (kept)
    assert n_out == 1 and potency["inchikey"].to_list() == ["B", "C", "D"]
    assert potency.columns == ["inchikey", "pic50", "censored"]


def test_activity_metadata_names_cv_figures_and_tabulates_every_family():
    from orchestration.assets.compound_models import activity_metadata
    from orchestration.metadata import check_keys

    pooled = {"rmse": 0.41234, "spearman": 0.3, "roc_auc": 0.91111, "pr_auc": 0.4, "ef1": 12.0, "ef5": 6.0}
    summary = {"GBA1": {"status": "trained", "family": "xgboost", "left_out_frequent_hitters": 2,
                        "families": {"xgboost": {"pooled": pooled}, "mlp": {"pooled": {**pooled, "roc_auc": 0.8}}},
                        "untested_vs_truth": {"roc_auc": 0.95555}},
               "FLUC": {"status": "not trained: too few actives"}}
    meta = activity_metadata(summary)
    assert meta["GBA1_cv_roc_auc"] == 0.911 and meta["GBA1_mlp_cv_roc_auc"] == 0.8
    assert meta["GBA1_untested_truth_roc_auc"] == 0.956 and meta["GBA1_chosen_family"] == "xgboost"
    table = meta["summary_table"].value
    assert "GBA1 / xgboost (chosen)" in table and "GBA1 / mlp |" in table and "FLUC" not in table
    assert not check_keys(meta)
