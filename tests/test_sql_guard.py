"""`orphanlake sql` runs plain reads of the published lake and nothing else."""

import duckdb
import polars as pl
import pytest

from orchestration.cli import main
from orchestration.lake.catalog import connect_readonly, publish_catalog
from orchestration.lake.sql_guard import RefusedStatement, read_statements, run_read_only
from orchestration.settings import LakePaths

READS = ["select 1", "from raw_variants", "describe raw_variants", "show tables",
         "summarize raw_variants", "explain select * from raw_variants",
         "explain analyze select count(*) from raw_variants", "values (1), (2)",
         "with t as (select 1 as a) select * from t", "pivot raw_variants on gene in ('G1')",
         "select 1; select 2"]

WRITES = {  # statement → the type named in the refusal
    "copy (select 1) to 'x.csv'": "COPY",
    "export database 'dump'": "EXPORT",
    "attach 'other.duckdb' as o": "ATTACH",
    "detach lake": "DETACH",
    "install httpfs": "LOAD",
    "load httpfs": "LOAD",
    "set enable_external_access = true": "SET",
    "set variable orphanlake_root = '/'": "SET",
    "use memory": "SET",
    "create table t (a int)": "CREATE",
    "insert into t values (1)": "INSERT",
    "update t set a = 1": "UPDATE",
    "delete from t": "DELETE",
    "drop view raw_variants": "DROP",
    "call checkpoint()": "CALL",
    "pragma enable_profiling": "PRAGMA",
    "checkpoint": "CALL",
    "vacuum": "VACUUM",
    "begin transaction": "TRANSACTION",
    "prepare p as select 1": "PREPARE",
    "explain analyze copy (select 1) to 'x.csv'": "EXPLAIN",
    "select 1; copy (select 1) to 'x.csv'": "COPY",
    "pivot raw_variants on gene": "CREATE",    # PIVOT without IN creates an enum type first
}


def _lake(tmp_path) -> LakePaths:
    paths = LakePaths(tmp_path / "lake").ensure()
    folder = paths.raw_table("variants") / "b1"
    folder.mkdir(parents=True)
    pl.DataFrame({"patient_id": ["P1", "P2"], "gene": ["G1", "G2"]}).write_parquet(
        folder / "p.vcf.gz.parquet")
    pl.DataFrame({"patient_id": ["P1"], "rank": [1]}).write_parquet(
        paths.marts / "patient_gene_rankings.parquet")
    (paths.truth).mkdir()
    (paths.truth / "truth.tsv").write_text("patient_id\tgene\nP1\tG1\n")
    publish_catalog(paths)
    return paths


@pytest.mark.parametrize("sql", READS)
def test_plain_reads_run(tmp_path_factory, sql):
    paths = _lake(tmp_path_factory.mktemp("reads"))
    with connect_readonly(paths) as con:
        assert run_read_only(con, sql).fetchall()


@pytest.mark.parametrize("sql,kind", WRITES.items())
def test_everything_else_is_refused_before_it_runs(sql, kind):
    with pytest.raises(RefusedStatement, match=f"its type is {kind}"):
        read_statements(sql)


def test_copy_over_the_raw_layer_is_refused_and_the_file_is_untouched(tmp_path, capsys):
    # the probe's attack: an empty result copied over one patient's raw variants file
    paths = _lake(tmp_path)
    target = paths.raw_table("variants") / "b1" / "p.vcf.gz.parquet"
    published = next(paths.home.glob("published/*/raw/variants/b1/p.vcf.gz.parquet"))
    before = target.read_bytes(), published.read_bytes()
    for victim in (target, published):
        sql = f"copy (select * from raw_variants where false) to '{victim}' (format parquet)"
        assert main(["--home", str(paths.home), "sql", sql]) == 2
        err = capsys.readouterr().err
        assert "COPY" in err and "read-only" in err and len(err.strip().splitlines()) == 1
    assert main(["--home", str(paths.home), "sql", f"export database '{paths.home}/dump'"]) == 2
    assert (target.read_bytes(), published.read_bytes()) == before
    assert not (paths.home / "dump").exists()
    assert main(["--home", str(paths.home), "sql", "select count(*) as n from raw_variants",
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out == "n\n2\n"


@pytest.mark.parametrize("sql", [
    "select * from read_text('/etc/passwd')",
    "select * from read_csv('{home}/truth/truth.tsv')",
    "select * from read_text('{home}/published/../truth/truth.tsv')",
    "select * from glob('/etc/*')",
    "select * from glob('{home}/**')",
    "select * from read_parquet('{home}/raw/variants/b1/p.vcf.gz.parquet')",
])
def test_a_select_reads_nothing_but_the_published_lake(tmp_path, sql):
    paths = _lake(tmp_path)
    with connect_readonly(paths) as con, pytest.raises(duckdb.PermissionException):
        run_read_only(con, sql.format(home=paths.home)).fetchall()


def test_the_connection_cannot_be_reconfigured(tmp_path):
    paths = _lake(tmp_path)
    with connect_readonly(paths) as con:   # even without the guard (internal callers)
        for setting in ("enable_external_access = true", "allowed_directories = ['/']",
                        "autoload_known_extensions = true"):
            with pytest.raises(duckdb.Error, match="locked|Cannot enable"):
                con.execute(f"set {setting}")
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("create table x (a int)")


def test_duckdbs_default_spill_folder_is_not_readable(tmp_path, monkeypatch):
    # DuckDB allows reads in its temp_directory, by default .tmp/ in the working directory
    paths = _lake(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "notes.txt").write_text("not the lake's")
    monkeypatch.chdir(tmp_path)
    with connect_readonly(paths) as con, pytest.raises(duckdb.PermissionException):
        run_read_only(con, f"select * from read_text('{tmp_path}/.tmp/notes.txt')").fetchall()
