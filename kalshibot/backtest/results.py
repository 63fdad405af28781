"""A run's results read back from its state store on demand, so memory stays flat.

The engine writes every decision and equity point to the run's own store (a file) as it goes.
``StoredRows`` is a read-only sequence over one such query: each iteration streams the rows
from SQLite (nothing is kept), ``len`` counts them. ``RunStore`` keeps the store open (and its
temporary folder alive) for as long as a ``StrategyRun`` refers to it, and closes and removes it
when the run is garbage-collected or ``close()``d.
"""

from __future__ import annotations

import sqlite3
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar, overload

T = TypeVar("T")


def release(conn: sqlite3.Connection, tmp: tempfile.TemporaryDirectory[str] | None) -> None:
    """Close a run's store and remove its temporary folder (if any)."""
    conn.close()
    if tmp is not None:
        tmp.cleanup()


class RunStore:
    """An open state store and the temporary folder holding it (None: a kept file)."""

    def __init__(self, conn: sqlite3.Connection,
                 tmp: tempfile.TemporaryDirectory[str] | None) -> None:
        self.conn = conn
        self._finalizer = weakref.finalize(self, release, conn, tmp)

    def close(self) -> None:
        """Close the store and remove a temporary one (the rows are no longer readable)."""
        self._finalizer()


class StoredRows(Sequence[T]):
    """Rows of ``store`` produced by ``fetch(conn)`` (an iterator), ``count(conn)`` of them."""

    def __init__(self, store: RunStore, fetch: Callable[[sqlite3.Connection], Iterator[T]],
                 count: Callable[[sqlite3.Connection], int]) -> None:
        self.store = store
        self.fetch = fetch
        self.counting = count
        self._len: int | None = None

    def __iter__(self) -> Iterator[T]:
        return self.fetch(self.store.conn)

    def __len__(self) -> int:
        if self._len is None:  # the run has finished: its rows no longer change
            self._len = self.counting(self.store.conn)
        return self._len

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return list(self)[i]
        n = len(self)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(i)
        return next(islice(iter(self), j, None))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StoredRows({len(self)} rows)"


def counter(sql: str, *args: Any) -> Callable[[sqlite3.Connection], int]:
    """A ``count`` for ``StoredRows``: the single value of ``sql``."""
    return lambda conn: int(conn.execute(sql, args).fetchone()[0])
