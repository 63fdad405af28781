"""Builders shared by the engine tests: markets, books and an in-memory fake exchange."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kalshibot.domain.book import OrderBook
from kalshibot.domain.fees import FeeSchedule, FeeType
from kalshibot.domain.market import ExchangeStatus, Market, MarketStatus, Settlement
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Order, OrderAck, OrderIntent
from kalshibot.domain.ticks import TickGrid
from kalshibot.errors import ExchangeRejectedError, OrderOutcomeUnknownError
from kalshibot.risk import RiskLimits
from kalshibot.sim.account import SimAccount
from kalshibot.sim.venue import SimulatedAccountVenue

T0 = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
D = Decimal


def market(
    ticker: str = "KXTEST-26NOV19-A",
    *,
    event: str | None = None,
    series: str | None = None,
    status: MarketStatus = MarketStatus.ACTIVE,
    close_in: timedelta = timedelta(hours=1),
    fee_type: FeeType = FeeType.QUADRATIC,
    fractional: bool = False,
    now: datetime = T0,
) -> Market:
    series = series or ticker.split("-", 1)[0]
    event = event or ticker.rsplit("-", 1)[0]
    return Market(
        ticker,
        event,
        series,
        ticker,
        status,
        now - timedelta(hours=1),
        now + close_in,
        TickGrid.linear_cent(),
        fractional_trading=fractional,
        fee_type=fee_type,
    )


def book(
    ticker: str,
    yes: Sequence[tuple[str, int | str]] = (("0.45", 100),),
    no: Sequence[tuple[str, int | str]] = (("0.50", 100),),
    ts: datetime = T0,
) -> OrderBook:
    """Bids-only book; ``yes``/``no`` are (price, size) pairs. Defaults: YES 0.45 / 0.50 ask."""
    return OrderBook.from_levels(
        ticker,
        [(Price(D(p)), Count(D(str(s)))) for p, s in yes],
        [(Price(D(p)), Count(D(str(s)))) for p, s in no],
        ts,
    )


class FakeExchange(SimulatedAccountVenue):
    """The ``Exchange`` protocol in memory: fixed markets and books, fills by ``SimAccount``.

    Failure injection on ``place_order``:
    - ``lose_answer``: the order is accepted, then ``OrderOutcomeUnknownError`` (answer lost);
    - ``drop_request``: ``OrderOutcomeUnknownError`` without the order reaching the account;
    - ``conflict``: the order is accepted, then a 409 (the id already exists at the exchange).
    ``before_place`` is called with the intent before anything else happens.
    """

    name = "fake"

    def __init__(
        self,
        markets: Sequence[Market],
        books: dict[str, OrderBook],
        account: SimAccount | None = None,
        *,
        now: datetime = T0,
    ) -> None:
        self.markets = {m.ticker: m for m in markets}
        self.books = dict(books)
        self.account = account or SimAccount(Money(10000))
        fee_types = {m.ticker: m.fee_schedule for m in markets}
        self.account.fees = lambda t: fee_types.get(t) or FeeSchedule()
        self.now = now
        self.lose_answer = False
        self.drop_request = False
        self.conflict = False
        self.before_place: Callable[[OrderIntent], None] | None = None
        self.place_calls: list[OrderIntent] = []
        self.trading_active = True
        self.as_of: datetime | None = None

    # market data
    def get_exchange_status(self) -> ExchangeStatus:
        return ExchangeStatus(True, self.trading_active)

    def get_markets(self, *, series=(), tickers=(), event=None, status="open") -> list[Market]:
        return [
            m
            for m in self.markets.values()
            if (not series or m.series_ticker in series) and (not tickers or m.ticker in tickers)
        ]

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        """``books`` with our resting orders in them, as every venue shows books."""
        return self.present({t: self.books[t] for t in tickers if t in self.books})

    def set_book(self, b: OrderBook) -> list[Fill]:
        self.books[b.ticker] = b
        return self.account.on_book(b, self.now)

    # account
    def place_order(self, intent: OrderIntent) -> OrderAck:
        self.place_calls.append(intent)
        if self.before_place is not None:
            self.before_place(intent)
        if self.drop_request:
            raise OrderOutcomeUnknownError(
                "timeout: request never arrived", client_order_id=intent.client_order_id
            )
        ack = self.account.place(intent, self.books.get(intent.ticker), self.now)
        if self.lose_answer:
            raise OrderOutcomeUnknownError(
                "read timeout after send", client_order_id=intent.client_order_id
            )
        if self.conflict:
            raise ExchangeRejectedError("order already exists", status=409, code="conflict")
        return ack

    def _now(self) -> datetime:
        return self.now

    def user_data_as_of(self) -> datetime | None:
        """``as_of`` (None by default: freshness unknown, the fixed grace applies)."""
        return self.as_of

    def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        return []

    # test helpers
    def orders_for(self, client_order_id: str) -> list[Order]:
        return [
            s.order
            for s in self.account.orders.values()
            if s.order.client_order_id == client_order_id
        ]


def venue_exposure(account: SimAccount) -> dict[str, Decimal]:
    """Money at risk per market at a simulated venue (its truth, not the engine's tables):
    cost of the contracts held + remaining x price of resting buys."""
    out: dict[str, Decimal] = {}
    for p in account.positions():
        out[p.ticker] = out.get(p.ticker, D(0)) + p.cost.amount
    for o in account.open_orders():
        if o.action is Action.BUY:
            out[o.ticker] = out.get(o.ticker, D(0)) + o.remaining_count.value * o.price.value
    return {t: v for t, v in out.items() if v > 0}


def cap_violations(exp: Mapping[str, Decimal], markets: Mapping[str, Market],
                   lim: RiskLimits) -> list[str]:
    """Every cap of ``lim`` that the exposure ``exp`` (per ticker) exceeds, described."""
    bad = [f"market {t} {v}" for t, v in exp.items() if v > lim.max_position_per_market.amount]
    total = sum(exp.values(), D(0))
    if total > lim.max_portfolio_exposure.amount:
        bad.append(f"portfolio {total}")
    if lim.capital_cap is not None and total > lim.capital_cap.amount:
        bad.append(f"capital {total}")
    if len(exp) > lim.max_concurrent_positions:
        bad.append(f"{len(exp)} positions")
    for key, cap in (("event_ticker", lim.max_exposure_per_event),
                     ("series_ticker", lim.max_exposure_per_series)):
        groups: dict[str, Decimal] = {}
        for t, v in exp.items():
            g = getattr(markets[t], key)
            groups[g] = groups.get(g, D(0)) + v
        bad += [f"{key} {g} {v}" for g, v in groups.items() if v > cap.amount]
    return bad
