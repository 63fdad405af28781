"""One writer per database: an exclusive OS file lock beside the SQLite file.

Every command that writes trading state or market data (trade, data sample/import/sync/record,
train, risk reset, orders cancel/cancel-all, positions close-all) takes the lock of its database
before it does anything else (before any network request). A second writer gets
``DatabaseBusyError`` at once, naming the holder (pid, command, since when). Readers (status,
markets, history, orders list) never take it.

The lock is ``flock(LOCK_EX)`` on ``<database>.lock``: the kernel drops it when the holding
process dies, ``kill -9`` included, so a crash never leaves a stale lock behind (the file stays;
its content, the holder's description, is only informative). Locks are per process and
re-entrant within it; ``release_all`` frees them when a command ends (the CLI calls it).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kalshibot.errors import DatabaseBusyError, StoreError

try:  # POSIX; elsewhere the lock is not enforced (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Holder:
    """Who holds a database's writer lock (as it described itself)."""

    pid: int
    command: str
    since: str  # ISO UTC

    def describe(self) -> str:
        return f"pid {self.pid}, `{self.command}`, since {self.since}"


@dataclass
class WriterLock:
    """A held writer lock (an open file descriptor with ``flock`` on it)."""

    db_path: Path
    lock_path: Path
    fd: int
    holder: Holder

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1


_HELD: dict[str, WriterLock] = {}


def lock_path_for(db_path: Path) -> Path:
    return Path(str(db_path) + ".lock")


def _key(db_path: Path) -> str:
    return str(db_path.expanduser().resolve())


def _read_holder(fd: int) -> Holder | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096).decode("utf-8", "replace")
        d = json.loads(raw)
        return Holder(int(d["pid"]), str(d["command"]), str(d["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def acquire_writer_lock(db_path: Path, command: str, *, now: datetime | None = None) -> WriterLock:
    """Take the writer lock of ``db_path`` for this process (re-entrant), or raise
    ``DatabaseBusyError`` naming the process that holds it. Never waits."""
    key = _key(db_path)
    held = _HELD.get(key)
    if held is not None and held.fd >= 0:
        return held
    lock_path = lock_path_for(db_path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"store error: {db_path}: cannot create its lock file {lock_path}: "
                         f"{exc.strerror}",
                         hint="the database folder must be on a writable disk with free space"
                         ) from exc
    since = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    holder = Holder(os.getpid(), command, since)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = _read_holder(fd)
            os.close(fd)
            who = other.describe() if other is not None else "another process"
            raise DatabaseBusyError(
                f"{db_path} is in use by another kalshibot ({who})",
                hint="one writer per database: stop it first, or use another --db",
            ) from None
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"pid": holder.pid, "command": holder.command,
                                 "since": holder.since}).encode())
    except OSError:
        pass  # the description is informative; the flock is what protects
    lock = WriterLock(db_path, lock_path, fd, holder)
    _HELD[key] = lock
    return lock


def holder_of(db_path: Path) -> Holder | None:
    """The current holder of ``db_path``'s writer lock, or None when it is free."""
    lock_path = lock_path_for(db_path)
    if fcntl is None or not lock_path.exists():
        return None
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def release_all() -> None:
    """Release every writer lock this process holds (end of a CLI command)."""
    for lock in list(_HELD.values()):
        lock.release()
    _HELD.clear()


def command_line() -> str:
    """This process's command, for the holder description (``kalshibot trade ...``)."""
    args = [Path(sys.argv[0]).name if sys.argv else "kalshibot", *sys.argv[1:]]
    text = " ".join(args)
    return text if len(text) <= 120 else text[:117] + "..."
