"""Exact local order books from ``orderbook_snapshot`` + ``orderbook_delta`` messages.

Hot path in integers: prices are held in **price units of $0.0001** (``"0.5100"`` -> ``5100``),
sizes in **count units of 0.01 contract** (``"210.00"`` -> ``21000``), one ``dict[int, int]``
per side (bids only, as Kalshi sends them). Wire strings are converted exactly (no float, no
rounding: a finer value is a ``DataError``); exact domain types (``Price``/``Count`` in an
``OrderBook``) are built only when a book is read, and cached until the book changes.

Sequencing (``kalshi-api.md`` section 11): ``seq`` rises by 1 per subscription id (``sid``),
across every market of that subscription. A jump means a message was lost: every market of
that ``sid`` is marked *unsynced* (its deltas are ignored) and ``on_gap(sid, tickers)`` asks for
fresh snapshots (``update_subscription`` / ``get_snapshot``, or a resubscribe). A delta that
would make a level negative is treated the same way for its market. A snapshot replaces a book
and makes it synced again.

Exchange clock (spec 3.34): snapshots and deltas carry ``clock``, the same on every connection
for the same change. A snapshot includes every change with a clock at or below its own, so a
delta whose clock is at or below its market's snapshot clock is a duplicate (e.g. one already
in a resync snapshot, or one seen on another connection): it is dropped and counted in
``duplicates``. A delta below the newest delta clock applied means the clock went back (it
may, across exchange maintenance): that market resyncs like on a gap. Several deltas may share
a clock. ``seq`` is still checked for every message; messages without ``clock`` are applied
as before.

Thread safety: one lock guards all books; the socket thread writes, any thread reads.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kalshibot.domain.book import Level, OrderBook
from kalshibot.domain.money import Count, Price
from kalshibot.errors import DataError

PRICE_SCALE = 10_000  # price units per dollar ($0.0001)
COUNT_SCALE = 100  # count units per contract (0.01)
MAX_PRICE_UNITS = PRICE_SCALE

_NUM_RE = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")
_price_cache: dict[str, int] = {}
_count_cache: dict[str, int] = {}
_CACHE_MAX = 200_000
_monotonic = time.monotonic
#: Deltas reuse the clock reading for this long (seconds): reading the clock per delta is
#: the single most expensive step of the hot path.
NOW_RESOLUTION_S = 0.001


def _to_units(text: Any, places: int, what: str) -> int:
    """Exact ``Decimal``-free conversion of a decimal string to integer units of 10**-places."""
    if not isinstance(text, str):
        raise DataError(f"{what}: expected a decimal string, got {text!r}")
    m = _NUM_RE.match(text)
    if m is None:
        raise DataError(f"{what}: malformed decimal {text!r}")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if len(frac) > places:
        if frac[places:].strip("0"):
            raise DataError(f"{what}: {text!r} is finer than 1e-{places}")
        frac = frac[:places]
    units = int(whole) * 10**places + int(frac.ljust(places, "0") or "0")
    return -units if sign else units


def price_units(text: Any, what: str = "price_dollars") -> int:
    """``"0.5100"`` -> ``5100`` (units of $0.0001); must lie in [0, 1] dollars."""
    u = _price_cache.get(text) if isinstance(text, str) else None
    if u is not None:
        return u
    u = _to_units(text, 4, what)
    if not 0 <= u <= MAX_PRICE_UNITS:
        raise DataError(f"{what}: {text!r} is outside [0, 1] dollars")
    if len(_price_cache) < _CACHE_MAX:
        _price_cache[text] = u
    return u


def count_units(text: Any, what: str = "count_fp") -> int:
    """``"-4.00"`` -> ``-400`` (signed units of 0.01 contract)."""
    u = _count_cache.get(text) if isinstance(text, str) else None
    if u is not None:
        return u
    u = _to_units(text, 2, what)
    if len(_count_cache) < _CACHE_MAX:
        _count_cache[text] = u
    return u


_PRICE_OBJ: dict[int, Price] = {}


def units_price(units: int) -> Price:
    """Exact ``Price`` from price units (cached: at most 10,001 distinct values)."""
    p = _PRICE_OBJ.get(units)
    if p is None:
        p = _PRICE_OBJ[units] = Price(Decimal(units).scaleb(-4))
    return p


def units_count(units: int) -> Count:
    """Exact ``Count`` from count units."""
    return Count(Decimal(units).scaleb(-2))


@dataclass(slots=True)
class LocalBook:
    """One market's bids in integer units; ``updated``: clock time of the last change."""

    ticker: str
    sid: int
    yes: dict[int, int] = field(default_factory=dict)
    no: dict[int, int] = field(default_factory=dict)
    synced: bool = True
    updated: datetime | None = None  # clock time of the last change (to ~1 ms)
    version: int = 0
    snapshot_clock: int | None = None  # exchange clock of the last snapshot
    clock: int | None = None  # newest exchange clock applied (snapshot or delta)
    _cached: OrderBook | None = None
    _cached_version: int = -1

    def to_orderbook(self, ts: datetime | None = None) -> OrderBook:
        """Exact domain book (best bid first on each side) stamped ``ts``; cached per
        version."""
        if self._cached is not None and self._cached_version == self.version:
            return self._cached
        book = OrderBook(
            self.ticker,
            tuple(Level(units_price(p), units_count(s))
                  for p, s in sorted(self.yes.items(), reverse=True)),
            tuple(Level(units_price(p), units_count(s))
                  for p, s in sorted(self.no.items(), reverse=True)),
            ts,
        )
        self._cached, self._cached_version = book, self.version
        return book

    def levels(self) -> tuple[dict[int, int], dict[int, int]]:
        """Copies of the (yes, no) integer sides: ``{price_units: size_units}``."""
        return dict(self.yes), dict(self.no)


def _levels_units(levels: Iterable[Any] | None, what: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for i, lv in enumerate(levels or ()):
        if not isinstance(lv, list | tuple) or len(lv) != 2:
            raise DataError(f"{what}[{i}]: expected [price, size], got {lv!r}")
        p = price_units(lv[0], f"{what}[{i}] price")
        s = count_units(lv[1], f"{what}[{i}] size")
        if s < 0:
            raise DataError(f"{what}[{i}]: negative size {lv[1]!r}")
        if p in out:
            raise DataError(f"{what}: price {lv[0]!r} twice")
        if s:
            out[p] = s
    return out


GapHandler = Callable[[int, list[str]], None]
ChangeHandler = Callable[[str], None]


class BookTracker:
    """All local books of a connection, keyed by market ticker (see module docstring).

    ``now`` is a zero-argument callable giving the time stamped on changes (the injected
    clock's ``now``). ``on_gap(sid, tickers)`` is called (on the socket thread, outside the
    lock) when snapshots are needed; ``on_change(ticker)`` after every applied message.
    """

    def __init__(self, now: Callable[[], datetime], *, on_gap: GapHandler | None = None,
                 on_change: ChangeHandler | None = None) -> None:
        self._now = now
        self.on_gap = on_gap
        self.on_change = on_change
        self._books: dict[str, LocalBook] = {}
        self._seq: dict[int, int] = {}
        self._lock = threading.Lock()
        self.gaps = 0
        self.deltas = 0
        self.snapshots = 0
        self.rejected = 0
        self.duplicates = 0
        self._now_cached = now()
        self._now_mono = _monotonic()

    # --- writes (socket thread) ---------------------------------------------------------
    def on_message(self, msg: Mapping[str, Any]) -> None:
        """Route one ``orderbook_snapshot`` / ``orderbook_delta`` message (parsed JSON)."""
        kind = msg.get("type")
        if kind == "orderbook_delta":
            self.on_delta(msg)
        elif kind == "orderbook_snapshot":
            self.on_snapshot(msg)

    def on_snapshot(self, msg: Mapping[str, Any]) -> None:
        body = msg["msg"]
        sid, seq = int(msg["sid"]), msg.get("seq")
        ticker = body.get("market_ticker")
        if not ticker:
            raise DataError("orderbook_snapshot: market_ticker is missing")
        yes = _levels_units(body.get("yes_dollars_fp"), f"{ticker} yes_dollars_fp")
        no = _levels_units(body.get("no_dollars_fp"), f"{ticker} no_dollars_fp")
        clock = body.get("clock")
        clock = clock if isinstance(clock, int) and not isinstance(clock, bool) else None
        gap: list[str] = []
        with self._lock:
            if seq is not None:
                gap = self._check_seq(sid, int(seq), exclude=ticker)
            book = self._books.get(ticker)
            if book is None:
                book = self._books[ticker] = LocalBook(ticker, sid)
            book.sid, book.yes, book.no, book.synced = sid, yes, no, True
            book.snapshot_clock = book.clock = clock
            book.updated = self._now()
            book.version += 1
            self.snapshots += 1
        self._after(ticker, sid, gap)

    def on_delta(self, msg: Mapping[str, Any]) -> None:
        """Apply one delta (the hot path: integer units, cached string conversions)."""
        body = msg["msg"]
        sid = msg["sid"]
        seq = msg["seq"]
        ticker = body["market_ticker"]
        p = _price_cache.get(body["price_dollars"])
        if p is None:
            p = price_units(body["price_dollars"])
        d = _count_cache.get(body["delta_fp"])
        if d is None:
            d = count_units(body["delta_fp"], "delta_fp")
        gap: list[str] | None = None
        applied = False
        lock = self._lock
        lock.acquire()
        try:
            seqs = self._seq
            if seqs.get(sid, -2) == seq - 1:
                seqs[sid] = seq
            else:
                gap = self._check_seq(sid, seq)
            book = self._books.get(ticker)
            clock = body.get("clock")
            if book is None or not book.synced:
                self.rejected += 1
            elif clock is not None and book.snapshot_clock is not None \
                    and clock <= book.snapshot_clock:
                self.duplicates += 1  # already in the snapshot (module docstring)
            elif clock is not None and book.clock is not None and clock < book.clock:
                book.synced = False  # the clock went back: resync this market
                gap = (gap or []) + [ticker]
            else:
                if clock is not None:
                    book.clock = clock
                side = book.yes if body["side"] == "yes" else book.no
                size = side.get(p, 0) + d
                if size > 0:
                    side[p] = size
                elif size == 0:
                    del side[p]
                else:  # our book disagrees with the exchange: resync this market
                    book.synced = False
                    gap = (gap or []) + [ticker]
                mono = _monotonic()
                if mono - self._now_mono > NOW_RESOLUTION_S:
                    self._now_cached, self._now_mono = self._now(), mono
                book.updated = self._now_cached
                book.version += 1
                self.deltas += 1
                applied = True
        finally:
            lock.release()
        if gap:
            self.gaps += 1
            if self.on_gap is not None:
                self.on_gap(sid, sorted(set(gap)))
        if applied and self.on_change is not None:
            self.on_change(ticker)

    def observe_seq(self, sid: int, seq: int) -> None:
        """A control message (``ok``/``unsubscribed``) carrying the stream's ``seq``: never a
        gap by itself, but later deltas continue from it."""
        with self._lock:
            last = self._seq.get(sid)
            if last is None or seq > last:
                self._seq[sid] = seq

    def _check_seq(self, sid: int, seq: int, exclude: str | None = None) -> list[str]:
        """Under the lock: accept ``seq`` as the new position; on a gap mark the sid's other
        markets unsynced and return them."""
        last = self._seq.get(sid)
        self._seq[sid] = seq
        if last is None or seq == last + 1:
            return []
        out = []
        for t, b in self._books.items():
            if b.sid == sid and t != exclude:
                b.synced = False
                out.append(t)
        return out

    def _after(self, ticker: str, sid: int, gap: list[str]) -> None:
        if gap:
            self.gaps += 1
            if self.on_gap is not None:
                self.on_gap(sid, sorted(gap))
        if self.on_change is not None:
            self.on_change(ticker)

    def reset_sid(self, sid: int) -> None:
        """Forget a subscription's sequence (after it was resubscribed or ended)."""
        with self._lock:
            self._seq.pop(sid, None)

    def invalidate_all(self) -> None:
        """The connection dropped: every book waits for a fresh snapshot."""
        with self._lock:
            for b in self._books.values():
                b.synced = False
            self._seq.clear()

    def drop(self, tickers: Iterable[str]) -> None:
        with self._lock:
            for t in tickers:
                self._books.pop(t, None)

    # --- reads (any thread) -------------------------------------------------------------
    def book(self, ticker: str) -> OrderBook | None:
        """The exact book of a synced market (``ts`` = clock time of its last change)."""
        with self._lock:
            b = self._books.get(ticker)
            if b is None or not b.synced:
                return None
            if b._cached is not None and b._cached_version == b.version:
                return b._cached
            return b.to_orderbook(b.updated)

    def state(self, ticker: str) -> tuple[bool, datetime | None] | None:
        """``(synced, updated)`` of a market's book (``updated`` in clock time), or None when
        it never had a snapshot."""
        with self._lock:
            b = self._books.get(ticker)
            return None if b is None else (b.synced, b.updated)

    def levels(self, ticker: str) -> tuple[dict[int, int], dict[int, int]] | None:
        """Integer sides (yes, no) of a synced book (for tests and recording)."""
        with self._lock:
            b = self._books.get(ticker)
            return b.levels() if b is not None and b.synced else None

    def last_seq(self, sid: int) -> int | None:
        with self._lock:
            return self._seq.get(sid)

    def tickers(self) -> list[str]:
        with self._lock:
            return list(self._books)
