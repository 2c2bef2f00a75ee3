"""Structure standardization, per-structure properties and bundled reference sets."""

import numpy as np
import polars as pl
import pytest
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from orchestration.chem.properties import (DESCRIPTOR_COLUMNS, PROPERTY_COLUMNS, PROPERTY_SCHEMA,
                                           compute_properties, compute_properties_parallel,
                                           compute_structures, compute_structures_parallel,
                                           fingerprint_matrix)
from orchestration.chem.reference_data import (REFERENCE_DATA_DIR, load_approved_drugs,
                                               load_solubility)
from orchestration.chem.standardize import StructureError, standardize_smiles

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


# --- standardization -------------------------------------------------------------------

def test_salt_is_stripped_and_neutralized():
    std = standardize_smiles("CC(=O)[O-].[Na+]")
    assert std.smiles == "CC(=O)O"
    assert std.inchikey == "QTBSBXVTEAMEQO-UHFFFAOYSA-N"  # acetic acid
    assert std.notes == ("kept largest organic fragment (removed: [Na+])", "neutralized charges")


def test_covalent_sodium_salt_gives_the_same_parent():
    std = standardize_smiles("CC(=O)O[Na]")
    assert std.smiles == "CC(=O)O"
    assert std.notes[0] == "disconnected metals"


def test_hydrochloride_keeps_the_organic_parent():
    std = standardize_smiles("OC(=O)c1ccccc1.Cl")
    assert std.smiles == "O=C(O)c1ccccc1"
    assert std.notes == ("kept largest organic fragment (removed: Cl)",)


def test_unchanged_structure_has_no_notes_and_keeps_stereo():
    std = standardize_smiles("C[C@H](N)O")
    assert std.smiles == "C[C@H](N)O"
    assert std.notes == ()


def test_quaternary_ammonium_cannot_be_neutralized():
    std = standardize_smiles("C[N+](C)(C)C.[Cl-]")
    assert std.smiles == "C[N+](C)(C)C"
    assert "neutralized charges" not in std.notes


def test_nitro_group_is_not_touched():
    assert standardize_smiles("O=[N+]([O-])c1ccccc1").notes == ()


@pytest.mark.parametrize("smi, reason", [
    ("C[N](C)(C)(C)C", "Explicit valence for atom # 1 N, 5, is greater than permitted"),
    ("C1CC", "unparseable SMILES 'C1CC': SMILES Parse Error: unclosed ring"),
    ("c1cccc1", "Can't kekulize mol"),
    ("", "empty SMILES"),
    ("*", "no InChIKey"),
])
def test_bad_structures_say_why(smi, reason):
    with pytest.raises(StructureError) as err:
        standardize_smiles(smi)
    assert reason in str(err.value)


# --- properties ------------------------------------------------------------------------

def _props(smiles: str) -> dict:
    return compute_properties([smiles], ["KEY"]).row(0, named=True)


def test_schema_and_columns():
    frame = compute_properties([ASPIRIN], ["BSYNRYMUTXBXSQ-UHFFFAOYSA-N"])
    assert frame.columns == PROPERTY_COLUMNS
    assert dict(frame.schema) == PROPERTY_SCHEMA
    assert set(DESCRIPTOR_COLUMNS) <= set(PROPERTY_COLUMNS)
    assert all(frame.schema[c].is_numeric() for c in DESCRIPTOR_COLUMNS)


def test_aspirin_descriptors():
    p = _props(ASPIRIN)
    # C9H8O4: 9*12.011 + 8*1.008 + 4*15.999
    assert p["mw"] == pytest.approx(180.159, abs=1e-3)
    # Ertl TPSA: ester O 9.23 + 2 x carbonyl O 17.07 + hydroxyl O 20.23
    assert p["tpsa"] == pytest.approx(63.60, abs=1e-2)
    assert p["hbd"] == 1
    # RDKit's Lipinski.NumHAcceptors (CalcNumHBA) counts the two carbonyl O and the acid OH,
    # not the ester's bridging O, so 3 (the NOCount definition would give 4).
    assert p["hba"] == 3
    assert p["heavy_atoms"] == 13
    assert p["aromatic_rings"] == 1
    assert p["fraction_csp3"] == pytest.approx(1 / 9)
    assert p["lipinski_violations"] == 0 and p["lipinski_pass"] and p["veber_pass"]
    assert p["scaffold"] == "c1ccccc1"
    assert p["pains_alerts"] == [] and p["n_pains"] == 0
    assert p["brenk_alerts"] == ["phenol_ester"] and p["n_brenk"] == 1
    assert 0 < p["qed"] < 1
    assert 1 <= p["sa_score"] < 3  # an easy molecule on the 1 (easy)..10 (hard) scale
    assert p["inchikey"] == "KEY" and p["smiles"] == ASPIRIN


def test_pains_rhodanine_and_catechol():
    rhodanine = _props("O=C1NC(=S)SC1=Cc1ccccc1")
    assert rhodanine["pains_alerts"] == ["ene_rhod_A(235)"]
    assert rhodanine["brenk_alerts"] == ["Michael_acceptor_1", "Thiocarbonyl_group"]
    catechol = _props("Oc1ccccc1O")
    assert catechol["pains_alerts"] == ["catechol_A(92)"] and catechol["n_pains"] == 1
    assert catechol["brenk_alerts"] == ["catechol"]


def test_brenk_nitro():
    assert _props("O=[N+]([O-])c1ccccc1")["brenk_alerts"] == [
        "Oxygen-nitrogen_single_bond", "nitro_group"]


def test_big_greasy_acid_breaks_lipinski_and_veber():
    p = _props("C" * 37 + "C(=O)O")  # C38H76O2
    assert p["mw"] == pytest.approx(38 * 12.011 + 76 * 1.008 + 2 * 15.999, abs=1e-3)
    assert p["clogp"] > 5
    assert p["lipinski_violations"] == 2 and not p["lipinski_pass"]
    assert p["rotatable_bonds"] == 36 and not p["veber_pass"]
    assert p["scaffold"] == ""  # acyclic


def test_unparseable_smiles_gives_a_null_row():
    frame = compute_properties(["C1CC", ASPIRIN], ["A", "B"])
    bad = frame.row(0, named=True)
    assert bad["inchikey"] == "A" and bad["mw"] is None and bad["morgan_fp"] is None
    assert frame.row(1, named=True)["mw"] == pytest.approx(180.159, abs=1e-3)


def test_fingerprint_packing_round_trips_to_rdkit_bits():
    smiles = [ASPIRIN, "c1ccccc1O", "CCN(CC)CC"]
    frame = compute_properties(smiles, ["a", "b", "c"])
    assert all(len(fp) == 256 for fp in frame["morgan_fp"])
    matrix = fingerprint_matrix(frame["morgan_fp"])
    assert matrix.shape == (3, 2048) and matrix.dtype == np.uint8
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    for row, smi in zip(matrix, smiles):
        expected = sorted(gen.GetFingerprint(Chem.MolFromSmiles(smi)).GetOnBits())
        assert np.flatnonzero(row).tolist() == expected
    # big-endian: bit 0 is the most significant bit of byte 0
    assert fingerprint_matrix([bytes([0x80]) + bytes(255)])[0, :8].tolist() == [1] + [0] * 7
    assert fingerprint_matrix([None]).sum() == 0


def test_parallel_equals_serial():
    drugs = load_approved_drugs().head(40)
    std = [standardize_smiles(s) for s in drugs["smiles"]]
    smiles, keys = [s.smiles for s in std], [s.inchikey for s in std]
    serial = compute_properties(smiles, keys)
    parallel = compute_properties_parallel(smiles, keys, workers=2, batch_size=10)
    assert parallel.equals(serial)
    raw = drugs["smiles"].to_list() + ["C1CC"]
    s_serial = compute_structures(raw)
    s_parallel = compute_structures_parallel(raw, workers=2, batch_size=10)
    assert s_parallel.equals(s_serial)
    assert s_serial["error"].null_count() == len(raw) - 1
    assert s_serial["smiles"].to_list()[:40] == smiles


def test_empty_inputs():
    assert compute_properties([], []).height == 0
    assert compute_properties_parallel([], [], workers=2).columns == PROPERTY_COLUMNS


# --- reference data --------------------------------------------------------------------

def test_approved_drugs():
    drugs = load_approved_drugs()
    assert drugs.columns == ["chembl_id", "name", "first_approval", "smiles"]
    assert drugs.height == 2628
    nicotine = drugs.filter(pl.col("chembl_id") == "CHEMBL3").row(0, named=True)
    assert nicotine == {"chembl_id": "CHEMBL3", "name": "NICOTINE", "first_approval": 1984,
                        "smiles": "CN1CCC[C@H]1c1cccnc1"}


def test_solubility():
    sol = load_solubility()
    assert sol.columns == ["compound_id", "name", "smiles", "logS", "split"]
    assert sol.group_by("split").len().sort("split").rows() == [("test", 257), ("train", 1025)]
    first = sol.row(0, named=True)
    assert first == {"compound_id": "1", "name": "n-pentane", "smiles": "CCCCC", "logS": -3.18,
                     "split": "train"}
    assert sol["logS"].null_count() == 0
    assert (REFERENCE_DATA_DIR / "solubility.test.sdf").exists()


def test_explicit_hydrogens_are_not_a_change():
    std = standardize_smiles("[H]OC([H])([H])[H]")
    assert (std.smiles, std.notes) == ("CO", ())
