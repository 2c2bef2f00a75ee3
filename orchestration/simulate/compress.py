"""gzip and BGZF (bgzip) writers with mtime 0, so the same input gives the same bytes."""

from __future__ import annotations

import struct
import zlib

# BGZF's end-of-file marker: an empty block (SAM/BAM spec, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_BLOCK = 0xFF00  # uncompressed bytes per block, as bgzip uses


def bgzf(data: bytes, level: int = 3) -> bytes:
    """BGZF-compress data: independent gzip members with the BC extra field, then EOF."""
    out = []
    for i in range(0, len(data), _BLOCK):
        chunk = data[i:i + _BLOCK]
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        cdata = comp.compress(chunk) + comp.flush()
        bsize = len(cdata) + 25  # 18-byte header + 8-byte trailer, minus one
        header = struct.pack("<BBBBIBBHBBHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6,
                             ord("B"), ord("C"), 2, bsize)
        out += [header, cdata, struct.pack("<II", zlib.crc32(chunk), len(chunk))]
    out.append(BGZF_EOF)
    return b"".join(out)


def gzip_plain(data: bytes, level: int = 3) -> bytes:
    """Ordinary single-member gzip (what `gzip file.vcf` makes), header mtime 0."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()
