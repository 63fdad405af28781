"""Opening the SQLite store and the one transaction helper, ``atomic()``.

``open_store(path)`` opens (creating if needed) a SQLite file or ``":memory:"`` with WAL journal,
``foreign_keys=ON``, a busy timeout and ``synchronous=NORMAL``, then migrates the schema to the
current version (``kalshibot.store.migrations``). The connection runs in autocommit mode
(``isolation_level=None``): every write that must be all-or-nothing goes through ``atomic(conn)``.

``atomic(conn)`` opens ``BEGIN IMMEDIATE`` and commits on normal exit or rolls back on any
exception. Nested use joins the outer transaction (the inner block neither commits nor rolls
back; an exception escaping it rolls back the whole outer transaction when it reaches the outer
block). A trading cycle therefore commits all of its writes together. ``atomic(conn,
durable=True)`` commits with ``synchronous=FULL`` (the WAL is synced to disk before the commit
returns, so an OS crash or power loss cannot lose it), then restores the connection's level:
live sessions write each order this way before sending it.

``StoreWatch(conn)`` tells a cache of store state when it may be stale: another connection
committed, this connection wrote behind the cache's back, or ``atomic`` rolled back.

Times are stored as INTEGER epoch milliseconds UTC (``ts_ms``); see ``kalshibot.store.units``.

A damaged file must read as damaged, never as a bug: connections are ``StoreConnection``s,
which turn the ``UnicodeDecodeError`` Python raises for an SQLite message holding bytes from a
corrupt page into ``sqlite3.DatabaseError``; ``store_failure(exc)`` tells which SQLite errors
are the file's or the machine's fault (corrupt, not a database, disk full, I/O, read-only,
locked) and gives the one-line ``StoreError`` (exit 3) the CLI prints for them.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from kalshibot.errors import StoreError

BUSY_TIMEOUT_MS = 10_000
T = TypeVar("T")
#: Transactions ``atomic`` rolled back in this process, on any connection (``StoreWatch``).
_rollbacks = 0


_UNREADABLE_HINT = ("run `sqlite3 FILE 'PRAGMA integrity_check'` on the database, or "
                    "restore it from a backup")
#: SQLite primary result codes that are the file's or the machine's fault, with a hint.
_ENVIRONMENT_CODES = {
    3: "check the file's permissions",  # SQLITE_PERM
    5: "another process holds the database; try again",  # SQLITE_BUSY
    6: "another process holds the database; try again",  # SQLITE_LOCKED
    7: "the machine is out of memory",  # SQLITE_NOMEM
    8: "the database file or its folder is read-only",  # SQLITE_READONLY
    10: "a disk I/O error: check the disk",  # SQLITE_IOERR
    13: "the disk is full: free space",  # SQLITE_FULL
    14: "check that the file and its folder exist and are readable",  # SQLITE_CANTOPEN
}
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_CORRUPT_WORDS = ("malformed", "not a database", "corrupt", "could not decode", "undecodable")
_ENVIRONMENT_WORDS = {"locked": 5, "readonly": 8, "read-only": 8, "disk i/o": 10,
                      "disk is full": 13, "unable to open": 14, "out of memory": 7}


def store_failure(exc: BaseException, where: str | Path | None = None) -> StoreError | None:
    """The one-line ``StoreError`` (exit 3) for an SQLite error that is not a bug: a damaged
    file ("store unreadable", with the integrity-check / restore hint), or a full, read-only,
    locked or failing disk. ``None`` for anything else (a programming error stays a bug).
    ``where`` (the database path) is named in the message when given."""
    if isinstance(exc, StoreError):
        return exc
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    at = f"{where}: " if where is not None else ""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc).lower()
    if primary in _CORRUPT_CODES or any(w in text for w in _CORRUPT_WORDS):
        return StoreError(f"store unreadable: {at}{exc}", hint=_UNREADABLE_HINT)
    if primary is None:
        primary = next((c for w, c in _ENVIRONMENT_WORDS.items() if w in text), None)
    if primary in _ENVIRONMENT_CODES:
        return StoreError(f"store error: {at}{exc}", hint=_ENVIRONMENT_CODES[primary])
    return None


def _undecodable(exc: UnicodeDecodeError) -> sqlite3.DatabaseError:
    return sqlite3.DatabaseError(f"database disk image is malformed (undecodable bytes in an "
                                 f"SQLite message: {exc.reason} at byte {exc.start})")


def _readable(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with an undecodable SQLite message turned into ``DatabaseError``."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except UnicodeDecodeError as exc:
            raise _undecodable(exc) from exc

    return call


class StoreCursor(sqlite3.Cursor):
    """A cursor whose undecodable SQLite messages (a corrupt page) are ``DatabaseError``."""

    execute = _readable(sqlite3.Cursor.execute)
    executemany = _readable(sqlite3.Cursor.executemany)
    fetchone = _readable(sqlite3.Cursor.fetchone)
    fetchmany = _readable(sqlite3.Cursor.fetchmany)
    fetchall = _readable(sqlite3.Cursor.fetchall)

    def __next__(self) -> Any:  # per row: no generic wrapper on this path
        try:
            return super().__next__()
        except UnicodeDecodeError as exc:
            raise _undecodable(exc) from exc


class StoreConnection(sqlite3.Connection):
    """The store's connection: every cursor is a ``StoreCursor``."""

    def cursor(self, factory: Any = StoreCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)

    executescript = _readable(sqlite3.Connection.executescript)


def connect(path: str | Path, *, migrate: bool = True, read_only: bool = False
            ) -> sqlite3.Connection:
    """Open the store at ``path`` (a file or ``":memory:"``) and bring its schema up to date.

    Raises ``StoreError`` when the file cannot be opened, is not a SQLite database, or was
    written by a newer kalshibot (its schema version is higher than this code knows).
    """
    from kalshibot.store.migrations import migrate as run_migrations

    target = str(path)
    if target != ":memory:":
        p = Path(target)
        if read_only and not p.exists():
            raise StoreError(f"database {p} does not exist",
                             hint="run `kalshibot data sample` or `kalshibot data import` first")
        if p.exists() and not p.is_file():  # a folder, a device, a pipe: never open those
            raise StoreError(f"{p} is not a database file (it is a folder or a device)")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of database {p}: {exc.strerror}") from exc
    try:
        if read_only and target != ":memory:":
            conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                   factory=StoreConnection)
        else:
            conn = sqlite3.connect(target, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                   factory=StoreConnection)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {target}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")
        if migrate:
            run_migrations(conn, read_only=read_only)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise store_failure(exc, target) or StoreError(
            f"{target} is not a usable kalshibot database: {exc}") from exc
    except StoreError:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL unless already in it. Switching needs the file to itself and SQLite
    answers "database is locked" at once (no busy wait) while another process opens or
    switches the same new file, so retry until ``BUSY_TIMEOUT_MS``."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() in ("wal", "memory"):
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


#: Alias: the name most callers use.
open_store = connect


@contextmanager
def atomic(conn: sqlite3.Connection, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
    """One transaction: commit on success, roll back on any exception. Nested use joins it.
    ``durable``: the commit is synced to disk (``synchronous=FULL``) before this returns; it
    must then be the outermost transaction (the level cannot change inside one)."""
    if conn.in_transaction:
        if durable:
            raise StoreError("a durable write cannot join an open transaction")
        yield conn
        return
    if durable:
        level = conn.execute("PRAGMA synchronous").fetchone()[0]
        conn.execute("PRAGMA synchronous = FULL")
        try:
            with atomic(conn) as c:
                yield c
        finally:
            conn.execute(f"PRAGMA synchronous = {int(level)}")
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(f"cannot start a transaction: {exc}",
                         hint="another process may hold the database lock") from exc
    global _rollbacks
    try:
        yield conn
    except BaseException:
        _rollbacks += 1
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollbacks += 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"commit failed: {exc}") from exc


class StoreWatch:
    """Whether caches of store state kept by one connection's owner may be stale.

    The owner calls ``changed()`` before using its caches (once per unit of work, e.g. a
    trading cycle) and drops them all when it returns True; it writes through its caches, and
    calls ``mark()`` when the unit of work is done. ``changed()`` is True on the first call and
    whenever, since the ``changed()`` preceding the last ``mark()``:

    - another connection committed to the database (``PRAGMA data_version``, one cheap
      statement; it never changes for ``:memory:``, which no other connection can reach);
    - this connection changed rows after that ``mark()`` (``total_changes``): a write that did
      not go through the owner's caches;
    - ``atomic`` rolled a transaction back (any connection of the process): a write the
      caches believe in may have been undone.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._checked: tuple[int, int] | None = None  # (data_version, rollbacks) at changed()
        self._marked: tuple[int, int, int] | None = None

    def changed(self) -> bool:
        dv = self.conn.execute("PRAGMA data_version").fetchone()[0]
        self._checked = (dv, _rollbacks)
        return (dv, _rollbacks, self.conn.total_changes) != self._marked

    def mark(self) -> None:
        """Every write on the connection since ``changed()`` went through the caches. A commit
        by another connection or a rollback after that ``changed()`` still shows next time."""
        if self._checked is None:
            return
        self._marked = (*self._checked, self.conn.total_changes)


def integrity_check(conn: sqlite3.Connection) -> list[str]:
    """``PRAGMA integrity_check`` plus ``foreign_key_check``; an empty list means healthy."""
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    problems = [r for r in rows if r != "ok"]
    for r in conn.execute("PRAGMA foreign_key_check"):
        problems.append(f"foreign key violation in {r[0]} rowid {r[1]} -> {r[2]}")
    return problems


#: Rows per transaction for bulk inserts.
CHUNK = 50_000


def chunks(rows: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Consume ``rows`` lazily in lists of at most ``size`` (memory stays flat)."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def insert_chunked(conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence[object]],
                   *, chunk: int = CHUNK) -> int:
    """``executemany(sql)`` over ``rows`` chunk by chunk; returns how many rows were new.

    Each chunk is its own transaction, or part of the caller's when inside ``atomic()``. With
    ``ON CONFLICT ... DO NOTHING`` statements re-inserting the same rows adds nothing."""
    added = 0
    for batch in chunks(rows, chunk):
        with atomic(conn):
            before = conn.total_changes
            conn.executemany(sql, batch)
            added += conn.total_changes - before
    return added
