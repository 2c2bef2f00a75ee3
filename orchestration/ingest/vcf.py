"""Stream a VEP-annotated VCF into raw ``variants`` (calls), ``variant_sites`` (annotation,
once per site) and ``no_calls`` rows, in one pass over the file.

A reader thread inflates the body into ~8 MiB chunks of whole lines (``vcf_body``) and
Arrow's CSV parser splits each into string columns, reporting a wrong column count per
line; two threads run the polars chunk transform (``vcf_chunk``) on consecutive chunks
while the caller writes the previous one: no per-variant Python loop, and memory bounded
by the chunk size, not the file size.

Why not oxbow (0.8.2, noodles-based, evaluated as the record reader): on the 300k-record
benchmark file it needed 2.1 s just to read CHROM..FILTER+CSQ+GT into Arrow, longer
than this whole ingest (1.4-1.8 s, same machine) and ~4x ``zcat`` (0.5 s); and a
line with a wrong column count aborts the whole stream with "Sample not found: P2" and
no line number, so per-line quarantine would be lost. It also reads QUAL as float32
(99.8 becomes 99.80000305) and PASS as an empty FILTER list.

The header is parsed here rather than by cyvcf2: htslib folds a duplicate sample name and
a bad #CHROM line alike into "cannot parse VCF header" (details only on stderr), which would
lose the specific FileRejected reasons below.
"""

from __future__ import annotations

import gzip
import collections
import io
import queue
import re
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from orchestration.ingest import limits
from orchestration.ingest.identifiers import scan_ids, scan_vcf_header
from orchestration.ingest.ids import id_problem, shown
from orchestration.ingest.landing import open_landing
from orchestration.ingest.quarantine import FileRejected, ParseResult, QuarantineRecord
from orchestration.ingest.vcf_body import body_chunks
from orchestration.ingest.vcf_chunk import OUTPUT_SCHEMAS, transform

FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
BLOCK_BYTES = 8 << 20          # chunk of body text per polars pass; sets peak RSS
TRANSFORM_THREADS = 2
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_CSQ_FORMAT = re.compile(r'^##INFO=<ID=CSQ,.*Format:\s*([^"]+)"')


@dataclass(frozen=True)
class VcfHeader:
    n_lines: int                 # header lines including #CHROM
    n_columns: int
    samples: list[str]
    csq_fields: list[str] | None
    compression: str | None      # "gzip" (also bgzip) or None
    refused_samples: dict[int, str] = dataclasses.field(default_factory=dict)  # index → reason


def _compression(path: Path) -> str | None:
    with open_landing(path) as fh:
        head = fh.read(18)
        if head[:2] != b"\x1f\x8b":
            return None
        is_bgzf = len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC"
        if is_bgzf:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - len(_BGZF_EOF)))
            if fh.read() != _BGZF_EOF:
                raise FileRejected("truncated bgzip: the BGZF end-of-file block is missing, "
                                   "so the file was cut short")
    return "gzip"


def _header_line(fh, number: int, max_line: int) -> str:
    """The next line (at most ``max_line`` bytes, else FileRejected), '' at the end."""
    line = fh.readline(max_line + 2)          # characters; never more than one line's worth
    body = line.rstrip("\r\n")
    if len(body) * 4 > max_line and len(body.encode("utf-8", "surrogatepass")) > max_line:
        cut = not line.endswith("\n") and len(line) == max_line + 2
        raise limits.MAX_LINE_BYTES.refuse(
            f"line {number:,} is {'at least ' if cut else ''}"
            f"{len(body.encode('utf-8', 'surrogatepass')):,} bytes", max_line)
    return line


def read_header(path: Path) -> VcfHeader:
    """Read and check the VCF header; raises FileRejected with a readable reason."""
    compression = _compression(path)
    max_line = limits.MAX_LINE_BYTES.value
    max_meta = limits.MAX_VCF_HEADER_LINES.value
    meta: list[str] = []
    columns: list[str] | None = None
    first_body: str | None = None
    try:
        with open_landing(path) as raw, \
                (gzip.open(raw, "rt", encoding="utf-8", newline="") if compression else
                 io.TextIOWrapper(raw, encoding="utf-8", newline="")) as fh:
            while line := _header_line(fh, len(meta) + 1, max_line):
                line = line.rstrip("\r\n")
                if not meta and not line.startswith("##fileformat=VCF"):
                    raise FileRejected("not a VCF: line 1 is not '##fileformat=VCFv4.x'")
                if line.startswith("##"):
                    if len(meta) >= max_meta:
                        raise limits.MAX_VCF_HEADER_LINES.refuse(
                            f"the header has more than {max_meta:,} '##' lines", max_meta)
                    meta.append(line)
                    continue
                if line.startswith("#"):
                    columns = line[1:].split("\t")
                    columns[0] = "#" + columns[0]
                    first_body = _header_line(fh, len(meta) + 2, max_line) or None
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
    dupes = sorted(s for s, n in collections.Counter(samples).items() if n > 1)
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
    # a sample whose name fails the id rule is refused alone; the others are ingested
    refused = {i: f"sample #{i + 1} {shown(s)} of the #CHROM line {problem}; its calls are "
                  "not ingested"
               for i, s in enumerate(samples) if (problem := id_problem(s))}
    return VcfHeader(n_lines=len(meta) + 1, n_columns=len(columns), samples=samples, csq_fields=fields,
                     compression=compression, refused_samples=refused)


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


def _read_ahead(items: Iterator, depth: int = 1) -> Iterator:
    """Yield ``items`` as a background thread produces them, up to ``depth`` ahead.

    Arrow inflates and tokenises without the GIL, so the next chunk is read while
    polars transforms this one; ``depth`` bounds the chunks held at once.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:   # handed to the consumer, which re-raises it
            put((end, exc))

    worker = threading.Thread(target=produce, name="vcf-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = slots.get()
            if item is end:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _stream(path: Path, header: VcfHeader, quarantine: list[QuarantineRecord]
            ) -> Iterator[dict[str, pa.Table]]:
    names = ([f"c{i}" for i in range(min(header.n_columns, 9))]
             + [f"s{i}" for i in range(len(header.samples))])
    lines = _LineMap(header.n_lines + 1)
    chunk_start = [0]

    def on_bad_row(row: pacsv.InvalidRow) -> str:
        if row.number <= 0:    # Arrow counts a chunk's lines from 1; <= 0 means unknown
            raise FileRejected(f"a body line has {row.actual_columns} columns, expected "
                               f"{row.expected_columns}")
        line = chunk_start[0] + row.number - 1
        lines.skipped.append(line)
        quarantine.append(QuarantineRecord(
            "record", f"line {line}",
            f"line {line} has {row.actual_columns} tab-separated columns, expected "
            f"{row.expected_columns}"))
        return "skip"

    # a block must hold the longest line allowed (plus the chunk it ends)
    read_options = pacsv.ReadOptions(column_names=names,
                                     block_size=max(BLOCK_BYTES, limits.MAX_LINE_BYTES.value)
                                     + (1 << 20), use_threads=False)
    parse_options = pacsv.ParseOptions(delimiter="\t", quote_char=False, ignore_empty_lines=False,
                                       invalid_row_handler=on_bad_row)
    convert_options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                           strings_can_be_null=False,
                                           quoted_strings_can_be_null=False)

    def tables() -> Iterator[pa.Table]:
        for first_line, chunk in body_chunks(path, header.compression is not None,
                                             header.n_lines, BLOCK_BYTES):
            chunk_start[0] = first_line
            yield pacsv.read_csv(pa.py_buffer(chunk), read_options=read_options,
                                 parse_options=parse_options, convert_options=convert_options)

    kept = [None if i in header.refused_samples else s for i, s in enumerate(header.samples)]

    def transformed() -> Iterator[tuple[dict[str, pa.Table], object]]:
        # two chunks in flight: polars releases the GIL, so both cores transform
        with ThreadPoolExecutor(TRANSFORM_THREADS, thread_name_prefix="vcf-transform") as pool:
            pending: collections.deque = collections.deque()
            offset = 0
            for batch in _read_ahead(tables()):
                pending.append(pool.submit(transform, batch, offset, kept, header.csq_fields))
                offset += batch.num_rows
                if len(pending) >= TRANSFORM_THREADS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    try:
        for tables, bad in transformed():
            for rec, reason in bad.iter_rows():
                line = lines.line_of(rec)
                quarantine.append(QuarantineRecord("record", f"line {line}",
                                                   f"line {line}: {reason}"))
            yield tables
    except OSError as exc:
        raise FileRejected(f"unreadable file: {exc}") from None
    except pa.ArrowInvalid as exc:
        raise FileRejected(f"unreadable VCF body: {exc}") from None


class _Fanout:
    """Per-table streams fed by one stream of {table: chunk}: pulling any of them advances
    the shared source and holds the other tables' chunks until those are pulled. A caller
    that takes one chunk of each in turn (the ingest runner) holds one chunk per table."""

    def __init__(self, source: Iterator[dict[str, pa.Table]], names):
        self.source = source
        self.held: dict[str, collections.deque] = {n: collections.deque() for n in names}
        self.done = False

    def stream(self, name: str) -> Iterator[pa.Table]:
        held = self.held[name]
        while True:
            while held:
                yield held.popleft()
            if self.done:
                return
            try:
                tables = next(self.source)
            except StopIteration:
                self.done = True
                continue
            # empty chunks too: each pull of the source gives every table exactly one chunk
            for n, table in tables.items():
                self.held[n].append(table)


def parse_vcf(path: Path) -> ParseResult:
    """Parse one VCF into lazily streamed ``variants``, ``variant_sites`` and ``no_calls``
    tables (``OUTPUT_SCHEMAS``) plus record-level quarantine; the three streams share one
    pass over the file (see ``_Fanout``).

    Raises FileRejected (up front, or while the streams are consumed) for file-level faults.
    """
    header = read_header(Path(path))
    result = ParseResult(quarantine=[QuarantineRecord("sample", f"sample #{i + 1}", reason)
                                     for i, reason in header.refused_samples.items()])
    # a second stage thread: chunk N+1 is transformed while the caller writes chunk N
    fanout = _Fanout(_read_ahead(_stream(Path(path), header, result.quarantine)), OUTPUT_SCHEMAS)
    for name in OUTPUT_SCHEMAS:
        result.tables[name] = fanout.stream(name)
    return result
