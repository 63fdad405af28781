"""The one fill simulator and simulated account, shared by ``PaperExchange`` and ``SimExchange``.

Fill rules (conservative):
- A marketable order walks the opposite book's levels up to its limit (taker fee per level fill).
  A fill-or-kill that cannot fill in full is refused like Kalshi does (409
  ``OrderKilledError``). IOC remainders are cancelled; GTC remainders rest (post-only orders
  that would cross are rejected instead).
- A resting order fills only when later books or trades cross it. Queue position is approximated
  by the displayed size already at our price when we joined; that size must trade before us.
  With ``trade_through=True`` (the pessimistic default) a book or trade merely *touching* our price
  fills nothing beyond the queue; only prices strictly better than ours fill us fully.
- Resting fills pay the maker fee of the market's fee schedule, marketable fills the taker fee,
  each as Kalshi charges it (``domain.fees``): per fill rounded up to $0.0001, and for
  non-direct members (the default) through the per-order accumulator, so an order's fees cost
  whole cents; nothing while the market's fee waiver runs.
- Settlement pays $1 per winning contract (``domain.portfolio.settle``).

All money is exact. Order and fill ids are ``{prefix}-o{n}`` / ``{prefix}-f{n}``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from kalshibot.domain.book import OrderBook
from kalshibot.domain.fees import FeeSchedule, OrderFeeAccumulator, trade_fee
from kalshibot.domain.market import Balance, Result
from kalshibot.domain.money import ZERO, Count, Money, Price
from kalshibot.domain.orders import (
    Action,
    Fill,
    Order,
    OrderAck,
    OrderIntent,
    OrderStatus,
    Side,
    TimeInForce,
    Trade,
)
from kalshibot.domain.portfolio import Portfolio, Position
from kalshibot.errors import FOK_KILLED, ExchangeRejectedError, OrderKilledError

FeeLookup = Callable[[str], FeeSchedule]


def default_fees(_ticker: str) -> FeeSchedule:
    return FeeSchedule()


@dataclass
class SimOrder:
    order: Order
    intent: OrderIntent
    queue_ahead: Decimal  # contracts ahead of us at our price when we joined
    fees: OrderFeeAccumulator | None = None  # what the order's fills were charged so far


@dataclass(frozen=True)
class AccountCheckpoint:
    """What ``SimAccount.checkpoint`` saves: enough to undo feeding books and trades to the
    open orders of some markets (fills, fill numbering, portfolio, those orders' states and
    queue estimates, the last book seen per market)."""

    n_fills: int  # len(fills)
    fill_ids: int  # the fill-id counter
    portfolio: Portfolio
    orders: tuple[tuple[SimOrder, Order, Decimal], ...]
    last_books: tuple[tuple[str, OrderBook | None], ...]


class SimAccount:
    """Cash, positions, orders and fills of a simulated account."""

    def __init__(
        self,
        cash: Money,
        *,
        fees: FeeLookup = default_fees,
        prefix: str = "sim",
        trade_through: bool = True,
        queue_front: bool = False,
        taker_fee_always: bool = False,
        direct_member: bool = False,
    ) -> None:
        """``trade_through``: see the module docstring (True is pessimistic). ``queue_front``:
        a new resting order joins *ahead* of the displayed size at its price (optimistic; the
        default False puts it behind everything displayed). ``taker_fee_always``: charge the
        taker fee even on fills of orders that provably rested (the most pessimistic fees).
        ``direct_member``: fees cost their $0.0001-rounded amount instead of whole cents per
        order."""
        self.portfolio = Portfolio(cash, {})
        self.fees = fees
        self.direct_member = direct_member
        self.prefix = prefix
        self.trade_through = trade_through
        self.queue_front = queue_front
        self.taker_fee_always = taker_fee_always
        self.orders: dict[str, SimOrder] = {}
        self._maybe_open: dict[str, SimOrder] = {}  # index of open orders (pruned lazily)
        self.by_client_id: dict[str, str] = {}
        self.fills: list[Fill] = []
        # fills_since index: running maximum of fill times (epoch seconds) over ``fills``
        self._fill_tmax: list[float] = []
        self._fill_ref: list[Fill] = self.fills
        self._open_pos: tuple[Portfolio, list[Position]] | None = None
        self._last_book: dict[str, OrderBook] = {}
        self._n_orders = 0
        self._n_fills = 0

    # --- queries -----------------------------------------------------------------------
    @property
    def cash(self) -> Money:
        return self.portfolio.cash

    def balance(self) -> Balance:
        value = Money(sum((p.cost.amount for p in self.positions()), ZERO))
        return Balance(self.portfolio.cash, value)

    def positions(self) -> list[Position]:
        """Open positions (computed once per portfolio value: the portfolio keeps every
        closed position, so a scan per call would grow with history)."""
        c = self._open_pos
        if c is None or c[0] is not self.portfolio:
            c = self._open_pos = (self.portfolio, self.portfolio.open_positions())
        return list(c[1])

    def track(self, s: SimOrder) -> None:
        """Register an order restored from outside ``place`` (e.g. after a restart)."""
        self.orders[s.order.order_id] = self._maybe_open[s.order.order_id] = s

    def _live(self) -> list[SimOrder]:
        """Orders that may still be open (closed ones are pruned lazily), oldest first."""
        for oid in [o for o, s in self._maybe_open.items() if not s.order.status.is_open]:
            del self._maybe_open[oid]
        return list(self._maybe_open.values())

    def open_sim_orders(self) -> list[SimOrder]:
        """The open orders with their queue estimates, oldest first."""
        return [s for s in self._live() if s.order.status.is_open]

    def checkpoint(self, tickers: Iterable[str]) -> AccountCheckpoint:
        """Save the state that feeding ``tickers``' books and trades may change (see
        ``AccountCheckpoint``); ``rollback`` returns to it."""
        ts = set(tickers)
        return AccountCheckpoint(
            len(self.fills), self._n_fills, self.portfolio,
            tuple((s, s.order, s.queue_ahead) for s in self.open_sim_orders()
                  if s.order.ticker in ts),
            tuple((t, self._last_book.get(t)) for t in sorted(ts)))

    def rollback(self, cp: AccountCheckpoint) -> None:
        """Undo everything since ``checkpoint`` for its markets (orders placed since are not
        undone: the caller feeds books and trades only)."""
        del self.fills[cp.n_fills:]
        self._n_fills, self.portfolio = cp.fill_ids, cp.portfolio
        for so, order, queue in cp.orders:
            so.order, so.queue_ahead = order, queue
        for t, b in cp.last_books:
            if b is None:
                self._last_book.pop(t, None)
            else:
                self._last_book[t] = b

    def forget_closed(self, before: datetime) -> int:
        """Drop orders closed (filled or cancelled) before ``before`` from the lookups, so a
        long replay does not keep every order it ever placed; returns how many. Their fills
        stay. Only for venues nobody will ask about such orders again (backtests)."""
        gone = [oid for oid, s in self.orders.items()
                if not s.order.status.is_open and s.order.updated_time is not None
                and s.order.updated_time < before]
        for oid in gone:
            s = self.orders.pop(oid)
            self._maybe_open.pop(oid, None)
            if self.by_client_id.get(s.intent.client_order_id) == oid:
                del self.by_client_id[s.intent.client_order_id]
        return len(gone)

    def open_orders(self, ticker: str | None = None) -> list[Order]:
        return [
            s.order
            for s in self._live()
            if s.order.status.is_open and (ticker is None or s.order.ticker == ticker)
        ]

    def fills_since(self, since: datetime | None) -> list[Fill]:
        if since is None:
            return list(self.fills)
        tmax = self._fill_index()
        # fills before the first index whose running maximum reaches ``since`` are all older
        start = bisect_left(tmax, since.timestamp())
        return [f for f in self.fills[start:] if f.ts >= since]

    def _fill_index(self) -> list[float]:
        """Running maximum of fill times, extended to cover fills appended since (``fills`` is
        append-only; a list replaced wholesale is re-indexed)."""
        tmax = self._fill_tmax
        if self._fill_ref is not self.fills or len(tmax) > len(self.fills):
            tmax.clear()
            self._fill_ref = self.fills
        m = tmax[-1] if tmax else float("-inf")
        for f in self.fills[len(tmax):]:
            m = max(m, f.ts.timestamp())
            tmax.append(m)
        return tmax

    # --- orders ------------------------------------------------------------------------
    def place(self, intent: OrderIntent, book: OrderBook | None, now: datetime) -> OrderAck:
        if intent.client_order_id in self.by_client_id:
            raise ExchangeRejectedError(
                f"client_order_id {intent.client_order_id} already exists",
                status=409,
                code="order_already_exists",
            )
        if not intent.count or intent.count.value < 0:
            raise ExchangeRejectedError(
                "order count must be positive", status=400, code="invalid_order"
            )
        if book is None:
            raise ExchangeRejectedError(
                f"no book for {intent.ticker}", status=404, code="market_not_found"
            )
        self._n_orders += 1
        oid = f"{self.prefix}-o{self._n_orders}"
        walk = (
            book.walk_buy(intent.side, intent.count, intent.price)
            if intent.is_buy
            else book.walk_sell(intent.side, intent.count, intent.price)
        )
        if intent.post_only and walk.count:
            raise ExchangeRejectedError(
                "post only order would cross", status=400, code="invalid_order"
            )
        if intent.time_in_force is TimeInForce.FOK and walk.count != intent.count:
            # as Kalshi answers (spec 3.34): 409, nothing filled, no order created
            raise OrderKilledError(
                "fill-or-kill killed: insufficient resting volume", status=409,
                code=FOK_KILLED)
        filled = Count(0)
        fees = Money(0)
        acc = OrderFeeAccumulator(direct_member=self.direct_member)
        for lv in walk.levels:
            f = self._fill(oid, intent, lv.price, lv.size, acc, is_taker=True, now=now)
            filled = filled + f.count
            fees = fees + f.fee
        remaining = intent.count - filled
        rests = intent.time_in_force is TimeInForce.GTC and remaining.value > 0
        status = (
            OrderStatus.EXECUTED
            if not remaining
            else (OrderStatus.RESTING if not filled else OrderStatus.PARTIALLY_FILLED)
            if rests
            else OrderStatus.CANCELLED
        )
        order = Order(
            oid,
            intent.client_order_id,
            intent.ticker,
            intent.side,
            intent.action,
            intent.price,
            intent.count,
            filled,
            remaining if rests else Count(0),
            status,
            fees,
            now,
            now,
        )
        same_side = book.bids(intent.side) if intent.is_buy else book.asks(intent.side)
        queue = sum((lv.size.value for lv in same_side if lv.price == intent.price), ZERO)
        if self.queue_front:
            queue = ZERO
        self.orders[oid] = self._maybe_open[oid] = SimOrder(order, intent, queue, acc)
        self.by_client_id[intent.client_order_id] = oid
        avg = walk.average_price if filled else None
        per = Money(fees.amount / filled.value) if filled else None
        return OrderAck(oid, intent.client_order_id, filled, order.remaining_count, avg, per, now)

    def cancel(self, order_id: str, now: datetime) -> Order:
        s = self.orders.get(order_id)
        if s is None:
            raise ExchangeRejectedError(f"order {order_id} not found", status=404, code="not_found")
        if not s.order.status.is_open:
            raise ExchangeRejectedError(
                f"order {order_id} is {s.order.status.value}", status=409, code="order_not_open"
            )
        s.order = replace(
            s.order, status=OrderStatus.CANCELLED, remaining_count=Count(0), updated_time=now
        )
        return s.order

    def amend(self, order_id: str, price: Price, count: Count, now: datetime) -> Order:
        """New price and total count (filled + remaining); loses queue priority."""
        s = self.orders.get(order_id)
        if s is None or not s.order.status.is_open:
            raise ExchangeRejectedError(
                f"order {order_id} cannot be amended", status=409, code="order_not_open"
            )
        remaining = count - s.order.filled_count
        if remaining.value <= 0:
            raise ExchangeRejectedError(
                "amended count must exceed the filled count", status=400, code="invalid_order"
            )
        s.intent = replace(s.intent, price=price, count=count)
        s.order = replace(
            s.order, price=price, initial_count=count, remaining_count=remaining, updated_time=now
        )
        s.queue_ahead = Decimal(10**9)  # back of the queue: unknown, assume everything is ahead
        return s.order

    # --- market events -----------------------------------------------------------------
    def on_book(self, book: OrderBook, now: datetime) -> list[Fill]:
        """Fill resting orders of ``book.ticker`` that the new book crosses.

        The same book seen again (venues poll faster than books change) is no new liquidity:
        it is ignored, so a static crossing level is not consumed once per poll.
        """
        if self._last_book.get(book.ticker) == book:
            return []
        self._last_book[book.ticker] = book
        out: list[Fill] = []
        for s in self._resting(book.ticker):
            o = s.order
            levels = book.asks(o.side) if o.action is Action.BUY else book.bids(o.side)
            better, at = ZERO, ZERO
            for lv in levels:
                if lv.price == o.price:
                    at += lv.size.value
                elif (lv.price < o.price) if o.action is Action.BUY else (lv.price > o.price):
                    better += lv.size.value
            avail = better + self._past_queue(s, at)
            out += self._rest_fill(s, avail, now)
        return out

    def on_trades(self, trades: Iterable[Trade], now: datetime) -> list[Fill]:
        """Fill resting orders that public trades reached (after the queue ahead of us)."""
        out: list[Fill] = []
        for t in trades:
            for s in self._resting(t.ticker):
                o = s.order
                # A trade sold our side (for a buy) or bought it (for a sell) at price px.
                px = t.yes_price if o.side is Side.YES else t.yes_price.complement()
                taker_hit_bids = t.taker_side is not o.side  # taker sold o.side
                if o.action is Action.BUY and taker_hit_bids:
                    if px < o.price:
                        out += self._rest_fill(s, t.count.value, now)
                    elif px == o.price:
                        out += self._rest_fill(s, self._past_queue(s, t.count.value), now)
                elif o.action is Action.SELL and not taker_hit_bids:
                    if px > o.price:
                        out += self._rest_fill(s, t.count.value, now)
                    elif px == o.price:
                        out += self._rest_fill(s, self._past_queue(s, t.count.value), now)
        return out

    def settle(self, ticker: str, result: Result, value: Price | None = None) -> Money:
        """Settle a position and cancel its resting orders; returns the payout."""
        for s in self._resting(ticker):
            s.order = replace(s.order, status=OrderStatus.CANCELLED, remaining_count=Count(0))
        before = self.portfolio.cash
        self.portfolio = self.portfolio.with_settlement(ticker, result, value)
        return self.portfolio.cash - before

    # --- internals ---------------------------------------------------------------------
    def _resting(self, ticker: str) -> list[SimOrder]:
        return [s for s in self._live() if s.order.ticker == ticker and s.order.status.is_open]

    def _past_queue(self, s: SimOrder, volume_at_price: Decimal) -> Decimal:
        """Volume at exactly our price first consumes the queue ahead of us."""
        if self.trade_through:
            s.queue_ahead = max(s.queue_ahead - volume_at_price, ZERO)
            return ZERO
        used = min(s.queue_ahead, volume_at_price)
        s.queue_ahead -= used
        return volume_at_price - used

    def _rest_fill(self, s: SimOrder, available: Decimal, now: datetime) -> list[Fill]:
        o = s.order
        n = min(available, o.remaining_count.value)
        n = n.quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        if n <= 0:
            return []
        if s.fees is None:  # restored from outside ``place``: charged from here on
            s.fees = OrderFeeAccumulator(direct_member=self.direct_member)
        f = self._fill(o.order_id, s.intent, o.price, Count(n), s.fees, is_taker=False, now=now)
        filled = o.filled_count + f.count
        remaining = o.remaining_count - f.count
        s.order = replace(
            o,
            filled_count=filled,
            remaining_count=remaining,
            fees_paid=o.fees_paid + f.fee,
            updated_time=now,
            status=OrderStatus.EXECUTED if not remaining else OrderStatus.PARTIALLY_FILLED,
        )
        return [f]

    def _fill(
        self,
        oid: str,
        intent: OrderIntent,
        price: Price,
        count: Count,
        acc: OrderFeeAccumulator,
        *,
        is_taker: bool,
        now: datetime,
    ) -> Fill:
        """One fill, charged its fee as the balance pays it (``acc``: the order's accumulator)."""
        schedule = self.fees(intent.ticker)
        fee = Money(0)
        if not schedule.waived(now):
            fee = acc.charge(trade_fee(count, price, is_taker=is_taker or self.taker_fee_always,
                                       fee_type=schedule.fee_type,
                                       multiplier=schedule.multiplier))
        self._n_fills += 1
        f = Fill(
            f"{self.prefix}-f{self._n_fills}",
            oid,
            intent.ticker,
            intent.side,
            intent.action,
            price,
            count,
            fee,
            is_taker,
            now,
            intent.client_order_id,
        )
        self.fills.append(f)
        self.portfolio = self.portfolio.with_fill(f)
        return f
