"""``KalshiClient``: one method per Kalshi REST endpoint the bot uses; returns wire models.

Times in query parameters are Unix **seconds**. Paginated endpoints are iterators over items
(pages are fetched lazily). Portfolio and order endpoints need a signer (``AuthError`` without
one); market data works in public-only mode. Order writes are sent once (see ``http``).

Exchange shards (spec 3.34): create and amend route by ``ticker``, cancel and decrease by
``market_ticker`` (auto-routing; without it a request goes to shard 0). A market in a listing
that does not validate is skipped and recorded in ``skipped`` (ticker, reason); the rest of the
page loads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from kalshibot.clock import ensure_utc
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import OrderIntent
from kalshibot.errors import DataError, KalshibotError
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.http import HttpClient
from kalshibot.kalshi.orders_v2 import (
    BookSide,
    SelfTradePrevention,
    amend_body,
    decrease_body,
    intent_to_v2,
)
from kalshibot.kalshi.ratelimit import requests_per_second

log = logging.getLogger(__name__)

#: Most tickers per batch request (``/markets/orderbooks``, ``/markets/candlesticks``).
BATCH_TICKERS = 100
PAGE_LIMIT = 1000
ORDERS_PATH = "/portfolio/events/orders"


def epoch_s(ts: datetime | None) -> int | None:
    """Unix seconds (floor) of an aware datetime, or None."""
    return None if ts is None else int(ensure_utc(ts).timestamp())


def chunks(items: Sequence[str], size: int = BATCH_TICKERS) -> Iterator[list[str]]:
    seen: dict[str, None] = dict.fromkeys(items)  # de-duplicate, keep order
    unique = list(seen)
    for i in range(0, len(unique), size):
        yield unique[i:i + size]


class KalshiClient:
    """Thin typed wrapper over ``HttpClient`` for the endpoints in ``kalshi-api.md`` section 4."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http
        #: (ticker or "?", reason) of listed markets that did not validate (newest last).
        self.skipped: list[tuple[str, str]] = []

    @property
    def authenticated(self) -> bool:
        return self.http.authenticated

    def _items(self, path: str, params: dict[str, Any], page_model: type[w.W], key: str,
               *, auth: bool | None = None) -> Iterator[Any]:
        for page in self.http.paginate(path, params, auth=auth):
            yield from getattr(w.load(page_model, page, f"GET {path}"), key)

    # exchange -----------------------------------------------------------------------------
    def get_exchange_status(self) -> w.WireExchangeStatus:
        """503/504 with a status body mean maintenance: returned, not raised."""
        body = self.http.get("/exchange/status", ok_statuses=frozenset({503, 504}))
        return w.load(w.WireExchangeStatus, body, "GET /exchange/status")

    def get_exchange_schedule(self) -> w.WireExchangeSchedule:
        return w.load(w.WireExchangeSchedule, self.http.get("/exchange/schedule"),
                      "GET /exchange/schedule")

    def get_historical_cutoff(self) -> w.WireHistoricalCutoff:
        return w.load(w.WireHistoricalCutoff, self.http.get("/historical/cutoff"),
                      "GET /historical/cutoff")

    def get_account_limits(self) -> w.WireAccountLimits:
        return w.load(w.WireAccountLimits, self.http.get("/account/limits", auth=True),
                      "GET /account/limits")

    def get_endpoint_costs(self) -> w.WireEndpointCosts:
        return w.load(w.WireEndpointCosts, self.http.get("/account/endpoint_costs", auth=True),
                      "GET /account/endpoint_costs")

    def get_user_data_timestamp(self) -> datetime:
        """When the portfolio reads were last validated (``/exchange/user_data_timestamp``)."""
        body = self.http.get("/exchange/user_data_timestamp")
        return w.load(w.WireUserDataTimestamp, body,
                      "GET /exchange/user_data_timestamp").as_of_time

    def refresh_rate_limits(self) -> w.WireAccountLimits:
        """Set the local read/write buckets from ``GET /account/limits`` and the token cost of
        each endpoint from ``GET /account/endpoint_costs`` (the built-in costs stay if that
        read fails)."""
        limits = self.get_account_limits()
        try:
            costs = self.get_endpoint_costs()
            self.http.costs.set(costs.default_cost,
                                [(c.method, c.path, c.cost) for c in costs.endpoint_costs])
            default = costs.default_cost
        except KalshibotError as exc:
            log.warning("could not read /account/endpoint_costs, keeping built-in costs: %s",
                        exc)
            default = self.http.costs.default_cost
        self.http.limiter.set_rates(requests_per_second(limits.read.refill_rate, default),
                                    requests_per_second(limits.write.refill_rate, default))
        return limits

    # series, events, markets ---------------------------------------------------------------
    def get_series(self, series_ticker: str) -> w.WireSeries:
        path = f"/series/{series_ticker}"
        return w.load(w.WireSeriesResponse, self.http.get(path), f"GET {path}").series

    def iter_events(self, *, series_ticker: str | None = None, status: str | None = None,
                    with_nested_markets: bool = False, tickers: Sequence[str] = (),
                    ) -> Iterator[w.WireEvent]:
        """Events (with their fee overrides); ``tickers``: these event tickers only."""
        params: dict[str, Any] = {"series_ticker": series_ticker, "status": status, "limit": 200,
                                  "tickers": ",".join(tickers) if tickers else None}
        if with_nested_markets:
            params["with_nested_markets"] = "true"
        return self._items("/events", params, w.WireEventsPage, "events")

    def get_event(self, event_ticker: str) -> w.WireEventResponse:
        path = f"/events/{event_ticker}"
        return w.load(w.WireEventResponse, self.http.get(path), f"GET {path}")

    def iter_markets(
        self, *, series_ticker: str | None = None, event_ticker: str | None = None,
        status: str | None = None, tickers: Sequence[str] = (),
        min_close_ts: datetime | None = None, max_close_ts: datetime | None = None,
        historical: bool = False,
    ) -> Iterator[w.WireMarket]:
        """Markets by filter. ``status`` uses the request vocabulary (unopened | open | closed |
        settled); ``historical`` reads ``/historical/markets`` (past the cutoff)."""
        params: dict[str, Any] = {
            "series_ticker": series_ticker, "event_ticker": event_ticker,
            "tickers": ",".join(tickers) if tickers else None, "limit": PAGE_LIMIT,
        }
        if not historical:
            params.update(status=status, min_close_ts=epoch_s(min_close_ts),
                          max_close_ts=epoch_s(max_close_ts))
        path = "/historical/markets" if historical else "/markets"
        return self._market_items(path, params)

    def _market_items(self, path: str, params: dict[str, Any]) -> Iterator[w.WireMarket]:
        """Each listed market validated on its own: a malformed one is skipped (``skipped``)."""
        for page in self.http.paginate(path, params):
            items = w.load(w.WireMarketsPage, page, f"GET {path}").markets
            for raw in items or ():
                try:
                    yield w.load(w.WireMarket, raw, f"GET {path} market")
                except DataError as exc:
                    tk = raw.get("ticker") if isinstance(raw, dict) else None
                    self.skipped.append((str(tk or "?"), exc.message))
                    del self.skipped[:-100]
                    log.warning("skipped market %s: %s", tk or "?", exc.message)

    def get_market(self, ticker: str, *, historical: bool = False) -> w.WireMarket:
        path = f"/historical/markets/{ticker}" if historical else f"/markets/{ticker}"
        return w.load(w.WireMarketResponse, self.http.get(path), f"GET {path}").market

    # books, trades, candles ----------------------------------------------------------------
    def get_orderbook(self, ticker: str, depth: int = 0) -> w.WireOrderbookFp:
        path = f"/markets/{ticker}/orderbook"
        body = self.http.get(path, {"depth": depth or None})
        return w.load(w.WireOrderbookResponse, body, f"GET {path}").orderbook_fp

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, w.WireOrderbookFp]:
        """Books for many markets via ``/markets/orderbooks``, ``BATCH_TICKERS`` per request."""
        out: dict[str, w.WireOrderbookFp] = {}
        for chunk in chunks(tickers):
            body = self.http.get("/markets/orderbooks", {"tickers": chunk})
            for ob in w.load(w.WireOrderbooksResponse, body, "GET /markets/orderbooks").orderbooks:
                out[ob.ticker] = ob.orderbook_fp
        return out

    def iter_trades(self, *, ticker: str | None = None, min_ts: datetime | None = None,
                    max_ts: datetime | None = None, historical: bool = False
                    ) -> Iterator[w.WireTrade]:
        params = {"ticker": ticker, "min_ts": epoch_s(min_ts), "max_ts": epoch_s(max_ts),
                  "limit": PAGE_LIMIT}
        path = "/historical/trades" if historical else "/markets/trades"
        return self._items(path, params, w.WireTradesPage, "trades")

    def get_candlesticks(self, series_ticker: str, ticker: str, start: datetime, end: datetime,
                         period_minutes: int = 1) -> w.WireCandlesticksResponse:
        path = f"/series/{series_ticker}/markets/{ticker}/candlesticks"
        params = {"start_ts": epoch_s(start), "end_ts": epoch_s(end),
                  "period_interval": period_minutes}
        return w.load(w.WireCandlesticksResponse, self.http.get(path, params), f"GET {path}")

    def get_candlesticks_batch(self, tickers: Sequence[str], start: datetime, end: datetime,
                               period_minutes: int = 1) -> list[w.WireMarketCandlesticks]:
        out: list[w.WireMarketCandlesticks] = []
        for chunk in chunks(tickers):
            params = {"market_tickers": ",".join(chunk), "start_ts": epoch_s(start),
                      "end_ts": epoch_s(end), "period_interval": period_minutes}
            body = self.http.get("/markets/candlesticks", params)
            out.extend(w.load(w.WireBatchCandlesticksResponse, body,
                              "GET /markets/candlesticks").markets)
        return out

    def get_historical_candlesticks(self, ticker: str, start: datetime, end: datetime,
                                    period_minutes: int = 1
                                    ) -> w.WireCandlesticksHistoricalResponse:
        path = f"/historical/markets/{ticker}/candlesticks"
        params = {"start_ts": epoch_s(start), "end_ts": epoch_s(end),
                  "period_interval": period_minutes}
        return w.load(w.WireCandlesticksHistoricalResponse, self.http.get(path, params),
                      f"GET {path}")

    # portfolio (authenticated) -------------------------------------------------------------
    def get_balance(self) -> w.WireBalance:
        return w.load(w.WireBalance, self.http.get("/portfolio/balance", auth=True),
                      "GET /portfolio/balance")

    def iter_positions(self, *, ticker: str | None = None, event_ticker: str | None = None,
                       count_filter: str | None = "position") -> Iterator[w.WireMarketPosition]:
        params = {"ticker": ticker, "event_ticker": event_ticker, "count_filter": count_filter,
                  "limit": PAGE_LIMIT}
        return self._items("/portfolio/positions", params, w.WirePositionsPage,
                           "market_positions", auth=True)

    def iter_fills(self, *, ticker: str | None = None, order_id: str | None = None,
                   min_ts: datetime | None = None, max_ts: datetime | None = None,
                   historical: bool = False) -> Iterator[w.WireFill]:
        params = {"ticker": ticker, "order_id": order_id, "max_ts": epoch_s(max_ts),
                  "limit": PAGE_LIMIT}
        if not historical:
            params["min_ts"] = epoch_s(min_ts)
        path = "/historical/fills" if historical else "/portfolio/fills"
        return self._items(path, params, w.WireFillsPage, "fills", auth=True)

    def iter_settlements(self, *, ticker: str | None = None, min_ts: datetime | None = None,
                         max_ts: datetime | None = None) -> Iterator[w.WireSettlement]:
        params = {"ticker": ticker, "min_ts": epoch_s(min_ts), "max_ts": epoch_s(max_ts),
                  "limit": PAGE_LIMIT}
        return self._items("/portfolio/settlements", params, w.WireSettlementsPage,
                           "settlements", auth=True)

    def iter_orders(self, *, ticker: str | None = None, event_ticker: str | None = None,
                    status: str | None = None, min_ts: datetime | None = None,
                    historical: bool = False) -> Iterator[w.WireOrder]:
        """Orders; ``status`` is resting | canceled | executed."""
        params = {"ticker": ticker, "limit": PAGE_LIMIT}
        if not historical:
            params.update(event_ticker=event_ticker, status=status, min_ts=epoch_s(min_ts))
        path = "/historical/orders" if historical else "/portfolio/orders"
        return self._items(path, params, w.WireOrdersPage, "orders", auth=True)

    def get_order(self, order_id: str) -> w.WireOrder:
        path = f"/portfolio/orders/{order_id}"
        return w.load(w.WireOrderResponse, self.http.get(path, auth=True), f"GET {path}").order

    # order writes (never retried) ----------------------------------------------------------
    def create_order(
        self, intent: OrderIntent, *,
        self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS,
        expiration_time: datetime | None = None, cancel_order_on_pause: bool = False,
    ) -> w.WireCreateOrderResponse:
        """``POST /portfolio/events/orders`` once. Unknown outcome -> ``OrderOutcomeUnknownError``
        (with the ``client_order_id``); 409 -> ``DuplicateClientOrderIdError`` (a killed
        fill-or-kill: ``OrderKilledError``)."""
        body = intent_to_v2(intent, self_trade_prevention=self_trade_prevention,
                            expiration_time=expiration_time,
                            cancel_order_on_pause=cancel_order_on_pause)
        ids = [intent.client_order_id]
        answer = self.http.write("POST", ORDERS_PATH, body, client_order_ids=ids)
        try:
            return w.load(w.WireCreateOrderResponse, answer, f"POST {ORDERS_PATH}")
        except DataError as exc:  # accepted, but we cannot tell what was created
            raise self.http.unknown_outcome(f"POST {ORDERS_PATH}", exc.message, ids) from exc

    def batch_create_orders(self, intents: Sequence[OrderIntent]) -> list[w.WireBatchCreateItem]:
        """One batched create; per-item results carry their own ``error``."""
        body = {"orders": [intent_to_v2(i) for i in intents]}
        ids = [i.client_order_id for i in intents]
        path = f"{ORDERS_PATH}/batched"
        answer = self.http.write("POST", path, body, client_order_ids=ids, items=len(intents))
        try:
            return w.load(w.WireBatchCreateResponse, answer, f"POST {path}").orders
        except DataError as exc:
            raise self.http.unknown_outcome(f"POST {path}", exc.message, ids) from exc

    def cancel_order(self, order_id: str, ticker: str | None = None) -> w.WireCancelOrderResponse:
        path = f"{ORDERS_PATH}/{order_id}"
        answer = self.http.write("DELETE", path, params={"market_ticker": ticker})
        return w.load(w.WireCancelOrderResponse, answer, f"DELETE {path}")

    def batch_cancel_orders(self, orders: Sequence[tuple[str, str | None]]
                            ) -> list[w.WireBatchCancelItem]:
        """Cancel ``(order_id, ticker or None)`` pairs in one request."""
        items: list[dict[str, Any]] = []
        for oid, ticker in orders:
            item: dict[str, Any] = {"order_id": oid}
            if ticker:
                item["market_ticker"] = ticker
            items.append(item)
        path = f"{ORDERS_PATH}/batched"
        answer = self.http.write("DELETE", path, {"orders": items}, items=len(items))
        return w.load(w.WireBatchCancelResponse, answer, f"DELETE {path}").orders

    def cancel_all_orders(self, *, subaccount: int | None = None) -> None:
        """``DELETE /portfolio/events/orders``: every resting order of the account on every
        shard (a direct-member endpoint per spec 3.34; orders placed during the next minute may
        be cancelled too). 204 on success."""
        self.http.write("DELETE", ORDERS_PATH, params={"subaccount": subaccount})

    def amend_order(self, order_id: str, ticker: str, book_side: BookSide, yes_price: Price,
                    total_count: Count, *, client_order_id: str | None = None,
                    updated_client_order_id: str | None = None) -> w.WireAmendOrderResponse:
        """Change YES price and/or total count (filled + new remaining)."""
        path = f"{ORDERS_PATH}/{order_id}/amend"
        body = amend_body(ticker, book_side, yes_price, total_count,
                          client_order_id=client_order_id,
                          updated_client_order_id=updated_client_order_id)
        return w.load(w.WireAmendOrderResponse, self.http.write("POST", path, body),
                      f"POST {path}")

    def decrease_order(self, order_id: str, *, reduce_by: Count | None = None,
                       reduce_to: Count | None = None, ticker: str | None = None
                       ) -> w.WireDecreaseOrderResponse:
        """Routed to the market's shard by ``ticker`` (``market_ticker``)."""
        path = f"{ORDERS_PATH}/{order_id}/decrease"
        body = decrease_body(reduce_by=reduce_by, reduce_to=reduce_to, market_ticker=ticker)
        return w.load(w.WireDecreaseOrderResponse, self.http.write("POST", path, body),
                      f"POST {path}")
