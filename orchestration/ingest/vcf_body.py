"""Inflate a VCF body into chunks of whole lines, with the file line number of each chunk.

We inflate ourselves instead of handing Arrow a compressed stream: Arrow's streaming CSV
reader reads up to 32 blocks ahead of its consumer, so when polars is the slower side it
buffers most of a large file (peak RSS 0.5-0.8 GiB at 300k-1M records). Chunks made here
are parsed one at a time and a bounded queue holds them, so memory is set by chunk size.

Inflating uses ISA-L (``isal``) when it is installed: same gzip/deflate format, about 1.8x
faster than zlib on the 300k-record benchmark file (0.26 s vs 0.47 s), which matters on a
2-core machine where the inflate thread competes with polars for CPU. Without it, zlib.

Limits (``limits``): the inflated bytes are counted as they come and each inflate step
yields at most ``OUT_BYTES``, so a gzip bomb stops at ``max_bytes_genomic`` holding one
step; line lengths are checked once per chunk (one ``rfind`` per ``max_line_bytes``)
plus the unterminated tail of each inflated piece, and data lines are counted by the
``count(b"\\n")`` that numbers lines anyway.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterator

from orchestration.ingest import limits
from orchestration.ingest.landing import open_landing
from orchestration.ingest.quarantine import FileRejected

try:
    from isal import isal_zlib as _inflate_lib
    _INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate_lib.error)
except ImportError:       # optional speed-up; zlib reads the same files
    _inflate_lib = zlib
    _INFLATE_ERRORS = (zlib.error,)

READ_BYTES = 1 << 20
OUT_BYTES = 16 << 20         # most one inflate step may produce (bounds a bomb's step)


def _inflate(path: Path, compressed: bool) -> Iterator[bytes]:
    limit = limits.MAX_BYTES["genomic"]
    cap, total = limit.value, 0
    with open_landing(path) as fh:
        if not compressed:
            while data := fh.read(READ_BYTES):
                total += len(data)
                if total > cap:
                    raise limit.refuse(f"the file is more than {cap:,} bytes", cap)
                yield data
            return
        inflater = _inflate_lib.decompressobj(wbits=31)
        while True:
            data = fh.read(READ_BYTES)
            if not data:
                break
            # gzip and bgzip files are one or more gzip members back to back.
            while data:
                try:
                    out = inflater.decompress(data, OUT_BYTES)
                except _INFLATE_ERRORS as exc:
                    raise FileRejected(f"corrupt gzip data: {exc}") from None
                if out:
                    total += len(out)
                    if total > cap:
                        raise limit.refuse(f"the file inflates to more than {cap:,} bytes "
                                           "(stopped there)", cap)
                    yield out
                if inflater.unconsumed_tail:
                    data = inflater.unconsumed_tail
                    continue
                if not inflater.eof:
                    break
                data = inflater.unused_data
                inflater = _inflate_lib.decompressobj(wbits=31)
                if not data:
                    data = fh.read(READ_BYTES)
                    if not data:
                        return        # the last member ended exactly at end of file
        raise FileRejected("truncated gzip: the compressed stream ends before its "
                           "end-of-stream marker, so the file was cut short")


def body_chunks(path: Path, compressed: bool, header_lines: int,
                chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based file line of the chunk's first line, chunk) after ``header_lines`` lines.

    Each chunk holds whole lines: the first line end at or past ``chunk_bytes`` closes it.
    FileRejected when a line is longer than ``max_line_bytes`` or the body has more than
    ``max_records_genomic`` lines.
    """
    max_line = limits.MAX_LINE_BYTES.value
    records = limits.MAX_RECORDS["genomic"]
    last_line = header_lines + records.value      # the last data line allowed
    to_skip = header_lines
    line = header_lines + 1
    pending: list[bytes] = []
    size = tail = 0                               # tail: bytes since the last line end

    def lines_in(first: int, chunk: bytes) -> int:
        """Line ends in ``chunk`` (which starts at file line ``first``), once it passed."""
        limits.check_line_lengths(chunk, first, max_line)
        n = chunk.count(b"\n")
        if first + n - (chunk[-1:] == b"\n") > last_line:
            raise records.refuse(f"the file has more than {records.value:,} VCF data lines")
        return n

    for data in _inflate(path, compressed):
        while to_skip and data:
            cut = data.find(b"\n")
            if cut < 0:
                data = b""
                break
            data = data[cut + 1:]
            to_skip -= 1
        if not data:
            continue
        pending.append(data)
        size += len(data)
        nl = data.rfind(b"\n")
        tail = tail + len(data) if nl < 0 else len(data) - nl - 1
        if tail > max_line:       # a line with no end in sight: stop before holding more
            rest = b"".join(pending)
            limits.check_line_lengths(rest, line, max_line, final=False)
        if size < chunk_bytes:
            continue
        rest = b"".join(pending)
        # cut at the first line end past chunk_bytes, as often as the inflated text allows
        while (end := rest.find(b"\n", chunk_bytes - 1) + 1) > 0:
            chunk, rest = rest[:end], rest[end:]
            n = lines_in(line, chunk)
            yield line, chunk
            line += n
        pending, size = [rest], len(rest)
    if size:
        chunk = b"".join(pending)
        lines_in(line, chunk)
        yield line, chunk
