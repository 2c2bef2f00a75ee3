"""What in the landing zone is data, what is refused, and how landing files are opened.

The landing zone is ``landing/<domain>/<batch>/<file>``. Only regular files in real
batch folders of real domain folders are read; everything else someone dropped there is
*refused* (reported once in the quarantine table, never read, never copied):

* a symbolic link anywhere (domain folder, batch folder, file): a link can point at
  ``/etc/passwd`` or at another lake, so links are not followed;
* a FIFO, socket or device: opening a FIFO blocks, a device can be endless;
* a folder under ``landing/`` that is not a domain (``landing/imaging/``), a file
  directly in ``landing/`` or ``landing/<domain>/`` (not in a batch), a folder inside a
  batch (batches are flat);
* a batch folder whose name fails the id rule (``ids.id_problem``: it becomes the batch
  id, library and run id) and a file whose name holds a control/invisible character.

Hidden names (``.uploading``, ``.b1.partial``) are uploads in progress and are skipped
silently; so are sidecars (``.tbi``, ``.md5`` …), which travel next to data files. The
landing folder itself may be a link (a mount point); everything below it is checked with
``lstat``, and ``open_landing`` opens with ``O_NOFOLLOW``, so a file swapped for a link
after the scan is refused too.
"""

from __future__ import annotations

import errno
import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from orchestration.ingest import limits
from orchestration.ingest.ids import escaped, id_problem, name_problem
from orchestration.ingest.quarantine import FileRejected
from orchestration.settings import LakePaths

LANDING_DOMAINS = ("genomic", "clinical", "expression", "compounds", "plates", "trials")
# Index/checksum files that travel next to data files and are not data themselves.
SIDECAR_SUFFIXES = (".tbi", ".csi", ".md5", ".sha256", ".crc")
ROOT = "landing"                 # the quarantine ``domain`` of entries outside any domain
_READ = 1 << 20
_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


@dataclass(frozen=True)
class Refusal:
    """One landing entry that is not read, and why."""
    rel: str                   # path relative to landing/, control characters escaped
    batch: str | None
    granularity: str           # "file" | "batch"
    reason: str


@dataclass
class DomainScan:
    files: list[tuple[str, Path]]       # (batch, file) to ingest, sorted
    refused: list[Refusal]


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _entries(folder: Path) -> list[tuple[os.DirEntry, int]]:
    """(entry, lstat mode) of the non-hidden entries of ``folder``, by name; an entry that
    vanished since the listing (an upload moved into place) is left out."""
    out = []
    with os.scandir(folder) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            try:
                out.append((entry, entry.stat(follow_symlinks=False).st_mode))
            except FileNotFoundError:
                continue
    return sorted(out, key=lambda e: e[0].name)


def _not_followed(rel: str, what: str, kind: str) -> str:
    return f"{escaped(rel)} is {kind}; {what} is not followed or read (land the data itself)"


def scan_domain(paths: LakePaths, domain: str) -> DomainScan:
    """The data files of ``landing/<domain>/<batch>/`` and every entry refused (module doc)."""
    root = paths.landing_domain(domain)
    try:
        mode = root.lstat().st_mode
    except FileNotFoundError:
        return DomainScan([], [])
    if not stat.S_ISDIR(mode):
        reason = (_not_followed(domain, "the domain folder", _kind(mode)) if stat.S_ISLNK(mode)
                  else f"{domain} is {_kind(mode)}, not a domain folder; it is not read")
        return DomainScan([], [Refusal(domain, None, "batch", reason)])
    files: list[tuple[str, Path]] = []
    refused: list[Refusal] = []
    for entry, mode in _entries(root):
        rel = f"{domain}/{entry.name}"
        if stat.S_ISLNK(mode):
            refused.append(Refusal(escaped(rel), None, "batch",
                                   _not_followed(rel, "a linked batch folder", _kind(mode))))
        elif stat.S_ISREG(mode):
            refused.append(Refusal(escaped(rel), None, "file",
                                   f"{escaped(rel)} lies directly in landing/{domain}/, not in a "
                                   f"batch folder (landing/{domain}/<batch>/); it is not read"))
        elif not stat.S_ISDIR(mode):
            refused.append(Refusal(escaped(rel), None, "file",
                                   f"{escaped(rel)} is {_kind(mode)}, not a batch folder; it is "
                                   "not read"))
        elif entry.name.startswith("_"):
            refused.append(Refusal(escaped(rel), None, "batch",
                                   f"batch folder name {escaped(rel)} starts with '_', which is "
                                   "reserved for the lake's own files (_schema.parquet, _ledger, "
                                   "_landing); nothing in it is read"))
        elif problem := id_problem(entry.name):
            refused.append(Refusal(escaped(rel), None, "batch",
                                   f"batch folder name {escaped(rel)} {problem}; nothing in it "
                                   "is read"))
        else:
            _scan_batch(Path(entry.path), rel, entry.name, files, refused)
    return DomainScan(files, refused)


def _scan_batch(folder: Path, batch_rel: str, batch: str, files: list, refused: list) -> None:
    for entry, mode in _entries(folder):
        if entry.name.endswith(SIDECAR_SUFFIXES):
            continue
        rel = f"{batch_rel}/{entry.name}"
        if stat.S_ISREG(mode):
            problem = name_problem(entry.name)
            if problem is None:
                files.append((batch, Path(entry.path)))
                continue
            reason = f"the file name {escaped(rel)} {problem}; it is not read"
        elif stat.S_ISLNK(mode):
            reason = _not_followed(rel, "a link", _kind(mode))
        elif stat.S_ISDIR(mode):
            reason = (f"{escaped(rel)} is a folder inside a batch; batches are flat, so it is "
                      "not read")
        else:
            reason = f"{escaped(rel)} is {_kind(mode)}, not a regular file; it is not read"
        refused.append(Refusal(escaped(rel), batch, "file", reason))


def scan_root(paths: LakePaths) -> list[Refusal]:
    """Entries directly under ``landing/`` that are not a domain folder (never read)."""
    try:
        entries = _entries(paths.landing)
    except FileNotFoundError:
        return []
    out = []
    domains = ", ".join(LANDING_DOMAINS)
    for entry, mode in entries:
        if entry.name in LANDING_DOMAINS:
            continue                 # scan_domain judges the domain folder itself
        rel = escaped(entry.name)
        if stat.S_ISDIR(mode):
            out.append(Refusal(rel, None, "batch",
                               f"landing/{rel}/ is not a landing domain ({domains}); nothing "
                               "in it is read"))
        elif stat.S_ISREG(mode):
            out.append(Refusal(rel, None, "file",
                               f"landing/{rel} lies outside the domain folders ({domains}); "
                               "it is not read"))
        else:
            out.append(Refusal(rel, None, "file",
                               f"landing/{rel} is {_kind(mode)} outside the domain folders; "
                               "it is not followed or read"))
    return out


def batch_folders(paths: LakePaths, domain: str) -> list[str]:
    """Names of the real (not linked, not hidden) batch folders of ``landing/<domain>/``."""
    root = paths.landing_domain(domain)
    try:
        if not stat.S_ISDIR(root.lstat().st_mode):
            return []
        return [e.name for e, mode in _entries(root) if stat.S_ISDIR(mode)]
    except FileNotFoundError:
        return []


# --------------------------------------------------------------------------- reading
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# The folders above a landing file that must not be links: its batch and its domain.
_CHECKED_FOLDERS = 2


def _open_beneath(path: Path) -> int:
    """A descriptor of ``path`` opened from ``path.parents[2]`` downwards, one component at
    a time without following a link: a batch or domain folder swapped for a link after the
    scan is refused too (ELOOP), not just the file itself."""
    levels = min(_CHECKED_FOLDERS, len(path.parents) - 1)
    fd = os.open(path.parents[levels], os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        for part in path.parts[len(path.parts) - 1 - levels:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC,
                                dir_fd=fd)
            except NotADirectoryError:       # a link (or a file) where the folder was
                raise OSError(errno.ELOOP, "a folder on the path is a link") from None
            os.close(fd)
            fd = inner
        return os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


def open_landing(path: Path) -> BinaryIO:
    """Open a landing file for reading without following a link or blocking on a FIFO.

    FileRejected when ``path`` is (now) a link or not a regular file.
    """
    try:
        fd = _open_beneath(Path(path).absolute())
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileRejected("is a symbolic link or lies in a linked folder; links are not followed "
                               "or read (land the file itself)") from None
        raise FileRejected(f"unreadable file: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRejected(f"is {_kind(mode)}, not a regular file; it is not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_landing(path: Path, domain: str, decompress: bool = True) -> bytes:
    """The bytes of a landing file, gunzipped when it starts with the gzip magic, read in
    a stream that stops at ``max_bytes_<domain>`` (a gzip bomb is never inflated whole)."""
    limit = limits.MAX_BYTES[domain]
    cap = limit.value
    out: list[bytes] = []
    total = 0
    with open_landing(path) as fh:
        head = fh.read(2)
        fh.seek(0)
        if not (decompress and head == b"\x1f\x8b"):
            data = fh.read(cap + 1)
            if len(data) > cap:
                raise limit.refuse(f"the file is more than {cap:,} bytes")
            return data
        inflater = zlib.decompressobj(wbits=31)
        while True:
            data = fh.read(_READ)
            if not data:
                break
            while data:
                try:
                    # max_length keeps one step from inflating more than the room left
                    piece = inflater.decompress(data, cap + 1 - total)
                except zlib.error as exc:
                    raise FileRejected(f"corrupt gzip data: {exc}") from None
                total += len(piece)
                out.append(piece)
                if total > cap:
                    raise limit.refuse(f"the file inflates to more than {cap:,} bytes "
                                       "(stopped there)")
                if inflater.unconsumed_tail:
                    data = inflater.unconsumed_tail
                    continue
                if not inflater.eof:
                    break
                # the next gzip member, if any (zero padding after a member is allowed,
                # as gzip itself allows it)
                data = inflater.unused_data.lstrip(b"\x00")
                inflater = zlib.decompressobj(wbits=31)
                while not data:
                    data = fh.read(_READ)
                    if not data:
                        return b"".join(out)
                    data = data.lstrip(b"\x00")
        if not inflater.eof:
            raise FileRejected("truncated gzip: the compressed stream ends before its "
                               "end-of-stream marker, so the file was cut short")
    return b"".join(out)
