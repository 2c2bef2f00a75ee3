"""Stream a VEP-annotated VCF into raw ``variants`` rows.

The body is read column-wise by Arrow's streaming CSV reader (gzip/bgzip decoded by
Arrow, a bad column count reported per line) and every per-record step — genotype
parsing, allele explosion, CSQ splitting, VEP allele matching, per-gene severity
collapse — is a polars expression over a whole chunk, so there is no per-variant Python
loop and memory is bounded by the chunk size, not the file size.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from orchestration.ingest.consequences import SEVERITY_RANK, UNKNOWN_RANK
from orchestration.ingest.identifiers import scan_ids, scan_vcf_header
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.lake.schemas import LINEAGE, VARIANTS

OUTPUT_SCHEMA = pa.schema([f for f in VARIANTS if f.name not in {x.name for x in LINEAGE}])
FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
AF_FIELDS = ("gnomADe_AF", "gnomADg_AF", "gnomAD_AF", "MAX_AF")
REVEL_FIELDS = ("REVEL", "REVEL_score")
CADD_FIELDS = ("CADD_PHRED", "CADD_phred")
NOT_CARRIED = ["*", ".", "<NON_REF>", "<*>"]   # alleles that are not a variant to report
BLOCK_BYTES = 16 << 20
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_CSQ_FORMAT = re.compile(r'^##INFO=<ID=CSQ,.*Format:\s*([^"]+)"')


@dataclass(frozen=True)
class VcfHeader:
    n_lines: int                 # header lines including #CHROM
    n_columns: int
    samples: list[str]
    csq_fields: list[str] | None
    compression: str | None      # "gzip" (also bgzip) or None


def _compression(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return None
    is_bgzf = len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC"
    if is_bgzf:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - len(_BGZF_EOF)))
            if fh.read() != _BGZF_EOF:
                raise FileRejected("truncated bgzip: the BGZF end-of-file block is missing, "
                                   "so the file was cut short")
    return "gzip"


def read_header(path: Path) -> VcfHeader:
    """Read and check the VCF header; raises FileRejected with a readable reason."""
    compression = _compression(path)
    opener = gzip.open if compression else open
    meta: list[str] = []
    columns: list[str] | None = None
    first_body: str | None = None
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            for line in fh:
                line = line.rstrip("\r\n")
                if not meta and not line.startswith("##fileformat=VCF"):
                    raise FileRejected("not a VCF: line 1 is not '##fileformat=VCFv4.x'")
                if line.startswith("##"):
                    meta.append(line)
                    continue
                if line.startswith("#"):
                    columns = line[1:].split("\t")
                    columns[0] = "#" + columns[0]
                    first_body = next(fh, None)
                break
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FileRejected(f"corrupt or truncated gzip in the header: {exc}") from None
    except UnicodeDecodeError:
        raise FileRejected("not a VCF: the header is not UTF-8 text") from None
    if not meta:
        raise FileRejected("not a VCF: the file is empty")
    if columns is None or columns[:8] != FIXED:
        raise FileRejected(f"not a VCF: header line {len(meta) + 1} is not the "
                           "#CHROM POS ID REF ALT QUAL FILTER INFO column line")
    samples = columns[9:] if len(columns) > 9 and columns[8] == "FORMAT" else []
    if len(columns) > 8 and columns[8] != "FORMAT":
        raise FileRejected(f"not a VCF: column 9 of header line {len(meta) + 1} is "
                           f"{columns[8]!r}, expected FORMAT")
    dupes = sorted({s for s in samples if samples.count(s) > 1})
    if dupes:
        raise FileRejected(f"duplicate sample names in the #CHROM line: {', '.join(dupes)}")
    findings = scan_vcf_header(meta) + scan_ids(samples, "sample")
    if findings:
        raise FileRejected("direct identifier: " + "; ".join(findings))
    csq_lines = [m.group(1) for line in meta if (m := _CSQ_FORMAT.match(line))]
    if not csq_lines:
        if any(line.startswith("##INFO=<ID=CSQ,") for line in meta):
            raise FileRejected("the ##INFO=<ID=CSQ> header has no 'Format: ...' field list")
        if first_body and re.search(r"(?:^|;)CSQ=", first_body.split("\t")[7]
                                    if first_body.count("\t") >= 7 else ""):
            raise FileRejected("records carry a CSQ INFO field but the header has no "
                               "##INFO=<ID=CSQ> line, so its field order is unknown")
        raise FileRejected("not VEP-annotated: no ##INFO=<ID=CSQ> header (run VEP before landing)")
    fields = [f.strip() for f in csq_lines[-1].split("|")]
    missing = [f for f in ("Allele", "Consequence") if f not in fields]
    if missing:
        raise FileRejected(f"the CSQ Format lacks {', '.join(missing)}")
    return VcfHeader(n_lines=len(meta) + 1, n_columns=len(columns), samples=samples, csq_fields=fields,
                     compression=compression)


def _null_if_empty(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_in(["", "."])).then(None).otherwise(expr)


def _csq_value() -> pl.Expr:
    # Literal searches instead of a regex: this is the hottest expression of the ingest.
    start = (pl.lit(";") + pl.col("info")).str.find(";CSQ=", literal=True) + 4
    rest = pl.col("info").str.slice(start)
    return rest.str.slice(0, rest.str.find(";", literal=True))


def _max_number(col: str) -> pl.Expr:
    # VEP joins values of co-located/overlapping annotations with '&'; keep the largest.
    return (pl.col(col).str.split("&")
            .list.eval(pl.element().cast(pl.Float64, strict=False)).list.max())


def _annotations(sites: pl.LazyFrame, alts: pl.LazyFrame, fields: list[str]) -> pl.LazyFrame:
    """CSQ entries matched to (rec, allele_idx) and collapsed per gene to the most severe."""
    pick = {f: i for i, f in enumerate(fields)}
    wanted = ["Allele", "Consequence", "IMPACT", "SYMBOL", "Gene", "ALLELE_NUM",
              *AF_FIELDS, *REVEL_FIELDS, *CADD_FIELDS]
    entries = (
        sites.select("rec", "n_alts", _csq_value().str.split(",").alias("e"))
        .explode("e").drop_nulls("e")
        .with_columns(pl.col("e").str.split("|").alias("e"))
        .select("rec", "n_alts", *[_null_if_empty(pl.col("e").list.get(pick[f], null_on_oob=True))
                                   .alias(f) for f in wanted if f in pick])
    )
    if "ALLELE_NUM" in pick:
        entries = entries.with_columns(pl.col("ALLELE_NUM").cast(pl.Int64, strict=False)
                                       .alias("allele_idx"))
    else:
        by_vep = alts.select("rec", pl.col("vep_allele").alias("Allele"),
                             pl.col("allele_idx").alias("idx_vep"))
        by_alt = alts.select("rec", pl.col("alt").alias("Allele"),
                             pl.col("allele_idx").alias("idx_alt"))
        # Only multi-allelic records need matching; a lone ALT owns every entry.
        multi = (entries.filter(pl.col("n_alts") > 1)
                 .join(by_vep, on=["rec", "Allele"], how="left")
                 .join(by_alt, on=["rec", "Allele"], how="left")
                 .with_columns(pl.coalesce("idx_vep", "idx_alt").cast(pl.Int64).alias("allele_idx"))
                 .drop("idx_vep", "idx_alt"))
        entries = pl.concat([entries.filter(pl.col("n_alts") == 1)
                             .with_columns(pl.lit(1, pl.Int64).alias("allele_idx")), multi])
    terms = pl.col("Consequence").fill_null("").str.split("&")
    ranks = terms.list.eval(pl.element().replace_strict(SEVERITY_RANK, default=UNKNOWN_RANK,
                                                        return_dtype=pl.Int32))
    present = lambda names: [_max_number(f) for f in names if f in pick]  # noqa: E731
    entries = entries.drop_nulls("allele_idx").select(
        "rec", "allele_idx",
        pl.coalesce([c for c in ("Gene", "SYMBOL") if c in pick] or [pl.lit(None, pl.String)])
        .alias("gene_key"),
        pl.col("SYMBOL").alias("gene_symbol") if "SYMBOL" in pick else pl.lit(None, pl.String)
        .alias("gene_symbol"),
        pl.col("Gene").alias("gene_id") if "Gene" in pick else pl.lit(None, pl.String)
        .alias("gene_id"),
        _null_if_empty(terms.list.get(ranks.list.arg_min())).alias("consequence"),
        ranks.list.min().alias("rank"),
        pl.col("IMPACT").alias("impact") if "IMPACT" in pick else pl.lit(None, pl.String)
        .alias("impact"),
        *[pl.max_horizontal(e).alias(name) if (e := present(names)) else
          pl.lit(None, pl.Float64).alias(name)
          for name, names in (("allele_freq", AF_FIELDS), ("revel", REVEL_FIELDS),
                              ("cadd_phred", CADD_FIELDS))],
    )
    collapsed = entries.group_by("rec", "allele_idx", "gene_key").agg(
        pl.col("gene_symbol").drop_nulls().first(),
        pl.col("gene_id").drop_nulls().first(),
        pl.col("consequence", "impact").sort_by("rank").first(),
        pl.col("allele_freq", "revel", "cadd_phred").max(),
    )
    # Gene-less entries (intergenic, regulatory) only stand for an allele that hits no gene.
    has_gene = pl.col("gene_key").is_not_null().any().over("rec", "allele_idx")
    return collapsed.filter(pl.col("gene_key").is_not_null() | ~has_gene).drop("gene_key")


def _transform(batch: pa.RecordBatch, offset: int, samples: list[str],
               csq_fields: list[str]) -> tuple[pa.Table, pl.DataFrame]:
    """One chunk of body lines → variants rows, plus (rec, reason) of records refused."""
    # One lazy plan per chunk: polars fuses and parallelises it, one collect at the end.
    df = pl.from_arrow(batch).lazy().with_row_index("rec", offset=offset)
    sites = df.select(
        "rec", pl.col("c0").alias("chrom"), pl.col("c1").alias("pos_raw"),
        pl.col("c1").str.strip_chars().cast(pl.Int64, strict=False).alias("pos"),
        pl.col("c3").alias("ref"), pl.col("c4").alias("alt_raw"),
        _null_if_empty(pl.col("c5")).cast(pl.Float64, strict=False).alias("qual"),
        _null_if_empty(pl.col("c6")).alias("filter"), pl.col("c7").alias("info"),
    )
    bad_pos = sites.filter(pl.col("pos").is_null() | (pl.col("ref").fill_null("") == "")
                           | (pl.col("alt_raw").fill_null("") == "")).select(
        "rec", pl.format("POS '{}' is not an integer or REF/ALT is empty",
                         pl.col("pos_raw")).alias("reason"))
    sites = sites.join(bad_pos.select("rec"), on="rec", how="anti").with_columns(
        pl.col("alt_raw").str.split(",").alias("alts"))
    sites = sites.with_columns(pl.col("alts").list.len().alias("n_alts"))
    alts = (sites.select("rec", "ref", "alts", pl.int_ranges(1, pl.col("n_alts") + 1).alias("allele_idx"))
            .explode("alts", "allele_idx").rename({"alts": "alt"}))
    # VEP drops the shared first base of indel alleles (writing '-' when nothing is left),
    # but only when every ALT of the record starts with the REF's first base.
    trim = ((pl.col("alt").str.len_chars() != pl.col("ref").str.len_chars()).any().over("rec")
            & (pl.col("alt").str.slice(0, 1) == pl.col("ref").str.slice(0, 1)).all().over("rec"))
    alts = alts.with_columns(
        pl.when(trim).then(pl.col("alt").str.slice(1)).otherwise(pl.col("alt")).alias("vep_allele")
    ).with_columns(pl.when(pl.col("vep_allele") == "").then(pl.lit("-"))
                   .otherwise(pl.col("vep_allele")).alias("vep_allele"))

    sample_cols = [f"s{i}" for i in range(len(samples))]
    empty_calls = pl.LazyFrame(schema={"rec": pl.UInt32, "sample_idx": pl.Int64,
                                       "genotype": pl.String})
    calls = empty_calls
    if sample_cols:
        calls = (df.filter(pl.col("c8").str.starts_with("GT"))
                 .unpivot(index="rec", on=sample_cols, variable_name="s", value_name="call")
                 .select("rec", pl.col("s").str.slice(1).cast(pl.Int64).alias("sample_idx"),
                         pl.col("call").str.extract(r"^([^:]*)", 1).alias("genotype"))
                 .filter(pl.col("genotype").str.contains(r"[1-9]")))
    alleles = (calls.with_columns(pl.col("genotype").str.replace_all("|", "/", literal=True)
                                  .str.split("/").alias("a"))
               .with_columns(pl.col("a").list.len().alias("ploidy")).explode("a")
               .filter(~pl.col("a").is_in(["0", "."]))
               .with_columns(pl.col("a").cast(pl.Int64, strict=False).alias("allele_idx")))
    bad_gt = (alleles.join(alts.select("rec", "allele_idx"), on=["rec", "allele_idx"], how="anti")
              .join(sites.select("rec", "n_alts"), on="rec", how="inner")
              .group_by("rec").agg(pl.format("genotype '{}' of sample #{} names allele {} but the "
                                             "record has {} ALT allele(s)",
                                             "genotype", pl.col("sample_idx") + 1, "a", "n_alts")
                                   .first().alias("reason")))
    carriers = (alleles.join(bad_gt.select("rec"), on="rec", how="anti")
                .group_by("rec", "sample_idx", "allele_idx")
                .agg(pl.col("genotype").first(), pl.len().alias("copies"), pl.col("ploidy").first())
                .with_columns(pl.when(pl.col("ploidy") == 1).then(pl.lit("hemi"))
                              .when(pl.col("copies") >= pl.col("ploidy")).then(pl.lit("hom_alt"))
                              .otherwise(pl.lit("het")).alias("zygosity")))
    carriers = carriers.join(alts.filter(~pl.col("alt").is_in(NOT_CARRIED)),
                             on=["rec", "allele_idx"], how="inner")
    carried = sites.join(carriers.select("rec").unique(), on="rec", how="semi")
    ann = _annotations(carried, alts.join(carried.select("rec"), on="rec", how="semi"), csq_fields)
    rows = (carriers.join(carried.select("rec", "chrom", "pos", "filter", "qual"), on="rec")
            .join(ann, on=["rec", "allele_idx"], how="left")
            .sort("rec", "sample_idx", "allele_idx", "gene_symbol", nulls_last=True)
            .with_columns(pl.col("sample_idx").replace_strict(
                dict(enumerate(samples)), return_dtype=pl.String).alias("patient_id"))
            .select(OUTPUT_SCHEMA.names))
    bad = pl.concat([bad_pos, bad_gt.with_columns(pl.col("rec").cast(pl.UInt32))])
    rows, bad = pl.collect_all([rows, bad])
    return rows.to_arrow().cast(OUTPUT_SCHEMA), bad


class _LineMap:
    """Maps the ordinal of a parsed body row back to its 1-based file line, given the
    lines Arrow skipped as malformed before it."""

    def __init__(self, first_body_line: int):
        self.first = first_body_line
        self.skipped: list[int] = []

    def line_of(self, ordinal: int) -> int:
        line = self.first + ordinal
        for s in self.skipped:
            if s <= line:
                line += 1
            else:
                break
        return line


def _stream(path: Path, header: VcfHeader, quarantine: list[QuarantineRecord]
            ) -> Iterator[pa.Table]:
    names = ([f"c{i}" for i in range(min(header.n_columns, 9))]
             + [f"s{i}" for i in range(len(header.samples))])
    lines = _LineMap(header.n_lines + 1)

    def on_bad_row(row: pacsv.InvalidRow) -> str:
        line = row.number if row.number > 0 else None   # Arrow counts lines from 1
        if line is None:
            raise FileRejected(f"a body line has {row.actual_columns} columns, expected "
                               f"{row.expected_columns}")
        lines.skipped.append(line)
        quarantine.append(QuarantineRecord(
            "record", f"line {line}",
            f"line {line} has {row.actual_columns} tab-separated columns, expected "
            f"{row.expected_columns}"))
        return "skip"

    try:
        stream = pa.input_stream(str(path), compression=header.compression)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(skip_rows=header.n_lines, column_names=names,
                                           block_size=BLOCK_BYTES, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                             ignore_empty_lines=False,
                                             invalid_row_handler=on_bad_row),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
        offset = 0
        for batch in reader:
            table, bad = _transform(batch, offset, header.samples, header.csq_fields)
            for rec, reason in bad.iter_rows():
                line = lines.line_of(rec)
                quarantine.append(QuarantineRecord("record", f"line {line}",
                                                   f"line {line}: {reason}"))
            offset += batch.num_rows
            if table.num_rows:
                yield table
    except OSError as exc:
        raise FileRejected(f"corrupt or truncated compressed file: {exc}") from None
    except pa.ArrowInvalid as exc:
        raise FileRejected(f"unreadable VCF body: {exc}") from None
    except StopIteration:
        return


def parse_vcf(path: Path) -> ParseResult:
    """Parse one VCF into a lazily streamed ``variants`` table plus record-level quarantine.

    Raises FileRejected (up front, or while the stream is consumed) for file-level faults.
    """
    header = read_header(Path(path))
    result = ParseResult()
    result.tables["variants"] = _stream(Path(path), header, result.quarantine)
    return result
