"""Quiet runs for the command line: one line per finished step and a summary, with the full
Dagster log (and anything the steps print) in a file.

``RunProgress`` listens to the run's events as the Dagster instance stores them
(``instance.add_event_listener``), so it sees the same events the UI shows; ``output_to``
sends this process's output (Python's and, for child processes such as dbt, the file
descriptors') to the log file for the run and hands back the console to report on.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator


def log_file_for(logs_dir: Path, command: str) -> Path:
    """A new log file under ``logs_dir`` named by the command and the UTC time."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = logs_dir / f"{command}-{stamp}.log"
    n = 1
    while path.exists():
        n += 1
        path = logs_dir / f"{command}-{stamp}-{n}.log"
    return path


def _console_of(stream: IO[str]) -> tuple[IO[str], bool]:
    """A stream that still reaches ``stream``'s destination once file descriptors 1 and 2
    point at the log: a duplicate of its descriptor when it is the process's own stdout or
    stderr, else the stream itself (pytest's capture, a StringIO). The flag: close it after."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stream, False
    if fd not in (1, 2):
        return stream, False
    stream.flush()
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding=getattr(stream, "encoding", None)
                     or "utf-8", errors="replace"), True


@contextlib.contextmanager
def output_to(log_path: Path, console: IO[str] | None = None) -> Iterator[IO[str]]:
    """Within the block, stdout and stderr (Python's streams and file descriptors 1 and 2,
    which child processes inherit) append to ``log_path``; yields the console (default:
    the current ``sys.stderr``) for progress lines."""
    out, owned = _console_of(console or sys.stderr)
    saved_fds = []
    with open(log_path, "a", buffering=1, encoding="utf-8", errors="replace") as log:
        try:
            for fd in (1, 2):
                try:
                    os.fstat(fd)
                except OSError:
                    continue
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                saved_fds.append((fd, os.dup(fd)))
                os.dup2(log.fileno(), fd)
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield out
        finally:
            for stream in (sys.stdout, sys.stderr, log):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, saved in reversed(saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            if owned:
                out.flush()
                out.close()


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m} min {sec:02d} s"


@dataclass
class StepResult:
    step: str
    status: str = "running"        # running, succeeded, failed, skipped
    seconds: float | None = None
    warnings: int = 0
    error: str | None = None
    started: float | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return {"step": self.step, "status": self.status,
                "seconds": None if self.seconds is None else round(self.seconds, 1),
                "warnings": self.warnings, "error": self.error}


class RunProgress:
    """Follows one run's events: prints ``[k/N] step  3.1 s`` when a step ends (on a
    terminal, also a transient line for the step running now) and run-level warnings such
    as a wait for the lake's writer lock; collects what the summary reports."""

    def __init__(self, console: IO[str], total_steps: int | None = None):
        self.console = console
        self.total = total_steps
        self.run_id: str | None = None
        self.steps: dict[str, StepResult] = {}
        self.done = 0
        self.materialized: set[str] = set()
        self.checks: list[dict] = []
        self.run_warnings: list[str] = []
        self.notes: list[str] = []           # what the refresh decided to rebuild, and why
        self.started = time.monotonic()
        self.finished: float | None = None
        self._live = False
        try:
            self._tty = console.isatty()
        except (AttributeError, ValueError):
            self._tty = False

    # -- console -----------------------------------------------------------------------
    def _clear(self) -> None:
        if self._live:
            self.console.write("\r\x1b[K")
            self._live = False

    def _say(self, line: str) -> None:
        self._clear()
        self.console.write(line + "\n")
        self.console.flush()

    def note(self, line: str) -> None:
        """A line from the refresh itself (not a run's event), kept for the summary."""
        self.notes.append(line)
        self._say(line)

    def _counter(self, k: int) -> str:
        total = self.total if self.total and self.total >= k else None
        width = len(str(total or k))
        return f"[{k:>{width}}/{total}]" if total else f"[{k}]"

    # -- events ------------------------------------------------------------------------
    def on_event(self, entry) -> None:
        """``instance.add_event_listener`` callback: one stored ``EventLogEntry``."""
        try:
            self._on_event(entry)
        except Exception as exc:   # a progress line must never fail the run
            with contextlib.suppress(Exception):
                self._say(f"(progress display error: {exc!r})")

    def _on_event(self, entry) -> None:
        import logging

        from dagster import DagsterEventType

        event = entry.dagster_event
        step = entry.step_key
        if event is None:          # a log message from a step or a resource
            if entry.level >= logging.WARNING:
                if step and step in self.steps:
                    self.steps[step].warnings += 1
                elif not step:
                    self.run_warnings.append(entry.user_message)
                    self._say(f"warning: {entry.user_message}")
            return
        kind = event.event_type
        if kind == DagsterEventType.STEP_START:
            result = self.steps.setdefault(step, StepResult(step))
            result.started = entry.timestamp
            if self._tty:
                self._clear()
                self.console.write(f"{self._counter(self.done + 1)} {step} …")
                self.console.flush()
                self._live = True
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
                      DagsterEventType.STEP_SKIPPED):
            result = self.steps.setdefault(step, StepResult(step))
            if result.started is not None:
                result.seconds = entry.timestamp - result.started
            result.status = {DagsterEventType.STEP_SUCCESS: "succeeded",
                             DagsterEventType.STEP_FAILURE: "failed"}.get(kind, "skipped")
            if kind == DagsterEventType.STEP_FAILURE:
                error = event.step_failure_data.error
                text = (error.message if error else "") or ""
                if error and error.cause and error.cause.message:
                    text = error.cause.message
                result.error = text.strip().splitlines()[0][:300] if text.strip() else "failed"
            self.done += 1
            line = f"{self._counter(self.done)} {step}"
            if result.seconds is not None:
                line += f"  {_seconds(result.seconds)}"
            if result.status != "succeeded":
                line += f"  {result.status.upper()}"
            if result.warnings:
                line += f"  ({result.warnings} warning{'s' if result.warnings > 1 else ''})"
            if result.error:
                line += f": {result.error}"
            self._say(line)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            self.materialized.add(event.asset_key.to_user_string())
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.asset_check_evaluation_data
            self.checks.append({
                "asset": data.asset_key.to_user_string(), "check": data.check_name,
                "passed": bool(data.passed), "severity": data.severity.value,
                "description": getattr(data, "description", None)})
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            self.finished = time.monotonic()
            self._clear()

    # -- summary -----------------------------------------------------------------------
    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def check_counts(self) -> dict:
        failed = [c for c in self.checks if not c["passed"]]
        return {"evaluated": len(self.checks), "passed": len(self.checks) - len(failed),
                "warned": sum(c["severity"] == "WARN" for c in failed),
                "failed": sum(c["severity"] != "WARN" for c in failed)}

    def as_dict(self, ok: bool) -> dict:
        steps = list(self.steps.values())
        return {
            "ok": ok, "run_id": self.run_id, "seconds": round(self.seconds, 1),
            "steps": {"total": self.total, "succeeded": sum(s.status == "succeeded" for s in steps),
                      "failed": [s.step for s in steps if s.status == "failed"],
                      "skipped": [s.step for s in steps if s.status == "skipped"],
                      "not_run": max(0, (self.total or 0) - self.done)},
            "assets_materialized": len(self.materialized),
            "checks": {**self.check_counts(),
                       "not_passed": [c for c in self.checks if not c["passed"]]},
            "step_times": [s.as_dict() for s in steps],
            "run_warnings": self.run_warnings,
            "notes": self.notes,
        }

    def summary_lines(self, ok: bool) -> list[str]:
        d = self.as_dict(ok)
        steps, checks = d["steps"], d["checks"]
        total = steps["total"] or self.done
        head = (f"refresh {'succeeded' if ok else 'FAILED'} in {_seconds(self.seconds)}: "
                f"{steps['succeeded']}/{total} steps, {d['assets_materialized']} assets "
                f"materialized, {checks['evaluated']} checks ({checks['passed']} passed, "
                f"{checks['warned']} warn, {checks['failed']} failed)")
        lines = [head, *(f"  {n}" for n in self.notes)]
        if steps["failed"]:
            lines.append(f"  failed: {', '.join(steps['failed'])}")
        not_run = steps["not_run"] + len(steps["skipped"])
        if not_run:
            lines.append(f"  not run (upstream failed or nothing to do): {not_run} steps")
        timed = sorted((s for s in self.steps.values() if s.seconds is not None),
                       key=lambda s: -s.seconds)[:3]
        if timed:
            lines.append("  slowest: " + ", ".join(f"{s.step} {_seconds(s.seconds)}"
                                                   for s in timed))
        for c in checks["not_passed"]:
            what = "warns" if c["severity"] == "WARN" else "FAILED"
            desc = f": {c['description']}" if c.get("description") else ""
            lines.append(f"  check {c['asset']}/{c['check']} {what}{desc}")
        return lines
