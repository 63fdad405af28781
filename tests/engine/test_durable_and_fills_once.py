"""Issue 15 cases 7 and 8: a fill is applied once whatever its path; the pre-send order row of
a live session is synced to disk before the request leaves."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from kalshibot.clock import SimClock
from kalshibot.config import load_settings
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, OrderIntent, Side, TimeInForce
from kalshibot.execution import OrderManager, new_client_order_id
from kalshibot.session import Session, SessionOptions
from kalshibot.store.connection import connect
from kalshibot.ws.channels import FillSink

from .conftest import FnStrategy, build_engine
from .helpers import T0, FakeExchange, book, market

D = Decimal
TK = "KXTEST-26NOV19-A"


def test_a_socket_fill_stored_during_start_up_is_applied_once(tmp_path: Path) -> None:
    """The socket's fill sink stores a fill while the engine is being built; the engine loads
    it from the store and the run loop then drains it from the sink: the position must be
    the exchange's 10, not 20. On f6e3055 it was applied twice (cash off by the fill's cost,
    entries blocked by the reconciliation mismatch until a restart)."""
    ex = FakeExchange([market(TK)], {TK: book(TK)})
    fill = Fill("f-ws-1", "o-1", TK, Side.YES, Action.BUY, Price(D("0.40")), Count(10),
                Money(D("0.17")), True, T0, "c-1")
    sink = FillSink(OrderManager(connect(tmp_path / "state.sqlite"), ex), SimClock(T0))
    sink(fill)  # the socket thread stores it before the engine exists
    eng = build_engine(tmp_path, ex, FnStrategy(lambda v: None), T0, series=("KXTEST",))
    assert eng.portfolio.positions[TK].qty == Count(10)
    eng.apply_fills(sink.drain_new())  # what the run loop does before its first cycle
    eng.apply_fills([fill])  # and the REST sync may bring it again
    assert eng.portfolio.positions[TK].qty == Count(10)
    assert eng.portfolio.cash == Money(10000) - Money(D("4.17"))


def test_the_pre_send_order_row_is_synced_to_disk(tmp_path: Path) -> None:
    """With ``durable`` (live sessions) the row is committed with synchronous=FULL before the
    request is sent. On f6e3055 it was committed with synchronous=NORMAL (WAL): an OS crash
    or power loss could lose the row of an order already sent."""
    conn = connect(tmp_path / "state.sqlite")
    ex = FakeExchange([market(TK)], {TK: book(TK)})
    om = OrderManager(conn, ex, strategy="t", durable=True)
    trace: list[str] = []
    conn.set_trace_callback(trace.append)
    at_send: list[list[str]] = []
    ex.before_place = lambda _intent: at_send.append(list(trace))
    om.submit(OrderIntent(TK, Side.YES, Action.BUY, Price(D("0.50")), Count(1),
                          new_client_order_id(), TimeInForce.IOC), T0)
    seen = [s.strip() for s in at_send[0]]
    i_full = seen.index("PRAGMA synchronous = FULL")
    i_insert = next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO orders"))
    i_commit = next(i for i, s in enumerate(seen) if s == "COMMIT" and i > i_insert)
    assert i_full < i_insert < i_commit
    assert not any(s.startswith("PRAGMA synchronous =") for s in seen[i_full + 1:i_commit])
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again afterwards


def test_live_sessions_write_orders_durably(tmp_path: Path) -> None:
    s = load_settings(env={"KALSHIBOT_DATA_DIR": str(tmp_path)}, dotenv_file=None)
    ex = FakeExchange([market(TK)], {TK: book(TK)})
    clock = SimClock(T0)
    for live in (True, False):
        conn = connect(tmp_path / f"{live}.sqlite")
        eng = Session._engine(s, SessionOptions(exchange="kalshi" if live else "paper",
                                                live=live),
                              conn, ex, FnStrategy(lambda v: None), f"r{live}", Money(100),
                              clock, record_books=False)
        assert eng.orders.durable is live
