"""VCF ingest benchmark: `zcat`, a plain cyvcf2 loop and our ingest to Parquet, side by side.

    PYTHONPATH=. python bench/bench_vcf_ingest.py [--records 30000 300000 1000000] [--samples 1]
    PYTHONPATH=. python bench/bench_vcf_ingest.py --records 300000 --samples 1 3 20 --repeat 5
    PYTHONPATH=. python bench/bench_vcf_ingest.py --vcf some.vcf.gz [--repeat 3]
    PYTHONPATH=. python bench/bench_vcf_ingest.py ... --repo /tmp/old-checkout   # "before"

Each tool runs in a fresh subprocess (so its peak RSS, VmHWM, is its own) --repeat times,
the three tools taking turns so that a change in the machine's load hits them alike; the
table shows the median wall time of each (process start and imports included) and the
median CPU time (user + system, all threads), which moves less with other processes' load.
"ingest" streams every table the parser yields (calls, sites, no-calls) to zstd Parquet in
turn, as the runner does, without the runner's lineage columns. ``--repo`` imports the
ingest from another checkout (e.g. an older commit) to measure it on the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
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
        # multi-sample files also get explicit no-calls (a single-sample file stays as in §1)
        gts = "\t".join(("./." if samples > 1 and rng.random() < 0.02 else
                         rng.choice(["0/1", "0/1", "1/1", "0/0"])) + f":{rng.randint(5, 60)}"
                        for _ in names)
        out.append(f"{rng.choice(['1', '2', '7', 'X'])}\t{pos}\t.\t{ref}\t{alt}\t"
                   f"{rng.uniform(20, 900):.1f}\tPASS\tDP={rng.randint(10, 90)};"
                   f"CSQ={','.join(entries)}\tGT:DP\t{gts}\n")
    path.write_bytes(bgzf_compress("".join(out).encode()))
    return path


def _timed(cmd: list[str] | str, shell: bool = False, env: dict | None = None,
           cwd: Path | None = None) -> tuple[float, str, float]:
    """(wall seconds, stdout, CPU seconds of the child and its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(cmd, shell=shell, check=True, capture_output=True, text=True,
                         env=env, cwd=cwd)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, res.stdout, cpu


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
from orchestration.ingest.vcf import parse_vcf
t = time.perf_counter()
result = parse_vcf(sys.argv[1])
# every table in turn, one chunk each, as the runner writes them
streams = {name: iter(s) for name, s in result.tables.items()}
writers, rows = {}, {}
while streams:
    for name, chunks in list(streams.items()):
        table = next(chunks, None)
        if table is None:
            del streams[name]
            continue
        if not table.num_rows:
            continue
        if name not in writers:
            writers[name] = pq.ParquetWriter(f"{sys.argv[2]}.{name}.parquet", table.schema,
                                             compression="zstd")
        writers[name].write_table(table)
        rows[name] = rows.get(name, 0) + table.num_rows
for w in writers.values():
    w.close()
# VmHWM, not ru_maxrss: ru_maxrss survives execve and would report the parent's peak.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t,
                  "quarantined": len(result.quarantine), "max_rss_mib": hwm / 1024}))
"""


def bench(vcf: Path, out_dir: Path, repeat: int, repo: Path, before: Path | None) -> dict:
    """Median of ``repeat`` runs of zcat, a cyvcf2 loop and the ingest (and the ingest of
    the ``before`` checkout) on one file, taking turns."""
    def ingest(checkout: Path):
        return _timed([sys.executable, "-c", INGEST, str(vcf), str(out_dir / "out")],
                      env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=checkout)
    load = [os.getloadavg()[0]]
    zc, cy, runs, old = [], [], [], []
    for _ in range(repeat):
        zc.append(_timed(f"zcat '{vcf}' > /dev/null", shell=True))
        cy.append(_timed([sys.executable, "-c", CYVCF2_LOOP, str(vcf)]))
        runs.append(ingest(repo))
        if before is not None:
            old.append(ingest(before))
    load.append(os.getloadavg()[0])
    med = statistics.median
    stats = [json.loads(r[1]) for r in runs]
    extra = {"before_s": med(r[0] for r in old), "before_cpu": med(r[2] for r in old),
             "before_inner_s": med(json.loads(r[1])["seconds"] for r in old),
             "before_rows": json.loads(old[0][1])["rows"]} if old else {}
    return {**extra, "file": vcf.name, "mib": vcf.stat().st_size / 2**20,
            "zcat_s": med(z[0] for z in zc), "zcat_cpu": med(z[2] for z in zc),
            "cyvcf2_s": med(c[0] for c in cy),
            "cyvcf2_rss": max(json.loads(c[1])["max_rss_mib"] for c in cy),
            "ingest_s": med(r[0] for r in runs), "ingest_cpu": med(r[2] for r in runs),
            "ingest_inner_s": med(x["seconds"] for x in stats), "rows": stats[0]["rows"],
            "rss_mib": max(x["max_rss_mib"] for x in stats), "load": load}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, nargs="*", default=[30_000, 300_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the median is shown")
    ap.add_argument("--samples", type=int, nargs="*", default=[1],
                    help="samples per synthetic file (one file per records x samples)")
    ap.add_argument("--vcf", type=Path, nargs="*", default=[])
    ap.add_argument("--repo", type=Path, default=REPO,
                    help="checkout whose orchestration package the ingest imports")
    ap.add_argument("--before", type=Path, default=None,
                    help="another checkout (e.g. `git worktree add /tmp/before <commit>`) whose "
                         "ingest runs on the same files in turn with the others")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = list(args.vcf)
        for s in ([] if args.vcf else args.samples):
            for n in args.records:
                t = time.perf_counter()
                files.append(generate(tmp / f"synthetic_{n}x{s}.vcf.gz", n, s))
                print(f"generated {n} records x {s} samples in {time.perf_counter() - t:.1f}s",
                      file=sys.stderr)
        rows = [bench(f, tmp, args.repeat, args.repo.resolve(),
                      args.before.resolve() if args.before else None) for f in files]
    print(f"median of {args.repeat} runs; wall seconds of a whole process (start + imports "
          f"included); CPU = user + system seconds of all its threads; ingest from {args.repo}")
    print("| file | MiB (gz) | zcat s | cyvcf2 loop s | ingest s | ingest s (parse+write) "
          "| ingest/zcat | parse+write/zcat | ingest/cyvcf2 | zcat CPU s | ingest CPU s "
          "| CPU ingest/zcat | rows | cyvcf2 peak RSS MiB | ingest peak RSS MiB | load 1-min |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['file']} | {r['mib']:.1f} | {r['zcat_s']:.2f} | {r['cyvcf2_s']:.2f} | "
              f"{r['ingest_s']:.2f} | {r['ingest_inner_s']:.2f} | {r['ingest_s'] / r['zcat_s']:.1f}x | "
              f"{r['ingest_inner_s'] / r['zcat_s']:.1f}x | "
              f"{r['ingest_s'] / r['cyvcf2_s']:.2f}x | {r['zcat_cpu']:.2f} | {r['ingest_cpu']:.2f} | "
              f"{r['ingest_cpu'] / r['zcat_cpu']:.1f}x | "
              f"{' '.join(f'{k}={v}' for k, v in r['rows'].items())} | {r['cyvcf2_rss']:.0f} | "
              f"{r['rss_mib']:.0f} | {r['load'][0]:.1f}→{r['load'][1]:.1f} |")
    if args.before:
        print(f"\nbefore = the ingest of {args.before}, run in turn with the above")
        print("| file | before s | before s (parse+write) | before/zcat | parse+write/zcat "
              "| before CPU s | CPU before/zcat | before rows |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r['file']} | {r['before_s']:.2f} | {r['before_inner_s']:.2f} | "
                  f"{r['before_s'] / r['zcat_s']:.1f}x | {r['before_inner_s'] / r['zcat_s']:.1f}x | "
                  f"{r['before_cpu']:.2f} | {r['before_cpu'] / r['zcat_cpu']:.1f}x | "
                  f"{' '.join(f'{k}={v}' for k, v in r['before_rows'].items())} |")


if __name__ == "__main__":
    main()
