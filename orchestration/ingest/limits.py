"""What one landing file may cost: every ingest limit, its default and its override.

A file over a limit is refused as a file (``FileRejected``) with a reason that names the
limit, its value and the environment variable that raises it, e.g.
"line 12 is 2,000,001 bytes, over max_line_bytes 8,388,608 (ORPHANLAKE_MAX_LINE_BYTES)".
Limits are read from the environment when a file is parsed (ingest workers inherit it);
``check_environment`` validates every override once before an ingest starts, so a typo
fails the ingest loudly instead of refusing every file.

Defaults are sized so real data passes with a wide margin and hostile data stops early:

* bytes: what a file may inflate to (counted while decompressing, so a gzip bomb stops at
  the limit instead of filling memory or disk). Genomic allows a multi-sample genome VCF
  and compounds a whole vendor library (both are streamed); phenopackets, expression
  matrices and plate files are read whole, so their limits also bound memory: a
  phenopacket is kilobytes, a plate-reader export megabytes.
* records: VCF data lines, phenopacket phenotypic features, compound records, plate-file
  lines, expression gene lines. HPO has ~19,000 terms, so 100,000 features leaves room for
  repeats (counted once) and little else; 500 million VCF lines is a joint-called genome
  cohort.
* max_line_bytes: the longest line of a line-based file (VCF, TSV, CSV, SDF, SMILES,
  reader exports; not phenopacket JSON, which may legitimately be one line and is bounded
  by its bytes). It also bounds what the VCF reader holds for one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from orchestration.ingest.quarantine import FileRejected

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limit:
    name: str         # e.g. "max_bytes_genomic"; the env var is ORPHANLAKE_<NAME>
    default: int
    doc: str

    @property
    def env(self) -> str:
        return f"ORPHANLAKE_{self.name.upper()}"

    @property
    def value(self) -> int:
        """The limit now: the environment override if set, else the default."""
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return self.default
        try:
            value = int(raw.replace(",", "_"))
        except ValueError:
            raise ValueError(f"{self.env}={raw!r} is not a whole number") from None
        if value < 1:
            raise ValueError(f"{self.env}={raw!r} must be at least 1")
        return value

    def refuse(self, what: str, value: int | None = None) -> FileRejected:
        """FileRejected: "<what>, over <name> <value> (<env>)"."""
        return FileRejected(f"{what}, over {self.name} {value or self.value:,} ({self.env})")


_BYTES = {"genomic": 256 * GiB, "clinical": 64 * MiB, "expression": 2 * GiB,
          "compounds": 32 * GiB, "plates": 256 * MiB, "trials": 1 * GiB}
_RECORDS = {"genomic": 500_000_000, "clinical": 100_000, "expression": 2_000_000,
            "compounds": 100_000_000, "plates": 5_000_000, "trials": 20_000_000}
_RECORD_WORDS = {"genomic": "VCF data lines", "clinical": "phenotypic features",
                 "expression": "gene lines", "compounds": "compound records",
                 "plates": "lines", "trials": "dataset records"}

MAX_BYTES = {d: Limit(f"max_bytes_{d}", n, f"bytes one {d} file may hold once decompressed")
             for d, n in _BYTES.items()}
MAX_RECORDS = {d: Limit(f"max_records_{d}", n, f"{_RECORD_WORDS[d]} per {d} file")
               for d, n in _RECORDS.items()}
MAX_LINE_BYTES = Limit("max_line_bytes", 8 * MiB, "bytes in one line of a line-based file")
MAX_VCF_HEADER_LINES = Limit("max_vcf_header_lines", 100_000,
                             "'##' header lines of one VCF (GRCh38 with decoys has ~3,400)")

ALL_LIMITS = (*MAX_BYTES.values(), *MAX_RECORDS.values(), MAX_LINE_BYTES, MAX_VCF_HEADER_LINES)


def check_environment() -> None:
    """ValueError naming the variable when an ORPHANLAKE_MAX_* override is not a positive
    whole number."""
    for limit in ALL_LIMITS:
        limit.value  # noqa: B018 — reading it validates it


def record_word(domain: str) -> str:
    """What a record of ``domain`` is called in reasons (e.g. "VCF data lines")."""
    return _RECORD_WORDS[domain]


def check_line_lengths(buf: bytes, first_line: int, max_line: int, final: bool = True) -> None:
    """FileRejected when a line of ``buf`` (which starts at a line start, file line
    ``first_line``) is longer than ``max_line`` bytes (line end excluded).

    Cost: one ``rfind`` per ``max_line`` bytes, not per line: from a line start, the last
    line end within the next ``max_line`` + 1 bytes proves every line up to it short
    enough; none there means the line at the start is too long. With ``final`` False the
    unterminated tail of ``buf`` may continue in later data, so its length is "at least".
    """
    pos, size = 0, len(buf)
    while size - pos > max_line:
        nl = buf.rfind(b"\n", pos, pos + max_line + 1)
        if nl < 0:
            line = first_line + buf.count(b"\n", 0, pos)
            end = buf.find(b"\n", pos)
            if end >= 0:
                what = f"line {line:,} is {end - pos:,} bytes"
            elif final:
                what = f"line {line:,} is {size - pos:,} bytes"
            else:
                what = f"line {line:,} is at least {size - pos:,} bytes"
            raise MAX_LINE_BYTES.refuse(what, max_line)
        pos = nl + 1
