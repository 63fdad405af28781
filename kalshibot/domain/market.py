"""Markets, events and series as the bot sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from kalshibot.domain.fees import FeeType
from kalshibot.domain.money import Money, Price
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
    ticker: str
    title: str = ""
    fee_type: FeeType = FeeType.QUADRATIC
    fee_multiplier: Decimal = Decimal(1)
    frequency: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    event_ticker: str
    series_ticker: str
    title: str = ""
    mutually_exclusive: bool = False


@dataclass(frozen=True, slots=True)
class Market:
    """One binary market. Strike fields are reference levels (floats are fine: not money)."""

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

    def seconds_to_close(self, now: datetime) -> float:
        return (self.close_time - now).total_seconds()


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
