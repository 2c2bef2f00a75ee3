"""Gene x sample TPM matrices (TSV) → long raw ``expression`` rows.

Only columns naming a known patient are kept; the rest are quarantined per sample so an
unexpected column (a control, a typo) never becomes a phantom patient.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow as pa

from orchestration.ingest import limits
from orchestration.ingest.identifiers import scan_ids
from orchestration.ingest.ids import SHOWN_CHARS, escaped, id_problem, shown
from orchestration.ingest.landing import read_landing
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.lake.schemas import EXPRESSION, LINEAGE

OUTPUT_SCHEMA = pa.schema([f for f in EXPRESSION if f.name not in {x.name for x in LINEAGE}])


def _read(path: Path) -> bytes:
    """The (gunzipped) matrix, within max_bytes_expression, max_line_bytes and
    max_records_expression."""
    data = read_landing(path, "expression")
    limits.check_line_lengths(data, 1, limits.MAX_LINE_BYTES.value)
    genes = limits.MAX_RECORDS["expression"]
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if lines - 1 > genes.value:
        raise genes.refuse(f"the matrix has {lines - 1:,} gene lines")
    return data


def _header(data: bytes) -> list[str]:
    try:
        line = data[:data.find(b"\n") + 1 or len(data)].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not a readable TSV: {exc}") from None
    cols = line.rstrip("\r\n").split("\t")
    if len(cols) < 2 or not line.strip():
        raise FileRejected("not an expression matrix: line 1 needs a gene column and at least "
                           "one sample column, tab-separated")
    return cols


def parse_expression(path: Path, known_patients: set[str] | frozenset[str]) -> ParseResult:
    """Parse one TPM matrix into (patient_id, gene_symbol, tpm) rows for known patients."""
    path = Path(path)
    data = _read(path)
    cols = _header(data)
    samples = [c.strip() for c in cols[1:]]
    findings = scan_ids(samples, "sample column")
    if findings:
        raise FileRejected("direct identifier: " + "; ".join(findings))
    dupes = sorted(s for s, n in Counter(samples).items() if n > 1)
    if dupes:
        raise FileRejected(f"duplicate sample columns in line 1: "
                           f"{', '.join(shown(s) for s in dupes[:10])}")
    problems = {s: p for s in samples if (p := id_problem(s))}
    keep = [s for s in samples if s in known_patients and s not in problems]
    if not keep:
        listed = ", ".join(escaped(s[:SHOWN_CHARS]) for s in samples[:5]) + \
            (" …" if len(samples) > 5 else "")
        raise FileRejected(f"no sample column matches a known patient ({len(samples)} columns: "
                           f"{listed})")
    quarantine = [QuarantineRecord("sample", f"column {i + 2}",
                                   f"sample column {i + 2} {shown(s)} {problems[s]}")
                  if s in problems else
                  QuarantineRecord("sample", s, f"sample column {s!r} matches no known patient")
                  for i, s in enumerate(samples) if s not in keep]
    names = ["gene_symbol", *[f"s{i}" for i in range(len(samples))]]
    try:
        body = pl.read_csv(data, separator="\t", has_header=False, skip_rows=1,
                           new_columns=names, schema_overrides={n: pl.String for n in names},
                           quote_char=None)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise FileRejected(f"unreadable TSV body: {exc}") from None
    body = body.with_row_index("line", offset=2).with_columns(pl.col("gene_symbol").str.strip_chars())
    first_line = pl.col("line").min().over("gene_symbol")
    bad_gene = body.filter(pl.col("gene_symbol").fill_null("").eq("")
                           | (pl.col("line") != first_line))
    for line, gene in bad_gene.select("line", "gene_symbol").iter_rows():
        reason = (f"line {line}: empty gene symbol" if not gene else
                  f"line {line}: gene {gene} already given on an earlier line")
        quarantine.append(QuarantineRecord("record", f"line {line}", reason))
    index = {f"s{i}": s for i, s in enumerate(samples)}
    cells = (body.join(bad_gene.select("line"), on="line", how="anti")
             .unpivot(index=["line", "gene_symbol"], on=[f"s{samples.index(s)}" for s in keep],
                      variable_name="col", value_name="raw")
             .with_columns(pl.col("raw").str.strip_chars().cast(pl.Float64, strict=False)
                           .alias("tpm"),
                           pl.col("col").replace_strict(index, return_dtype=pl.String)
                           .alias("patient_id")))
    valid = pl.col("tpm").is_not_null() & pl.col("tpm").is_finite() & (pl.col("tpm") >= 0)
    for line, gene, sample, raw in (cells.filter(~valid)
                                    .select("line", "gene_symbol", "patient_id", "raw").iter_rows()):
        quarantine.append(QuarantineRecord(
            "record", f"line {line}, sample {sample}",
            f"line {line}, gene {gene}, sample {sample}: TPM {raw!r} is not a non-negative number"))
    rows = (cells.filter(valid).sort("patient_id", "line")
            .select("patient_id", "gene_symbol", "tpm").to_arrow().cast(OUTPUT_SCHEMA))
    return ParseResult(tables={"expression": [rows]}, quarantine=quarantine)
