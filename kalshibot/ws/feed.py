"""``WsFeed``: one Kalshi WebSocket connection wired to the local books and channel boards.

Routing (on the client thread): ``orderbook_snapshot``/``orderbook_delta`` -> ``BookTracker``;
``ticker`` -> ``tickers`` (latest per market); ``trade`` -> ``on_trade`` listeners;
``fill`` -> ``on_fill`` listeners (e.g. ``FillSink``); ``user_order`` -> ``on_order`` listeners
(e.g. ``UserOrderSink``); ``market_lifecycle_v2`` -> ``states``; ``cfbenchmarks_value`` ->
``cf``. A ``seq`` gap in an order-book subscription asks for snapshots of that subscription's
markets with ``update_subscription``/``get_snapshot`` (a failed request resubscribes). A new
connection invalidates every book until its snapshot arrives.

A message that cannot be parsed is counted in ``bad_messages`` (the last few reasons in
``problems``) and skipped; it never drops the connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from kalshibot.clock import Clock
from kalshibot.domain.orders import Fill, Order, Trade
from kalshibot.errors import KalshibotError
from kalshibot.kalshi.auth import Signer
from kalshibot.ws import channels as ch
from kalshibot.ws.books import BookTracker
from kalshibot.ws.client import KalshiWsClient, Subscription

log = logging.getLogger(__name__)


class WsFeed:
    """See module docstring. ``book_channels`` are subscribed per watched market
    (``orderbook_delta`` always; ``ticker``/``trade`` optional)."""

    def __init__(self, url: str, signer: Signer | None, clock: Clock, *,
                 ticker: bool = True, trades: bool = False,
                 lifecycle: bool = True, **client_kw: Any) -> None:
        self.clock = clock
        self.books = BookTracker(clock.now, on_gap=self._on_gap, on_change=self._on_change)
        self.tickers: dict[str, ch.TickerUpdate] = {}
        self.states = ch.MarketStates()
        self.cf = ch.CfBenchmarks()
        self.on_trade: list[Callable[[Trade], None]] = []
        self.on_fill: list[Callable[[Fill], None]] = []
        self.on_order: list[Callable[[Order], None]] = []
        self.on_cf: list[Callable[[ch.CfValue], None]] = []
        self.on_book_change: list[Callable[[str], None]] = []
        self.bad_messages = 0
        self.problems: list[str] = []
        self.resync_requests = 0
        self._want_ticker = ticker
        self._want_trades = trades
        self._lock = threading.Lock()
        self._watched: list[str] = []
        self._book_sub: Subscription | None = None
        self._ticker_sub: Subscription | None = None
        self._trade_sub: Subscription | None = None
        self._cf_sub: Subscription | None = None
        self._cf5_sub: Subscription | None = None
        self._account: list[Subscription] = []
        self.client = KalshiWsClient(url, signer, clock=clock, on_message=self._route,
                                     on_connect=self._on_connect, **client_kw)
        if lifecycle:
            self.client.subscribe("market_lifecycle_v2")

    # --- control -----------------------------------------------------------------------
    def start(self) -> WsFeed:
        self.client.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self.client.stop(timeout_s)

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def last_alive(self) -> datetime | None:
        return self.client.last_alive

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._watched)

    def watch(self, tickers: Iterable[str]) -> list[str]:
        """Stream books (and ticker/trade when enabled) of ``tickers``; returns the new ones."""
        with self._lock:
            new = [t for t in dict.fromkeys(tickers) if t not in self._watched]
            if not new:
                return []
            self._watched.extend(new)
            first = self._book_sub is None
        if first:
            self._book_sub = self.client.subscribe("orderbook_delta", market_tickers=new)
            if self._want_ticker:
                self._ticker_sub = self.client.subscribe("ticker", market_tickers=new)
            if self._want_trades:
                self._trade_sub = self.client.subscribe("trade", market_tickers=new)
        else:
            for sub in (self._book_sub, self._ticker_sub, self._trade_sub):
                if sub is not None:
                    self.client.update_subscription(sub, "add_markets", market_tickers=new)
        return new

    def unwatch(self, tickers: Iterable[str]) -> None:
        gone = [t for t in tickers if t in self._watched]
        if not gone:
            return
        with self._lock:
            self._watched = [t for t in self._watched if t not in gone]
        for sub in (self._book_sub, self._ticker_sub, self._trade_sub):
            if sub is not None:
                self.client.update_subscription(sub, "delete_markets", market_tickers=gone)
        self.books.drop(gone)

    def watch_indices(self, index_ids: Iterable[str], *, hz5: bool = False) -> None:
        """Subscribe to ``cfbenchmarks_value`` (``hz5``: ``cfbenchmarks_value_5hz``, BTC, ETH,
        SOL, XRP and DOGE only) for these index ids (e.g. ``["BRTI"]``)."""
        ids = list(dict.fromkeys(index_ids))
        if not ids:
            return
        channel = "cfbenchmarks_value_5hz" if hz5 else "cfbenchmarks_value"
        sub = self._cf5_sub if hz5 else self._cf_sub
        if sub is None:
            sub = self.client.subscribe(channel, index_ids=ids)
            if hz5:
                self._cf5_sub = sub
            else:
                self._cf_sub = sub
        else:
            self.client.update_subscription(sub, "subscribe_indices", index_ids=ids)

    def subscribe_account(self, *, fills: bool = True, orders: bool = True) -> None:
        """Our own fills and order updates (all markets; needs an authenticated connection)."""
        if fills:
            self._account.append(self.client.subscribe("fill"))
        if orders:
            self._account.append(self.client.subscribe("user_orders"))

    # --- routing (client thread) -------------------------------------------------------
    def _on_connect(self, n: int) -> None:
        self.books.invalidate_all()

    def _on_gap(self, sid: int, tickers: list[str]) -> None:
        sub = self.client.subscription_for_sid(sid)
        if sub is None:
            return
        self.resync_requests += 1
        log.info("ws: seq gap on sid %s; requesting snapshots of %d market(s)", sid,
                 len(tickers))
        if self.client.update_subscription(sub, "get_snapshot",
                                           market_tickers=tickers) is None:
            self.client.resubscribe(sub)

    def _on_change(self, ticker: str) -> None:
        for cb in self.on_book_change:
            cb(ticker)

    def _route(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        try:
            if kind == "orderbook_delta":
                self.books.on_delta(msg)
            elif kind == "orderbook_snapshot":
                self.books.on_snapshot(msg)
            elif kind in ("ok", "unsubscribed"):
                sid, seq = msg.get("sid"), msg.get("seq")
                if isinstance(sid, int) and isinstance(seq, int):
                    sub = self.client.subscription_for_sid(sid)
                    if sub is not None and sub.channel == "orderbook_delta":
                        self.books.observe_seq(sid, seq)
            elif kind == "ticker":
                u = ch.parse_ticker(msg)
                self.tickers[u.ticker] = u
            elif kind == "trade":
                t = ch.parse_trade(msg)
                for cb in self.on_trade:
                    cb(t)
            elif kind == "fill":
                f = ch.parse_fill(msg)
                for fcb in self.on_fill:
                    fcb(f)
            elif kind == "user_order":
                o = ch.parse_user_order(msg)
                for ocb in self.on_order:
                    ocb(o)
            elif kind == "market_lifecycle_v2":
                self.states.apply(ch.parse_lifecycle(msg))
            elif kind in ("cfbenchmarks_value", "cfbenchmarks_value_5hz"):
                v = (ch.parse_cfbenchmarks(msg) if kind == "cfbenchmarks_value"
                     else ch.parse_cfbenchmarks_5hz(msg))
                self.cf.apply(v)
                for vcb in self.on_cf:
                    vcb(v)
        except (KalshibotError, KeyError, TypeError, ValueError) as exc:
            self.bad_messages += 1
            self.problems.append(f"{kind}: {type(exc).__name__}: {exc}")
            del self.problems[:-20]
            log.warning("ws: bad %s message: %s", kind, exc)
