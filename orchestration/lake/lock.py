"""One writer at a time per lake.

DuckDB admits one writing process per database file, and the ingest ledger and the
catalog are read-modify-write: a scheduled refresh, a sensor run and a CLI refresh must
not interleave. Writers take an exclusive lock on ``build/.writer.lock``; a second one
waits for the first to finish. Readers never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

from orchestration.settings import LakePaths


@contextlib.contextmanager
def writer_lock(paths: LakePaths) -> Iterator[None]:
    path = paths.build_db.parent / ".writer.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:    # "a": taking the lock never touches the file
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
