"""Market data the engine reads from: WebSocket-backed (default with keys) or REST polling.

Both implement ``kalshibot.exchange.MarketData`` (``get_exchange_status``, ``get_markets``,
``get_orderbooks``) plus ``staleness(tickers) -> {ticker: reason}``. ``get_orderbooks`` only
returns books that are **fresh**; a market whose book is stale is absent, and the engine then
records "no current order book" and makes no new entry there.

- ``WsMarketData``: books from ``WsFeed``. Markets asked for are watched automatically (the
  engine's discovery adds new 15-minute markets all the time). A book is stale when it has no
  snapshot yet or is resyncing after a gap, when the socket is down or silent for more than
  ``max_silence_s`` seconds, when ``max_book_age_s`` (optional) passed since its last change,
  or when the market is paused/closed (``market_lifecycle_v2``). Stale books (except closed or
  paused markets) are fetched from REST when ``rest_fallback`` is on, so a dead socket degrades
  to polling rather than to no data.
- ``RestMarketData``: each call polls REST; a book older than ``max_age_s`` is dropped.

``WsExchange`` wraps a full ``Exchange`` (live trading) so its books come from the socket while
orders, fills and positions stay on REST. ``market_updates`` (``exchange.MarketUpdates``) gives
listed markets whose tick grid a ``price_level_structure_updated`` event changed (the engine
applies them every cycle; an unusable new grid makes the market untradeable).
``build_market_data`` is the factory a session uses (README: WebSocket).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kalshibot.clock import Clock
from kalshibot.config import Settings
from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import Balance, ExchangeStatus, Market, Settlement
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Fill, Order, OrderAck, OrderIntent
from kalshibot.domain.portfolio import Position
from kalshibot.errors import KalshibotError
from kalshibot.exchange import Exchange, MarketData
from kalshibot.kalshi.auth import Signer
from kalshibot.ws.channels import INDEX_FOR_SYMBOL, FillSink, UserOrderSink
from kalshibot.ws.client import WS_PATH, WS_URLS
from kalshibot.ws.feed import WsFeed

log = logging.getLogger(__name__)


class RestMarketData:
    """REST polling (fallback; paper trading without keys). ``max_age_s`` in seconds."""

    kind = "rest"

    def __init__(self, rest: MarketData, clock: Clock, *, max_age_s: float = 30.0) -> None:
        self.rest = rest
        self.clock = clock
        self.max_age = timedelta(seconds=max_age_s)
        self._last: dict[str, OrderBook] = {}
        self.last_error = ""

    def get_exchange_status(self) -> ExchangeStatus:
        return self.rest.get_exchange_status()

    def get_markets(self, *, series: Sequence[str] = (), tickers: Sequence[str] = (),
                    event: str | None = None, status: str | None = "open") -> list[Market]:
        return self.rest.get_markets(series=series, tickers=tickers, event=event, status=status)

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        try:
            books = self.rest.get_orderbooks(tickers)
            self._last.update(books)
            self.last_error = ""
        except KalshibotError as exc:
            self.last_error = str(exc)
        now = self.clock.now()
        return {t: b for t in tickers if (b := self._last.get(t)) is not None
                and b.ts is not None and now - b.ts <= self.max_age}

    def staleness(self, tickers: Sequence[str]) -> dict[str, str]:
        now = self.clock.now()
        out: dict[str, str] = {}
        for t in tickers:
            b = self._last.get(t)
            if b is None or b.ts is None:
                out[t] = "no book fetched yet"
            elif now - b.ts > self.max_age:
                out[t] = f"book is {(now - b.ts).total_seconds():.0f} s old"
        return out

    def close(self) -> None:
        pass


class WsMarketData:
    """WebSocket-backed market data (see module docstring). Seconds for every duration."""

    kind = "ws"

    def __init__(self, feed: WsFeed, rest: MarketData | None, clock: Clock, *,
                 max_silence_s: float = 20.0, max_book_age_s: float | None = None,
                 rest_fallback: bool = True) -> None:
        self.feed = feed
        self.rest = rest
        self.clock = clock
        self.max_silence = timedelta(seconds=max_silence_s)
        self.max_book_age = None if max_book_age_s is None else timedelta(seconds=max_book_age_s)
        self.rest_fallback = rest_fallback and rest is not None
        self.fallback_books = 0
        self.last_error = ""
        self.fill_sink: FillSink | None = None
        self.order_sink: UserOrderSink | None = None
        self._conns: list[sqlite3.Connection] = []

    # --- MarketData --------------------------------------------------------------------
    def get_exchange_status(self) -> ExchangeStatus:
        if self.rest is None:
            return ExchangeStatus(exchange_active=True, trading_active=self.feed.connected)
        return self.rest.get_exchange_status()

    def get_markets(self, *, series: Sequence[str] = (), tickers: Sequence[str] = (),
                    event: str | None = None, status: str | None = "open") -> list[Market]:
        if self.rest is None:
            return []
        found = self.rest.get_markets(series=series, tickers=tickers, event=event,
                                      status=status)
        now = self.clock.now()
        self.feed.watch(m.ticker for m in found if m.close_time > now)
        changed = self.market_updates({m.ticker: m for m in found})
        return [changed.get(m.ticker, m) for m in found]

    def market_updates(self, markets: Mapping[str, Market]) -> dict[str, Market]:
        """Markets whose tick grid a lifecycle event changed (see module docstring)."""
        out: dict[str, Market] = {}
        for t, m in markets.items():
            change = self.feed.states.grid_change(t)
            if change is None:
                continue
            grid, problem = change
            if grid is not None and grid != m.tick_grid:
                out[t] = replace(m, tick_grid=grid)
            elif grid is None and problem not in m.untradeable:
                out[t] = replace(m, untradeable="; ".join(x for x in (m.untradeable, problem)
                                                          if x))
        return out

    def book(self, ticker: str) -> OrderBook | None:
        """The fresh socket book of one market (no REST), else None."""
        if self.reason(ticker):
            return None
        return self.feed.books.book(ticker)

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        self.feed.watch(tickers)
        out: dict[str, OrderBook] = {}
        fetch: list[str] = []
        now = self.clock.now()
        for t in tickers:
            reason = self.reason(t, now)
            b = None if reason else self.feed.books.book(t)
            if b is not None:
                out[t] = b
            elif not self.feed.states.blocked(t, now):
                fetch.append(t)
        if fetch and self.rest_fallback and self.rest is not None:
            try:
                got = self.rest.get_orderbooks(fetch)
                self.fallback_books += len(got)
                out.update(got)
                self.last_error = ""
            except KalshibotError as exc:
                self.last_error = f"REST fallback: {exc}"
        return out

    # --- staleness ---------------------------------------------------------------------
    def reason(self, ticker: str, now: datetime | None = None) -> str:
        """Why the socket book of ``ticker`` must not be used ("" when it is fresh)."""
        now = now or self.clock.now()
        blocked = self.feed.states.blocked(ticker, now)
        if blocked:
            return blocked
        if not self.feed.connected:
            return "websocket disconnected"
        alive = self.feed.last_alive
        if alive is None or now - alive > self.max_silence:
            return "websocket silent"
        st = self.feed.books.state(ticker)
        if st is None:
            return "no snapshot yet"
        synced, updated = st
        if not synced:
            return "resyncing after a gap"
        if self.max_book_age is not None and (updated is None
                                              or now - updated > self.max_book_age):
            return "book not updated recently"
        return ""

    def staleness(self, tickers: Sequence[str]) -> dict[str, str]:
        now = self.clock.now()
        return {t: r for t in tickers if (r := self.reason(t, now))}

    # --- extras for strategies ---------------------------------------------------------
    def index_value(self, symbol_or_index: str) -> Any:
        """Latest ``CfValue`` for ``BTC``/``ETH``/... or an index id (``BRTI``), else None."""
        key = symbol_or_index.upper()
        return self.feed.cf.latest(INDEX_FOR_SYMBOL.get(key, key))

    def close(self) -> None:
        self.feed.stop()
        for c in self._conns:
            with contextlib.suppress(sqlite3.Error):
                c.close()
        self._conns.clear()


class WsExchange:
    """An ``Exchange`` whose books (and status/markets) come from ``data``; everything about
    the account goes to ``inner`` (REST)."""

    def __init__(self, inner: Exchange, data: WsMarketData | RestMarketData) -> None:
        self.inner = inner
        self.data = data

    def get_exchange_status(self) -> ExchangeStatus:
        return self.inner.get_exchange_status()

    def get_markets(self, *, series: Sequence[str] = (), tickers: Sequence[str] = (),
                    event: str | None = None, status: str | None = "open") -> list[Market]:
        return self.data.get_markets(series=series, tickers=tickers, event=event, status=status)

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        return self.data.get_orderbooks(tickers)

    def market_updates(self, markets: Mapping[str, Market]) -> dict[str, Market]:
        return self.data.market_updates(markets) if isinstance(self.data, WsMarketData) else {}

    def place_order(self, intent: OrderIntent) -> OrderAck:
        return self.inner.place_order(intent)

    def cancel_order(self, order_id: str, ticker: str | None = None) -> None:
        self.inner.cancel_order(order_id, ticker)

    def cancel_orders(self, orders: Sequence[tuple[str, str | None]]) -> dict[str, str]:
        return self.inner.cancel_orders(orders)

    def user_data_as_of(self) -> datetime | None:
        return self.inner.user_data_as_of()

    def amend_order(self, order_id: str, ticker: str, price: Price, count: Count) -> Order:
        return self.inner.amend_order(order_id, ticker, price, count)

    def get_order(self, order_id: str) -> Order:
        return self.inner.get_order(order_id)

    def find_order_by_client_id(
        self, client_order_id: str, *, ticker: str | None = None
    ) -> Order | None:
        return self.inner.find_order_by_client_id(client_order_id, ticker=ticker)

    def get_open_orders(self, ticker: str | None = None) -> list[Order]:
        return self.inner.get_open_orders(ticker)

    def get_fills(self, since: datetime | None = None) -> list[Fill]:
        return self.inner.get_fills(since)

    def get_positions(self) -> list[Position]:
        return self.inner.get_positions()

    def get_balance(self) -> Balance:
        return self.inner.get_balance()

    def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        return self.inner.get_settlements(since)


def ws_url(settings: Settings) -> str:
    """The WebSocket URL: the environment's, or derived from ``KALSHIBOT_API_BASE_URL`` when
    that is set, so one setting moves REST and the socket together (a test set-up pointing
    REST at a fake never leaves the socket on real Kalshi). ``http(s)://host[:port][/prefix]
    /trade-api/v2`` -> ``ws(s)://host[:port][/prefix]/trade-api/ws/v2``."""
    base = settings.api_base_url
    if not base:
        return WS_URLS[settings.environment]
    parts = urlsplit(base.rstrip("/"))
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme.lower(), parts.scheme)
    prefix = parts.path.removesuffix("/trade-api/v2")
    return urlunsplit((scheme, parts.netloc, prefix + WS_PATH, "", ""))


def build_market_data(
    settings: Settings,
    clock: Clock,
    rest: MarketData,
    *,
    prefer_ws: bool = True,
    url: str | None = None,
    account: Exchange | None = None,
    db_path: Path | None = None,
    indices: Sequence[str] = (),
    max_silence_s: float = 20.0,
    max_book_age_s: float | None = None,
    start: bool = True,
    **client_kw: Any,
) -> WsMarketData | RestMarketData:
    """The market data a session should read from.

    WebSocket-backed when ``prefer_ws`` and API keys are configured (the socket needs an
    authenticated handshake), else REST polling over ``rest``. With ``account`` (the live
    ``Exchange``) and ``db_path`` (the session's database file), socket fills and order updates
    are stored at once on a dedicated connection (``FillSink`` / ``UserOrderSink``); the engine
    must fold ``md.fill_sink.drain_new()`` into its portfolio (README: WebSocket).
    ``indices`` are CF Benchmarks index ids (or coin symbols) to stream.
    """
    signer = Signer.from_settings(settings, clock) if prefer_ws else None
    if signer is None:
        return RestMarketData(rest, clock)
    feed = WsFeed(url or ws_url(settings), signer, clock, **client_kw)
    md = WsMarketData(feed, rest, clock, max_silence_s=max_silence_s,
                      max_book_age_s=max_book_age_s)
    if account is not None and db_path is not None:
        from kalshibot.store.connection import connect

        fconn, oconn = connect(db_path), connect(db_path)
        md._conns += [fconn, oconn]
        md.fill_sink = FillSink.for_store(fconn, account, clock)
        md.order_sink = UserOrderSink(oconn, clock)
        feed.on_fill.append(md.fill_sink)
        feed.on_order.append(md.order_sink)
        feed.subscribe_account()
    if indices:
        feed.watch_indices(INDEX_FOR_SYMBOL.get(i.upper(), i) for i in indices)
    if start:
        feed.start()
    return md
