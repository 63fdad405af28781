"""Markets, events and series as the bot sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from kalshibot.domain.fees import FeeSchedule, FeeType
from kalshibot.domain.money import ONE, Money, Price
from kalshibot.domain.ticks import TickGrid


class MarketStatus(StrEnum):
    """Kalshi's market lifecycle (``kalshi-api.md`` section 7)."""

    INITIALIZED = "initialized"
    INACTIVE = "inactive"
    ACTIVE = "active"
    CLOSED = "closed"
    DETERMINED = "determined"
    DISPUTED = "disputed"
    AMENDED = "amended"
    FINALIZED = "finalized"
    SETTLED = "settled"  # older vocabulary
    UNKNOWN = "unknown"  # a value this version does not know: the market is not traded

    @property
    def is_tradable(self) -> bool:
        return self is MarketStatus.ACTIVE

    @property
    def is_settled(self) -> bool:
        return self in (
            MarketStatus.DETERMINED,
            MarketStatus.FINALIZED,
            MarketStatus.SETTLED,
            MarketStatus.AMENDED,
        )


class Result(StrEnum):
    YES = "yes"
    NO = "no"
    SCALAR = "scalar"
    NONE = ""


@dataclass(frozen=True, slots=True)
class Series:
    """``fee_problem``: why the series' fees are unknown (e.g. a new ``fee_type``); its markets
    are then untradeable, and ``fee_type`` is a placeholder."""

    ticker: str
    title: str = ""
    fee_type: FeeType = FeeType.QUADRATIC
    fee_multiplier: Decimal = Decimal(1)
    frequency: str = ""
    fee_problem: str = ""
    category: str = ""  # Kalshi's series category, e.g. "Crypto"


@dataclass(frozen=True, slots=True)
class Event:
    """``fee_*_override``: the event's fees, layered on the series' (None: no override);
    ``fee_problem`` as for ``Series``."""

    event_ticker: str
    series_ticker: str
    title: str = ""
    mutually_exclusive: bool = False
    fee_type_override: FeeType | None = None
    fee_multiplier_override: Decimal | None = None
    fee_problem: str = ""


@dataclass(frozen=True, slots=True)
class Market:
    """One binary market. Strike fields are reference levels (floats are fine: not money).

    ``fee_type``/``fee_multiplier`` are the effective ones (the event's override, else the
    series'); ``fee_waiver_until``: fees are waived before this time. ``fractional_trading``:
    counts have 0.01 granularity (every market of the 3.34 API: ``*_fp`` counts), else whole
    contracts. ``exchange_index``: the exchange shard (None: not stated). ``untradeable``: why
    the bot must not trade it (a fee type, tick structure or enum value it does not know);
    "" when it may.
    """

    ticker: str
    event_ticker: str
    series_ticker: str
    title: str
    status: MarketStatus
    open_time: datetime | None
    close_time: datetime
    tick_grid: TickGrid
    strike_type: str | None = None
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    result: Result = Result.NONE
    settlement_value: Price | None = None  # YES payout per contract once settled
    fractional_trading: bool = False
    volume: Decimal = Decimal(0)
    open_interest: Decimal = Decimal(0)
    fee_type: FeeType = FeeType.QUADRATIC
    fee_multiplier: Decimal = Decimal(1)
    fee_waiver_until: datetime | None = None
    exchange_index: int | None = None
    untradeable: str = ""

    def seconds_to_close(self, now: datetime) -> float:
        return (self.close_time - now).total_seconds()

    @property
    def fee_schedule(self) -> FeeSchedule:
        return FeeSchedule(self.fee_type, self.fee_multiplier, self.fee_waiver_until)

    @property
    def count_step(self) -> Decimal:
        """Smallest count increment: 0.01 contract, or 1 where only whole contracts trade."""
        return Decimal("0.01") if self.fractional_trading else ONE


def series_of(ticker: str) -> str:
    """Series ticker of a market or event ticker: the part before the first ``-``."""
    return ticker.split("-", 1)[0]


@dataclass(frozen=True, slots=True)
class Balance:
    """Cash available to trade and the exchange's valuation of open positions."""

    cash: Money
    portfolio_value: Money


@dataclass(frozen=True, slots=True)
class ExchangeStatus:
    exchange_active: bool
    trading_active: bool


@dataclass(frozen=True, slots=True)
class Settlement:
    """A settled market position: ``revenue`` is the payout received (>= 0)."""

    ticker: str
    result: Result
    revenue: Money
    settled_time: datetime
    yes_count: Decimal = Decimal(0)
    no_count: Decimal = Decimal(0)
    value: Price | None = None
