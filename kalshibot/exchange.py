"""The ``Exchange`` protocol: the one seam between the engine and a venue.

Implementations: ``kalshibot.kalshi.exchange.KalshiExchange`` (real API), and in ``kalshibot.sim``
``PaperExchange`` (real public data, simulated fills) and ``SimExchange`` (replayed store data,
simulated fills, simulated clock). Strategy, risk, execution and storage code never knows which.

Conventions: all prices are ``Price`` of the side named (a NO order carries a NO price); counts are
``Count``; times are aware UTC. Methods raise the typed errors of ``kalshibot.errors`` only.
``place_order`` raises ``OrderOutcomeUnknownError`` when the request may or may not have reached
the exchange; callers resolve it with ``find_order_by_client_id`` and never re-post blindly.
A killed fill-or-kill is ``OrderKilledError`` (409, nothing filled), never a duplicate id.

``cancel_orders`` cancels many orders in as few requests as the venue allows (Kalshi: one
batched request per 20 orders, 2 tokens each) and says per order whether it was cancelled.
``user_data_as_of`` is the time up to which the account reads (orders, fills, positions) are
known to be complete (Kalshi: ``/exchange/user_data_timestamp``; simulated venues: now), so
"the exchange has no such order" is only concluded for requests sent before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import Balance, ExchangeStatus, Market, Settlement
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Fill, Order, OrderAck, OrderIntent
from kalshibot.domain.portfolio import Position


@runtime_checkable
class MarketData(Protocol):
    """Public market data (no account needed)."""

    def get_exchange_status(self) -> ExchangeStatus: ...

    def get_markets(
        self,
        *,
        series: Sequence[str] = (),
        tickers: Sequence[str] = (),
        event: str | None = None,
        status: str | None = "open",
    ) -> list[Market]:
        """Markets matching any of ``series`` / ``tickers`` / ``event`` (``status`` uses the
        request vocabulary: unopened | open | closed | settled; None = any)."""
        ...

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        """Current books, fetched in as few requests as the venue allows."""
        ...


@runtime_checkable
class Exchange(MarketData, Protocol):
    """Market data plus an account: orders, fills, positions, balance, settlements."""

    def place_order(self, intent: OrderIntent) -> OrderAck: ...

    def cancel_order(self, order_id: str, ticker: str | None = None) -> None: ...

    def cancel_orders(self, orders: Sequence[tuple[str, str | None]]) -> dict[str, str]:
        """Cancel ``(order_id, ticker)`` pairs; order id -> "" when cancelled, else why not."""
        ...

    def user_data_as_of(self) -> datetime | None:
        """Account reads reflect everything up to this time (None: unknown)."""
        ...

    def amend_order(self, order_id: str, ticker: str, price: Price, count: Count) -> Order:
        """Change price and/or total count (filled + new remaining) of a resting order."""
        ...

    def get_order(self, order_id: str) -> Order: ...

    def find_order_by_client_id(
        self, client_order_id: str, *, ticker: str | None = None
    ) -> Order | None:
        """The order created with ``client_order_id``, or None if the exchange has none."""
        ...

    def get_open_orders(self, ticker: str | None = None) -> list[Order]: ...

    def get_fills(self, since: datetime | None = None) -> list[Fill]: ...

    def get_positions(self) -> list[Position]: ...

    def get_balance(self) -> Balance: ...

    def get_settlements(self, since: datetime | None = None) -> list[Settlement]: ...


@runtime_checkable
class MarketUpdates(Protocol):
    """A venue that streams changes to listed markets (the WebSocket ``market_lifecycle_v2``
    ``price_level_structure_updated`` event changes a market's tick grid while it trades)."""

    def market_updates(self, markets: Mapping[str, Market]) -> dict[str, Market]:
        """The markets of ``markets`` that changed since listed, as they are now."""
        ...


def with_market_updates(venue: object, markets: dict[str, Market]) -> dict[str, Market]:
    """``markets`` with the venue's streamed changes applied (the same dict when none)."""
    # what ``isinstance(venue, MarketUpdates)`` checks, without the protocol machinery's
    # per-call cost (this runs twice per backtest cycle)
    updates = getattr(venue, "market_updates", None)
    if updates is None:
        return markets
    changed = updates(markets)
    return {**markets, **changed} if changed else markets
