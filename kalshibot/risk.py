"""Risk limits: every proposed order gets a ``RiskDecision(approved, reason)``; never raises.

Exposure of a market is the money at risk there: the cost of the contracts held (closed but
unsettled markets included) plus the notional (price, fees excluded) of buy orders that rest, whose
outcome is unknown (at their full count) or whose acknowledged fills are not stored yet
(``OrderManager.committed``). The engine rebuilds it after every order, so each order of a cycle
sees the effect of the ones before it. Limits are in dollars unless stated.

Entries are checked against everything below; exits (sells that reduce a position) are allowed
under the circuit breaker and the daily loss limit, but not under the kill switch, which stops
every new order, nor while exchange trading is paused. Checks, in order: kill switch, exchange
trading paused, circuit breaker, daily loss limit, market status, time to close, spread, size at
the touch, per-market cap, max concurrent positions, portfolio exposure, capital cap, event
exposure, series exposure. A resting entry may keep resting only while ``may_rest`` approves
(no halt, market tradable, not too close to its close).

Equity for the breaker, the daily loss limit and Kelly marks each position at what an exit would
realise now (``exit_value``: contracts x the best bid of the held side, less the taker fee; 0 when
that side has no bid). The trading day (daily loss, the breaker's peak) starts at the configured
``DayBoundary``.

The circuit breaker is persisted (``BreakerStore``): a restart does not clear it; only an explicit
reset (``kalshibot risk reset``) does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from kalshibot.config import Settings
from kalshibot.domain.book import OrderBook
from kalshibot.domain.day import UTC_MIDNIGHT, DayBoundary
from kalshibot.domain.fees import FeeSchedule, order_fee
from kalshibot.domain.market import Market
from kalshibot.domain.money import ZERO, Count, Money, Price
from kalshibot.domain.orders import Side
from kalshibot.domain.portfolio import Position


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_position_per_market: Money
    max_portfolio_exposure: Money
    max_exposure_per_event: Money
    max_exposure_per_series: Money
    max_daily_loss: Money
    circuit_breaker_drawdown: Decimal
    max_concurrent_positions: int
    max_spread: Decimal
    min_top_size: Count
    min_seconds_to_close: float
    capital_cap: Money | None = None  # most committed in total (None: no cap beyond the others)
    day_boundary: DayBoundary = UTC_MIDNIGHT

    @classmethod
    def from_settings(cls, s: Settings) -> RiskLimits:
        return cls(
            Money(s.max_position_per_market),
            Money(s.max_portfolio_exposure),
            Money(s.max_exposure_per_event),
            Money(s.max_exposure_per_series),
            Money(s.max_daily_loss),
            Decimal(str(s.circuit_breaker_drawdown)),
            s.max_concurrent_positions,
            s.max_spread,
            Count(s.min_top_size.quantize(Decimal("0.01"))),
            s.min_seconds_to_close,
            Money(s.capital_cap),
            DayBoundary.parse(s.day_boundary),
        )

    def sizing_equity(self, equity: Money) -> Money:
        """The equity Kelly sizes from: ``min(equity, capital cap)``."""
        cap = self.capital_cap
        return equity if cap is None or equity <= cap else cap


@dataclass(frozen=True, slots=True)
class RiskDecision:
    approved: bool
    reason: str
    check: str = ""  # which check decided (empty when approved)


APPROVED = RiskDecision(True, "approved")


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """The account as risk sees it at one moment."""

    exposure: Mapping[str, Money]  # ticker -> money at risk (positions + committed by orders)
    event_of: Mapping[str, str]  # ticker -> event ticker (every ticker of ``exposure``)
    series_of: Mapping[str, str]  # ticker -> series ticker (every ticker of ``exposure``)
    day_pnl: Money  # equity now minus equity at the start of the trading day
    breaker_tripped: bool = False
    breaker_reason: str = ""
    kill_switch: bool = False
    trading_active: bool = True

    def total(self) -> Money:
        return Money(sum((m.amount for m in self.exposure.values()), ZERO))

    def of_event(self, event: str) -> Money:
        return Money(
            sum((m.amount for t, m in self.exposure.items() if self.event_of.get(t) == event), ZERO)
        )

    def of_series(self, series: str) -> Money:
        return Money(
            sum(
                (m.amount for t, m in self.exposure.items() if self.series_of.get(t) == series),
                ZERO,
            )
        )

    def open_markets(self) -> set[str]:
        return {t for t, m in self.exposure.items() if m.amount > 0}


def _deny(check: str, reason: str) -> RiskDecision:
    return RiskDecision(False, reason, check)


@dataclass
class RiskManager:
    limits: RiskLimits

    def halt_reason(self, snap: RiskSnapshot, *, is_exit: bool = False) -> RiskDecision | None:
        """Account-wide reasons to refuse (independent of the market)."""
        if snap.kill_switch:
            return _deny("kill_switch", "kill switch is on: no new orders")
        if not snap.trading_active:  # nothing can trade, exits included
            return _deny("exchange_paused", "exchange trading is paused")
        if is_exit:
            return None
        if snap.breaker_tripped:
            return _deny("circuit_breaker", f"circuit breaker tripped: {snap.breaker_reason}")
        if snap.day_pnl <= -self.limits.max_daily_loss:
            return _deny(
                "daily_loss",
                f"daily loss limit reached: today's P&L {snap.day_pnl} "
                f"<= -{self.limits.max_daily_loss}",
            )
        return None

    def room(self, market: Market, snap: RiskSnapshot) -> Money:
        """Dollars that may still be committed to ``market`` under every exposure cap (>= 0)."""
        lim = self.limits
        rooms = [
            lim.max_position_per_market - snap.exposure.get(market.ticker, Money(0)),
            lim.max_portfolio_exposure - snap.total(),
            lim.max_exposure_per_event - snap.of_event(market.event_ticker),
            lim.max_exposure_per_series - snap.of_series(market.series_ticker),
        ]
        if lim.capital_cap is not None:
            rooms.append(lim.capital_cap - snap.total())
        return max(min(rooms), Money(0))

    def may_rest(self, market: Market, now: datetime, snap: RiskSnapshot) -> RiskDecision:
        """Whether a resting entry that still matches its market's proposal may keep resting:
        no account-wide halt, the market tradable, and not within the time-to-close window."""
        halted = self.halt_reason(snap)
        if halted is not None:
            return halted
        if not market.status.is_tradable:
            return _deny("market_status", f"market is {market.status.value}, not active")
        left = market.seconds_to_close(now)
        if left < self.limits.min_seconds_to_close:
            return _deny("time_to_close",
                         f"{left:.0f}s to close < {self.limits.min_seconds_to_close:.0f}s")
        return APPROVED

    def check(
        self,
        *,
        market: Market,
        book: OrderBook,
        now: datetime,
        snap: RiskSnapshot,
        side: Side,
        cost: Money,
        is_exit: bool = False,
    ) -> RiskDecision:
        """Decide on one order costing ``cost`` (contracts x (price + fee); 0 for exits)."""
        try:
            return self._check(market, book, now, snap, side, cost, is_exit)
        except Exception as exc:  # risk never raises: an error is a denial
            return _deny("error", f"risk check failed: {type(exc).__name__}: {exc}")

    def _check(
        self,
        market: Market,
        book: OrderBook,
        now: datetime,
        snap: RiskSnapshot,
        side: Side,
        cost: Money,
        is_exit: bool,
    ) -> RiskDecision:
        lim = self.limits
        halted = self.halt_reason(snap, is_exit=is_exit)
        if halted is not None:
            return halted
        if not market.status.is_tradable:
            return _deny("market_status", f"market is {market.status.value}, not active")
        if is_exit:
            return APPROVED
        left = market.seconds_to_close(now)
        if left < lim.min_seconds_to_close:
            return _deny("time_to_close", f"{left:.0f}s to close < {lim.min_seconds_to_close:.0f}s")
        spread = book.spread()
        if spread is None:
            return _deny("spread", "one side of the book is empty")
        if spread > lim.max_spread:
            return _deny("spread", f"spread {spread} > max {lim.max_spread}")
        ask = book.best_ask(side)
        if ask is None or ask.size < lim.min_top_size:
            shown = ask.size if ask is not None else 0
            return _deny("liquidity", f"{shown} contracts at the touch < {lim.min_top_size}")
        if cost.amount <= 0:
            return _deny("size", "nothing to buy")
        held = snap.exposure.get(market.ticker, Money(0))
        if held + cost > lim.max_position_per_market:
            return _deny(
                "market_cap", f"market exposure {held} + {cost} > {lim.max_position_per_market}"
            )
        open_now = snap.open_markets()
        if market.ticker not in open_now and len(open_now) >= lim.max_concurrent_positions:
            return _deny(
                "max_positions",
                f"{len(open_now)} markets open = max {lim.max_concurrent_positions}",
            )
        total = snap.total()
        if total + cost > lim.max_portfolio_exposure:
            return _deny(
                "portfolio_cap",
                f"portfolio exposure {total} + {cost} > {lim.max_portfolio_exposure}",
            )
        if lim.capital_cap is not None and total + cost > lim.capital_cap:
            return _deny("capital_cap",
                         f"committed {total} + {cost} > capital cap {lim.capital_cap}")
        ev = snap.of_event(market.event_ticker)
        if ev + cost > lim.max_exposure_per_event:
            return _deny(
                "event_cap",
                f"event {market.event_ticker} exposure {ev} + {cost} > "
                f"{lim.max_exposure_per_event}",
            )
        se = snap.of_series(market.series_ticker)
        if se + cost > lim.max_exposure_per_series:
            return _deny(
                "series_cap",
                f"series {market.series_ticker} exposure {se} + {cost} > "
                f"{lim.max_exposure_per_series}",
            )
        return APPROVED


# --- circuit breaker and daily tracking (persisted) ------------------------------------
class KeyValue(Protocol):
    """Persistent key/value state (the store's ``kv`` table)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...


BREAKER_KEY = "risk.circuit_breaker"
PEAK_KEY = "risk.peak_equity"  # {"day": ISO date, "peak": dollars}


@dataclass(frozen=True, slots=True)
class BreakerState:
    tripped: bool
    reason: str = ""
    at: str = ""


@dataclass
class CircuitBreaker:
    """Drawdown breaker persisted in the store; survives restarts until ``reset``."""

    kv: KeyValue
    drawdown: Decimal
    boundary: DayBoundary = UTC_MIDNIGHT  # when the trading day (and its peak) starts over
    # The stored peak last parsed: (raw, day) -> (today's peak, its raw as update writes it).
    _peak_memo: tuple[str, str, Money, str] | None = field(default=None, init=False)

    def state(self) -> BreakerState:
        raw = self.kv.get(BREAKER_KEY)
        if not raw:
            return BreakerState(False)
        d = json.loads(raw)
        return BreakerState(bool(d.get("tripped")), str(d.get("reason", "")), str(d.get("at", "")))

    def trip(self, reason: str, now: datetime) -> BreakerState:
        st = BreakerState(True, reason, now.isoformat())
        self.kv.set(BREAKER_KEY, json.dumps({"tripped": True, "reason": reason, "at": st.at}))
        return st

    def reset(self) -> None:
        """Clear the breaker and restart drawdown tracking from the next equity seen."""
        self.kv.delete(BREAKER_KEY)
        self.kv.delete(PEAK_KEY)

    def update(self, equity: Money, now: datetime) -> BreakerState:
        """Track today's peak equity; trip when equity falls ``drawdown`` below it. The peak is
        written only when it changes (its ``kv`` row's ``updated_ts`` is when it last did)."""
        st = self.state()
        if st.tripped:
            return st
        day = self.boundary.day_of(now).isoformat()
        key_start = f"risk.start_equity.{day}"
        if self.kv.get(key_start) is None:
            self.kv.set(key_start, equity.to_str())
        # One key for the peak (not one per day) so that ``reset`` can clear it.
        peak_raw = self.kv.get(PEAK_KEY)
        memo = self._peak_memo
        if memo is None or memo[0] != peak_raw or memo[1] != day:
            saved = json.loads(peak_raw) if peak_raw else {}
            memo = None
            if peak_raw and saved.get("day") == day:
                p = Money(Decimal(saved["peak"]))
                memo = (peak_raw, day, p, json.dumps({"day": day, "peak": p.to_str()}))
            self._peak_memo = memo
        if memo is not None and not equity > memo[2]:
            peak, raw = memo[2], memo[3]
        else:
            peak = equity if memo is None or equity > memo[2] else memo[2]
            raw = json.dumps({"day": day, "peak": peak.to_str()})
        if raw != peak_raw:  # the same value is not written again
            self.kv.set(PEAK_KEY, raw)
        if peak.amount > 0:
            dd = (peak.amount - equity.amount) / peak.amount
            if dd >= self.drawdown:
                return self.trip(
                    f"drawdown {dd:.2%} from today's peak {peak} >= {percent(self.drawdown)}",
                    now
                )
        return st

    def day_start_equity(self, now: datetime, fallback: Money) -> Money:
        raw = self.kv.get(f"risk.start_equity.{self.boundary.day_of(now).isoformat()}")
        return Money(Decimal(raw)) if raw else fallback


def exit_value(pos: Position, yes_bid: Price | None, no_bid: Price | None, *,
               schedule: FeeSchedule | None = None, direct_member: bool = False) -> Money:
    """Dollars selling ``pos`` at the best bid of its side would realise now: contracts x bid
    less the taker fee the balance would be charged (``order_fee``; never below 0); 0 when that
    side has no bid. Flat positions are 0. A fee waiver is not assumed (the safe side)."""
    side = pos.side
    if side is None:
        return Money(0)
    bid = yes_bid if side is Side.YES else no_bid
    if bid is None:
        return Money(0)
    n = pos.contracts
    fee = order_fee(n, bid, is_taker=True, schedule=schedule or FeeSchedule(),
                    direct_member=direct_member)
    return max(Money(n.value * bid.value) - fee, Money(0))


def kill_switch_on(path: Path) -> bool:
    """The kill switch is a file: its presence stops new orders."""
    return path.exists()


def percent(fraction: Decimal | float) -> str:
    """A fraction as a percentage with every digit it has: 0.005 -> ``0.5%``, 0.2 -> ``20%``."""
    value = (Decimal(str(fraction)) * 100).normalize()
    return f"{value:f}%"
