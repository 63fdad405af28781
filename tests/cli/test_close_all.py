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
    assert "Preview only" in out and "0.45" in out
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


@responses.activate
def test_close_all_waits_for_an_order_whose_outcome_is_unknown(
        paper_db: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A live exit sent just before (answer lost) may have sold already: close-all resolves it
    first and sends nothing in that market while it stays unknown, like the engine. On
    f6e3055 it ignored unresolved orders and re-sent the exit under a new id. The fake
    exchange's portfolio data lags (its ``user_data_as_of`` is before the lost request), so the
    order's absence proves nothing yet."""
    from kalshibot.kalshi.exchange import KalshiExchange
    from kalshibot.sim.account import SimAccount
    from kalshibot.sim.paper import PaperExchange
    from tests.reliability.fake_kalshi import make_rsa_key

    book = {"yes_dollars": [["0.4500", "20.00"]], "no_dollars": [["0.5300", "50.00"]]}
    responses.get(f"{BASE}/markets/orderbooks",
                  json={"orderbooks": [{"ticker": TICKER, "orderbook_fp": book}]})
    sent_at = datetime.now(UTC)

    class LaggingKalshi(PaperExchange):
        def user_data_as_of(self) -> datetime:
            return sent_at.replace(year=sent_at.year - 1)

    real_from_settings = KalshiExchange.from_settings

    def fake_from_settings(cls, s, clock=None, **kw):  # type: ignore[no-untyped-def]
        public = real_from_settings(s, clock, public_only=True)
        return LaggingKalshi(public, public.clock, SimAccount(Money(100)))

    monkeypatch.setattr(KalshiExchange, "from_settings", classmethod(fake_from_settings))
    make_rsa_key(paper_db.parent / "key.pem")
    monkeypatch.setenv("KALSHIBOT_MODE", "live")
    monkeypatch.setenv("KALSHIBOT_API_KEY_ID", "key-id")
    monkeypatch.setenv("KALSHIBOT_PRIVATE_KEY_PATH", str(paper_db.parent / "key.pem"))
    conn = connect(paper_db)
    conn.execute("UPDATE runs SET exchange = 'kalshi', mode = 'live'")
    conn.commit()
    lost = OrderIntent(TICKER, Side.YES, Action.SELL, Price("0.45"), Count(10), "lost-exit",
                       reduce_only=True)
    with atomic(conn):
        create_order(conn, lost, strategy="test", now=sent_at)
        update_order(conn, "lost-exit", now=sent_at, status=OrderStatus.OUTCOME_UNKNOWN)
    assert run(["positions", "close-all", "--yes", "--live", "--db", str(paper_db)]) == 0
    out = capsys.readouterr().out
    assert "outcome is still unknown" in out and "not sold" in out
    assert len(list_fills(conn)) == 1  # nothing sold
    assert [o for o in list_orders(conn) if o.strategy == "close-all"] == []


@responses.activate
def test_close_all_preview_charges_the_stored_markets_fee_schedule(
        paper_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The preview's taker fee comes from the market's own schedule: a stored market whose fee
    waiver runs shows no fee, where the default schedule would show $0.18 (10 at $0.45)."""
    from dataclasses import replace
    from datetime import timedelta

    from kalshibot.store.markets import upsert_markets
    from tests.engine.helpers import market

    book = {"yes_dollars": [["0.4500", "20.00"]], "no_dollars": [["0.5300", "50.00"]]}
    responses.get(f"{BASE}/markets/orderbooks",
                  json={"orderbooks": [{"ticker": TICKER, "orderbook_fp": book}]})
    now = datetime.now(UTC)
    assert run(["positions", "close-all"]) == 0
    assert "0.18" in capsys.readouterr().out  # no stored market: the default schedule
    conn = connect(paper_db)
    waived = replace(market(TICKER, now=now), fee_waiver_until=now + timedelta(days=1))
    with atomic(conn):
        upsert_markets(conn, [waived], now=now)
    conn.close()
    assert run(["positions", "close-all"]) == 0
    out = capsys.readouterr().out
    assert "0.18" not in out and "Preview only" in out
