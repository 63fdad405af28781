"""Engine cycles: kill switch over the sim venue; lost create answers across a restart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from kalshibot.domain.money import Count
from kalshibot.domain.orders import OrderStatus, Side
from kalshibot.execution import local_fill_totals
from kalshibot.store import fills as fills_repo
from kalshibot.store import orders as orders_repo
from kalshibot.strategy.base import MarketView

from .conftest import FnStrategy, SimRig, build_engine
from .helpers import T0, FakeExchange, book, market

D = Decimal


def passive_p(v: MarketView) -> float | None:
    """3.5 cents above the mid: a bid inside the spread pays even after the half-spread of
    adverse selection, crossing it does not (half-spread + taker fee > 1.5 cents)."""
    mid = v.book.mid(Side.YES)
    return None if mid is None else float(mid.value) + 0.035


def test_kill_switch_cancels_resting_orders_and_sends_none(
    sim_rig: Callable[[FnStrategy], SimRig],
) -> None:
    rig = sim_rig(FnStrategy(passive_p))
    eng, clock = rig.engine, rig.clock
    eng.start(clock.now())
    for _ in range(60):
        rep = eng.run_cycle(clock.now())
        if eng.orders.open_orders():
            break
        clock.sleep(5)
    resting = eng.orders.open_orders()
    assert resting, "the test strategy should have left a resting bid"
    assert rig.account.open_orders(), "the venue should hold it too"
    sent_before = eng.conn.execute("SELECT count(*) FROM orders").fetchone()[0]

    rig.kill.touch()
    for _ in range(3):
        clock.sleep(5)
        rep = eng.run_cycle(clock.now())
        assert rep.kill_switch
        assert rep.orders_sent == 0
        assert eng.orders.open_orders() == []
        assert rig.account.open_orders() == []
        assert all(r.verdict != "approved" for r in rep.rows)
    for r in resting:
        rec = orders_repo.get_order(eng.conn, r.client_order_id)
        assert rec is not None and rec.status is OrderStatus.CANCELLED
        assert rec.last_error == "kill switch"
    assert eng.conn.execute("SELECT count(*) FROM orders").fetchone()[0] == sent_before
    reasons = [r[0] for r in eng.conn.execute(
        "SELECT reason FROM decisions WHERE cycle = ? AND verdict != 'skipped'", (eng.cycle,))]
    assert reasons and all("kill switch" in x for x in reasons)

    # removing the file lets entries resume
    rig.kill.unlink()
    for _ in range(30):
        clock.sleep(5)
        if eng.run_cycle(clock.now()).orders_sent:
            break
    else:
        raise AssertionError("no order after the kill switch was removed")


TK = "KXTEST-26NOV19-A"


def _fake(now=T0) -> FakeExchange:
    return FakeExchange([market(TK, now=now)], {TK: book(TK)}, now=now)


def test_engine_restart_after_lost_create_answer_one_order_no_duplicate(tmp_path: Path) -> None:
    ex = _fake()
    p = {"v": 0.9}
    strat = FnStrategy(lambda v: p["v"])
    eng = build_engine(tmp_path, ex, strat, T0, series=("KXTEST",))
    ex.lose_answer = True
    rep = eng.run_cycle(T0)
    assert rep.orders_sent == 1
    assert len(ex.place_calls) == 1
    coid = ex.place_calls[0].client_order_id
    rec = orders_repo.get_order(eng.conn, coid)
    assert rec is not None and rec.status is OrderStatus.OUTCOME_UNKNOWN
    eng.conn.close()

    # restart: a new engine on the same store; the answer is still unknown locally
    ex.lose_answer = False
    now = T0 + timedelta(seconds=5)
    ex.now = now
    eng2 = build_engine(tmp_path, ex, strat, now, new_run=False, series=("KXTEST",))
    assert eng2.start(now) == []  # no reconciliation mismatch
    assert len(ex.place_calls) == 1  # nothing re-posted
    assert len(ex.orders_for(coid)) == 1
    assert len(ex.account.orders) == 1
    rec = orders_repo.get_order(eng2.conn, coid)
    assert rec is not None and rec.status is OrderStatus.EXECUTED and rec.order_id is not None
    exch_qty = {q.ticker: q.qty for q in ex.get_positions()}
    assert exch_qty == {TK: Count(100)}  # depth 100 at the ask
    assert {t: p_.qty for t, p_ in eng2.portfolio.positions.items()} == exch_qty
    assert local_fill_totals(fills_repo.list_fills(eng2.conn)) == {TK: D(100)}

    p["v"] = 0.45  # no edge to add, no reversal to exit: a cycle must not trade
    rep = eng2.run_cycle(now + timedelta(seconds=5))
    assert rep.orders_sent == 0
    assert len(ex.account.orders) == 1
    assert eng2.portfolio.positions[TK].qty == Count(100)


def test_engine_request_never_arrived_blocks_market_until_grace(tmp_path: Path) -> None:
    ex = _fake()
    eng = build_engine(tmp_path, ex, FnStrategy(lambda v: 0.9), T0, series=("KXTEST",))
    ex.drop_request = True
    assert eng.run_cycle(T0).orders_sent == 1
    ex.drop_request = False
    # within the grace the market is blocked: nothing is sent
    for s in (5, 10, 20):
        rep = eng.run_cycle(T0 + timedelta(seconds=s))
        assert rep.orders_sent == 0
        assert "outcome is unknown" in rep.rows[0].reason
    assert len(ex.place_calls) == 1
    # after the grace: rejected as never created, the market trades again (a new id)
    rep = eng.run_cycle(T0 + timedelta(seconds=35))
    first = orders_repo.get_order(eng.conn, ex.place_calls[0].client_order_id)
    assert first is not None and first.status is OrderStatus.REJECTED
    assert rep.orders_sent == 1
    assert len(ex.place_calls) == 2
    assert ex.place_calls[1].client_order_id != ex.place_calls[0].client_order_id
    assert len(ex.account.orders) == 1
