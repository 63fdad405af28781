"""Positions and P&L from fills and settlements, exactly.

A position in one market is held on one side at a time (Kalshi nets YES against NO):
``qty`` > 0 means YES contracts, ``qty`` < 0 means NO contracts. ``cost`` is what was paid for
the contracts still held (>= 0, excluding fees). Buying the opposite side of what is held closes
contracts first: buying NO at ``q`` while long YES is, in cash and P&L, selling YES at ``1 - q``.

Sign conventions: ``cash_delta`` is + when cash comes in. ``realized_pnl`` excludes fees;
``fees`` accumulate separately (>= 0). Equity = cash + marked value of positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from kalshibot.domain.market import Result
from kalshibot.domain.money import ONE, ZERO, Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side


@dataclass(frozen=True, slots=True)
class Position:
    ticker: str
    qty: Count = Count(0)  # + YES, - NO
    cost: Money = Money(0)  # paid for the contracts held, >= 0
    realized_pnl: Money = Money(0)
    fees: Money = Money(0)
    exchange_index: int | None = None  # shard, as the exchange reports it (None: not stated)

    @property
    def side(self) -> Side | None:
        if self.qty.value > 0:
            return Side.YES
        if self.qty.value < 0:
            return Side.NO
        return None

    @property
    def contracts(self) -> Count:
        """Number of contracts held (>= 0), on ``side``."""
        return abs(self.qty)

    @property
    def average_cost(self) -> Price | None:
        if not self.qty:
            return None
        return Price(self.cost.amount / abs(self.qty.value))

    def market_value(self, yes_mark: Price) -> Money:
        """Value of the contracts held at a YES mark (a NO contract is worth ``1 - mark``)."""
        q = self.qty.value
        if q >= 0:
            return Money(q * yes_mark.value)
        return Money(-q * (ONE - yes_mark.value))

    def unrealized_pnl(self, yes_mark: Price) -> Money:
        return self.market_value(yes_mark) - self.cost


@dataclass(frozen=True, slots=True)
class FillEffect:
    position: Position
    cash_delta: Money  # + received, - paid (includes the fee)


def apply_fill(pos: Position, fill: Fill) -> FillEffect:
    """New position and cash change after ``fill`` (which must be for ``pos.ticker``)."""
    if fill.ticker != pos.ticker:
        raise ValueError(f"fill for {fill.ticker} applied to position in {pos.ticker}")
    # Express the fill as a signed change in YES-or-NO terms: buying YES or selling NO adds YES.
    adds_yes = (fill.side is Side.YES) == (fill.action is Action.BUY)
    n = fill.count.value
    # Price of one contract of the *acquired* direction: YES price if adds_yes else NO price.
    if fill.action is Action.BUY:
        px = fill.price.value  # we pay the price of the side we buy
    else:
        px = ONE - fill.price.value  # selling side X at p == buying the other side at 1 - p
    held = pos.qty.value
    qty, cost, realized = held, pos.cost.amount, pos.realized_pnl.amount
    cash = Decimal(0)
    remaining = n
    # Close contracts held on the opposite direction first.
    if (held < 0 and adds_yes) or (held > 0 and not adds_yes):
        closing = min(remaining, abs(held))
        # Average cost of the contracts closed, kept to 1e-10 $ so numbers stay readable;
        # the same amount leaves ``cost`` and enters ``realized``, so totals stay exact.
        removed_cost = (cost * closing / abs(held)).quantize(Decimal("1e-10"))
        if closing == abs(held):
            removed_cost = cost
        proceeds = closing * (ONE - px)  # held side's price is the complement
        realized += proceeds - removed_cost
        cost -= removed_cost
        cash += proceeds
        qty = held + closing if held < 0 else held - closing
        remaining -= closing
        if qty == 0:
            cost = ZERO
    if remaining > 0:
        cost += remaining * px
        cash -= remaining * px
        qty = qty + remaining if adds_yes else qty - remaining
    fee = fill.fee.amount
    new = Position(
        pos.ticker, Count(qty), Money(cost), Money(realized), Money(pos.fees.amount + fee)
    )
    return FillEffect(new, Money(cash - fee))


def settle(pos: Position, result: Result, value: Price | None = None) -> FillEffect:
    """Close ``pos`` at settlement. YES pays $1 on ``yes``; NO pays $1 on ``no``.

    A ``scalar`` result pays ``value`` per YES contract and ``1 - value`` per NO contract.
    """
    if result is Result.YES:
        yes_value = ONE
    elif result is Result.NO:
        yes_value = ZERO
    elif result is Result.SCALAR and value is not None:
        yes_value = value.value
    else:
        raise ValueError(f"cannot settle {pos.ticker} on result {result!r} (value {value})")
    payout = pos.market_value(Price(yes_value)).amount
    realized = pos.realized_pnl.amount + payout - pos.cost.amount
    return FillEffect(
        replace(pos, qty=Count(0), cost=Money(0), realized_pnl=Money(realized)), Money(payout)
    )


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Cash plus positions. ``cash`` is what the account holds now."""

    cash: Money
    positions: Mapping[str, Position]

    def with_fill(self, fill: Fill) -> Portfolio:
        pos = self.positions.get(fill.ticker) or Position(fill.ticker)
        eff = apply_fill(pos, fill)
        return Portfolio(self.cash + eff.cash_delta, {**self.positions, fill.ticker: eff.position})

    def with_fills(self, fills: Iterable[Fill]) -> Portfolio:
        out = self
        for f in fills:
            out = out.with_fill(f)
        return out

    def with_settlement(self, ticker: str, result: Result, value: Price | None = None) -> Portfolio:
        pos = self.positions.get(ticker)
        if pos is None:
            return self
        eff = settle(pos, result, value)
        return Portfolio(self.cash + eff.cash_delta, {**self.positions, ticker: eff.position})

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.qty]

    def equity(self, yes_marks: Mapping[str, Price]) -> Money:
        """Cash plus open positions at the given YES marks (a missing mark values at cost)."""
        total = self.cash
        for p in self.open_positions():
            mark = yes_marks.get(p.ticker)
            total = total + (p.market_value(mark) if mark is not None else p.cost)
        return total

    def fees_paid(self) -> Money:
        return Money(sum((p.fees.amount for p in self.positions.values()), Decimal(0)))

    def realized_pnl(self) -> Money:
        return Money(sum((p.realized_pnl.amount for p in self.positions.values()), Decimal(0)))
