"""The account side shared by the simulated venues (``SimExchange``, ``PaperExchange``).

Orders, fills, positions and balance of a ``SimAccount``, exposed through the ``Exchange``
protocol's account methods. Subclasses provide market data, ``place_order`` and settlements,
and set ``account`` and ``clock``; ``requests`` counts the calls (a simulated venue's
equivalent of HTTP requests, for benchmarks).

Books are presented as Kalshi presents them: with the account's own resting orders in them
(``present``); fills are still simulated against the market's book without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kalshibot.clock import Clock
from kalshibot.domain.book import OrderBook, own_levels
from kalshibot.domain.market import Balance
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Fill, Order
from kalshibot.domain.portfolio import Position
from kalshibot.errors import ExchangeRejectedError
from kalshibot.sim.account import SimAccount


class SimulatedAccountVenue:
    account: SimAccount
    clock: Clock
    requests: int = 0

    def _now(self) -> datetime:
        self.requests += 1
        return self.clock.now()

    def present(self, books: dict[str, OrderBook]) -> dict[str, OrderBook]:
        """``books`` as the exchange shows them: with the account's resting orders added."""
        orders = self.account.open_orders()
        if not orders:
            return books
        own = own_levels((o.ticker, o.side, o.action, o.price, o.remaining_count)
                         for o in orders)
        return {t: b.with_own(own[t]) if t in own else b for t, b in books.items()}

    def cancel_order(self, order_id: str, ticker: str | None = None) -> None:
        self.account.cancel(order_id, self._now())

    def cancel_orders(self, orders: Sequence[tuple[str, str | None]]) -> dict[str, str]:
        """One (simulated) batched request: order id -> "" when cancelled, else why not."""
        now = self._now()
        out: dict[str, str] = {}
        for oid, _ticker in orders:
            try:
                self.account.cancel(oid, now)
                out[oid] = ""
            except ExchangeRejectedError as exc:
                out[oid] = exc.code or str(exc)
        return out

    def user_data_as_of(self) -> datetime:
        """A simulated account is always up to date."""
        return self._now()

    def amend_order(self, order_id: str, ticker: str, price: Price, count: Count) -> Order:
        return self.account.amend(order_id, price, count, self._now())

    def get_order(self, order_id: str) -> Order:
        self._now()
        s = self.account.orders.get(order_id)
        if s is None:
            raise ExchangeRejectedError(f"order {order_id} not found", status=404, code="not_found")
        return s.order

    def find_order_by_client_id(
        self, client_order_id: str, *, ticker: str | None = None
    ) -> Order | None:
        self._now()
        oid = self.account.by_client_id.get(client_order_id)
        return None if oid is None else self.account.orders[oid].order

    def get_open_orders(self, ticker: str | None = None) -> list[Order]:
        self._now()
        return self.account.open_orders(ticker)

    def get_fills(self, since: datetime | None = None) -> list[Fill]:
        self._now()
        return self.account.fills_since(since)

    def get_positions(self) -> list[Position]:
        self._now()
        return self.account.positions()

    def get_balance(self) -> Balance:
        self._now()
        return self.account.balance()
