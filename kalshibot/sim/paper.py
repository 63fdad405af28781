"""``PaperExchange``: real public market data (from any ``MarketData``, normally Kalshi's public
endpoints), orders filled locally by the shared ``SimAccount`` fill simulator. No real orders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from kalshibot.clock import Clock
from kalshibot.domain.book import OrderBook
from kalshibot.domain.fees import FeeSchedule
from kalshibot.domain.market import ExchangeStatus, Market, Settlement
from kalshibot.domain.money import Money
from kalshibot.domain.orders import Fill, OrderAck, OrderIntent
from kalshibot.domain.portfolio import Portfolio
from kalshibot.exchange import MarketData, with_market_updates
from kalshibot.sim.account import SimAccount, default_fees
from kalshibot.sim.venue import SimulatedAccountVenue


class PaperExchange(SimulatedAccountVenue):
    """The ``Exchange`` protocol: live data from ``data``, simulated account ``account``."""

    name = "paper"

    def __init__(self, data: MarketData, clock: Clock, account: SimAccount) -> None:
        self.data = data
        self.clock = clock
        self.account = account
        self._books: dict[str, OrderBook] = {}
        self._markets: dict[str, Market] = {}
        self._settled: dict[str, Settlement] = {}
        account.fees = self._fees_of

    def restore(self, fills: Sequence[Fill], settlements: Sequence[Settlement],
                cash: Money) -> None:
        """Rebuild the simulated account from the paper store after a restart: the starting
        ``cash`` plus every stored fill and settlement, in time order. Without it a restarted
        paper session's account is empty, so reconciliation finds every held position missing
        (entries blocked for good) and those positions never settle. Resting orders are not
        restored (they lived in the previous process)."""
        pf = Portfolio(cash, {})
        events: list[tuple[datetime, int, Fill | Settlement]] = [(f.ts, 0, f) for f in fills]
        events += [(s.settled_time, 1, s) for s in settlements]
        restored: list[Fill] = []
        for _, _kind, ev in sorted(events, key=lambda e: (e[0], e[1])):
            if isinstance(ev, Fill):
                restored.append(ev)
                pf = pf.with_fill(ev)
            else:
                pf = pf.with_settlement(ev.ticker, ev.result, ev.value)
                self._settled[ev.ticker] = ev
        self.account.portfolio = pf
        self.account.fills = restored + self.account.fills

    def _fees_of(self, ticker: str) -> FeeSchedule:
        m = self._markets.get(ticker)
        return m.fee_schedule if m is not None else default_fees(ticker)

    def get_exchange_status(self) -> ExchangeStatus:
        return self.data.get_exchange_status()

    def get_markets(
        self,
        *,
        series: Sequence[str] = (),
        tickers: Sequence[str] = (),
        event: str | None = None,
        status: str | None = "open",
    ) -> list[Market]:
        found = self.data.get_markets(series=series, tickers=tickers, event=event, status=status)
        self._markets.update({m.ticker: m for m in found})
        return found

    def market_updates(self, markets: Mapping[str, Market]) -> dict[str, Market]:
        """Streamed market changes of the data source (tick grids), if it streams any."""
        changed = with_market_updates(self.data, dict(markets))
        return {t: m for t, m in changed.items() if markets.get(t) is not m}

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        """Kalshi's public books with our simulated resting orders added, as Kalshi would show
        them (the simulated fills use the public books alone)."""
        books = self.data.get_orderbooks(tickers)
        now = self.clock.now()
        for t, b in books.items():
            self._books[t] = b
            if self.account.open_orders(t):
                self.account.on_book(b, now)
        return self.present(books)

    def place_order(self, intent: OrderIntent) -> OrderAck:
        book = self._books.get(intent.ticker)
        if book is None:
            books = self.data.get_orderbooks([intent.ticker])
            book = books.get(intent.ticker)
        return self.account.place(intent, book, self.clock.now())

    def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        """Settle positions whose markets have a result on the exchange."""
        for pos in self.account.positions():
            if pos.ticker in self._settled:
                continue
            found = self.data.get_markets(tickers=[pos.ticker], status=None)
            if found and found[0].result.value in ("yes", "no", "scalar"):
                m = found[0]
                yes_n = max(pos.qty.value, Decimal(0))
                no_n = max(-pos.qty.value, Decimal(0))
                revenue = self.account.settle(m.ticker, m.result, m.settlement_value)
                self._settled[m.ticker] = Settlement(
                    m.ticker, m.result, revenue, self.clock.now(), yes_n, no_n, m.settlement_value
                )
        return [s for s in self._settled.values() if since is None or s.settled_time >= since]

