"""The command line on an empty lake and on user mistakes."""

from orchestration.cli import main


def test_sql_on_an_empty_lake_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ORPHANLAKE_HOME", str(tmp_path))   # restored after the test
    assert main(["--home", str(tmp_path), "sql", "select 1"]) == 2
    err = capsys.readouterr().err
    assert "orphanlake demo" in err and "lake.duckdb" in err


def test_generate_writes_a_batch_and_keeps_truth_apart(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ORPHANLAKE_HOME", str(tmp_path))
    assert main(["--home", str(tmp_path), "generate", "--patients", "3", "--seed", "5",
                 "--background-variants", "500"]) == 0
    assert list((tmp_path / "landing" / "genomic").rglob("*.vcf*"))
    assert list((tmp_path / "landing" / "clinical").rglob("*.json"))
    assert list((tmp_path / "truth").rglob("truth.tsv"))
    assert not list((tmp_path / "landing").rglob("truth*"))
