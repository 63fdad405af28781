"""Order manager over a fake exchange: write-before-send, lost answers, 409, fill de-dup."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, OrderIntent, OrderStatus, Side, TimeInForce
from kalshibot.execution import OrderManager, local_fill_totals, new_client_order_id
from kalshibot.store import fills as fills_repo
from kalshibot.store import orders as orders_repo
from kalshibot.store.connection import atomic, connect

from .helpers import T0, FakeExchange, book, market

D = Decimal
TK = "KXTEST-26NOV19-A"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


def setup(db: Path, **book_kw: object) -> tuple[sqlite3.Connection, FakeExchange, OrderManager]:
    conn = connect(db)
    ex = FakeExchange([market(TK)], {TK: book(TK, **book_kw)})  # type: ignore[arg-type]
    return conn, ex, OrderManager(conn, ex, strategy="test")


def buy(price: str = "0.50", count: int = 10, tif: TimeInForce = TimeInForce.IOC,
        side: Side = Side.YES, **kw: object) -> OrderIntent:
    return OrderIntent(TK, side, Action.BUY, Price(D(price)), Count(count), new_client_order_id(),
                       tif, **kw)  # type: ignore[arg-type]


def test_order_row_committed_as_pending_submit_before_place_order(db: Path) -> None:
    conn, ex, om = setup(db)
    seen: list[tuple[str, str]] = []

    def peek(intent: OrderIntent) -> None:
        # A *second* connection sees the row: it was committed, not just written.
        other = sqlite3.connect(db)
        row = other.execute("SELECT status, price, count FROM orders WHERE client_order_id = ?",
                            (intent.client_order_id,)).fetchone()
        other.close()
        assert row is not None, "order not in the store before the request"
        seen.append((row[0], row[1]))

    ex.before_place = peek
    intent = buy()
    res = om.submit(intent, T0)
    assert seen == [("pending_submit", "0.5000")]
    assert res.status is OrderStatus.EXECUTED
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None and rec.order_id is not None and rec.filled == Count(10)


def test_lost_answer_resolves_to_exactly_one_order_and_no_duplicate_position(db: Path) -> None:
    conn, ex, om = setup(db)
    ex.lose_answer = True
    intent = buy(count=10)
    res = om.submit(intent, T0)
    assert res.status is OrderStatus.OUTCOME_UNKNOWN
    assert om.blocked_markets() == {TK}
    assert len(ex.place_calls) == 1
    ex.lose_answer = False

    # recovery: read the exchange, never re-post
    assert om.resolve_unknown(T0 + timedelta(seconds=1)) == 0
    assert len(ex.place_calls) == 1
    assert len(ex.orders_for(intent.client_order_id)) == 1
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None and rec.status is OrderStatus.EXECUTED
    assert om.blocked_markets() == set()

    om.sync_fills(T0 + timedelta(seconds=1))
    om.sync_fills(T0 + timedelta(seconds=2))  # re-reading fills changes nothing
    local = local_fill_totals(fills_repo.list_fills(conn))
    assert local == {TK: D(10)}
    assert [(p.ticker, p.qty) for p in ex.get_positions()] == [(TK, Count(10))]
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None and rec.filled == Count(10)


def test_lost_answer_resolved_after_restart(db: Path) -> None:
    conn, ex, om = setup(db)
    ex.lose_answer = True
    intent = buy("0.46", 10, TimeInForce.GTC)  # rests
    om.submit(intent, T0)
    conn.close()
    ex.lose_answer = False

    conn2 = connect(db)  # restart: a new process with the same store and exchange
    om2 = OrderManager(conn2, ex)
    assert om2.blocked_markets() == {TK}
    assert om2.resolve_unknown(T0 + timedelta(minutes=5)) == 0
    assert len(ex.place_calls) == 1
    assert len(ex.orders_for(intent.client_order_id)) == 1
    assert [r.client_order_id for r in om2.open_orders()] == [intent.client_order_id]
    assert om2.blocked_markets() == set()


def test_request_never_arrived_rejected_after_grace_and_market_unblocked(db: Path) -> None:
    conn, ex, om = setup(db)
    ex.drop_request = True
    intent = buy()
    assert om.submit(intent, T0).status is OrderStatus.OUTCOME_UNKNOWN
    ex.drop_request = False
    # within the grace: still unknown, still blocking (the request may yet arrive)
    assert om.resolve_unknown(T0 + timedelta(seconds=10)) == 1
    assert om.blocked_markets() == {TK}
    # after the grace: the exchange has no such order -> rejected, market unblocked
    assert om.resolve_unknown(T0 + timedelta(seconds=31)) == 0
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None and rec.status is OrderStatus.REJECTED
    assert "never created" in (rec.last_error or "")
    assert om.blocked_markets() == set()
    assert ex.orders_for(intent.client_order_id) == []
    assert len(ex.place_calls) == 1


def test_409_on_create_is_resolved_by_reading_never_resent(db: Path) -> None:
    conn, ex, om = setup(db)
    ex.conflict = True
    intent = buy("0.46", 10, TimeInForce.GTC)
    res = om.submit(intent, T0)
    assert len(ex.place_calls) == 1
    assert res.status is OrderStatus.RESTING and "409" in res.message
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None and rec.status is OrderStatus.RESTING
    assert rec.order_id == ex.orders_for(intent.client_order_id)[0].order_id
    assert len(ex.orders_for(intent.client_order_id)) == 1


def test_rejected_order_is_not_blocking(db: Path) -> None:
    conn, ex, om = setup(db)
    bad = buy(count=0)  # the exchange refuses a zero count (400)
    res = om.submit(bad, T0)
    assert res.status is OrderStatus.REJECTED
    assert om.blocked_markets() == set()


def _fill(fid: str, order_id: str, n: int, fee: str = "0.01") -> Fill:
    return Fill(fid, order_id, TK, Side.YES, Action.BUY, Price(D("0.46")), Count(n),
                Money(D(fee)), False, T0)


def test_fills_deduplicated_by_fill_id(db: Path) -> None:
    conn, ex, om = setup(db)
    intent = buy("0.46", 10, TimeInForce.GTC)
    om.submit(intent, T0)
    oid = orders_repo.get_order(conn, intent.client_order_id).order_id  # type: ignore[union-attr]
    f1, f2 = _fill("F1", oid, 3), _fill("F2", oid, 2)
    assert om.record_fills([f1, f1], T0) == [f1]  # twice in one batch
    assert om.record_fills([f1, f2], T0) == [f2]  # again in a later batch
    assert om.record_fills([f2, f1], T0) == []
    assert [f.fill_id for f in fills_repo.list_fills(conn)] == ["F1", "F2"]
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None
    assert (rec.filled, rec.fees, rec.status) == (
        Count(5), Money(D("0.02")), OrderStatus.PARTIALLY_FILLED)


def test_fill_already_counted_by_the_ack_is_not_counted_twice(db: Path) -> None:
    # Regression: a GTC order partly filled on arrival had ``filled`` set from the ack, then the
    # same fill from sync_fills was added again: 3 filled became 6 and the order later showed
    # EXECUTED while contracts still rested at the exchange (invisible to risk and kill switch).
    conn, ex, om = setup(db, no=(("0.54", 3),))  # 3 YES offered at 0.46
    intent = buy("0.46", 10, TimeInForce.GTC)
    res = om.submit(intent, T0)
    assert res.status is OrderStatus.PARTIALLY_FILLED
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None and rec.filled == Count(3)
    ack_fees = rec.fees
    om.sync_fills(T0 + timedelta(seconds=1))
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None
    assert (rec.filled, rec.status) == (Count(3), OrderStatus.PARTIALLY_FILLED)
    assert rec.fees == ack_fees == Money(sum((f.fee.amount for f in ex.get_fills()), D(0)))
    # 4 more fill while resting: 7 of 10, still open
    ex.set_book(book(TK, no=(("0.55", 4),)))  # 4 YES offered at 0.45 < 0.46
    om.sync_fills(T0 + timedelta(seconds=2))
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None
    assert (rec.filled, rec.status) == (Count(7), OrderStatus.PARTIALLY_FILLED)
    assert [r.client_order_id for r in om.open_orders()] == [intent.client_order_id]


def test_resolved_partial_order_then_fills_keep_exact_count(db: Path) -> None:
    # Same double count via the outcome-unknown path: resolve copies filled from the exchange,
    # then the fills themselves arrive.
    conn, ex, om = setup(db, no=(("0.54", 3),))
    ex.lose_answer = True
    intent = buy("0.46", 10, TimeInForce.GTC)
    om.submit(intent, T0)
    ex.lose_answer = False
    om.resolve_unknown(T0 + timedelta(seconds=1))
    om.sync_fills(T0 + timedelta(seconds=1))
    rec = orders_repo.get_order(conn, intent.client_order_id)
    assert rec is not None
    assert (rec.filled, rec.status) == (Count(3), OrderStatus.PARTIALLY_FILLED)


def test_cancel_and_cancel_of_filled_order_reads_truth(db: Path) -> None:
    conn, ex, om = setup(db)
    a = buy("0.46", 10, TimeInForce.GTC)
    b = buy("0.44", 10, TimeInForce.GTC)
    om.submit(a, T0)
    om.submit(b, T0)
    ra = orders_repo.get_order(conn, a.client_order_id)
    assert ra is not None and om.cancel(ra, T0, "test")
    assert orders_repo.get_order(conn, a.client_order_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert ex.account.open_orders()[0].client_order_id == b.client_order_id
    # b fills completely at the exchange before we cancel: cancel fails, the truth is read
    ex.set_book(book(TK, no=(("0.57", 20),)))  # YES offered at 0.43 < 0.44
    rb = orders_repo.get_order(conn, b.client_order_id)
    assert rb is not None and not om.cancel(rb, T0, "test")
    rb = orders_repo.get_order(conn, b.client_order_id)
    assert rb is not None and rb.status is OrderStatus.EXECUTED and rb.filled == Count(10)
    assert om.open_orders() == []


def test_reconcile_positions_reports_difference(db: Path) -> None:
    from kalshibot.domain.portfolio import Position

    conn, ex, om = setup(db)
    om.submit(buy(count=4), T0)
    assert om.reconcile_positions({TK: Position(TK, Count(4))}) == []
    assert om.reconcile_positions({TK: Position(TK, Count(5))}) == [
        f"{TK}: local 5 vs exchange 4"
    ]


def test_pending_submit_left_by_a_crash_gets_the_same_grace(db: Path) -> None:
    # Regression: a row left in pending_submit (the process died while sending) was rejected at
    # once when the exchange did not list it yet, although the request may still be in flight.
    conn, ex, om = setup(db)
    lost = buy()
    with atomic(conn):
        orders_repo.create_order(conn, lost, strategy="t", now=T0)  # written, then crash
    assert om.resolve_unknown(T0 + timedelta(seconds=2)) == 1
    assert om.blocked_markets() == {TK}
    assert om.resolve_unknown(T0 + timedelta(seconds=31)) == 0
    assert orders_repo.get_order(conn, lost.client_order_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    # one that did reach the exchange is adopted from it
    arrived = buy("0.46", 5, TimeInForce.GTC)
    with atomic(conn):
        orders_repo.create_order(conn, arrived, strategy="t", now=T0)
    ex.account.place(arrived, ex.books[TK], T0)
    assert om.resolve_unknown(T0 + timedelta(seconds=1)) == 0
    rec = orders_repo.get_order(conn, arrived.client_order_id)
    assert rec is not None and rec.status is OrderStatus.RESTING and rec.order_id is not None
