"""The read-side catalog: views over published copies, swapped in atomically; one point
in time, raw views included; relative to the lake root, so a copied or moved lake reads
its own files."""

import os
import shutil
import subprocess
import sys

import duckdb
import polars as pl

from orchestration.lake.catalog import connect_readonly, publish_catalog
from orchestration.lake.io import write_parquet_atomic
from orchestration.settings import LakePaths


def _mart(paths: LakePaths, n: int) -> None:
    pl.DataFrame({"patient_id": [f"P{i}" for i in range(n)]}).write_parquet(
        paths.marts / "patients.parquet")


def _count_in_new_process(paths: LakePaths, view: str = "patients", cwd=None,
                          search_path: str | None = None) -> int:
    """Rows of ``view`` read by a plain DuckDB client (no orphanlake code) in another process."""
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "sys.argv[3] and con.execute(\"set file_search_path = '\" + sys.argv[3] + \"'\"); "
            "print(con.execute(f'select count(*) from {sys.argv[2]}').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(paths.catalog), view, search_path or ""],
                         check=True, capture_output=True, text=True, cwd=cwd or paths.home)
    return int(out.stdout)


def _count(paths: LakePaths, view: str) -> int:
    with connect_readonly(paths) as con:
        return con.execute(f"select count(*) from {view}").fetchone()[0]


def _raw_file(paths: LakePaths, name: str, n: int) -> None:
    """Write raw/variants/b1/<name> as ingest does (temporary file, then rename)."""
    write_parquet_atomic(pl.DataFrame({"patient_id": [f"P{i}" for i in range(n)]}),
                         paths.raw_table("variants") / "b1" / name)


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


def test_views_name_paths_relative_to_the_lake_root(tmp_path):
    paths = LakePaths(tmp_path / "lake").ensure()
    _mart(paths, 2)
    _raw_file(paths, "a.parquet", 1)
    publish_catalog(paths)
    with connect_readonly(paths) as con:
        sql = "\n".join(r[0] for r in con.execute("select sql from duckdb_views() "
                                                   "where not internal").fetchall())
    assert "published/" in sql and str(tmp_path) not in sql


def test_a_copied_lake_reads_its_own_files_and_a_moved_lake_still_works(tmp_path):
    original = LakePaths(tmp_path / "lake").ensure()
    _mart(original, 3)
    _raw_file(original, "a.parquet", 4)
    publish_catalog(original)
    copy = LakePaths(tmp_path / "copy")
    subprocess.run(["cp", "-a", str(original.home), str(copy.home)], check=True)

    _mart(original, 7)                      # the original moves on ...
    _raw_file(original, "a.parquet", 9)
    publish_catalog(original)
    assert (_count(copy, "patients"), _count(copy, "raw_variants")) == (3, 4)
    shutil.rmtree(original.home)            # ... or is lost
    assert (_count(copy, "patients"), _count(copy, "raw_variants")) == (3, 4)

    moved = LakePaths(tmp_path / "elsewhere" / "moved")
    moved.home.parent.mkdir()
    os.rename(copy.home, moved.home)
    assert (_count(moved, "patients"), _count(moved, "raw_variants")) == (3, 4)
    # any DuckDB client: from the lake's folder, or with file_search_path set to it
    assert _count_in_new_process(moved, "raw_variants") == 4
    assert _count_in_new_process(moved, "raw_variants", cwd=tmp_path,
                                 search_path=str(moved.home)) == 4


def test_raw_and_feature_views_show_the_last_publication_until_the_next(tmp_path):
    # a refresh that ingests and then fails before publishing changes nothing readers see
    paths = LakePaths(tmp_path).ensure()
    _mart(paths, 1)
    _raw_file(paths, "a.parquet", 2)
    offline = paths.features / "offline"
    write_parquet_atomic(pl.DataFrame({"gene_symbol": ["G1"]}), offline / "genes.parquet")
    publish_catalog(paths)

    _raw_file(paths, "a.parquet", 5)        # re-ingested landing file (replaced by rename)
    _raw_file(paths, "b.parquet", 3)        # a new landing file
    write_parquet_atomic(pl.DataFrame({"gene_symbol": ["G1", "G2"]}), offline / "genes.parquet")
    assert (_count(paths, "raw_variants"), _count(paths, "feature_genes")) == (2, 1)

    publish_catalog(paths)
    assert (_count(paths, "raw_variants"), _count(paths, "feature_genes")) == (8, 2)
    published = sorted((paths.home / "published").iterdir())
    assert len(published) == 2
    # the older publication still holds what it published (a reader may still use it)
    assert pl.read_parquet(published[0] / "raw" / "variants" / "b1" / "a.parquet").height == 2
