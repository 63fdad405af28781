"""Value types and protocols of the spot feed.

Prices are USD per coin as exact ``Decimal`` parsed from the exchanges' strings; ``*_float``
accessors exist for the pricer (a spot level is a reference, never money). Times are aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from kalshibot.errors import SkipError


class Resolution(StrEnum):
    """History bar width."""

    SECOND = "1s"
    MINUTE = "1m"

    @property
    def seconds(self) -> int:
        """Bar width in seconds."""
        return 1 if self is Resolution.SECOND else 60


@dataclass(frozen=True)
class SpotQuote:
    """One source's reading of one symbol.

    ``price`` is the reference level used for combining (USD per coin; the bid/ask mid by
    default). ``ts`` is when we received it (our clock); ``exchange_ts`` is the exchange's own
    timestamp when it sends one (Coinbase: time of the last trade; Kraken: none).
    """

    source: str
    symbol: str
    price: Decimal
    ts: datetime
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    exchange_ts: datetime | None = None

    @property
    def price_float(self) -> float:
        return float(self.price)


@dataclass(frozen=True)
class SpotCandle:
    """One OHLC candle from one source. ``start`` is the bar's open time; width in seconds."""

    source: str
    symbol: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    interval_s: int = 60


@dataclass(frozen=True)
class SpotBar:
    """A history bar of the combined price (USD per coin); ``start`` is its open time (UTC).

    ``count`` is how many combined observations (or, for back-filled minutes, sources) built it.
    """

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    count: int

    @property
    def close_float(self) -> float:
        return float(self.close)


@dataclass(frozen=True)
class SpotStatus:
    """Health of a symbol's combined price at ``as_of``.

    ``ok`` is False with a ``reason`` when the feed refuses (no fresh source, too few sources,
    sources diverging too much). ``age_s`` is the age in seconds of the oldest quote used.
    ``deviations`` are relative deviations (fractions, not %) of each fresh source from the
    median of all fresh sources. ``diverging`` lists flagged sources (still used unless also in
    ``excluded``); ``failed`` maps a source to the error of its last fetch.
    """

    symbol: str
    as_of: datetime
    ok: bool
    price: Decimal | None
    reason: str | None = None
    age_s: float | None = None
    used: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    diverging: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    deviations: Mapping[str, float] = field(default_factory=dict)

    @property
    def price_float(self) -> float | None:
        return None if self.price is None else float(self.price)


@dataclass(frozen=True)
class SpotPrice:
    """A usable combined price (USD per coin) at ``ts`` from ``sources``."""

    symbol: str
    price: Decimal
    ts: datetime
    sources: tuple[str, ...]
    age_s: float

    @property
    def price_float(self) -> float:
        return float(self.price)


class SpotUnavailableError(SkipError):
    """The feed refuses to give a price for a symbol; ``reason`` (and ``status``) say why."""

    def __init__(self, symbol: str, reason: str, status: SpotStatus | None = None) -> None:
        super().__init__(f"spot {symbol}: {reason}")
        self.symbol = symbol
        self.reason = reason
        self.status = status

    @classmethod
    def from_status(cls, status: SpotStatus) -> SpotUnavailableError:
        return cls(status.symbol, status.reason or "unavailable", status)


@runtime_checkable
class SpotSource(Protocol):
    """One exchange's public REST market data (synchronous, no key)."""

    name: str

    def supports(self, symbol: str) -> bool:
        """Whether this source has a product for ``symbol``."""
        ...

    def fetch_quote(self, symbol: str) -> SpotQuote:
        """Current reference price. Raises ``ExchangeUnavailableError`` / ``DataError``."""
        ...

    def fetch_candles(self, symbol: str, start: datetime, end: datetime) -> list[SpotCandle]:
        """Closed 1-minute candles with ``start <= candle.start < end``, oldest first."""
        ...


class SpotFeedLike(Protocol):
    """What consumers (pricer, engine, recorder) use; live and replay feeds both provide it."""

    def symbols(self) -> tuple[str, ...]: ...

    def refresh(self, symbols: tuple[str, ...] | None = None) -> dict[str, SpotStatus]: ...

    def status(self, symbol: str) -> SpotStatus: ...

    def latest(self, symbol: str) -> SpotPrice: ...

    def history(
        self,
        symbol: str,
        resolution: Resolution | str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SpotBar]: ...

    def average(self, symbol: str, start: datetime, end: datetime) -> Decimal: ...
