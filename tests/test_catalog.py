"""The read-side catalog: views over published copies, swapped in atomically."""

import subprocess
import sys

import duckdb
import polars as pl

from orchestration.lake.catalog import connect_readonly, publish_catalog
from orchestration.settings import LakePaths


def _mart(paths: LakePaths, n: int) -> None:
    pl.DataFrame({"patient_id": [f"P{i}" for i in range(n)]}).write_parquet(
        paths.marts / "patients.parquet")


def _count_in_new_process(paths: LakePaths) -> int:
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(con.execute('select count(*) from patients').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(paths.catalog)], check=True,
                         capture_output=True, text=True)
    return int(out.stdout)


def test_readers_keep_a_consistent_view_while_the_lake_is_rebuilt(tmp_path):
    paths = LakePaths(tmp_path).ensure()
    _mart(paths, 3)
    assert publish_catalog(paths)["patients"] == 3

    reader = connect_readonly(paths)
    _mart(paths, 5)                      # dbt rewrites the mart in place mid-refresh
    assert reader.execute("select count(*) from patients").fetchone()[0] == 3

    publish_catalog(paths)
    assert reader.execute("select count(*) from patients").fetchone()[0] == 3
    # a new reader (another process: DuckDB shares one instance per file within a process)
    assert _count_in_new_process(paths) == 5
    reader.close()

    publish_catalog(paths)
    assert len(list((paths.home / "published").iterdir())) == 2


def test_catalog_is_read_only(tmp_path):
    paths = LakePaths(tmp_path).ensure()
    _mart(paths, 1)
    publish_catalog(paths)
    with connect_readonly(paths) as con:
        try:
            con.execute("create table x (a int)")
        except duckdb.Error as exc:
            assert "read-only" in str(exc).lower()
        else:
            raise AssertionError("the catalog accepted a write")
