"""A fake Kalshi REST server for ingest tests, built from the shared fixture shapes.

``FakeKalshi`` answers through ``responses`` callbacks: markets (paged), series, events,
historical cutoff, candlesticks, trades (paged by cursor, filtered by min/max_ts), batch order
books. ``fail[(path, cursor)] = n`` makes the next ``n`` such requests fail with a connection
error. All bodies are copies of ``../shared/fixtures/kalshi`` with varied ids, times and prices.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from kalshibot.clock import SimClock
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.http import HttpClient
from kalshibot.store import open_store
from tests.kalshi.helpers import BASE, fixture_json

#: Now for the tests: after the three fixture markets opened (18:45, 19:00, 19:15 UTC).
NOW = datetime(2026, 11, 20, 19, 20, 0, tzinfo=UTC)
SERIES = "KXSOL15M"
ACTIVE = "KXSOL15M-26NOV201415-15"  # 19:00-19:15, status active in the fixture
FINAL = "KXSOL15M-26NOV201400-00"  # 18:45-19:00, finalized, result yes
NEXT = "KXSOL15M-26NOV201430-30"  # 19:15-19:30


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_trades(ticker: str, start: datetime, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` trades from the fixture shape, one every 37 s from ``start``, newest first."""
    base = fixture_json("get_markets_trades")["trades"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = copy.deepcopy(base[i % len(base)])
        cents = rng.randint(30, 70)
        t["trade_id"] = f"{ticker}-t{i:04d}"
        t["ticker"] = ticker
        t["yes_price_dollars"] = f"0.{cents:02d}00"
        t["no_price_dollars"] = f"0.{100 - cents:02d}00"
        t["count_fp"] = f"{rng.randint(1, 40)}.00"
        t["created_time"] = _iso(start + timedelta(seconds=37 * i + 1))
        out.append(t)
    return sorted(out, key=lambda t: t["created_time"], reverse=True)


class FakeKalshi:
    """Stateful fake of the public endpoints ``data sync``/``data record`` use."""

    def __init__(self, rsps: responses.RequestsMock, *, market_page: int = 1,
                 trade_page: int = 2) -> None:
        self.markets: list[dict[str, Any]] = fixture_json("get_markets")["markets"]
        self.historical_markets: list[dict[str, Any]] = []
        self.market_page = market_page
        self.trade_page = trade_page
        self.trades: dict[str, list[dict[str, Any]]] = {
            ACTIVE: make_trades(ACTIVE, datetime(2026, 11, 20, 19, 0, tzinfo=UTC), 6, 1),
            FINAL: make_trades(FINAL, datetime(2026, 11, 20, 18, 45, tzinfo=UTC), 2, 2),
        }
        self.cutoff = datetime(2026, 11, 1, tzinfo=UTC)
        self.fail: dict[tuple[str, str | None], int] = {}
        self.book = fixture_json("get_market_orderbook")["orderbook_fp"]
        self.candle = fixture_json("get_series_markets_candlesticks")["candlesticks"][0]
        self.calls: list[tuple[str, dict[str, str]]] = []
        rsps.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/.*"),
                          callback=self._dispatch)

    # -- routing -------------------------------------------------------------------------
    def _dispatch(self, req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        url = urlparse(req.url or "")
        path = url.path.split("/trade-api/v2", 1)[1]
        # repeated keys (``tickers=a&tickers=b``) are joined like a csv list
        q = {k: ",".join(v) for k, v in parse_qs(url.query).items()}
        self.calls.append((path, q))
        key = (path, q.get("cursor"))
        if self.fail.get(key, 0) > 0:
            self.fail[key] -= 1
            raise requests.ConnectionError(f"injected failure on {path} cursor={key[1]}")
        body = self._route(path, q)
        if body is None:
            return 404, {}, json.dumps({"error": {"code": "not_found", "message": path}})
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _route(self, path: str, q: dict[str, str]) -> Any:
        if path == "/markets":
            return self._markets(self.markets, q, live=True)
        if path == "/historical/markets":
            return self._markets(self.historical_markets, q, live=False)
        if path == "/historical/cutoff":
            c = _iso(self.cutoff)
            return {"market_settled_ts": c, "trades_created_ts": c, "orders_updated_ts": c}
        if m := re.fullmatch(r"/series/([^/]+)", path):
            return {"series": {"ticker": m[1], "title": f"{m[1]} title",
                               "frequency": "fifteen_min", "fee_type": "quadratic",
                               "fee_multiplier": 1}}
        if m := re.fullmatch(r"/events/([^/]+)", path):
            return {"event": {"event_ticker": m[1], "series_ticker": m[1].split("-")[0],
                              "title": f"event {m[1]}", "mutually_exclusive": False},
                    "markets": []}
        if m := re.fullmatch(r"/series/[^/]+/markets/([^/]+)/candlesticks", path):
            return {"ticker": m[1], "candlesticks": self._candles(q, historical=False)}
        if m := re.fullmatch(r"/historical/markets/([^/]+)/candlesticks", path):
            return {"ticker": m[1], "candlesticks": self._candles(q, historical=True)}
        if path in ("/markets/trades", "/historical/trades"):
            return self._trades(q, historical=path.startswith("/historical"))
        if path == "/markets/orderbooks":
            tickers = q["tickers"].split(",")
            return {"orderbooks": [{"ticker": t, "orderbook_fp": self.book} for t in tickers]}
        return None

    def _page(self, items: list[Any], q: dict[str, str], size: int, key: str
              ) -> dict[str, Any]:
        start = int(q.get("cursor", "c0")[1:])
        nxt = start + size
        return {key: items[start:nxt], "cursor": f"c{nxt}" if nxt < len(items) else ""}

    def _markets(self, source: list[dict[str, Any]], q: dict[str, str], *, live: bool
                 ) -> dict[str, Any]:
        items = source
        if "series_ticker" in q:
            items = [m for m in items if m["event_ticker"].startswith(q["series_ticker"] + "-")]
        if "event_ticker" in q:
            items = [m for m in items if m["event_ticker"] == q["event_ticker"]]
        if "tickers" in q:
            items = [m for m in items if m["ticker"] in q["tickers"].split(",")]
        return self._page(items, q, self.market_page, "markets")

    def _candles(self, q: dict[str, str], *, historical: bool) -> list[dict[str, Any]]:
        period = int(q["period_interval"]) * 60
        out = []
        t = int(q["start_ts"]) // period * period + period
        while t <= int(q["end_ts"]):
            c = copy.deepcopy(self.candle)
            c["end_period_ts"] = t
            if historical:
                c = {"end_period_ts": t,
                     "yes_bid": {k[:-8]: v for k, v in c["yes_bid"].items()},
                     "yes_ask": {k[:-8]: v for k, v in c["yes_ask"].items()},
                     "price": {k[:-8]: v for k, v in c["price"].items()},
                     "volume": c["volume_fp"], "open_interest": c["open_interest_fp"]}
            out.append(c)
            t += period
        return out

    def _trades(self, q: dict[str, str], *, historical: bool) -> dict[str, Any]:
        """Trades created before the cutoff are only under /historical (like Kalshi)."""
        lo, hi = int(q.get("min_ts", 0)), int(q.get("max_ts", 2**40))
        items = []
        for t in self.trades.get(q["ticker"], []):
            ts = datetime.fromisoformat(t["created_time"])
            if lo <= int(ts.timestamp()) <= hi and (ts < self.cutoff) == historical:
                items.append(t)
        return self._page(items, q, self.trade_page, "trades")

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


@pytest.fixture
def fake(rsps: responses.RequestsMock) -> FakeKalshi:
    return FakeKalshi(rsps)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(NOW)


def make_client(clock: SimClock) -> KalshiClient:
    """Public client on the demo base URL; retries and rate limits sleep on ``clock``."""
    return KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))


@pytest.fixture
def client(clock: SimClock) -> KalshiClient:
    return make_client(clock)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


@pytest.fixture
def conn(db_path: Path) -> Iterator[Any]:
    c = open_store(db_path)
    yield c
    c.close()


DATA_TABLES = ("series", "events", "markets", "candles", "trades", "settlements",
               "book_snapshots", "spot_prices")


def dump(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows (without bookkeeping ``updated_ts``), sorted."""
    out = {}
    for t in DATA_TABLES:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({t})") if r[1] != "updated_ts"]
        out[t] = sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall(),
                        key=repr)
    return out
