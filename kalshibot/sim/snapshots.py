"""The latest stored book snapshot of a market at or before a time, read ahead in batches.

A replay asks "the newest ``book_snapshots`` row of ``ticker`` at or before ``t``" for every
active market every cycle, with ``t`` moving forward. ``SnapshotCursor`` answers from the
rows it read ahead (one query per ``batch`` snapshots of a market instead of one per poll).
An answer is exactly the keyed lookup's (``ts <= t ORDER BY ts DESC LIMIT 1``; ``ts`` is part
of the primary key): the rows ahead are the market's next stored ones in time order, so the
answer holds until ``t`` reaches the next one. A time before the last one asked, or a change
of the store since the rows were read (another connection's commit: ``PRAGMA data_version``;
this connection's own writes: ``total_changes``), reads again. Times are epoch milliseconds.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterator

from kalshibot.store.books import SnapshotRow

_COLS = "ticker, ts, yes_bid, yes_bid_size, yes_ask, yes_ask_size, depth"
_AT = (f"SELECT {_COLS} FROM book_snapshots WHERE ticker = ? AND ts <= ? "
       "ORDER BY ts DESC LIMIT 1")
_AHEAD = f"SELECT {_COLS} FROM book_snapshots WHERE ticker = ? AND ts > ? ORDER BY ts LIMIT ?"


class _Market:
    """One market's position: the last time asked, the row current then, the rows after it
    (time order) and whether those are all the store holds."""

    __slots__ = ("asked", "row", "ahead", "complete")

    def __init__(self, asked: int, row: SnapshotRow | None, ahead: deque[SnapshotRow],
                 complete: bool) -> None:
        self.asked = asked
        self.row = row
        self.ahead = ahead
        self.complete = complete


class SnapshotCursor:
    """Per-market read-ahead over ``book_snapshots`` (see module docstring)."""

    def __init__(self, conn: sqlite3.Connection, batch: int = 64) -> None:
        self.conn = conn
        self.batch = batch
        self._m: dict[str, _Market] = {}
        self._version: tuple[int, int] | None = None
        self._checked_at: int | None = None  # the time ``data_version`` was last read
        self._data_version = 0

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._m))

    def forget(self, ticker: str) -> None:
        self._m.pop(ticker, None)

    def _store_changed(self, at_ms: int) -> bool:
        """Whether the store changed since the rows held were read: this connection's writes
        are checked on every call, other connections' commits once per time asked."""
        if self._checked_at != at_ms or self._version is None:
            self._checked_at = at_ms
            self._data_version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        ver = (self._data_version, self.conn.total_changes)
        changed = ver != self._version
        self._version = ver
        return changed

    def at(self, ticker: str, at_ms: int) -> SnapshotRow | None:
        """The newest stored snapshot of ``ticker`` with ``ts <= at_ms``, or None."""
        if self._store_changed(at_ms):
            self._m.clear()
        st = self._m.get(ticker)
        if st is None or at_ms < st.asked:
            st = self._read(ticker, at_ms)
        st.asked = at_ms
        while True:
            ahead = st.ahead
            while ahead and ahead[0][1] <= at_ms:
                st.row = ahead.popleft()
            if ahead or st.complete:
                return st.row
            self._more(ticker, st)

    def _read(self, ticker: str, at_ms: int) -> _Market:
        r = self.conn.execute(_AT, (ticker, at_ms)).fetchone()
        st = _Market(at_ms, None if r is None else tuple(r), deque(), False)
        self._m[ticker] = st
        self._fetch(ticker, st, at_ms)
        return st

    def _more(self, ticker: str, st: _Market) -> None:
        self._fetch(ticker, st, st.row[1] if st.row is not None else st.asked)

    def _fetch(self, ticker: str, st: _Market, after_ms: int) -> None:
        rows = self.conn.execute(_AHEAD, (ticker, after_ms, self.batch)).fetchall()
        st.ahead.extend(tuple(r) for r in rows)
        st.complete = len(rows) < self.batch
