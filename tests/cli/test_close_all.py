"""`orders cancel-all` and `positions close-all`: preview by default, act with --yes.

Paper venue: fills simulated against Kalshi's public books (served by `responses`); the sale
goes through the order manager, so the order row and its fill end up in the store once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses

from kalshibot.cli.main import run
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, OrderIntent, OrderStatus, Side
from kalshibot.domain.portfolio import Portfolio
from kalshibot.store.connection import atomic, connect
from kalshibot.store.fills import insert_fills, list_fills
from kalshibot.store.orders import create_order, list_orders, update_order
from kalshibot.store.positions import load_positions, save_positions
from kalshibot.store.runs import start_run

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TICKER = "KXBTC15M-26NOV201415-15"
BASE = "https://external-api.demo.kalshi.co/trade-api/v2"


@pytest.fixture
def paper_db(env: dict[str, str]) -> Path:
    path = Path(env["KALSHIBOT_DATA_DIR"]) / "paper.sqlite"
    conn = connect(path)
    fill = Fill("f1", "o1", TICKER, Side.YES, Action.BUY, Price("0.40"), Count(10), Money("0.17"),
                True, T0, "c1")
    intent = OrderIntent(TICKER, Side.YES, Action.BUY, Price("0.35"), Count(5), "c2")
    with atomic(conn):
        start_run(conn, "r1", mode="paper", exchange="paper", now=T0)
        insert_fills(conn, [fill])
        save_positions(conn, Portfolio(Money(0), {}).with_fill(fill).positions.values(), now=T0)
        create_order(conn, intent, strategy="test", now=T0)
        update_order(conn, "c2", now=T0, order_id="o2", status=OrderStatus.RESTING)
    conn.close()
    return path


def test_cancel_all_previews_then_cancels_locally(paper_db: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["orders", "cancel-all"]) == 0
    assert "Preview only" in capsys.readouterr().out
    conn = connect(paper_db)
    assert [o.status for o in list_orders(conn)] == [OrderStatus.RESTING]
    assert run(["orders", "cancel-all", "--yes"]) == 0
    assert [o.status for o in list_orders(conn)] == [OrderStatus.CANCELLED]


@responses.activate
def test_close_all_previews_then_sells_at_the_bid(paper_db: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    book = {"yes_dollars": [["0.4400", "3.00"], ["0.4500", "20.00"]],
            "no_dollars": [["0.5300", "50.00"]]}
    responses.get(f"{BASE}/markets/orderbooks",
                  json={"orderbooks": [{"ticker": TICKER, "orderbook_fp": book}]})
    assert run(["positions", "close-all"]) == 0
    out = capsys.readouterr().out
    assert "Preview only" in out and "0.4500" in out
    conn = connect(paper_db)
    assert len(list_fills(conn)) == 1  # nothing sold by the preview

    assert run(["positions", "close-all", "--yes"]) == 0
    fills = list_fills(conn)
    assert len(fills) == 2
    sale = fills[-1]
    assert (sale.side, sale.action, sale.price, sale.count) == (
        Side.YES, Action.SELL, Price("0.45"), Count(10))
    # 0.07 x 10 x 0.45 x 0.55 = 0.17325 -> 0.1733 per fill; charged $0.18 (cents per order)
    assert sale.fee == Money("0.18")
    orders = [o for o in list_orders(conn) if o.strategy == "close-all"]
    assert len(orders) == 1 and orders[0].status is OrderStatus.EXECUTED
    assert load_positions(conn, open_only=True) == {}
    pos = load_positions(conn)[TICKER]
    assert pos.realized_pnl == Money("0.50") and pos.fees == Money("0.35")


def test_close_all_refuses_sim_venue(env: dict[str, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(env["KALSHIBOT_DATA_DIR"]) / "sim.sqlite"
    conn = connect(path)
    fill = Fill("f1", "o1", TICKER, Side.NO, Action.BUY, Price("0.40"), Count(2), Money("0.04"),
                True, T0, "c1")
    with atomic(conn):
        start_run(conn, "r1", mode="paper", exchange="sim", now=T0)
        insert_fills(conn, [fill])
        save_positions(conn, Portfolio(Money(0), {}).with_fill(fill).positions.values(), now=T0)
    conn.close()
    assert run(["positions", "close-all", "--sim", "--yes"]) == 2
    assert "sim" in capsys.readouterr().err
