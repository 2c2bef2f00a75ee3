"""VCF ingest benchmark: `zcat`, a plain cyvcf2 loop and our ingest to Parquet, side by side.

    PYTHONPATH=. python bench/bench_vcf_ingest.py [--records 30000 300000 1000000] [--samples 1]
    PYTHONPATH=. python bench/bench_vcf_ingest.py --vcf some.vcf.gz [--repeat 3]

Each tool runs in a fresh subprocess (so its peak RSS, VmHWM, is its own) --repeat times;
the table shows the fastest wall time of each, process start and imports included.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fixtures.vcf_factory import CSQ_FIELDS, bgzf_compress, header  # noqa: E402

CONSEQUENCES = ["missense_variant", "synonymous_variant", "intron_variant", "stop_gained",
                "splice_region_variant&intron_variant", "3_prime_UTR_variant",
                "frameshift_variant", "upstream_gene_variant", "downstream_gene_variant"]
IMPACT = {"missense_variant": "MODERATE", "stop_gained": "HIGH", "frameshift_variant": "HIGH",
          "synonymous_variant": "LOW"}


def generate(path: Path, records: int, samples: int, seed: int = 7) -> Path:
    """Write a bgzipped VEP-style VCF with 1-6 transcripts over 1-2 genes per record."""
    rng = random.Random(seed)
    names = [f"P{i:05d}" for i in range(samples)]
    out = [header(names)]
    pos = 10_000
    for i in range(records):
        pos += rng.randint(1, 400)
        ref = rng.choice("ACGT")
        kind = rng.random()
        alt = ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 4))) if kind < 0.08 \
            else rng.choice([b for b in "ACGT" if b != ref])
        if kind < 0.04:
            ref, alt = alt, ref                            # deletion
        vep = alt[1:] if len(alt) != len(ref) else alt
        vep = vep or "-"
        genes = [rng.randint(1, 19000) for _ in range(rng.randint(1, 2))]
        entries = []
        for g in genes:
            for t in range(rng.randint(1, 3)):
                cons = rng.choice(CONSEQUENCES)
                af = f"{rng.random() ** 4:.6f}" if rng.random() < 0.7 else ""
                entries.append("|".join([
                    vep, cons, IMPACT.get(cons.split("&")[0], "MODIFIER"), f"GENE{g}",
                    f"ENSG{g:011d}", "Transcript", f"ENST{g:08d}{t:03d}", "protein_coding",
                    af, "", f"{rng.random() ** 3:.5f}" if af else "",
                    f"{rng.random():.3f}" if cons == "missense_variant" else "",
                    f"{rng.uniform(0, 40):.2f}"]))
        gts = "\t".join(rng.choice(["0/1", "0/1", "1/1", "0/0"]) + f":{rng.randint(5, 60)}"
                        for _ in names)
        out.append(f"{rng.choice(['1', '2', '7', 'X'])}\t{pos}\t.\t{ref}\t{alt}\t"
                   f"{rng.uniform(20, 900):.1f}\tPASS\tDP={rng.randint(10, 90)};"
                   f"CSQ={','.join(entries)}\tGT:DP\t{gts}\n")
    path.write_bytes(bgzf_compress("".join(out).encode()))
    return path


def _timed(cmd: list[str] | str, shell: bool = False) -> tuple[float, str]:
    t = time.perf_counter()
    res = subprocess.run(cmd, shell=shell, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, res.stdout


CYVCF2_LOOP = """
import json, sys, cyvcf2
n = 0
for v in cyvcf2.VCF(sys.argv[1]):
    n += len(v.INFO.get("CSQ").split(","))
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"entries": n, "max_rss_mib": hwm / 1024}))
"""

INGEST = """
import json, sys, time
import pyarrow.parquet as pq
from orchestration.ingest.vcf import OUTPUT_SCHEMA, parse_vcf
t = time.perf_counter()
result = parse_vcf(sys.argv[1])
rows = 0
with pq.ParquetWriter(sys.argv[2], OUTPUT_SCHEMA, compression="zstd") as w:
    for table in result.tables["variants"]:
        w.write_table(table)
        rows += table.num_rows
# VmHWM, not ru_maxrss: ru_maxrss survives execve and would report the parent's peak.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t,
                  "quarantined": len(result.quarantine), "max_rss_mib": hwm / 1024}))
"""


def bench(vcf: Path, out_dir: Path, repeat: int) -> dict:
    """Best-of-``repeat`` wall time of zcat, a cyvcf2 loop and the ingest on one file."""
    zcat = min(_timed(f"zcat '{vcf}' > /dev/null", shell=True)[0] for _ in range(repeat))
    cy = [_timed([sys.executable, "-c", CYVCF2_LOOP, str(vcf)]) for _ in range(repeat)]
    runs = [_timed([sys.executable, "-c", INGEST, str(vcf), str(out_dir / "variants.parquet")])
            for _ in range(repeat)]
    wall, out = min(runs)
    stats = json.loads(out)
    return {"file": vcf.name, "mib": vcf.stat().st_size / 2**20, "zcat_s": zcat,
            "cyvcf2_s": min(c[0] for c in cy),
            "cyvcf2_rss": max(json.loads(c[1])["max_rss_mib"] for c in cy),
            "ingest_s": wall, "ingest_inner_s": stats["seconds"], "rows": stats["rows"],
            "rss_mib": max(json.loads(r[1])["max_rss_mib"] for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, nargs="*", default=[30_000, 300_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the fastest is shown")
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--vcf", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = list(args.vcf)
        for n in ([] if args.vcf else args.records):
            t = time.perf_counter()
            files.append(generate(tmp / f"synthetic_{n}.vcf.gz", n, args.samples))
            print(f"generated {n} records in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        rows = [bench(f, tmp, args.repeat) for f in files]
    print(f"best of {args.repeat} runs; wall seconds of a whole process (start + imports included)")
    print("| file | MiB (gz) | zcat s | cyvcf2 loop s | ingest s | ingest s (parse+write) "
          "| ingest/zcat | parse+write/zcat | ingest/cyvcf2 | rows | cyvcf2 peak RSS MiB | ingest peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['file']} | {r['mib']:.1f} | {r['zcat_s']:.2f} | {r['cyvcf2_s']:.2f} | "
              f"{r['ingest_s']:.2f} | {r['ingest_inner_s']:.2f} | {r['ingest_s'] / r['zcat_s']:.1f}x | "
              f"{r['ingest_inner_s'] / r['zcat_s']:.1f}x | "
              f"{r['ingest_s'] / r['cyvcf2_s']:.2f}x | {r['rows']} | {r['cyvcf2_rss']:.0f} | "
              f"{r['rss_mib']:.0f} |")

if __name__ == "__main__":
    main()
