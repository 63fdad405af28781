"""A fill on the socket reaches the store once even when REST reconciliation sees it too
(real SQLite file); user_order updates reach the orders table."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshibot.clock import SystemClock
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Action, Fill, OrderIntent, OrderStatus, Side
from kalshibot.execution import OrderManager
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.auth import Signer
from kalshibot.store import fills as fills_repo
from kalshibot.store import orders as orders_repo
from kalshibot.store.connection import atomic, connect
from kalshibot.ws import channels as ch
from kalshibot.ws.feed import WsFeed
from tests.ws.conftest import shared_path, ws_fixture
from tests.ws.fake_server import FakeKalshiServer, wait_for

COID = "sol15m-20261120T1903-7f3a9c2e"
OID = "b7e1c0a4-3f52-4d8e-9a61-2c5f0e7d9b13"
TICKER = "KXSOL15M-26NOV201415-15"
NOW = datetime(2026, 11, 20, 19, 2, tzinfo=UTC)


class RestStub:
    """The account side of an exchange: only ``get_fills`` is needed by ``sync_fills``."""

    def __init__(self, fills: list[Fill]) -> None:
        self.fills = fills

    def get_fills(self, since: datetime | None = None) -> list[Fill]:
        return list(self.fills)


def rest_fills() -> list[Fill]:
    import json

    data = json.loads(shared_path("fixtures", "kalshi", "get_portfolio_fills.json").read_text())
    return [p.parse_fill(w.WireFill.model_validate(f)) for f in data["fills"]]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "live.sqlite"
    conn = connect(path)
    intent = OrderIntent(TICKER, Side.YES, Action.BUY, Price("0.49"), Count(10), COID)
    with atomic(conn):
        orders_repo.create_order(conn, intent, strategy="crypto", now=NOW)
        orders_repo.update_order(conn, COID, now=NOW, order_id=OID, status=OrderStatus.RESTING)
    conn.close()
    return path


@pytest.fixture
def feed(server: FakeKalshiServer, signer: Signer) -> Iterator[WsFeed]:
    f = WsFeed(server.url, signer, SystemClock(), lifecycle=False, rng=random.Random(2),
               base_backoff_s=0.01, max_backoff_s=0.05, connect_timeout_s=2.0)
    yield f
    f.stop()


def test_ws_fill_parses_like_rest() -> None:
    ws = ch.parse_fill(ws_fixture("fill"))
    rest = {f.fill_id: f for f in rest_fills()}[ws.fill_id]
    assert (ws.order_id, ws.ticker, ws.side, ws.action, ws.price, ws.count, ws.fee,
            ws.is_taker) == (rest.order_id, rest.ticker, rest.side, rest.action, rest.price,
                             rest.count, rest.fee, rest.is_taker)
    assert ws.client_order_id == COID
    assert ws.fee.amount == Decimal("0.0700")


def test_socket_fill_stored_once_with_rest_reconciliation(
        server: FakeKalshiServer, feed: WsFeed, db: Path) -> None:
    sink_conn = connect(db)
    engine_conn = connect(db)
    try:
        sink = ch.FillSink.for_store(sink_conn, RestStub([]), SystemClock())
        feed.on_fill.append(sink)
        feed.subscribe_account(fills=True, orders=False)
        feed.start()
        assert wait_for(lambda: bool(server.subscribed("fill")))
        msg = ws_fixture("fill")
        assert server.push("fill", msg) == 1
        server.push("fill", msg)  # the socket repeats itself: still one row
        assert wait_for(lambda: sink.seen == 2)
        assert sink.stored == 1
        assert [f.fill_id for f in sink.drain_new()] == [msg["msg"]["trade_id"]]
        assert sink.drain_new() == []
        rec = orders_repo.get_order(engine_conn, COID)
        assert rec is not None and rec.filled == Count(4)
        assert rec.status is OrderStatus.PARTIALLY_FILLED

        # REST reconciliation on the engine's own connection sees both fills
        om = OrderManager(engine_conn, RestStub(rest_fills()))  # type: ignore[arg-type]
        new = om.sync_fills(datetime(2026, 11, 20, 19, 7, tzinfo=UTC))
        assert [f.count for f in new] == [Count(6)]  # only the fill the socket did not see
        rows = engine_conn.execute("SELECT fill_id, count FROM fills ORDER BY ts").fetchall()
        assert len(rows) == 2
        assert len({r[0] for r in rows}) == 2
        stored = fills_repo.list_fills(engine_conn)
        assert sum((f.count.value for f in stored), Decimal(0)) == Decimal(10)
        rec = orders_repo.get_order(engine_conn, COID)
        assert rec is not None and rec.filled == Count(10)
        assert rec.status is OrderStatus.EXECUTED
        assert om.sync_fills(datetime(2026, 11, 20, 19, 8, tzinfo=UTC)) == []
    finally:
        sink_conn.close()
        engine_conn.close()


def user_order_msg(status: str, filled: str, remaining: str) -> dict[str, Any]:
    return {"type": "user_order", "sid": 1, "msg": {
        "order_id": OID, "user_id": "u", "ticker": TICKER, "status": status, "side": "yes",
        "is_yes": True, "outcome_side": "yes", "book_side": "bid",
        "yes_price_dollars": "0.4900", "fill_count_fp": filled,
        "remaining_count_fp": remaining, "initial_count_fp": "10.00",
        "taker_fill_cost_dollars": "1.9600", "maker_fill_cost_dollars": "0.0000",
        "taker_fees_dollars": "0.0700", "maker_fees_dollars": "0.0000",
        "client_order_id": COID, "created_ts_ms": 1795201360000,
        "last_updated_ts_ms": 1795201407312}}


def test_user_order_updates_local_order(server: FakeKalshiServer, feed: WsFeed,
                                        db: Path) -> None:
    conn = connect(db)
    try:
        sink = ch.UserOrderSink(conn, SystemClock())
        feed.on_order.append(sink)
        feed.subscribe_account(fills=False, orders=True)
        feed.start()
        assert wait_for(lambda: bool(server.subscribed("user_orders")))
        server.push("user_orders", user_order_msg("resting", "4.00", "6.00"))
        assert wait_for(lambda: sink.applied == 1)
        rec = orders_repo.get_order(conn, COID)
        assert rec is not None and rec.filled == Count(4)
        assert rec.status is OrderStatus.PARTIALLY_FILLED
        server.push("user_orders", user_order_msg("canceled", "4.00", "0.00"))
        assert wait_for(lambda: sink.applied == 2)
        rec = orders_repo.get_order(conn, COID)
        assert rec is not None and rec.status is OrderStatus.CANCELLED
    finally:
        conn.close()
