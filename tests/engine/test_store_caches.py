"""The engine caches store state between cycles (kv keys, active orders, the last fill time,
the markets it upserted). Whatever changes the store outside those caches must be seen by the
next cycle: another process committing to the same file (``kalshibot risk reset``,
``kalshibot orders cancel``, the WebSocket sinks), a write on the engine's own connection that
bypasses the engine, and a transaction rolled back after the engine wrote through its caches.
Real SQLite files and second connections, no mocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, OrderStatus, Side
from kalshibot.engine import ENTRIES_BLOCKED_KEY, Engine, EngineConfig, StoreKV
from kalshibot.risk import CircuitBreaker, RiskLimits, RiskManager
from kalshibot.store import fills as fills_repo
from kalshibot.store import orders as orders_repo
from kalshibot.store.connection import atomic, connect
from kalshibot.store.kv import kv_delete, kv_get, kv_set
from kalshibot.store.runs import start_run
from kalshibot.strategy.base import MarketView, StrategyParams

from .conftest import FnStrategy, build_engine
from .helpers import T0, FakeExchange, book, market

D = Decimal
TK = "KXTEST-26NOV19-A"


class Rig:
    """An engine on a SQLite file plus a second connection to the same file (another process's
    view); ``p`` is the test strategy's YES probability (None: no opinion)."""

    def __init__(self, tmp: Path, p: float | None = None) -> None:
        self.p = p
        self.ex = FakeExchange([market(TK)], {TK: book(TK)})
        self.since: list[datetime | None] = []
        get_fills = self.ex.get_fills

        def spy(since: datetime | None = None) -> list[Fill]:
            self.since.append(since)
            return get_fills(since)

        self.ex.get_fills = spy  # type: ignore[method-assign]
        self.eng = build_engine(tmp, self.ex, FnStrategy(self._p), T0, series=("KXTEST",))
        self.other = connect(tmp / "state.sqlite")
        self.now = T0

    def _p(self, v: MarketView) -> float | None:
        return self.p

    def cycle(self, seconds: float = 5):
        self.now += timedelta(seconds=seconds)
        self.ex.now = self.now
        return self.eng.run_cycle(self.now)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.other.close()
    r.eng.conn.close()


def test_breaker_tripped_and_reset_by_another_process_is_seen_next_cycle(rig: Rig) -> None:
    assert rig.cycle().breaker == "ok"
    assert rig.cycle().breaker == "ok"
    other = CircuitBreaker(StoreKV(rig.other, rig.now), D("0.2"))
    with atomic(rig.other):
        other.trip("tripped elsewhere", rig.now)
    rig.p = 0.9  # wants to buy: the tripped breaker must deny it
    rep = rig.cycle()
    assert rep.breaker == "tripped elsewhere"
    assert rep.orders_sent == 0
    assert rep.rows[0].verdict == "denied" and "circuit breaker" in rep.rows[0].reason
    with atomic(rig.other):  # what `kalshibot risk reset --yes` does
        other.reset()
    rep = rig.cycle()
    assert rep.breaker == "ok"
    assert rep.orders_sent == 1


def test_entries_blocked_by_another_process_is_seen_next_cycle(rig: Rig) -> None:
    rig.cycle()
    with atomic(rig.other):
        kv_set(rig.other, ENTRIES_BLOCKED_KEY, "reconciliation mismatch: elsewhere", now=rig.now)
    rig.p = 0.9
    rep = rig.cycle()
    assert rep.entries_blocked == "reconciliation mismatch: elsewhere"
    assert rep.orders_sent == 0
    assert "reconciliation mismatch: elsewhere" in rep.rows[0].reason
    with atomic(rig.other):  # `kalshibot risk reset --clear-block`
        kv_delete(rig.other, ENTRIES_BLOCKED_KEY)
    rep = rig.cycle()
    assert rep.entries_blocked == ""
    assert rep.orders_sent == 1


def test_write_on_the_engines_own_connection_between_cycles_is_seen(rig: Rig) -> None:
    rig.cycle()
    with atomic(rig.eng.conn):
        kv_set(rig.eng.conn, ENTRIES_BLOCKED_KEY, "set by hand", now=rig.now)
    assert rig.cycle().entries_blocked == "set by hand"
    with atomic(rig.eng.conn):
        kv_delete(rig.eng.conn, ENTRIES_BLOCKED_KEY)
    assert rig.cycle().entries_blocked == ""


def test_in_memory_store_sees_writes_on_its_connection(tmp_path: Path) -> None:
    conn = connect(":memory:")
    with atomic(conn):
        start_run(conn, "m", mode="paper", exchange="sim", now=T0)
    ex = FakeExchange([market(TK)], {TK: book(TK)})
    eng = Engine(conn=conn, exchange=ex, strategy=FnStrategy(lambda v: None),
                 params=StrategyParams(),
                 risk=RiskManager(RiskLimits(Money(1000), Money(5000), Money(2000), Money(3000),
                                             Money(500), D("0.2"), 10, D("0.10"), Count(1), 60.0)),
                 config=EngineConfig("m", series=["KXTEST"], kill_switch_path=tmp_path / "K"),
                 starting_cash=Money(10000), now=T0)
    assert eng.run_cycle(T0).breaker == "ok"
    CircuitBreaker(StoreKV(conn, T0), D("0.2")).trip("by hand", T0)
    assert eng.run_cycle(T0 + timedelta(seconds=5)).breaker == "by hand"


def test_rolled_back_write_through_is_not_believed(rig: Rig) -> None:
    rig.cycle()
    day2 = rig.now + timedelta(days=1)
    key = f"risk.start_equity.{day2.date().isoformat()}"
    # quiet_cycle writes today's start equity through the engine's cache, inside the
    # caller's transaction, which then rolls back: the key is not in the store.
    with pytest.raises(RuntimeError), atomic(rig.eng.conn):
        rig.eng.quiet_cycle(day2, {})
        raise RuntimeError("caller failed after the quiet cycle")
    assert kv_get(rig.other, key) is None
    rig.now = day2
    rig.cycle()
    assert kv_get(rig.other, key) is not None


def test_order_cancelled_by_another_process_is_seen_next_cycle(rig: Rig) -> None:
    rig.p = 0.535  # a passive bid inside the spread, left resting
    assert rig.cycle().orders_sent == 1
    rep = rig.cycle()
    assert rep.orders_sent == 0 and rep.rows[0].reason == "order already resting at this price"
    (rec,) = rig.eng.orders.open_orders()
    rig.ex.cancel_order(rec.order_id or "", rec.ticker)  # `kalshibot orders cancel --yes`
    with atomic(rig.other):
        orders_repo.update_order(rig.other, rec.client_order_id, now=rig.now,
                                 status=OrderStatus.CANCELLED, last_error="cancelled elsewhere")
    rep = rig.cycle()
    assert rep.orders_sent == 1  # not "already resting": the cancel was seen
    (new,) = rig.eng.orders.open_orders()
    assert new.client_order_id != rec.client_order_id


def test_unknown_order_resolved_by_another_process_unblocks_next_cycle(rig: Rig) -> None:
    rig.ex.drop_request = True
    rig.p = 0.9
    assert rig.cycle().orders_sent == 1
    rig.ex.drop_request = False
    (coid,) = [i.client_order_id for i in rig.ex.place_calls]
    rep = rig.cycle()
    assert "outcome is unknown" in rep.rows[0].reason
    with atomic(rig.other):
        orders_repo.update_order(rig.other, coid, now=rig.now, status=OrderStatus.REJECTED,
                                 last_error="resolved elsewhere")
    rep = rig.cycle()
    assert rep.orders_sent == 1
    assert len(rig.ex.place_calls) == 2


def test_fill_stored_by_another_connection_moves_the_fill_sync_cursor(rig: Rig) -> None:
    rig.cycle()
    assert rig.since[-1] is None  # no fill stored yet: everything
    ts = T0 + timedelta(minutes=30)
    fill = Fill("f-elsewhere", "o-elsewhere", TK, Side.YES, Action.BUY, Price(D("0.5")),
                Count(1), Money(D("0.01")), True, ts, None)
    with atomic(rig.other):  # e.g. the WebSocket fill sink on its own connection
        fills_repo.insert_fills(rig.other, [fill])
    rig.cycle()
    assert rig.since[-1] == ts - timedelta(minutes=5)


def test_market_row_changed_by_another_process_is_upserted_again(rig: Rig) -> None:
    rig.cycle()

    def title() -> str:
        return str(rig.other.execute("SELECT title FROM markets WHERE ticker = ?",
                                     (TK,)).fetchone()[0])

    assert title() == TK
    with atomic(rig.other):
        rig.other.execute("UPDATE markets SET title = 'changed elsewhere' WHERE ticker = ?",
                          (TK,))
    assert title() == "changed elsewhere"
    rig.eng.cfg.discover_every = 1
    rig.cycle()
    assert title() == TK  # discovery wrote the exchange's view again, as it always did


def test_engine_and_other_connection_agree_on_peak_after_many_cycles(rig: Rig) -> None:
    for _ in range(5):
        rig.cycle()
    raw = kv_get(rig.other, "risk.peak_equity")
    assert raw is not None and '"peak": "10000' in raw


def _fill(fill_id: str = "f-1", order_id: str = "o-1") -> Fill:
    return Fill(fill_id, order_id, TK, Side.YES, Action.BUY, Price(D("0.5")), Count(1),
                Money(D("0.01")), True, T0, None)


def test_fill_deleted_by_another_process_is_stored_again_after_invalidate(tmp_path: Path) -> None:
    from kalshibot.execution import OrderManager

    conn, other = connect(tmp_path / "s.sqlite"), connect(tmp_path / "s.sqlite")
    om = OrderManager(conn, exchange=None)  # type: ignore[arg-type]
    assert om.record_fills([_fill()], T0) == [_fill()]
    assert om.record_fills([_fill()], T0) == []  # known: not new
    with atomic(other):
        other.execute("DELETE FROM fills")
    om.invalidate()  # what the engine does when another connection committed
    assert om.record_fills([_fill()], T0) == [_fill()]
    assert len(fills_repo.list_fills(other)) == 1


def test_fill_recorded_in_a_rolled_back_transaction_is_not_believed_stored(
    tmp_path: Path,
) -> None:
    from kalshibot.execution import OrderManager

    conn = connect(tmp_path / "s.sqlite")
    om = OrderManager(conn, exchange=None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError), atomic(conn):
        assert om.record_fills([_fill()], T0) == [_fill()]
        raise RuntimeError("the caller's transaction fails")
    assert fills_repo.list_fills(conn) == []
    assert om.record_fills([_fill()], T0) == [_fill()]
    assert len(fills_repo.list_fills(conn)) == 1


def test_positions_of_a_failed_end_of_cycle_commit_are_written_next_cycle(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kalshibot.engine as engine_mod

    real = engine_mod.heartbeat
    calls = {"n": 0}

    def failing_once(conn, hb):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full")
        return real(conn, hb)

    monkeypatch.setattr(engine_mod, "heartbeat", failing_once)
    rig.p = 0.99  # buys at the ask in this cycle; the cycle's commit then fails
    with pytest.raises(OSError):
        rig.cycle()
    assert rig.eng.open_positions(), "the cycle should have bought"
    assert rig.other.execute("SELECT count(*) FROM positions").fetchone()[0] == 0
    rig.p = None
    rig.cycle()
    rows = rig.other.execute("SELECT ticker FROM positions").fetchall()
    assert rows == [(TK,)]
