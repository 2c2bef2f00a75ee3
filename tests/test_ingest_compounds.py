"""Compound library parser: SDF (V2000/V3000, gz), SMILES and CSV/TSV files."""

import gzip
from pathlib import Path

import pyarrow as pa
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from orchestration.ingest.compounds import COMPOUND_RECORDS_SCHEMA, parse_compound_file
from orchestration.ingest.quarantine import FileRejected

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ASPIRIN_KEY = "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"
ACETIC_KEY = "QTBSBXVTEAMEQO-UHFFFAOYSA-N"


def _rows(result) -> list[dict]:
    tables = list(result.tables["compound_records"])
    for t in tables:
        assert t.schema == COMPOUND_RECORDS_SCHEMA
    return pa.concat_tables(tables).to_pylist()


def _lib(tmp_path: Path, name: str = "vendorA") -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    return folder


def _record(smiles: str, title: str, props: dict, v3000: bool = False) -> str:
    mol = Chem.MolFromSmiles(smiles)
    AllChem.Compute2DCoords(mol)
    mol.SetProp("_Name", title)
    block = Chem.MolToV3KMolBlock(mol) if v3000 else Chem.MolToMolBlock(mol)
    data = "".join(f">  <{k}>\n{v}\n\n" for k, v in props.items())
    return block + data + "$$$$\n"


def test_schema_columns():
    assert COMPOUND_RECORDS_SCHEMA.names == [
        "library", "compound_id", "name", "record_locator", "input_smiles", "smiles",
        "inchikey", "standardization"]


def test_sdf_v2000_ids_names_and_salts(tmp_path):
    path = _lib(tmp_path) / "set1.sdf"
    path.write_text(
        _record(ASPIRIN, "aspirin-title", {"ID": "ASP-1", "NAME": "aspirin"})
        + _record("CC(=O)[O-].[Na+]", "sodium acetate", {"Catalog_ID": "NA-1"})
        + _record("CCO", "", {})
    )
    result = parse_compound_file(path)
    rows = _rows(result)
    assert result.quarantine == []
    assert rows[0] == {"library": "vendorA", "compound_id": "ASP-1", "name": "aspirin",
                       "record_locator": "record 1", "input_smiles": ASPIRIN, "smiles": ASPIRIN,
                       "inchikey": ASPIRIN_KEY, "standardization": None}
    # no name field: the title is the name because it is not the id
    assert rows[1]["compound_id"] == "NA-1" and rows[1]["name"] == "sodium acetate"
    assert rows[1]["input_smiles"] == "CC(=O)[O-].[Na+]"
    assert rows[1]["smiles"] == "CC(=O)O" and rows[1]["inchikey"] == ACETIC_KEY
    assert rows[1]["standardization"] == \
        "kept largest organic fragment (removed: [Na+]); neutralized charges"
    # no id field and no title: named by file and record
    assert rows[2]["compound_id"] == "set1.sdf:record 3" and rows[2]["name"] is None


def test_sdf_title_is_the_id_when_no_id_field(tmp_path):
    path = _lib(tmp_path) / "t.sdf"
    path.write_text(_record("CCO", "ETH-9", {"name": "ethanol"}))
    row = _rows(parse_compound_file(path))[0]
    assert (row["compound_id"], row["name"]) == ("ETH-9", "ethanol")


def test_sdf_v3000_and_mol_file(tmp_path):
    path = _lib(tmp_path) / "v3.sdf"
    path.write_text(_record("C[C@H](N)O", "x", {"compound_id": "V3-1"}, v3000=True)
                    + _record("c1ccccc1", "y", {"compound_id": "V3-2"}, v3000=True))
    assert "V3000" in path.read_text()
    rows = _rows(parse_compound_file(path))
    assert [(r["compound_id"], r["smiles"]) for r in rows] == [("V3-1", "C[C@H](N)O"),
                                                               ("V3-2", "c1ccccc1")]
    mol_path = _lib(tmp_path) / "single.mol"
    mol = Chem.MolFromSmiles("CCN")
    mol.SetProp("_Name", "ethylamine")
    mol_path.write_text(Chem.MolToMolBlock(mol))
    rows = _rows(parse_compound_file(mol_path))
    assert [(r["compound_id"], r["smiles"], r["record_locator"]) for r in rows] == \
        [("ethylamine", "CCN", "record 1")]


def test_sdf_writer_force_v3000_gzip(tmp_path):
    path = _lib(tmp_path, "gzlib") / "set.sdf.gz"
    with gzip.open(path, "wt") as fh:
        writer = Chem.SDWriter(fh)
        writer.SetForceV3000(True)
        for i, smi in enumerate(["CCO", ASPIRIN, "CC(=O)[O-].[Na+]"], start=1):
            mol = Chem.MolFromSmiles(smi)
            mol.SetProp("_Name", f"title{i}")
            mol.SetProp("compound_id", f"G-{i}")
            writer.write(mol)
        writer.close()
    rows = _rows(parse_compound_file(path))
    assert [r["compound_id"] for r in rows] == ["G-1", "G-2", "G-3"]
    assert {r["library"] for r in rows} == {"gzlib"}
    assert rows[2]["smiles"] == "CC(=O)O"


def test_sdf_corrupted_records_in_the_middle(tmp_path):
    good1 = _record("CCO", "first", {"ID": "OK-1"})
    # pentavalent nitrogen: parses, fails sanitization
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("CN(C)(C)C", sanitize=False))
    bad_valence = block + ">  <ID>\nBAD-V\n\n$$$$\n"
    good2 = _record("c1ccccc1", "second", {"ID": "OK-2"})
    # a counts line that says 9 atoms when there are 3
    broken = _record("CCC", "counts", {"ID": "BAD-C"})
    lines = broken.splitlines()
    lines[3] = "  9" + lines[3][3:]
    broken = "\n".join(lines) + "\n"
    good3 = _record("CCN", "third", {"ID": "OK-3"})
    path = _lib(tmp_path) / "mixed.sdf"
    path.write_text(good1 + bad_valence + good2 + broken + good3)
    result = parse_compound_file(path)
    rows = _rows(result)
    assert [(r["compound_id"], r["record_locator"]) for r in rows] == [
        ("OK-1", "record 1"), ("OK-2", "record 3"), ("OK-3", "record 5")]
    q = {r.locator: r for r in result.quarantine}
    assert set(q) == {"record 2 (ID BAD-V)", "record 4 (ID BAD-C)"}
    assert all(r.granularity == "record" for r in result.quarantine)
    assert "Explicit valence for atom # 1 N, 4, is greater than permitted" in \
        q["record 2 (ID BAD-V)"].reason
    assert "unparseable molfile" in q["record 4 (ID BAD-C)"].reason


def test_sdf_duplicate_ids(tmp_path):
    path = _lib(tmp_path) / "dup.sdf"
    path.write_text(_record("CCO", "a", {"ID": "X"}) + _record("CCC", "b", {"ID": "X"}))
    result = parse_compound_file(path)
    assert [r["smiles"] for r in _rows(result)] == ["CCO"]
    assert [(r.locator, r.reason) for r in result.quarantine] == [
        ("record 2 (ID X)", "record 2 (ID X): duplicate compound id 'X' (first at record 1)")]


def test_smiles_file_with_header_and_comments(tmp_path):
    path = _lib(tmp_path, "smilib") / "cmpds.smi"
    path.write_text(
        "# exported 2024\n"
        "SMILES ID NAME\n"
        f"{ASPIRIN} S-1 acetylsalicylic acid\n"
        "\n"
        "C1CC S-2\n"
        "CCO\n"
        "CC(=O)[O-].[Na+]\tS-3\n"
    )
    result = parse_compound_file(path)
    rows = _rows(result)
    assert [(r["compound_id"], r["name"], r["record_locator"], r["smiles"]) for r in rows] == [
        ("S-1", "acetylsalicylic acid", "line 3", ASPIRIN),
        ("S-3", None, "line 7", "CC(=O)O")]
    assert [(r.locator, r.reason) for r in result.quarantine] == [
        ("line 5 (ID S-2)",
         "line 5 (ID S-2): unparseable SMILES 'C1CC': SMILES Parse Error: unclosed ring for "
         "input: 'C1CC'"),
        ("line 6", "line 6: has no compound id")]


def test_smiles_without_header_gz(tmp_path):
    path = _lib(tmp_path) / "plain.smi.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("CCO E1\nc1ccccc1 B1 benzene\n")
    rows = _rows(parse_compound_file(path))
    assert [(r["compound_id"], r["record_locator"]) for r in rows] == [("E1", "line 1"),
                                                                       ("B1", "line 2")]


def test_csv_bad_smiles_and_duplicate_id(tmp_path):
    path = _lib(tmp_path, "csvlib") / "lib.csv"
    path.write_text(
        "Compound_ID,SMILES,Name\n"
        f"C-1,{ASPIRIN},aspirin\n"
        "C-2,C[N](C)(C)(C)C,bad valence\n"
        'C-3,CCO,"ethanol, absolute"\n'
        "C-1,CCC,propane again\n"
        ",CCN,\n"
    )
    result = parse_compound_file(path)
    rows = _rows(result)
    assert [(r["compound_id"], r["name"], r["record_locator"]) for r in rows] == [
        ("C-1", "aspirin", "line 2"), ("C-3", "ethanol, absolute", "line 4")]
    assert [(r.locator, r.reason) for r in result.quarantine] == [
        ("line 3 (ID C-2)",
         "line 3 (ID C-2): Explicit valence for atom # 1 N, 5, is greater than permitted"),
        ("line 5 (ID C-1)", "line 5 (ID C-1): duplicate compound id 'C-1' (first at line 2)"),
        ("line 6", "line 6: has no compound id")]


def test_tsv_with_id_column_and_multiline_cell(tmp_path):
    path = _lib(tmp_path) / "lib.tsv"
    path.write_text('id\tsmiles\tname\nT-1\tCCO\t"two\nlines"\nT-2\tCCC\tpropane\n')
    rows = _rows(parse_compound_file(path))
    assert [(r["compound_id"], r["record_locator"]) for r in rows] == [("T-1", "line 2"),
                                                                       ("T-2", "line 4")]
    assert rows[0]["name"] == "two\nlines"


def test_csv_gz(tmp_path):
    path = _lib(tmp_path) / "lib.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("compound_id,smiles\nZ-1,CCO\n")
    assert _rows(parse_compound_file(path))[0]["compound_id"] == "Z-1"


def test_csv_without_smiles_column_is_rejected(tmp_path):
    path = _lib(tmp_path) / "nosmiles.csv"
    path.write_text("compound_id,structure\nA,CCO\n")
    with pytest.raises(FileRejected, match="no smiles column"):
        parse_compound_file(path)


@pytest.mark.parametrize("name, text", [
    ("empty.sdf", ""), ("empty.smi", "# only a comment\n"), ("empty.csv", "compound_id,smiles\n"),
    ("blank.csv", ""),
])
def test_empty_files_are_rejected(tmp_path, name, text):
    path = _lib(tmp_path) / name
    path.write_text(text)
    with pytest.raises(FileRejected, match="no records"):
        parse_compound_file(path)


def test_all_records_quarantined_gives_empty_table(tmp_path):
    path = _lib(tmp_path) / "allbad.smi"
    path.write_text("C1CC X1\n")
    result = parse_compound_file(path)
    assert _rows(result) == [] and len(result.quarantine) == 1


def test_unknown_extension_and_truncated_gzip(tmp_path):
    path = _lib(tmp_path) / "lib.xlsx"
    path.write_text("x")
    with pytest.raises(FileRejected, match="unknown extension"):
        parse_compound_file(path)
    gz = _lib(tmp_path) / "cut.smi.gz"
    payload = "".join(f"{'C' * (i % 17 + 1)}O ID{i}\n" for i in range(2000)).encode()
    packed = gzip.compress(payload)
    gz.write_bytes(packed[:len(packed) // 4])
    with pytest.raises(FileRejected, match="gzip"):
        parse_compound_file(gz)


def test_latin1_names_are_read(tmp_path):
    path = _lib(tmp_path) / "latin.csv"
    path.write_bytes("compound_id,smiles,name\nL-1,CCO,\xe9thanol\n".encode("latin-1"))
    assert _rows(parse_compound_file(path))[0]["name"] == "\xe9thanol"


def test_sdf_3d_record_with_explicit_hydrogens(tmp_path):
    mol = Chem.AddHs(Chem.MolFromSmiles(ASPIRIN))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    mol.SetProp("_Name", "ASP-3D")
    path = _lib(tmp_path) / "3d.sdf"
    path.write_text(Chem.MolToMolBlock(mol) + "$$$$\n")
    row = _rows(parse_compound_file(path))[0]
    assert (row["compound_id"], row["input_smiles"], row["smiles"], row["standardization"]) == \
        ("ASP-3D", ASPIRIN, ASPIRIN, None)
