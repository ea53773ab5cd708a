"""Sharing one DuckDB file between many processes: readers and writers wait, never fail.

DuckDB lets one process write a file, or any number read it, never both at once; a refused
open fails at once with "Could not set lock". Every process here therefore holds the file
only for short moments and waits out the others (docs/concurrency.md says why this and not a
published snapshot):

- `connect()` retries a refused open with bounded, jittered backoff; readers open read-only,
  read and close; a writer's Warehouse closes its connection after a commit once it has held
  it for `HOLD_SECONDS`, so that readers get in between the batches of a long sync.
- A *gate* file (`<db>.gate`, flock) keeps a writer from being starved by a stream of
  overlapping readers: a writer holds the gate while it waits for the file, and a reader
  passes the gate (takes and drops it) before it opens, so no new reader starts while a
  writer waits for the current ones to finish.
- A *writer lock* (`<db>.lock`, flock held for the writer's whole life) lets one writer at a
  time in; it holds the holder's command, PID and start time, so that a second writer waits
  for the first and, when the wait runs out, says in one line which command holds the file.
  flock locks die with their process, so a writer killed with SIGKILL holds nothing.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.errors import UserError

LOCK_ERROR = "Could not set lock"
HOLD_SECONDS = 0.25  # a writer keeps its connection across commits at most this long
DEFAULT_WAIT = 300.0  # seconds a command waits for the file before giving up


class DatabaseUnavailable(UserError):
    """The path cannot hold a database: a directory, a missing folder, not a DuckDB file."""


class DatabaseBusy(UserError):
    """Another process held the file for longer than the wait; the message names it. Exit 4:
    nothing was done, and a later run may succeed."""

    exit_code = 4


def wait_seconds() -> float:
    """DORA_IMPACT_LOCK_WAIT (seconds) bounds every wait for the file; 300 by default."""
    try:
        return max(0.0, float(os.environ.get("DORA_IMPACT_LOCK_WAIT", DEFAULT_WAIT)))
    except ValueError:
        return DEFAULT_WAIT


def sidecar(path: Path, kind: str) -> Path:
    return path.with_name(f"{path.name}.{kind}")


def check_path(path: Path, read_only: bool) -> None:
    """Refuse, in one line, a path that cannot be a database before DuckDB sees it."""
    if path.is_dir():
        raise DatabaseUnavailable(f"{path}: is a directory, not a database file")
    if not path.parent.is_dir():
        raise DatabaseUnavailable(f"{path}: folder {path.parent} does not exist")


def _flock(fd: int, exclusive: bool = True) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


def _open_sidecar(path: Path) -> int | None:
    """A lock file's descriptor; None where it cannot be made (a read-only folder), in
    which case the caller goes without: the gate is only fairness, DuckDB still excludes."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


class Backoff:
    """Sleeps of 10 ms growing to 200 ms with jitter, until a deadline."""

    def __init__(self, wait: float) -> None:
        self.deadline = time.monotonic() + wait
        self.delay = 0.01

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def sleep(self) -> None:
        left = self.deadline - time.monotonic()
        time.sleep(max(0.0, min(self.delay * random.uniform(0.5, 1.5), left)))
        self.delay = min(self.delay * 2, 0.2)


def holder(path: Path) -> dict | None:
    """What the writer lock file says about the writer holding (or last holding) the file."""
    try:
        info = json.loads(sidecar(path, "lock").read_text() or "null")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe_holder(path: Path, duckdb_message: str = "") -> str:
    info = holder(path)
    pid = re.search(r"PID (\d+)", duckdb_message)
    if info and (pid is None or str(info.get("pid")) == pid.group(1)) and _alive(info.get("pid")):
        return f"`{info.get('command')}` (PID {info.get('pid')}, since {info.get('since')})"
    if pid:
        return f"another process (PID {pid.group(1)})"
    return "another process"


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (for cleaning up what killed runs left)."""
    return _alive(pid)


class WriterLock:
    """One writer at a time per file, for the writer's whole life."""

    def __init__(self, path: Path, command: str | None, wait: float, on_wait: Callable[[str], None] | None):
        self.path = sidecar(path, "lock")
        self.fd = _open_sidecar(self.path)
        if self.fd is None:
            return
        backoff = Backoff(wait)
        told = False
        while not _flock(self.fd):
            if backoff.expired():
                os.close(self.fd)
                self.fd = None
                raise DatabaseBusy(
                    f"{path}: in use by {describe_holder(path)}; still held after {wait:.0f} s "
                    "of waiting (DORA_IMPACT_LOCK_WAIT)"
                )
            if not told and on_wait is not None:
                on_wait(f"waiting for {describe_holder(path)} to finish with {path}")
                told = True
            backoff.sleep()
        command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        since = datetime.now(UTC).isoformat(timespec="seconds")
        info = {"pid": os.getpid(), "command": command[:200], "since": since}
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def connect(
    path: Path,
    read_only: bool,
    config: dict[str, str],
    wait: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting (bounded) while another process holds it.

    Writers hold the gate while they wait, so no new reader slips in ahead; readers pass the
    gate first. A file that is not a DuckDB database is a DatabaseUnavailable, one line.
    """
    check_path(path, read_only)
    wait = wait_seconds() if wait is None else wait
    backoff = Backoff(wait)
    gate = _open_sidecar(sidecar(path, "gate"))
    held = False
    told = False
    try:
        while True:
            if gate is not None and not held:
                if _flock(gate):
                    held = not read_only  # a reader only passes through
                    if read_only:
                        fcntl.flock(gate, fcntl.LOCK_UN)
                elif backoff.expired():
                    raise DatabaseBusy(f"{path}: a writer waits for it; no turn within {wait:.0f} s")
                else:
                    backoff.sleep()
                    continue
            try:
                return duckdb.connect(str(path), read_only=read_only, config=config)
            except duckdb.Error as exc:
                message = str(exc)
                if "not a valid DuckDB database" in message:
                    raise DatabaseUnavailable(f"{path}: not a DuckDB database file") from None
                if LOCK_ERROR not in message:
                    raise
                if backoff.expired():
                    raise DatabaseBusy(
                        f"{path}: in use by {describe_holder(path, message)}; still held after "
                        f"{wait:.0f} s of waiting (DORA_IMPACT_LOCK_WAIT)"
                    ) from None
                if not told and on_wait is not None and time.monotonic() > backoff.deadline - wait + 2:
                    on_wait(f"waiting for {describe_holder(path, message)} to release {path}")
                    told = True
                backoff.sleep()
    finally:
        if gate is not None:
            os.close(gate)
