"""ADMET-AI developability: the endpoint mapping, directions on drugs with known
liabilities, the InChIKey cache, and the mart on the end-to-end lake."""

from pathlib import Path

import polars as pl
import pytest
import yaml

from models.compounds import admet

DRUGS = {
    # hERG blockers withdrawn or restricted for QT prolongation
    "astemizole": "COc1ccc(CCN2CCC(Nc3nc4ccccc4n3Cc3ccc(F)cc3)CC2)cc1",
    "terfenadine": "CC(C)(C)c1ccc(cc1)C(O)CCCN1CCC(CC1)C(O)(c1ccccc1)c1ccccc1",
    "cisapride": "COC1CN(CCCOc2ccc(F)cc2)CCC1NC(=O)c1cc(Cl)c(N)cc1OC",
    # Ames-positive nitroaromatics
    "2-nitrofluorene": "O=[N+]([O-])c1ccc2c(c1)Cc1ccccc1-2",
    "4-nitroquinoline N-oxide": "[O-][n+]1ccc(c2ccccc12)[N+]([O-])=O",
    # neither
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
}
HERG_BLOCKERS = ("astemizole", "terfenadine", "cisapride")
MUTAGENS = ("2-nitrofluorene", "4-nitroquinoline N-oxide")
CLEAN = ("aspirin", "caffeine")


@pytest.fixture(scope="module")
def drugs() -> dict[str, dict]:
    """The drugs' predictions by name (the models load once for the module)."""
    out = admet.predict(list(DRUGS.values()))
    return dict(zip(DRUGS, out.iter_rows(named=True)))


def test_mapping_covers_every_shipped_endpoint():
    tasks = [t for tasks in admet.model().task_lists for t in tasks]
    assert len(tasks) == 41 and set(tasks) == set(admet.ENDPOINTS)
    columns = admet.ENDPOINT_COLUMNS
    assert len(set(columns)) == len(columns) == 41
    assert all(c == c.lower() and c.replace("_", "").isalnum() for c in columns)
    assert set(admet.FLAGGED) <= set(columns)
    assert set(admet.SAFETY_COLUMNS) <= set(admet.schema())


def test_same_numbers_as_admet_ai_own_predict(drugs):
    """Running the ensembles directly (no Trainer) gives admet-ai's own predictions."""
    reference = admet.model().predict(list(DRUGS.values()))
    for tdc, (column, _) in admet.ENDPOINTS.items():
        ours = [drugs[name][column] for name in DRUGS]
        assert ours == pytest.approx(reference[tdc].tolist(), rel=1e-5, abs=1e-6), tdc


def test_known_liabilities_point_the_right_way(drugs):
    cuts = admet.flag_thresholds()
    assert 0.5 <= min(cuts.values()) and max(cuts.values()) < 1
    for blocker in HERG_BLOCKERS:
        for clean in CLEAN:
            assert drugs[blocker]["herg"] > drugs[clean]["herg"] + 0.5, (blocker, clean)
        assert drugs[blocker]["herg_flag"]
        assert drugs[blocker]["safety_factor"] < 1
    for mutagen in MUTAGENS:
        for clean in CLEAN:
            assert drugs[mutagen]["ames"] > drugs[clean]["ames"] + 0.3, (mutagen, clean)
        assert drugs[mutagen]["ames_flag"] and "AMES" in drugs[mutagen]["safety_summary"]
    for clean in CLEAN:
        assert not drugs[clean]["herg_flag"] and not drugs[clean]["ames_flag"]
    # aspirin, an ester of a carboxylic acid, is far more soluble than terfenadine
    assert drugs["aspirin"]["solubility_logs"] > drugs["terfenadine"]["solubility_logs"] + 1
    for row in drugs.values():
        n = sum(row[f] for f in admet.FLAG_COLUMNS)
        assert row["n_safety_flags"] == n
        assert row["safety_factor"] == pytest.approx(max(admet.SAFETY_FLOOR, admet.SAFETY_PENALTY ** n))
        assert (row["safety_summary"] == "no safety flag") == (n == 0)


def test_unreadable_structure_is_null_not_a_penalty():
    # batch_size=2 leaves "CCO" alone in its batch: chemprop would drop such a batch of one
    out = admet.predict(["C1CC", None, "CCO"], batch_size=2)
    assert out.height == 3
    assert out["herg"].is_null().to_list() == [True, True, False]
    assert out["safety_factor"].to_list()[:2] == [1.0, 1.0]
    assert out["n_safety_flags"].is_null().to_list() == [True, True, False]


def test_shipped_drugbank_predictions_are_the_models_own(drugs):
    """The cache takes admet-ai's shipped DrugBank predictions for approved drugs: they must
    be what the models predict for that structure."""
    from rdkit import Chem

    shipped = admet._shipped_predictions()
    found = 0
    for name, smiles in DRUGS.items():
        row = shipped.filter(pl.col("canonical") == Chem.MolToSmiles(Chem.MolFromSmiles(smiles)))
        if row.height:
            found += 1
            for column in admet.ENDPOINT_COLUMNS:
                assert row[column][0] == pytest.approx(drugs[name][column], rel=1e-4, abs=1e-4)
    assert found >= 2    # aspirin and caffeine at least


def test_cache_predicts_only_new_structures():
    a = pl.DataFrame({"inchikey": ["K-NITROFLUORENE", "K-ASPIRIN"],
                      "smiles": [DRUGS["2-nitrofluorene"], DRUGS["aspirin"]]})
    cache, out, n = admet.update_cache(None, a)
    # aspirin's predictions come with admet-ai (DrugBank), the nitrofluorene's are run now
    assert n == {"predicted": 1, "from_shipped": 1, "cached": 0}
    assert out.height == 2 and cache.height == 2 and out["herg"].null_count() == 0
    again, out2, n2 = admet.update_cache(cache, a)
    assert n2 == {"predicted": 0, "from_shipped": 0, "cached": 2}
    assert again.equals(cache) and out2.equals(out)
    # one structure leaves the libraries, one arrives: only the new one is predicted; the
    # one that left is no longer in the output but stays cached
    b = pl.DataFrame({"inchikey": ["K-NITROFLUORENE", "K-NQO"],
                      "smiles": [DRUGS["2-nitrofluorene"], DRUGS["4-nitroquinoline N-oxide"]]})
    grown, out3, n3 = admet.update_cache(again, b)
    assert n3 == {"predicted": 1, "from_shipped": 0, "cached": 1}
    assert sorted(out3["inchikey"]) == ["K-NITROFLUORENE", "K-NQO"]
    assert grown.height == 3 and "K-ASPIRIN" in grown["inchikey"].to_list()
    assert out3.filter(pl.col("inchikey") == "K-NITROFLUORENE").equals(
        out.filter(pl.col("inchikey") == "K-NITROFLUORENE"))
    # another admet-ai version's rows are not reused
    old = grown.with_columns(pl.lit("admet-ai 0.0").alias("admet_version"))
    _, _, n4 = admet.update_cache(old, b)
    assert n4["predicted"] == 2


def test_mart_documents_every_column():
    spec = yaml.safe_load((Path(__file__).parents[1] / "dbt_project/models/marts/compound_admet.yml")
                          .read_text())
    documented = [c["name"] for c in spec["models"][0]["columns"]]
    assert documented == ["compound_id", "name", "smiles", "inchikey", *admet.schema()]
    assert all(c.get("description") for c in spec["models"][0]["columns"])


def test_e2e_lake_has_the_compound_admet_mart(e2e_lake):
    from orchestration.assets.isolation import read_status
    from orchestration.lake.io import read_model

    paths, _ = e2e_lake
    mart = read_model(paths, "compound_admet")
    compounds = read_model(paths, "int_compounds")
    assert mart.height == compounds.height > 0
    assert set(mart["inchikey"]) == set(compounds["inchikey"])
    assert mart["admet_version"].unique().to_list() == [admet.admet_version()]
    assert mart["herg"].null_count() == 0
    assert mart["safety_factor"].is_between(admet.SAFETY_FLOOR, 1.0).all()
    status = read_status(paths).filter(pl.col("step") == "compound_admet_predictions")
    assert status["status"].to_list() == ["ok"]


def test_mart_is_built_after_the_asset_in_the_dagster_graph():
    import dagster as dg

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    asset = graph.get(dg.AssetKey("compound_admet_predictions"))
    assert dg.AssetKey("int_compounds") in asset.parent_keys
    assert dg.AssetKey("compound_admet_predictions") in graph.get(dg.AssetKey("compound_admet")).parent_keys
