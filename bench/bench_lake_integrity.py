"""What a consistent publication and the raw-layer check cost.

``publish``: a lake with N raw Parquet files (100 rows each, 100 per batch folder); times
the snapshot alone (hard links into published/<stamp>/) and the whole publication
(snapshot, catalog views, a row count per view, cleanup of old publications).

``verify``: on a lake with ingested VCFs (e.g. after ``orphanlake generate --patients 80
--no-screening``), times the genomic ingest, an unchanged re-ingest (every landing file
and every raw output hashed) and the check of the raw outputs alone.

    python bench/bench_lake_integrity.py publish --files 5000
    python bench/bench_lake_integrity.py verify --home /tmp/lake
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench_publish(n_files: int, repeats: int = 3) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import polars as pl

    from orchestration.lake import catalog
    from orchestration.settings import LakePaths

    with tempfile.TemporaryDirectory(prefix="orphanlake-bench-") as tmp:
        paths = LakePaths(Path(tmp)).ensure()
        table = pa.table({"patient_id": ["P"] * 100, "gene": ["G"] * 100, "pos": list(range(100))})
        for i in range(n_files):
            folder = paths.raw_table("variants") / f"b{i // 100:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / f"f{i}.vcf.gz.parquet")
        pl.DataFrame({"a": [1]}).write_parquet(paths.marts / "m.parquet")
        for rep in range(repeats):
            target = paths.home / "published" / f"bench{rep}"
            t0 = time.perf_counter()
            linked = catalog.snapshot(paths, target)
            t1 = time.perf_counter()
            shutil.rmtree(target)
            t2 = time.perf_counter()
            catalog.publish_catalog(paths)
            t3 = time.perf_counter()
            # the peer: coreutils linking the same tree (what a snapshot cannot beat)
            peer = paths.home / f"peer{rep}"
            t4 = time.perf_counter()
            subprocess.run(["cp", "-al", str(paths.raw), str(peer)], check=True)
            t5 = time.perf_counter()
            shutil.rmtree(peer)
            print(f"{n_files} raw files: snapshot {t1 - t0:.2f} s ({linked} hard links), "
                  f"`cp -al` of raw/ {t5 - t4:.2f} s, ratio {(t1 - t0) / (t5 - t4):.2f}; "
                  f"whole publication {t3 - t2:.2f} s")


def bench_verify(home: Path, repeats: int = 3) -> None:
    import pyarrow.parquet as pq

    from orchestration.ingest.runner import ingest_genomic
    from orchestration.lake import integrity
    from orchestration.settings import LakePaths

    paths = LakePaths(home)
    t0 = time.perf_counter()
    s = ingest_genomic(paths)
    print(f"genomic ingest: {time.perf_counter() - t0:.1f} s ({s.files_ingested} files ingested)")
    ledger = pq.read_table(paths.raw / "_ledger" / "genomic.parquet").to_pylist()
    outputs = [o for row in ledger for o in row["outputs"]]
    size = sum((paths.home / o["path"]).stat().st_size for o in outputs)
    for _ in range(repeats):
        t1 = time.perf_counter()
        s = ingest_genomic(paths)
        t2 = time.perf_counter()
        found = integrity.problems(paths, outputs)
        t3 = time.perf_counter()
        # the peer: `sha256sum` over the same files (the check is hashing plus a lookup)
        subprocess.run(["sha256sum", *(str(paths.home / o["path"]) for o in outputs)],
                       check=True, stdout=subprocess.DEVNULL)
        t4 = time.perf_counter()
        print(f"unchanged re-ingest {t2 - t1:.2f} s ({s.files_skipped_unchanged} skipped); check of "
              f"{len(outputs)} raw files ({size / 1e6:.1f} MB) {t3 - t2:.3f} s, {len(found)} problems; "
              f"sha256sum {t4 - t3:.3f} s, ratio {(t3 - t2) / (t4 - t3):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--files", type=int, default=5000)
    v = sub.add_parser("verify")
    v.add_argument("--home", required=True)
    args = parser.parse_args()
    if args.what == "publish":
        bench_publish(args.files)
    else:
        bench_verify(Path(args.home).resolve())
