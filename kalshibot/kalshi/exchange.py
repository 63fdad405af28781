"""``KalshiExchange``: the ``Exchange`` protocol over Kalshi's REST API (demo or prod).

Without credentials it runs in public-data-only mode (``KalshiExchange.public``): market data
works, account methods raise ``AuthError``; the paper exchange uses it for real market data.

Conventions (``kalshibot.exchange``): prices are ``Price`` of the side named; orders and fills
read back from Kalshi are expressed canonically as a buy of their outcome side (see
``parsing``). ``place_order`` is sent exactly once; an unknown outcome raises
``OrderOutcomeUnknownError`` and is resolved with ``find_order_by_client_id``.

Spec 3.34 (``kalshi-api.md`` section 14):
- Markets carry their effective fees: the series' type and multiplier, the event's overrides
  (``GET /events?tickers=``, cached ``EVENT_TTL``) and the market's fee waiver. A market with a
  fee type, tick structure or status this version does not know is returned *untradeable*
  (``Market.untradeable``); a market that does not validate at all is skipped
  (``client.skipped``). Neither fails the listing.
- Shards: cancels and decreases are routed by ``market_ticker``; a 404 ``user_not_found`` is a
  ``WrongShardError`` naming the market.
- ``cancel_orders`` cancels many orders in one batched request (2 tokens per order);
  ``cancel_all_orders`` is Kalshi's account-wide cancel-all (direct members).
- GTC orders in series matching ``cancel_on_pause_series`` carry ``cancel_order_on_pause``.
- ``get_fills`` reads ``/portfolio/fills`` once per call and ``/historical/fills`` only for a
  span older than the historical cutoff that no earlier call covered (steady cycles: one
  request). ``user_data_as_of`` is ``/exchange/user_data_timestamp``: how fresh portfolio
  reads are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

import requests

from kalshibot.clock import Clock, SystemClock
from kalshibot.config import Environment, Settings
from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import (
    Balance,
    Event,
    ExchangeStatus,
    Market,
    Series,
    Settlement,
    series_of,
)
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Fill, Order, OrderAck, OrderIntent, Side, TimeInForce, Trade
from kalshibot.domain.portfolio import Position
from kalshibot.errors import ClockSkewError, KalshibotError, WrongShardError
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.auth import Signer
from kalshibot.kalshi.endpoints.client import KalshiClient, chunks
from kalshibot.kalshi.http import BASE_URLS, SKEW_WARN_S, HttpClient, skew_text
from kalshibot.kalshi.orders_v2 import BookSide, book_side_of
from kalshibot.kalshi.ratelimit import RateLimiter

log = logging.getLogger(__name__)

CUTOFF_TTL = timedelta(minutes=10)
EVENT_TTL = timedelta(minutes=10)
#: Orders per batched cancel request.
CANCEL_BATCH = 20


class KalshiExchange:
    """Live (or public-only) Kalshi venue. All network access goes through ``client``."""

    def __init__(self, client: KalshiClient, clock: Clock, *, refresh_limits: bool = False,
                 enrich_fees: bool = True, cancel_on_pause_series: Sequence[str] = ()) -> None:
        self.client = client
        self.clock = clock
        self._refresh_limits = refresh_limits and client.authenticated
        self._enrich_fees = enrich_fees
        self.cancel_on_pause_series = tuple(cancel_on_pause_series)
        self._series: dict[str, Series] = {}
        self._events: dict[str, tuple[datetime, Event]] = {}
        self._cutoff: tuple[datetime, w.WireHistoricalCutoff] | None = None
        # fills known to the caller: every fill from ``lo`` (None: the beginning) up to ``hi``
        self._fills_covered: tuple[datetime | None, datetime] | None = None
        self._ticker_of: dict[str, str] = {}  # order id -> market (to name it on shard errors)

    # construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls, environment: Environment, clock: Clock | None = None, *,
        signer: Signer | None = None, session: requests.Session | None = None,
        reads_per_s: float = 20.0, writes_per_s: float = 10.0,
        connect_timeout_s: float = 3.05, read_timeout_s: float = 10.0,
        refresh_limits: bool = True, base_url: str | None = None,
        cancel_on_pause_series: Sequence[str] = (),
    ) -> KalshiExchange:
        """``base_url`` overrides the environment's REST base (``KALSHIBOT_API_BASE_URL``)."""
        clock = clock or SystemClock()
        limiter = RateLimiter.for_clock(clock, reads_per_s, writes_per_s)
        http = HttpClient(base_url or BASE_URLS[environment], clock, signer=signer, session=session,
                          limiter=limiter, connect_timeout_s=connect_timeout_s,
                          read_timeout_s=read_timeout_s)
        return cls(KalshiClient(http), clock, refresh_limits=refresh_limits,
                   cancel_on_pause_series=cancel_on_pause_series)

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
                          base_url=settings.api_base_url,
                          cancel_on_pause_series=[p.strip() for p in
                                                  settings.cancel_on_pause_series.split(",")
                                                  if p.strip()])

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

    def get_events(self, event_tickers: Sequence[str]) -> dict[str, Event]:
        """Events (with their fee overrides) by ticker, cached for ``EVENT_TTL``; events the
        exchange does not return are absent."""
        now = self.clock.now()
        want = [t for t in dict.fromkeys(event_tickers)
                if t not in self._events or now - self._events[t][0] > EVENT_TTL]
        for chunk in chunks(want):
            for e in self.client.iter_events(tickers=chunk):
                self._events[e.event_ticker] = (now, p.parse_event(e))
        return {t: self._events[t][1] for t in event_tickers if t in self._events}

    @property
    def skipped_markets(self) -> list[tuple[str, str]]:
        """(ticker, reason) of listed markets that could not be read at all."""
        return list(self.client.skipped)

    def _markets(self, wires: Iterable[w.WireMarket]) -> list[Market]:
        unique: dict[str, w.WireMarket] = {}
        for m in wires:
            unique.setdefault(m.ticker, m)
        events: dict[str, Event] = {}
        if self._enrich_fees and unique:
            events = self.get_events([m.event_ticker for m in unique.values()])
        out: list[Market] = []
        for m in unique.values():
            series = self.get_series(series_of(m.event_ticker)) if self._enrich_fees else None
            market = p.parse_market(m, series, events.get(m.event_ticker))
            if series is not None and series.ticker != market.series_ticker:
                market = replace(market, series_ticker=series.ticker)
            out.append(market)
        return out

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
    def _pauses(self, intent: OrderIntent) -> bool:
        """Send ``cancel_order_on_pause``: a GTC order in a matching series."""
        series = series_of(intent.ticker)
        return intent.time_in_force is TimeInForce.GTC and any(
            fnmatchcase(series, pat) for pat in self.cancel_on_pause_series)

    def _shard(self, exc: WrongShardError, order_id: str, ticker: str | None) -> WrongShardError:
        market = ticker or self._ticker_of.get(order_id)
        where = f"market {market}" if market else "an unknown market"
        return WrongShardError(f"order {order_id} in {where}: {exc.message}", status=exc.status,
                               code=exc.code, hint=exc.hint)

    def place_order(self, intent: OrderIntent) -> OrderAck:
        r = self._account().create_order(intent, cancel_order_on_pause=self._pauses(intent))
        self._ticker_of[r.order_id] = intent.ticker
        return p.parse_order_ack(r, client_order_id=intent.client_order_id, side=intent.side)

    def cancel_order(self, order_id: str, ticker: str | None = None) -> None:
        ticker = ticker or self._ticker_of.get(order_id)
        try:
            self._account().cancel_order(order_id, ticker)
        except WrongShardError as exc:
            raise self._shard(exc, order_id, ticker) from None

    def cancel_orders(self, orders: Sequence[tuple[str, str | None]]) -> dict[str, str]:
        """Cancel ``(order_id, ticker)`` pairs with batched requests (``CANCEL_BATCH`` each);
        returns order id -> "" when cancelled, else the exchange's reason. A failed request
        raises (its orders' states are then unknown: read them)."""
        out: dict[str, str] = {}
        todo = [(oid, t or self._ticker_of.get(oid)) for oid, t in orders]
        for i in range(0, len(todo), CANCEL_BATCH):
            for item in self._account().batch_cancel_orders(todo[i:i + CANCEL_BATCH]):
                e = item.error
                out[item.order_id] = "" if e is None else \
                    f"{e.code or 'error'}: {e.message or ''}".strip()
        for oid, _t in todo:
            out.setdefault(oid, "not in the batch answer")
        return out

    def cancel_all_orders(self) -> None:
        """Kalshi's account-wide cancel-all (``DELETE /portfolio/events/orders``; direct
        members): every resting order on every shard, including orders not placed by this bot
        and any placed during the following minute."""
        self._account().cancel_all_orders()

    def user_data_as_of(self) -> datetime:
        """When Kalshi last validated the portfolio reads (orders, fills, positions)."""
        return self.client.get_user_data_timestamp()

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
        ticker = self._ticker_of.get(order_id)
        if ticker is None:
            ticker = self.get_order(order_id).ticker
        try:
            r = self._account().decrease_order(order_id, reduce_by=reduce_by,
                                               reduce_to=reduce_to, ticker=ticker)
        except WrongShardError as exc:
            raise self._shard(exc, order_id, ticker) from None
        return p.count(r.remaining_count, f"decrease {order_id} remaining_count")

    def get_order(self, order_id: str) -> Order:
        try:
            o = p.parse_order(self._account().get_order(order_id))
        except WrongShardError as exc:
            raise self._shard(exc, order_id, None) from None
        self._ticker_of[o.order_id] = o.ticker
        return o

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

    def _needs_history(self, since: datetime | None, now: datetime) -> bool:
        """Whether fills older than the historical cutoff may be missing from what earlier
        calls returned: ``since`` reaches further back than they covered, or the cutoff moved
        past the end of what they read (a stall longer than ``CUTOFF_TTL``)."""
        cov = self._fills_covered
        if cov is not None:
            lo, hi = cov
            if (lo is None or (since is not None and since >= lo)) \
                    and now - hi <= CUTOFF_TTL:
                return False  # older fills were returned before; the cutoff lags days
        cutoff = self._historical_cutoff().trades_created_ts
        if since is not None and since >= cutoff:
            return False
        return cov is None or cov[0] is not None and (since is None or since < cov[0]) \
            or cutoff > cov[1]

    def get_fills(self, since: datetime | None = None) -> list[Fill]:
        """Our fills at or after ``since`` (all when None), oldest first: one read of
        ``/portfolio/fills``, plus ``/historical/fills`` only when the span before the
        historical cutoff was not covered by an earlier call (``_needs_history``)."""
        client = self._account()
        now = self.clock.now()
        fills = [p.parse_fill(f) for f in client.iter_fills(min_ts=since)]
        if self._needs_history(since, now):
            seen = {f.fill_id for f in fills}
            fills += [f for f in (p.parse_fill(x) for x in client.iter_fills(historical=True))
                      if f.fill_id not in seen]
            lo: datetime | None = since
        else:
            cov = self._fills_covered
            lo = since if cov is None else (cov[0] if cov[0] is None or since is None
                                           else min(cov[0], since))
        self._fills_covered = (lo, now)
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
