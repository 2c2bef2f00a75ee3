"""The same dbt models on DuckDB and on Spark local, side by side on one refreshed lake (issue 15).

On a lake that `orphanlake refresh` built (DuckDB), time `dbt build` (every model, data test
and unit test) with the default DuckDB target and then with `--target spark` (dbt-spark
`method: session`, pyspark local[2] in dbt's process; needs `make scale`'s extra and Java 17).
Both read the same raw, reference and evidence files. The DuckDB build rewrites the lake's
marts with the same content; Spark writes its tables under <lake>/build/spark-warehouse/.
`--runs N` builds N times per engine (Spark's first run also pays for the JVM start and
its metastore's creation).

    python bench/bench_engines.py /path/to/refreshed/lake
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
RESULTS = ROOT / "bench" / "results"


def _dbt() -> str:
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def dbt_build(lake: Path, target: str, work: Path) -> float:
    cmd = [_dbt(), "build", "--target", target, "--project-dir", str(DBT_PROJECT),
           "--profiles-dir", str(DBT_PROJECT), "--target-path", str(work / "target"),
           "--log-path", str(work / "logs"), "--vars", json.dumps({"lake_home": str(lake)})]
    env = {**os.environ, "ORPHANLAKE_SPARK_MASTER": os.environ.get("ORPHANLAKE_SPARK_MASTER", "local[2]")}
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"dbt build --target {target} failed:\n{out.stdout[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake", type=Path)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    lake = args.lake.resolve()
    import duckdb

    n_variants = duckdb.sql(f"select count(*) from read_parquet('{lake}/raw/variants/**/*.parquet', "
                            "union_by_name = true)").fetchone()[0]
    row: dict = {"lake": str(lake), "raw_variants": n_variants, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="orphanlake-engines-") as tmp:
        for target in ("lake", "spark"):
            row[target] = [round(dbt_build(lake, target, Path(tmp)), 1) for _ in range(args.runs)]
            print(f"{target}: {row[target]} s", flush=True)
    row["load_after"] = os.getloadavg()[0]
    row["spark_vs_duckdb"] = round(min(row["spark"]) / min(row["lake"]), 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engines.json").write_text(json.dumps(row, indent=1))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
