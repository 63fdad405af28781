"""Positions and P&L from fills and settlements, exactly.

A position in one market is held on one side at a time (Kalshi nets YES against NO):
``qty`` > 0 means YES contracts, ``qty`` < 0 means NO contracts. ``cost`` is what was paid for
the contracts still held (>= 0, excluding fees). Buying the opposite side of what is held closes
contracts first: buying NO at ``q`` while long YES is, in cash and P&L, selling YES at ``1 - q``.

Sign conventions: ``cash_delta`` is + when cash comes in. ``realized_pnl`` excludes fees;
``fees`` accumulate separately (>= 0). Equity = cash + marked value of positions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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


class _Totals:
    """What a portfolio derives from all its positions, kept so that the next portfolio
    (one fill or settlement later) derives its own from these in O(open positions) instead
    of scanning every position it ever held: the open positions in the order of
    ``positions``, and the exact sums of fees and realized P&L with each sum's exponent as
    ``sum()`` would give it (the smallest exponent among the terms and 0; see ``_exact_sum``).

    ``rank`` (ticker -> order of first appearance) only ever grows and is shared along a
    line of portfolios: ranks stay increasing in insertion order within every one of them."""

    __slots__ = ("open", "fees", "realized", "fee_exps", "pnl_exps", "rank")

    def __init__(self, open_: dict[str, Position], fees: Decimal, realized: Decimal,
                 fee_exps: Counter[int], pnl_exps: Counter[int], rank: dict[str, int]) -> None:
        self.open = open_
        self.fees = fees
        self.realized = realized
        self.fee_exps = fee_exps
        self.pnl_exps = pnl_exps
        self.rank = rank

    @classmethod
    def of(cls, positions: Mapping[str, Position]) -> _Totals:
        ps = positions.values()
        return cls({p.ticker: p for p in ps if p.qty},
                   sum((p.fees.amount for p in ps), Decimal(0)),
                   sum((p.realized_pnl.amount for p in ps), Decimal(0)),
                   Counter(_exp(p.fees.amount) for p in ps),
                   Counter(_exp(p.realized_pnl.amount) for p in ps),
                   {t: i for i, t in enumerate(positions)})

    def after(self, old: Position | None, new: Position) -> _Totals:
        """The totals once ``old`` (None: a new ticker, last in order) is replaced by ``new``."""
        t = new.ticker
        fee_exps, pnl_exps = Counter(self.fee_exps), Counter(self.pnl_exps)
        fees, realized = self.fees, self.realized
        if old is not None:
            fees -= old.fees.amount
            realized -= old.realized_pnl.amount
            _drop(fee_exps, _exp(old.fees.amount))
            _drop(pnl_exps, _exp(old.realized_pnl.amount))
        fees += new.fees.amount
        realized += new.realized_pnl.amount
        fee_exps[_exp(new.fees.amount)] += 1
        pnl_exps[_exp(new.realized_pnl.amount)] += 1
        rank = self.rank
        if t not in rank:
            rank[t] = len(rank)
        open_ = dict(self.open)
        if not new.qty:
            open_.pop(t, None)
        elif t in open_ or not open_ or rank[t] > rank[next(reversed(open_))]:
            open_[t] = new  # in place, or last in order
        else:  # a position reopened before others in order: keep the order of ``positions``
            open_[t] = new
            open_ = dict(sorted(open_.items(), key=lambda kv: rank[kv[0]]))
        return _Totals(open_, fees, realized, fee_exps, pnl_exps, rank)


def _exp(d: Decimal) -> int:
    e = d.as_tuple().exponent
    return e if isinstance(e, int) else 0


def _drop(c: Counter[int], key: int) -> None:
    c[key] -= 1
    if c[key] <= 0:
        del c[key]


def _exact_sum(value: Decimal, exps: Counter[int]) -> Decimal:
    """``value`` (the exact sum) written with the exponent ``sum()`` over the current terms
    would have: the smallest of theirs and 0 (a difference along the way may have left
    extra trailing zeros; the value is exact at that exponent, so nothing is rounded)."""
    e = min(min(exps, default=0), 0)
    return value.quantize(Decimal((0, (1,), e)))


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Cash plus positions. ``cash`` is what the account holds now."""

    cash: Money
    positions: Mapping[str, Position]
    _totals: _Totals | None = field(default=None, compare=False, repr=False)

    def _derived(self) -> _Totals:
        t = self._totals
        if t is None:
            t = _Totals.of(self.positions)
            object.__setattr__(self, "_totals", t)
        return t

    def _with(self, new: Position, cash_delta: Money) -> Portfolio:
        old = self.positions.get(new.ticker)
        t = self._totals
        return Portfolio(self.cash + cash_delta, {**self.positions, new.ticker: new},
                         None if t is None else t.after(old, new))

    def with_fill(self, fill: Fill) -> Portfolio:
        pos = self.positions.get(fill.ticker) or Position(fill.ticker)
        eff = apply_fill(pos, fill)
        return self._with(eff.position, eff.cash_delta)

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
        return self._with(eff.position, eff.cash_delta)

    def open_positions(self) -> list[Position]:
        """Positions with contracts held, in the order of ``positions``."""
        return list(self._derived().open.values())

    def equity(self, yes_marks: Mapping[str, Price]) -> Money:
        """Cash plus open positions at the given YES marks (a missing mark values at cost)."""
        total = self.cash
        for p in self.open_positions():
            mark = yes_marks.get(p.ticker)
            total = total + (p.market_value(mark) if mark is not None else p.cost)
        return total

    def fees_paid(self) -> Money:
        t = self._derived()
        return Money(_exact_sum(t.fees, t.fee_exps))

    def realized_pnl(self) -> Money:
        t = self._derived()
        return Money(_exact_sum(t.realized, t.pnl_exps))
