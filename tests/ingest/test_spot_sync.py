"""``data sync --spot``: CF Benchmarks through Kalshi's passthrough, else exchange candles.

Coinbase and Kraken are faked with ``responses`` in their documented public shapes:
Coinbase Exchange ``GET /products/{id}/candles`` -> ``[[time, low, high, open, close, volume],
...]`` newest first; Kraken ``GET /0/public/OHLC`` -> ``{"error": [], "result": {pair: [[time,
open, high, low, close, vwap, volume, count], ...], "last": t}}``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
import responses

from kalshibot.clock import SimClock
from kalshibot.errors import AuthError
from kalshibot.feeds import CoinbaseSpotSource, KrakenSpotSource
from kalshibot.ingest.spot import parse_cf_values, sync_spot
from kalshibot.store import open_store
from kalshibot.store.units import ts_ms

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CB = "https://api.exchange.coinbase.com"
KR = "https://api.kraken.com/0/public"


def _price(t: int) -> str:
    return str(Decimal(90000) + Decimal(t % 3600) / 100)


def _coinbase(calls: Counter[str], status: int = 200) -> None:
    def cb(req: Any) -> tuple[int, dict[str, str], str]:
        calls["coinbase"] += 1
        if status != 200:
            return status, {}, json.dumps({"message": "down"})
        q = {k: v[-1] for k, v in parse_qs(urlparse(req.url).query).items()}
        lo = int(datetime.fromisoformat(q["start"]).timestamp())
        hi = int(datetime.fromisoformat(q["end"]).timestamp())
        rows = [[t, float(_price(t)) - 5, float(_price(t)) + 5, float(_price(t)),
                 float(_price(t)), 1.5] for t in range(lo - lo % 60, hi, 60)]
        return 200, {}, json.dumps(rows[::-1])

    responses.add_callback("GET", re.compile(re.escape(CB) + r"/products/BTC-USD/candles.*"),
                           callback=cb)


def _kraken(calls: Counter[str]) -> None:
    def cb(req: Any) -> tuple[int, dict[str, str], str]:
        calls["kraken"] += 1
        q = {k: v[-1] for k, v in parse_qs(urlparse(req.url).query).items()}
        since = int(q["since"])
        rows = [[t, _price(t), _price(t), _price(t), _price(t), _price(t), "2.0", 3]
                for t in range(since + 60 - since % 60, int(NOW.timestamp()), 60)]
        return 200, {}, json.dumps({"error": [], "result": {"XXBTZUSD": rows,
                                                            "last": since}})

    responses.add_callback("GET", re.compile(re.escape(KR) + r"/OHLC.*"), callback=cb)


def _exchanges(clock: SimClock) -> list[Any]:
    s = requests.Session()
    return [CoinbaseSpotSource(s, clock), KrakenSpotSource(s, clock)]


@responses.activate
def test_coinbase_candles_stored_at_bar_end_with_their_source_and_resumed() -> None:
    calls: Counter[str] = Counter()
    _coinbase(calls)
    clock = SimClock(NOW)
    conn = open_store(":memory:")
    since = NOW - timedelta(days=2)
    rep = sync_spot(conn, ["BTC"], since, NOW, clock=clock, exchanges=_exchanges(clock))
    assert rep.source == {"BTC": "coinbase"} and rep.added["BTC"] == 2 * 1440
    first = conn.execute("SELECT source, ts, price, open FROM spot_prices ORDER BY ts "
                         "LIMIT 1").fetchone()
    # the bar opening at since - 1 min closes at since: its close is the price known then
    t = int(since.timestamp()) - 60
    assert first == ("coinbase", ts_ms(since), _price(t), _price(t))
    n = calls["coinbase"]
    again = sync_spot(conn, ["BTC"], since, NOW, clock=clock, exchanges=_exchanges(clock))
    assert calls["coinbase"] == n and again.added["BTC"] == 0  # nothing asked again
    clock.advance(timedelta(minutes=10))
    later = sync_spot(conn, ["BTC"], since, clock.now(), clock=clock,
                      exchanges=_exchanges(clock))
    assert later.added["BTC"] == 10


@responses.activate
def test_kraken_is_the_fallback_when_coinbase_is_down() -> None:
    calls: Counter[str] = Counter()
    _coinbase(calls, status=503)
    _kraken(calls)
    clock = SimClock(NOW)
    conn = open_store(":memory:")
    rep = sync_spot(conn, ["BTC"], NOW - timedelta(hours=2), NOW, clock=clock,
                    exchanges=_exchanges(clock))
    assert rep.source == {"BTC": "kraken"} and rep.added["BTC"] == 120
    assert any("coinbase unavailable" in n for n in rep.notes)
    assert conn.execute("SELECT DISTINCT source FROM spot_prices").fetchall() == [("kraken",)]


class _FakeKalshi:
    """Kalshi's HTTP client as the passthrough sees it (signed; answers or refuses)."""

    authenticated = True

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.paths: list[tuple[str, dict[str, Any]]] = []

    def get(self, path: str, params: dict[str, Any], *, auth: bool) -> dict[str, Any]:
        self.paths.append((path, dict(params)))
        if self.refuse:
            raise AuthError("HTTP 403: not entitled")
        lo, hi = params["startTime"], params["endTime"]
        return {"data": {"serverTime": "2026-11-20T12:00:00.000Z", "payload": [
            {"value": "90000.12", "time": t} for t in range(lo, hi + 1, 60_000)]}}


@responses.activate
def test_cf_benchmarks_index_wins_when_the_passthrough_answers() -> None:
    calls: Counter[str] = Counter()
    _coinbase(calls)
    clock = SimClock(NOW)
    conn = open_store(":memory:")
    kalshi = _FakeKalshi()
    rep = sync_spot(conn, ["BTC"], NOW - timedelta(hours=1), NOW, clock=clock,
                    kalshi=kalshi, exchanges=_exchanges(clock))  # type: ignore[arg-type]
    assert rep.source == {"BTC": "cfbenchmarks"} and calls["coinbase"] == 0
    assert kalshi.paths[0][0] == "/cfbenchmarks/values" and kalshi.paths[0][1]["id"] == "BRTI"
    assert conn.execute("SELECT count(*), min(price) FROM spot_prices WHERE source = "
                        "'cfbenchmarks'").fetchone() == (60, "90000.12")


@responses.activate
def test_an_account_without_the_passthrough_falls_back_to_exchange_candles() -> None:
    calls: Counter[str] = Counter()
    _coinbase(calls)
    clock = SimClock(NOW)
    conn = open_store(":memory:")
    rep = sync_spot(conn, ["BTC"], NOW - timedelta(hours=1), NOW, clock=clock,
                    kalshi=_FakeKalshi(refuse=True),  # type: ignore[arg-type]
                    exchanges=_exchanges(clock))
    assert rep.source == {"BTC": "coinbase"} and rep.added["BTC"] == 60
    assert any("cfbenchmarks unavailable" in n for n in rep.notes)


def test_cf_values_missing_a_field_is_a_data_error() -> None:
    import pytest

    from kalshibot.errors import DataError

    with pytest.raises(DataError):
        parse_cf_values("BTC", {"data": {"payload": [{"time": 1}]}})
    with pytest.raises(DataError):
        parse_cf_values("BTC", {"payload": []})  # not in Kalshi's data envelope
