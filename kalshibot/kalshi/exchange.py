"""``KalshiExchange``: the ``Exchange`` protocol over Kalshi's REST API (demo or prod).

Without credentials it runs in public-data-only mode (``KalshiExchange.public``): market data
works, account methods raise ``AuthError``; the paper exchange uses it for real market data.

Conventions (``kalshibot.exchange``): prices are ``Price`` of the side named; orders and fills
read back from Kalshi are expressed canonically as a buy of their outcome side (see
``parsing``). ``place_order`` is sent exactly once; an unknown outcome raises
``OrderOutcomeUnknownError`` and is resolved with ``find_order_by_client_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import requests

from kalshibot.clock import Clock, SystemClock
from kalshibot.config import Environment, Settings
from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import Balance, ExchangeStatus, Market, Series, Settlement
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Fill, Order, OrderAck, OrderIntent, Side, Trade
from kalshibot.domain.portfolio import Position
from kalshibot.errors import ClockSkewError, KalshibotError
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.auth import Signer
from kalshibot.kalshi.endpoints.client import KalshiClient, chunks
from kalshibot.kalshi.http import BASE_URLS, SKEW_WARN_S, HttpClient, skew_text
from kalshibot.kalshi.orders_v2 import BookSide, book_side_of
from kalshibot.kalshi.ratelimit import RateLimiter

log = logging.getLogger(__name__)

CUTOFF_TTL = timedelta(minutes=10)


class KalshiExchange:
    """Live (or public-only) Kalshi venue. All network access goes through ``client``."""

    def __init__(self, client: KalshiClient, clock: Clock, *, refresh_limits: bool = False,
                 enrich_fees: bool = True) -> None:
        self.client = client
        self.clock = clock
        self._refresh_limits = refresh_limits and client.authenticated
        self._enrich_fees = enrich_fees
        self._series: dict[str, Series] = {}
        self._cutoff: tuple[datetime, w.WireHistoricalCutoff] | None = None

    # construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls, environment: Environment, clock: Clock | None = None, *,
        signer: Signer | None = None, session: requests.Session | None = None,
        reads_per_s: float = 20.0, writes_per_s: float = 10.0,
        connect_timeout_s: float = 3.05, read_timeout_s: float = 10.0,
        refresh_limits: bool = True, base_url: str | None = None,
    ) -> KalshiExchange:
        """``base_url`` overrides the environment's REST base (``KALSHIBOT_API_BASE_URL``)."""
        clock = clock or SystemClock()
        limiter = RateLimiter.for_clock(clock, reads_per_s, writes_per_s)
        http = HttpClient(base_url or BASE_URLS[environment], clock, signer=signer, session=session,
                          limiter=limiter, connect_timeout_s=connect_timeout_s,
                          read_timeout_s=read_timeout_s)
        return cls(KalshiClient(http), clock, refresh_limits=refresh_limits)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None, *,
                      public_only: bool = False, session: requests.Session | None = None
                      ) -> KalshiExchange:
        """Signed when credentials are configured (and ``public_only`` is false)."""
        clock = clock or SystemClock()
        signer = None if public_only else Signer.from_settings(settings, clock)
        return cls.create(settings.environment, clock, signer=signer, session=session,
                          reads_per_s=settings.read_rate_per_s,
                          writes_per_s=settings.write_rate_per_s,
                          connect_timeout_s=settings.http_connect_timeout_s,
                          read_timeout_s=settings.http_read_timeout_s,
                          base_url=settings.api_base_url)

    @classmethod
    def public(cls, environment: Environment = Environment.PROD, clock: Clock | None = None,
               *, session: requests.Session | None = None) -> KalshiExchange:
        """Market data only, no keys needed."""
        return cls.create(environment, clock, session=session)

    @property
    def authenticated(self) -> bool:
        return self.client.authenticated

    def _account(self) -> KalshiClient:
        """The client, after the one-time rate-limit refresh for authenticated use."""
        if self._refresh_limits:
            self._refresh_limits = False
            try:
                limits = self.client.refresh_rate_limits()
                log.info("Kalshi API tier %s: read %s/s, write %s tokens/s", limits.usage_tier,
                         limits.read.refill_rate, limits.write.refill_rate)
            except KalshibotError as exc:  # keep the conservative defaults
                log.warning("could not read /account/limits, keeping defaults: %s", exc)
        return self.client

    def check_clock(self, max_skew_s: float) -> float | None:
        """Compare exchange time (the ``Date`` header of ``GET /exchange/status``) with the
        local clock: warn beyond ``SKEW_WARN_S``, ``ClockSkewError`` beyond ``max_skew_s``.
        Returns the skew in seconds (exchange minus local), None when no ``Date`` came back."""
        self.client.get_exchange_status()
        skew = self.client.http.skew_s
        if skew is None:
            log.warning("the exchange sent no Date header: clock skew not checked")
            return None
        if abs(skew) > max_skew_s:
            raise ClockSkewError(
                f"{skew_text(skew)} (more than KALSHIBOT_MAX_CLOCK_SKEW_S={max_skew_s:g} s): "
                "signed requests and order timestamps would be wrong",
                hint="sync the clock (NTP) before trading")
        if abs(skew) > SKEW_WARN_S:
            log.warning("%s; keep NTP in sync", skew_text(skew))
        return skew

    # market data --------------------------------------------------------------------------
    def get_exchange_status(self) -> ExchangeStatus:
        return p.parse_exchange_status(self.client.get_exchange_status())

    def get_series(self, series_ticker: str) -> Series:
        """Series (fee type and multiplier), cached for the life of this object."""
        s = self._series.get(series_ticker)
        if s is None:
            s = p.parse_series(self.client.get_series(series_ticker))
            self._series[series_ticker] = s
        return s

    def _markets(self, wires: Iterable[w.WireMarket]) -> list[Market]:
        out: dict[str, Market] = {}
        for m in wires:
            if m.ticker in out:
                continue
            market = p.parse_market(m)
            if self._enrich_fees:
                s = self.get_series(market.series_ticker)
                market = replace(market, fee_type=s.fee_type, fee_multiplier=s.fee_multiplier)
            out[m.ticker] = market
        return list(out.values())

    def get_markets(self, *, series: Sequence[str] = (), tickers: Sequence[str] = (),
                    event: str | None = None, status: str | None = "open") -> list[Market]:
        """Markets matching any of ``series`` / ``tickers`` / ``event`` (all when none given),
        de-duplicated, with fee type/multiplier from their series."""
        def wires() -> Iterable[w.WireMarket]:
            if not series and not tickers and event is None:
                yield from self.client.iter_markets(status=status)
            for s in series:
                yield from self.client.iter_markets(series_ticker=s, status=status)
            for chunk in chunks(tickers):
                yield from self.client.iter_markets(tickers=chunk, status=status)
            if event is not None:
                yield from self.client.iter_markets(event_ticker=event, status=status)
        return self._markets(wires())

    def get_market(self, ticker: str) -> Market:
        return self._markets([self.client.get_market(ticker)])[0]

    def get_orderbook(self, ticker: str, depth: int = 0) -> OrderBook:
        fp = self.client.get_orderbook(ticker, depth)
        return p.parse_orderbook(ticker, fp, self.clock.now())

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        """Books via ``/markets/orderbooks`` (100 tickers per request). Tickers the exchange
        returned no book for are absent from the result."""
        wires = self.client.get_orderbooks(tickers)
        now = self.clock.now()
        return {t: p.parse_orderbook(t, fp, now) for t, fp in wires.items()}

    def get_trades(self, ticker: str | None = None, since: datetime | None = None,
                   until: datetime | None = None) -> list[Trade]:
        return [p.parse_trade(t) for t in
                self.client.iter_trades(ticker=ticker, min_ts=since, max_ts=until)]

    def get_candles(self, series_ticker: str, ticker: str, start: datetime, end: datetime,
                    period_minutes: int = 1) -> list[p.Candle]:
        r = self.client.get_candlesticks(series_ticker, ticker, start, end, period_minutes)
        return [p.parse_candle(r.ticker, c) for c in r.candlesticks]

    # account ------------------------------------------------------------------------------
    def place_order(self, intent: OrderIntent) -> OrderAck:
        r = self._account().create_order(intent)
        return p.parse_order_ack(r, client_order_id=intent.client_order_id, side=intent.side)

    def cancel_order(self, order_id: str, ticker: str | None = None) -> None:
        self._account().cancel_order(order_id, ticker)

    def amend_order(self, order_id: str, ticker: str, price: Price, count: Count) -> Order:
        """``price`` is in the order's canonical side (``get_order(...).side``); ``count`` is
        the new total (filled + new remaining). Returns the order as read after the amend."""
        client = self._account()
        current = p.parse_order(client.get_order(order_id))
        book: BookSide = book_side_of(current.side, current.action)
        yes_price = price if current.side is Side.YES else price.complement()
        client.amend_order(order_id, ticker, book, yes_price, count)
        return p.parse_order(client.get_order(order_id))

    def decrease_order(self, order_id: str, *, reduce_by: Count | None = None,
                       reduce_to: Count | None = None) -> Count:
        """Shrink a resting order; returns the remaining count."""
        r = self._account().decrease_order(order_id, reduce_by=reduce_by, reduce_to=reduce_to)
        return p.count(r.remaining_count, f"decrease {order_id} remaining_count")

    def get_order(self, order_id: str) -> Order:
        return p.parse_order(self._account().get_order(order_id))

    def find_order_by_client_id(self, client_order_id: str, *, ticker: str | None = None
                                ) -> Order | None:
        """Scan orders (optionally of one ``ticker``) for ``client_order_id``."""
        for o in self._account().iter_orders(ticker=ticker):
            if o.client_order_id == client_order_id:
                return p.parse_order(o)
        return None

    def get_open_orders(self, ticker: str | None = None) -> list[Order]:
        return [p.parse_order(o) for o in
                self._account().iter_orders(ticker=ticker, status="resting")]

    def _historical_cutoff(self) -> w.WireHistoricalCutoff:
        now = self.clock.now()
        if self._cutoff is None or now - self._cutoff[0] > CUTOFF_TTL:
            self._cutoff = (now, self.client.get_historical_cutoff())
        return self._cutoff[1]

    def get_fills(self, since: datetime | None = None) -> list[Fill]:
        """Our fills at or after ``since`` (all when None), oldest first; reads
        ``/historical/fills`` too when ``since`` is before the historical cutoff."""
        client = self._account()
        fills = [p.parse_fill(f) for f in client.iter_fills(min_ts=since)]
        cutoff = self._historical_cutoff().trades_created_ts
        if since is None or since < cutoff:
            seen = {f.fill_id for f in fills}
            fills += [f for f in (p.parse_fill(x) for x in client.iter_fills(historical=True))
                      if f.fill_id not in seen]
        if since is not None:
            fills = [f for f in fills if f.ts >= since]
        return sorted(fills, key=lambda f: (f.ts, f.fill_id))

    def get_positions(self) -> list[Position]:
        return [p.parse_position(x) for x in self._account().iter_positions()]

    def get_balance(self) -> Balance:
        return p.parse_balance(self._account().get_balance())

    def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        out = [p.parse_settlement(s) for s in self._account().iter_settlements(min_ts=since)]
        if since is not None:
            out = [s for s in out if s.settled_time >= since]
        return sorted(out, key=lambda s: (s.settled_time, s.ticker))
