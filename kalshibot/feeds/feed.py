"""``SpotFeed``: live reference prices combined from several public exchange sources."""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from kalshibot.clock import Clock, ensure_utc
from kalshibot.errors import ConfigError, RetryableError, SkipError
from kalshibot.feeds.combine import SpotFeedConfig, combine
from kalshibot.feeds.history import BarBuffer
from kalshibot.feeds.symbols import DEFAULT_SYMBOLS, normalize_symbol
from kalshibot.feeds.types import (
    Resolution,
    SpotBar,
    SpotPrice,
    SpotQuote,
    SpotSource,
    SpotStatus,
    SpotUnavailableError,
)


def _resolution(resolution: Resolution | str) -> Resolution:
    try:
        return Resolution(resolution)
    except ValueError:
        raise ConfigError(f"unknown spot history resolution {resolution!r} (1s or 1m)") from None


def status_to_price(status: SpotStatus) -> SpotPrice:
    """The usable price of an ok status, else ``SpotUnavailableError``."""
    if not status.ok or status.price is None:
        raise SpotUnavailableError.from_status(status)
    return SpotPrice(
        symbol=status.symbol,
        price=status.price,
        ts=status.as_of,
        sources=status.used,
        age_s=status.age_s or 0.0,
    )


def window_average(symbol: str, bars: list[SpotBar], start: datetime, end: datetime) -> Decimal:
    """Kalshi-style window mean (USD per coin) of 1-second ``bars`` (oldest first).

    One sample per whole second ``s`` in ``(start, end]`` (``(T - 60 s, T]`` for a settlement):
    the close of the latest bar starting at or before ``s``, so a price polled every 5 s still
    gives one sample per second. Seconds before the first bar are left out; no sample at all is
    ``SpotUnavailableError``."""
    lo = math.floor(ensure_utc(start).timestamp()) + 1
    hi = math.floor(ensure_utc(end).timestamp())
    starts = [b.start.timestamp() for b in bars]
    total, n = Decimal(0), 0
    for sec in range(lo, hi + 1):
        i = bisect.bisect_right(starts, sec) - 1
        if i >= 0:
            total += bars[i].close
            n += 1
    if n == 0:
        raise SpotUnavailableError(symbol, f"no 1-second history in ({start}, {end}]")
    return total / n


class SpotFeed:
    """Polls ``sources`` on ``refresh`` and serves the combined price per symbol.

    ``status``/``latest`` are evaluated at the clock's current time, so a price goes stale
    between refreshes. Each successful combination is recorded in 1-second and 1-minute ring
    buffers. A source's fetch error is recorded in ``status().failed`` (the feed carries on).
    """

    def __init__(
        self,
        sources: Sequence[SpotSource],
        clock: Clock,
        config: SpotFeedConfig | None = None,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
    ) -> None:
        names = [s.name for s in sources]
        if not sources or len(set(names)) != len(names):
            raise ConfigError(f"spot feed needs distinct, non-empty sources, got {names}")
        self._sources = list(sources)
        self._clock = clock
        self.config = config or SpotFeedConfig()
        self._symbols = tuple(dict.fromkeys(normalize_symbol(s) for s in symbols))
        self._quotes: dict[str, dict[str, SpotQuote]] = {s: {} for s in self._symbols}
        self._failed: dict[str, dict[str, str]] = {s: {} for s in self._symbols}
        self._hist: dict[Resolution, dict[str, BarBuffer]] = {
            Resolution.SECOND: {s: BarBuffer(1, self.config.history_1s) for s in self._symbols},
            Resolution.MINUTE: {s: BarBuffer(60, self.config.history_1m) for s in self._symbols},
        }

    # -- introspection -----------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The clock the feed evaluates freshness at."""
        return self._clock

    def symbols(self) -> tuple[str, ...]:
        """Symbols this feed serves."""
        return self._symbols

    def sources(self) -> tuple[str, ...]:
        """Source names."""
        return tuple(s.name for s in self._sources)

    def _sym(self, symbol: str) -> str:
        sym = normalize_symbol(symbol)
        if sym not in self._quotes:
            raise SpotUnavailableError(sym, f"symbol not configured (have {self._symbols})")
        return sym

    # -- polling -------------------------------------------------------------------------------
    def refresh(self, symbols: tuple[str, ...] | None = None) -> dict[str, SpotStatus]:
        """Fetch a quote from every source for each symbol; record ok prices in history.

        Network and data errors of one source are recorded, not raised. Returns the status of
        each symbol after the poll.
        """
        out: dict[str, SpotStatus] = {}
        for symbol in symbols or self._symbols:
            sym = self._sym(symbol)
            for source in self._sources:
                if not source.supports(sym):
                    continue
                try:
                    quote = source.fetch_quote(sym)
                except (RetryableError, SkipError) as exc:
                    self._failed[sym][source.name] = str(exc)
                    continue
                self.ingest(quote)
            status = self.status(sym)
            if status.ok and status.price is not None:
                self._record(sym, status.as_of, status.price)
            out[sym] = status
        return out

    def ingest(self, quote: SpotQuote) -> None:
        """Store a quote as its source's latest (e.g. from a websocket or a test)."""
        sym = self._sym(quote.symbol)
        prev = self._quotes[sym].get(quote.source)
        if prev is None or quote.ts >= prev.ts:
            self._quotes[sym][quote.source] = quote
        self._failed[sym].pop(quote.source, None)

    def _record(self, symbol: str, ts: datetime, price: Decimal) -> None:
        for buffers in self._hist.values():
            buffers[symbol].add(ts, price)

    def backfill(self, symbol: str, since: datetime, until: datetime | None = None) -> int:
        """Fill 1-minute history from the sources' closed candles (median close per minute).

        Minutes already in history are kept. Returns the number of bars added; a source that
        fails is skipped; if all fail the last error is raised.
        """
        sym = self._sym(symbol)
        end = ensure_utc(until) if until is not None else self._clock.now()
        per_minute: dict[datetime, list[tuple[Decimal, Decimal, Decimal, Decimal]]] = {}
        errors: list[Exception] = []
        tried = 0
        for source in self._sources:
            if not source.supports(sym):
                continue
            tried += 1
            try:
                candles = source.fetch_candles(sym, ensure_utc(since), end)
            except (RetryableError, SkipError) as exc:
                errors.append(exc)
                continue
            for c in candles:
                per_minute.setdefault(c.start, []).append((c.open, c.high, c.low, c.close))
        if tried and len(errors) == tried:
            raise errors[-1]

        def med(rows: list[tuple[Decimal, Decimal, Decimal, Decimal]], i: int) -> Decimal:
            return Decimal(statistics.median([r[i] for r in rows]))

        bars = [
            SpotBar(
                start=ts,
                open=med(rows, 0),
                high=med(rows, 1),
                low=med(rows, 2),
                close=med(rows, 3),
                count=len(rows),
            )
            for ts, rows in sorted(per_minute.items())
        ]
        return self._hist[Resolution.MINUTE][sym].merge(bars)

    # -- queries --------------------------------------------------------------------------------
    def status(self, symbol: str) -> SpotStatus:
        """Sources used, stale, diverging, failed and age, evaluated now."""
        sym = self._sym(symbol)
        return combine(sym, self._quotes[sym], self._clock.now(), self.config, self._failed[sym])

    def latest(self, symbol: str) -> SpotPrice:
        """Combined price now (USD per coin); ``SpotUnavailableError`` when refused."""
        return status_to_price(self.status(symbol))

    def history(
        self,
        symbol: str,
        resolution: Resolution | str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SpotBar]:
        """Recorded bars (oldest first) of the combined price, ``since``/``until`` inclusive."""
        sym = self._sym(symbol)
        return self._hist[_resolution(resolution)][sym].bars(since, until)

    def average(self, symbol: str, start: datetime, end: datetime) -> Decimal:
        """Settlement-style mean over ``(start, end]`` of the per-second level (USD per coin);
        see ``window_average``."""
        start, end = ensure_utc(start), ensure_utc(end)
        bars = self.history(symbol, Resolution.SECOND, start - timedelta(minutes=5), end)
        return window_average(normalize_symbol(symbol), bars, start, end)
