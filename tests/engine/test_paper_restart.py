"""A restarted paper (or sim) session rebuilds its simulated account from the store.

The paper venue's account lives in the trading process. Before the fix a restart began with an
empty account: every position held was "missing at the exchange", reconciliation blocked new
entries for good, and those positions could never settle; resting orders of the dead process
stayed open locally for ever."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kalshibot.config import load_settings
from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import ExchangeStatus, Market, Result
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, OrderIntent, OrderStatus, Side
from kalshibot.session import Session, SessionOptions
from kalshibot.store import orders as orders_repo
from kalshibot.store.connection import atomic, connect
from tests.engine.conftest import FnStrategy
from tests.engine.helpers import book, market


class PublicData:
    """``MarketData`` with fixed markets and books (stands in for Kalshi's public API)."""

    def __init__(self, markets: Sequence[Market], books: dict[str, OrderBook]) -> None:
        self.markets = list(markets)
        self.books = books

    def get_exchange_status(self) -> ExchangeStatus:
        return ExchangeStatus(True, True)

    def get_markets(self, *, series: Sequence[str] = (), tickers: Sequence[str] = (),
                    event: str | None = None, status: str | None = "open") -> list[Market]:
        return [m for m in self.markets if not tickers or m.ticker in tickers]

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        return {t: self.books[t] for t in tickers if t in self.books}


@pytest.fixture()
def paper_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PublicData:
    monkeypatch.setenv("KALSHIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KALSHIBOT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("KALSHIBOT_WEBSOCKET", "false")
    now = datetime.now(UTC)
    m = market("KXPAPER-26NOV21-A", close_in=timedelta(hours=3), now=now)
    data = PublicData([m], {m.ticker: book(m.ticker, ts=now)})
    import kalshibot.ws.marketdata as md

    monkeypatch.setattr(md, "build_market_data", lambda *a, **k: data)
    return data


def _session() -> Session:
    sess = Session.create(load_settings(), SessionOptions(
        exchange="paper", strategy="meanrev", tickers=("KXPAPER-26NOV21-A",), max_cycles=1))
    sess.engine.strategy = FnStrategy(lambda v: 0.8)  # buys YES at the 0.50 ask
    return sess


def test_paper_restart_keeps_positions_and_cash_and_does_not_block_entries(paper_env):
    first = _session()
    summary = first.run()
    assert summary.fills == 1 and summary.stop_reason == "1 cycles done"
    held = first.engine.portfolio.positions["KXPAPER-26NOV21-A"].qty
    cash = first.engine.portfolio.cash
    assert held == Count(100) and cash < Money(10000)
    first.conn.close()

    second = _session()
    assert second.engine.start(datetime.now(UTC)) == []  # was: "local 100 vs exchange 0"
    assert second.engine.entries_blocked == ""
    assert [(p.ticker, p.qty) for p in second.exchange.get_positions()] == [
        ("KXPAPER-26NOV21-A", Count(100))]
    assert second.exchange.get_balance().cash == cash
    # the restored position settles when the market does
    m = paper_env.markets[0]
    from dataclasses import replace

    paper_env.markets[0] = replace(m, result=Result.YES, settlement_value=Price(1))
    (s,) = second.exchange.get_settlements()
    assert s.ticker == m.ticker and s.revenue == Money(100)
    second.conn.close()


def test_resting_orders_of_a_dead_paper_process_are_closed_locally(paper_env, tmp_path):
    conn = connect(tmp_path / "data" / "paper.sqlite")
    t = datetime.now(UTC)
    with atomic(conn):
        orders_repo.create_order(conn, OrderIntent("KXPAPER-26NOV21-A", Side.YES, Action.BUY,
                                                   Price("0.46"), Count(5), "kb-old-1"),
                                 strategy="test", now=t)
        orders_repo.update_order(conn, "kb-old-1", now=t, order_id="paperdead-o1",
                                 status=OrderStatus.RESTING)
    conn.close()
    sess = _session()
    rec = orders_repo.get_order(sess.conn, "kb-old-1")
    assert rec is not None and rec.status is OrderStatus.CANCELLED
    assert rec.last_error is not None and "not restored" in rec.last_error
    assert sess.engine.orders.open_orders() == []
    sess.conn.close()
