"""What the engine reads: WS-backed books with per-market staleness and REST fallback;
REST polling; the ``Exchange`` wrapper; the factory."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import SecretStr

from kalshibot.clock import SystemClock
from kalshibot.config import Settings
from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import ExchangeStatus, Market
from kalshibot.domain.money import Count, Price
from kalshibot.errors import ExchangeUnavailableError
from kalshibot.exchange import MarketData
from kalshibot.kalshi.auth import Signer
from kalshibot.ws.feed import WsFeed
from kalshibot.ws.marketdata import RestMarketData, WsExchange, WsMarketData, build_market_data
from tests.ws.fake_server import FakeKalshiServer, wait_for

T = "KXSOL15M-26NOV201415-15"


class StepClock:
    """Wall clock plus a manual offset (thread-safe), to age things without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self.offset

    def sleep(self, seconds: float) -> None:
        pass

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += timedelta(seconds=seconds)


class RestBooks:
    """REST market data stub: one-level books stamped with the clock; can fail."""

    def __init__(self, clock: StepClock | SystemClock) -> None:
        self.clock = clock
        self.calls: list[list[str]] = []
        self.fail = False

    def get_exchange_status(self) -> ExchangeStatus:
        return ExchangeStatus(exchange_active=True, trading_active=True)

    def get_markets(self, *, series: Sequence[str] = (), tickers: Sequence[str] = (),
                    event: str | None = None, status: str | None = "open") -> list[Market]:
        return []

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        self.calls.append(list(tickers))
        if self.fail:
            raise ExchangeUnavailableError("down")
        return {t: OrderBook.from_levels(t, [(Price("0.10"), Count(1))], [], self.clock.now())
                for t in tickers}


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def md(server: FakeKalshiServer, signer: Signer, clock: StepClock) -> Iterator[WsMarketData]:
    server.books[T] = ({4700: 21000}, {5100: 24000})
    feed = WsFeed(server.url, signer, clock, rng=random.Random(3), base_backoff_s=0.01,
                  max_backoff_s=0.05, connect_timeout_s=2.0)
    m = WsMarketData(feed, RestBooks(clock), clock, max_silence_s=20)
    feed.start()
    yield m
    m.close()


def test_protocol(md: WsMarketData) -> None:
    assert isinstance(md, MarketData)


def test_socket_book_after_snapshot_rest_before(md: WsMarketData,
                                                server: FakeKalshiServer) -> None:
    rest = md.rest
    assert isinstance(rest, RestBooks)
    first = md.get_orderbooks([T])  # not streamed yet: REST fallback
    assert T in first
    assert wait_for(lambda: md.reason(T) == "")
    n = len(rest.calls)
    got = md.get_orderbooks([T])
    assert len(rest.calls) == n  # served by the socket
    best = got[T].best_bid()
    assert best is not None and best.price == Price("0.47") and best.size == Count(210)
    server.delta(T, "yes", 4800, 500)
    assert wait_for(lambda: (b := md.book(T)) is not None and b.best_bid() is not None
                    and b.best_bid().price == Price("0.48"))  # type: ignore[union-attr]


def test_stale_when_disconnected_then_rest_or_nothing(md: WsMarketData) -> None:
    md.get_orderbooks([T])
    assert wait_for(lambda: md.reason(T) == "")
    md.feed.stop()
    assert md.reason(T) == "websocket disconnected"
    assert md.staleness([T]) == {T: "websocket disconnected"}
    rest = md.rest
    assert isinstance(rest, RestBooks)
    n = len(rest.calls)
    assert T in md.get_orderbooks([T]) and len(rest.calls) == n + 1
    rest.fail = True
    assert md.get_orderbooks([T]) == {}  # no fresh book: no entries in this market
    assert "REST fallback" in md.last_error
    md.rest_fallback = False
    rest.fail = False
    assert md.get_orderbooks([T]) == {}


def test_silence_and_age_make_books_stale(md: WsMarketData, clock: StepClock) -> None:
    md.get_orderbooks([T])
    assert wait_for(lambda: md.reason(T) == "")
    clock.advance(25)
    assert md.reason(T) == "websocket silent"
    clock.offset = timedelta(0)
    md.max_book_age = timedelta(seconds=5)
    assert md.reason(T) == ""
    clock.advance(6)
    md.max_silence = timedelta(seconds=60)
    assert md.reason(T) == "book not updated recently"


def test_paused_market_is_not_returned_nor_polled(md: WsMarketData,
                                                  server: FakeKalshiServer) -> None:
    md.get_orderbooks([T])
    assert wait_for(lambda: md.reason(T) == "")
    assert wait_for(lambda: bool(server.subscribed("market_lifecycle_v2")))
    server.push("market_lifecycle_v2", {"type": "market_lifecycle_v2", "msg": {
        "market_ticker": T, "event_type": "deactivated", "is_deactivated": True}})
    assert wait_for(lambda: "paused" in md.reason(T))
    rest = md.rest
    assert isinstance(rest, RestBooks)
    n = len(rest.calls)
    assert md.get_orderbooks([T]) == {}
    assert len(rest.calls) == n


def test_rest_market_data_drops_old_books() -> None:
    clock = StepClock()
    rest = RestBooks(clock)
    md = RestMarketData(rest, clock, max_age_s=30)
    assert T in md.get_orderbooks([T])
    rest.fail = True
    clock.advance(10)
    assert T in md.get_orderbooks([T])  # last good book, 10 s old
    clock.advance(25)
    assert md.get_orderbooks([T]) == {}
    assert "old" in md.staleness([T])[T]


def test_ws_exchange_delegates(md: WsMarketData) -> None:
    class Inner(RestBooks):
        def get_fills(self, since: datetime | None = None) -> list[object]:
            return ["fill"]

    ex = WsExchange(Inner(SystemClock()), md)  # type: ignore[arg-type]
    assert ex.get_fills() == ["fill"]
    assert T in ex.get_orderbooks([T])


def test_factory_rest_without_keys_ws_with_keys(tmp_path: Path) -> None:
    with FakeKalshiServer() as server:  # this key is not the one the fixture server knows
        factory_case(tmp_path, server)


def factory_case(tmp_path: Path, server: FakeKalshiServer) -> None:
    clock = SystemClock()
    rest = RestBooks(clock)
    assert isinstance(build_market_data(Settings(), clock, rest), RestMarketData)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = tmp_path / "k.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pem.chmod(0o600)
    s = Settings(api_key_id=SecretStr("kid"), private_key_path=pem)
    md = build_market_data(s, clock, rest, url=server.url, indices=["BTC"],
                           connect_timeout_s=2.0)
    try:
        assert isinstance(md, WsMarketData)
        assert md.feed.client.wait_connected(5)
        assert wait_for(lambda: bool(server.subscribed("cfbenchmarks_value")))
        cf = [c for c in server.commands if c["params"].get("channels") == ["cfbenchmarks_value"]]
        assert cf[0]["params"]["index_ids"] == ["BRTI"]
    finally:
        md.close()
    assert isinstance(build_market_data(s, clock, rest, prefer_ws=False), RestMarketData)
