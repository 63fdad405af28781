"""``data record --ws`` core: the stream lands in the store (books, trades, CF Benchmarks)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.clock import SystemClock
from kalshibot.kalshi.auth import Signer
from kalshibot.store.books import latest_books
from kalshibot.store.connection import connect
from kalshibot.ws.feed import WsFeed
from kalshibot.ws.record import WsRecordOptions, run_ws_record
from tests.ws.conftest import ws_fixture
from tests.ws.fake_server import FakeKalshiServer, wait_for

T = "KXSOL15M-26NOV201415-15"


class ActingClock(SystemClock):
    """Wall clock whose ``sleep`` runs the next scripted action instead of sleeping."""

    def __init__(self, actions: list[Callable[[], None]]) -> None:
        self.actions = actions

    def sleep(self, seconds: float) -> None:
        if self.actions:
            self.actions.pop(0)()
        time.sleep(0.02)


def test_record_stream_into_store(server: FakeKalshiServer, signer: Signer,
                                  tmp_path: Path) -> None:
    server.books[T] = ({4700: 21000}, {5100: 24000})
    clock = ActingClock([])
    feed = WsFeed(server.url, signer, clock, trades=True, rng=random.Random(4),
                  base_backoff_s=0.01, max_backoff_s=0.05, connect_timeout_s=2.0)

    def first() -> None:
        assert wait_for(lambda: feed.books.book(T) is not None)
        assert wait_for(lambda: bool(server.subscribed("trade"))
                        and bool(server.subscribed("cfbenchmarks_value")))
        server.delta(T, "yes", 4800, 1000)
        server.push("trade", {"type": "trade", "msg": {
            "trade_id": "t-1", "market_ticker": T, "yes_price_dollars": "0.4800",
            "no_price_dollars": "0.5200", "count_fp": "10.00", "taker_outcome_side": "yes",
            "taker_book_side": "bid", "taker_side": "yes", "ts": 1795201502,
            "ts_ms": 1795201502774}})
        server.push("cfbenchmarks_value", ws_fixture("cfbenchmarks_value"))
        assert wait_for(lambda: feed.books.deltas >= 1 and feed.cf.latest("SOLUSD_RTI")
                        is not None)
        time.sleep(0.05)

    clock.actions = [first]
    conn = connect(tmp_path / "rec.sqlite")
    try:
        report = run_ws_record(feed, None, conn, WsRecordOptions(
            tickers=(T,), flush_interval_s=0.01, max_flushes=3, indices=("SOL",)), clock=clock)
        assert not feed.client.running
        assert report.stopped.startswith("max flushes")
        assert report.book_rows >= 1 and report.trade_rows == 1 and report.spot_rows == 1
        book = latest_books(conn, [T])[T]
        best = book.best_bid()
        assert best is not None and best.price.value == Decimal("0.48")
        assert conn.execute("SELECT yes_price, count FROM trades").fetchall() == [(4800, 1000)]
        assert conn.execute("SELECT source, symbol, price FROM spot_prices").fetchall() == [
            ("cfbenchmarks", "SOL", "185.9034")]
    finally:
        conn.close()


def test_cli_record_ws_needs_keys(clean_env: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from kalshibot.cli.main import run

    code = run(["data", "record", "--ws", "--tickers", T, "--db", str(clean_env / "x.sqlite")])
    out = capsys.readouterr()
    assert code == 3, out
    assert "API keys" in out.out + out.err
