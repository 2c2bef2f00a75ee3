"""One writer at a time per lake, for a whole refresh.

DuckDB admits one writing process per database file, and the ingest ledger, the
evidence files and the catalog are read-modify-write: a scheduled refresh, a sensor run,
a run started in the UI and a CLI refresh must not interleave. A refresh takes an
exclusive lock on ``build/.writer.lock`` when its run starts (``LakeResource``) and keeps
it to the end; a second refresh waits for it, saying which run holds the lake. Readers
(``orphanlake sql``, ``features get``) never take it.

The lock is re-entrant within a process: the steps of a run (ingest, dbt, the catalog)
take it again around their own writes, which is free while their run already holds it,
and still protects them when a step is called on its own (tests, scripts).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from orchestration.settings import LakePaths

_state = threading.RLock()        # one thread of a process owns the flock at a time
_depth: dict[Path, int] = {}      # lock file → how many times this process holds it


def lock_file(paths: LakePaths) -> Path:
    return paths.build_db.parent / ".writer.lock"


def holder(paths: LakePaths) -> dict:
    """Who last took the lock (pid, what, since); {} when nobody ever did."""
    try:
        return json.loads(lock_file(paths).read_text() or "{}")
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def writer_lock(paths: LakePaths, what: str = "a writer",
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lake's writer lock; waits (after one ``on_wait`` message) while another
    process holds it."""
    lock_file(paths).parent.mkdir(parents=True, exist_ok=True)
    path = lock_file(paths).resolve()
    with _state:
        if _depth.get(path, 0):
            _depth[path] += 1
            try:
                yield
            finally:
                _depth[path] -= 1
            return
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = holder(paths)
                (on_wait or (lambda _m: None))(
                    f"the lake {paths.home} is being written by {other.get('what', 'another process')} "
                    f"(pid {other.get('pid', '?')}, since {other.get('since', '?')}); waiting for it "
                    "to finish")
                fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"pid": os.getpid(), "what": what,
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
            fh.flush()
            _depth[path] = 1
            try:
                yield
            finally:
                _depth[path] = 0
                fcntl.flock(fh, fcntl.LOCK_UN)
