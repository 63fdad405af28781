"""``data record``: poll live order books and spot prices into the store every N seconds.

Each poll:
1. every ``refresh_markets_s`` seconds (and on the first poll), list the open markets of the
   given series (new 15-minute markets appear all the time) and the explicit tickers, and
   upsert them (with their series' fee type);
2. fetch the books of every recorded market that has not closed through the batch endpoint
   ``GET /markets/orderbooks?tickers=`` (100 tickers per request, via the client, which
   respects the rate limiter);
3. refresh the spot feed (e.g. Coinbase + Kraken) for the configured symbols;
4. write markets, book snapshots (top of book + full depth, ``store.books.save_books``) and one
   spot row per source that answered this poll (``store.spot``) in **one** ``atomic()``
   transaction, so a stop or crash never leaves a half-written poll.

Times: book snapshots are stamped with the clock's time right after the books arrive (epoch
ms in the store); spot rows with the feed's ``as_of``. ``interval_s``, ``duration_s`` and
``refresh_markets_s`` are seconds. Prices are exact (``Price``/``Decimal``), never float.

The clock is injected: with ``SimClock`` waiting is instant, so tests run without sleeping.
Stopping: ``StopFlag.set()`` (the CLI wires SIGINT/SIGTERM to it with
``install_signal_handlers``) ends the loop after the current poll's transaction.
A poll that fails (network after retries, malformed data) is counted and skipped; after
``max_consecutive_errors`` failures in a row recording stops.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from kalshibot.clock import Clock
from kalshibot.domain.market import Market
from kalshibot.errors import RetryableError, SkipError, UserInputError
from kalshibot.feeds.types import SpotFeedLike, SpotStatus
from kalshibot.ingest.common import SOURCE, SeriesCache, parse_markets
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi.endpoints.client import KalshiClient, chunks
from kalshibot.store.books import save_books
from kalshibot.store.connection import atomic
from kalshibot.store.markets import upsert_markets
from kalshibot.store.spot import SpotPrice, upsert_spot

log = logging.getLogger(__name__)

#: Longest single wait (seconds) between checks of the stop flag.
WAIT_SLICE_S = 0.25
#: How many recent error messages the report keeps.
KEEP_ERRORS = 20


@dataclass(frozen=True)
class RecordOptions:
    """What to record. Seconds for every duration; ``None`` means unbounded."""

    series: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    interval_s: float = 5.0
    duration_s: float | None = None
    max_polls: int | None = None
    refresh_markets_s: float = 60.0
    depth: bool = True
    symbols: tuple[str, ...] = ()
    max_consecutive_errors: int = 10

    def validate(self) -> None:
        if not (self.series or self.tickers):
            raise UserInputError("nothing to record: give --series or --tickers")
        if self.interval_s <= 0:
            raise UserInputError("--interval must be > 0 seconds")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UserInputError("--duration must be > 0 seconds")
        if self.max_polls is not None and self.max_polls < 1:
            raise UserInputError("--max-polls must be >= 1")
        if self.refresh_markets_s <= 0:
            raise UserInputError("market refresh interval must be > 0 seconds")


class StopFlag:
    """A cooperative stop request (set from a signal handler or a test)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str = "stop requested") -> None:
        if self.reason is None:
            self.reason = reason

    @property
    def is_set(self) -> bool:
        return self.reason is not None


def install_signal_handlers(stop: StopFlag) -> Callable[[], None]:
    """Make SIGINT/SIGTERM set ``stop`` (a second SIGINT interrupts at once; the open
    transaction then rolls back). Returns a function restoring the previous handlers."""
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set(f"{name} received")

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, h in previous.items():
            signal.signal(sig, h)

    return restore


@dataclass
class RecordReport:
    """Counts of one recording session (rows = new rows stored)."""

    started: datetime | None = None
    ended: datetime | None = None
    polls: int = 0
    failed_polls: int = 0
    book_rows: int = 0
    spot_rows: int = 0
    market_rows: int = 0
    market_refreshes: int = 0
    tickers: int = 0  # markets recorded in the last poll
    stopped: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return (self.ended - self.started).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat() if self.started else None,
            "ended": self.ended.isoformat() if self.ended else None,
            "seconds": self.seconds, "polls": self.polls, "failed_polls": self.failed_polls,
            "book_rows": self.book_rows, "spot_rows": self.spot_rows,
            "market_rows": self.market_rows, "market_refreshes": self.market_refreshes,
            "tickers": self.tickers, "stopped": self.stopped, "errors": self.errors,
        }


def spot_rows(statuses: dict[str, SpotStatus]) -> list[SpotPrice]:
    """One row per source that answered this poll (fresh and not failed), at ``as_of``."""
    out: list[SpotPrice] = []
    for sym, st in statuses.items():
        for source, price in st.prices.items():
            if source not in st.failed:
                out.append(SpotPrice(source=source, symbol=sym, ts=st.as_of, price=price))
    return out


class _Recorder:
    def __init__(self, client: KalshiClient, conn: sqlite3.Connection, opts: RecordOptions,
                 clock: Clock, spot: SpotFeedLike | None, report: RecordReport) -> None:
        self.client = client
        self.conn = conn
        self.opts = opts
        self.clock = clock
        self.spot = spot
        self.report = report
        self.series = SeriesCache(client)
        self.markets: dict[str, Market] = {}
        self.next_refresh: datetime | None = None

    def refresh_markets(self, now: datetime) -> list[Market] | None:
        """Open markets of the series + the explicit tickers, when a refresh is due."""
        if self.next_refresh is not None and now < self.next_refresh:
            return None
        problems: list[str] = []
        found: list[Market] = []
        for s in self.opts.series:
            found += parse_markets(self.client.iter_markets(series_ticker=s, status="open"),
                                   self.series, problems)
        for chunk in chunks(self.opts.tickers):
            found += parse_markets(self.client.iter_markets(tickers=chunk), self.series,
                                   problems)
        for msg in problems + self.series.problems:
            self._error(msg)
        self.series.problems.clear()
        self.markets.update({m.ticker: m for m in found})
        self.next_refresh = now + timedelta(seconds=self.opts.refresh_markets_s)
        self.report.market_refreshes += 1
        return found

    def active(self, now: datetime) -> list[str]:
        """Tickers to poll: explicit ones always, series markets until they close."""
        explicit = list(self.opts.tickers)
        live = [t for t, m in self.markets.items() if m.close_time > now and t not in explicit]
        return list(dict.fromkeys(explicit + sorted(live)))

    def poll(self) -> None:
        now = self.clock.now()
        found = self.refresh_markets(now)
        tickers = self.active(now)
        wires = self.client.get_orderbooks(tickers) if tickers else {}
        seen = self.clock.now()
        books = [p.parse_orderbook(t, fp, seen) for t, fp in wires.items()]
        statuses = self.spot.refresh(self.opts.symbols or None) if self.spot else {}
        prices = spot_rows(statuses)
        with atomic(self.conn):
            if found is not None:
                self.series.save(self.conn, now=now)
                self.report.market_rows += upsert_markets(self.conn, found, now=now,
                                                          source=SOURCE)
            self.report.book_rows += save_books(self.conn, books, depth=self.opts.depth)
            self.report.spot_rows += upsert_spot(self.conn, prices)
        self.report.tickers = len(tickers)

    def _error(self, msg: str) -> None:
        log.warning("record: %s", msg)
        self.report.errors.append(msg)
        del self.report.errors[:-KEEP_ERRORS]


def run_record(client: KalshiClient, conn: sqlite3.Connection, options: RecordOptions, *,
               clock: Clock, spot: SpotFeedLike | None = None, stop: StopFlag | None = None,
               on_poll: Callable[[RecordReport], None] | None = None,
               report: RecordReport | None = None) -> RecordReport:
    """Poll until ``max_polls`` / ``duration_s`` / ``stop``; returns (and fills) ``report``."""
    options.validate()
    stop = stop or StopFlag()
    report = report if report is not None else RecordReport()
    rec = _Recorder(client, conn, options, clock, spot, report)
    report.started = clock.now()
    deadline = (report.started + timedelta(seconds=options.duration_s)
                if options.duration_s is not None else None)
    failures_in_row = 0
    try:
        while True:
            now = clock.now()
            if stop.is_set:
                report.stopped = stop.reason or "stopped"
                break
            if options.max_polls is not None \
                    and report.polls + report.failed_polls >= options.max_polls:
                report.stopped = f"max polls ({options.max_polls}) reached"
                break
            if deadline is not None and now >= deadline:
                report.stopped = f"duration ({options.duration_s:g} s) reached"
                break
            try:
                rec.poll()
                report.polls += 1
                failures_in_row = 0
            except (RetryableError, SkipError) as exc:
                report.failed_polls += 1
                failures_in_row += 1
                rec._error(f"poll at {now:%H:%M:%S}: {exc}")
                if failures_in_row >= options.max_consecutive_errors:
                    report.stopped = (f"{failures_in_row} polls failed in a row; "
                                      f"last: {exc}")
                    break
            if on_poll is not None:
                on_poll(report)
            _wait(clock, now + timedelta(seconds=options.interval_s), stop, deadline)
    finally:
        report.ended = clock.now()
    return report


def _wait(clock: Clock, until: datetime, stop: StopFlag, deadline: datetime | None) -> None:
    """Sleep (injected clock) until ``until``/``deadline`` in slices, waking on ``stop``."""
    end = min(until, deadline) if deadline is not None else until
    while not stop.is_set:
        left = (end - clock.now()).total_seconds()
        if left <= 0:
            return
        clock.sleep(min(WAIT_SLICE_S, left))


__all__ = ["RecordOptions", "RecordReport", "StopFlag", "install_signal_handlers",
           "run_record", "spot_rows"]
