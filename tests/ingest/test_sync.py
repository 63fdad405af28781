"""`data sync` end to end over ``responses``: pagination, resume, idempotence, historical."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.clock import SimClock
from kalshibot.errors import UserInputError
from kalshibot.ingest.sync import (
    KV_TRADES,
    SyncOptions,
    SyncReport,
    merge_covered,
    run_sync,
    todo_window,
)
from kalshibot.store import integrity_check, open_store
from kalshibot.store.candles import list_candles
from kalshibot.store.kv import kv_get
from kalshibot.store.markets import get_event, get_market, get_series
from kalshibot.store.trades import list_trades
from tests.ingest.conftest import (
    ACTIVE,
    FINAL,
    NEXT,
    NOW,
    SERIES,
    FakeKalshi,
    dump,
    make_client,
)

OPTS = SyncOptions(series=(SERIES,))


def sync(fake: FakeKalshi, path: Path, clock: SimClock | None = None,
         opts: SyncOptions = OPTS) -> SyncReport:
    clock = clock or SimClock(NOW)
    conn = open_store(path)
    try:
        return run_sync(make_client(clock), conn, opts, clock=clock)
    finally:
        conn.close()


def test_full_sync_pages_and_tables(fake: FakeKalshi, db_path: Path) -> None:
    report = sync(fake, db_path)
    assert report.ok and report.problems == []
    # markets: 3 pages of 1; trades of ACTIVE: 3 pages of 2
    assert fake.count("/markets") == 3
    trade_calls = [q for p, q in fake.calls if p == "/markets/trades" and q["ticker"] == ACTIVE]
    assert [q.get("cursor") for q in trade_calls] == [None, "c2", "c4"]
    assert report.markets == 3 and report.results == 1
    assert report.added == {"series": 1, "events": 3, "markets": 3, "candles": 35,
                            "trades": 8, "settlements": 0}
    conn = open_store(db_path)
    try:
        assert integrity_check(conn) == []
        s = get_series(conn, SERIES)
        assert s is not None and s.fee_type.value == "quadratic"
        assert get_event(conn, FINAL.rsplit("-", 1)[0]) is not None
        final = get_market(conn, FINAL)
        assert final is not None and final.result.value == "yes"
        assert final.settlement_value is not None and final.settlement_value.value == 1
        trades = list_trades(conn, ACTIVE)
        assert len(trades) == 6
        src = {t["trade_id"]: t for t in fake.trades[ACTIVE]}
        for t in trades:  # exact money round trip
            assert t.yes_price.value == Decimal(src[t.trade_id]["yes_price_dollars"])
            assert t.count.value == Decimal(src[t.trade_id]["count_fp"])
        candles = list_candles(conn, ACTIVE)
        assert len(candles) == 15  # 19:01 .. 19:15, 1-minute
        assert candles[0].yes_bid_close is not None
        assert candles[0].yes_bid_close.value == Decimal("0.47")
        assert len(list_candles(conn, NEXT)) == 5  # open 19:15, now 19:20
        state = kv_get(conn, KV_TRADES + ACTIVE)
        assert "pending" not in state and state["through"] == int(
            datetime(2026, 11, 20, 19, 15, tzinfo=UTC).timestamp())
    finally:
        conn.close()


def test_rerun_is_idempotent(fake: FakeKalshi, db_path: Path) -> None:
    sync(fake, db_path)
    conn = open_store(db_path)
    first = dump(conn)
    conn.close()
    fake.calls.clear()
    again = sync(fake, db_path)
    assert again.ok
    assert all(v == 0 for v in again.added.values())
    assert all(again.updated(t) == 0 for t in again.added)
    conn = open_store(db_path)
    assert dump(conn) == first
    conn.close()
    # closed markets' windows are covered: no trade/candle requests for them
    asked = {q["ticker"] for p, q in fake.calls if p == "/markets/trades"}
    assert asked <= {NEXT}
    assert not any(FINAL in p or ACTIVE in p for p, _ in fake.calls)


def test_resume_after_interruption(fake: FakeKalshi, tmp_path: Path) -> None:
    assert sync(fake, tmp_path / "ref.sqlite").ok  # the uninterrupted run, separate store
    fake.calls.clear()

    # the 2nd page of ACTIVE's trades fails on every retry (4 attempts) -> the sync stops
    fake.fail[("/markets/trades", "c2")] = 4
    path = tmp_path / "interrupted.sqlite"
    first = sync(fake, path)
    assert not first.ok and first.stopped is not None
    assert "connection failed" in first.stopped and "resume" in first.stopped
    conn = open_store(path)
    state = kv_get(conn, KV_TRADES + ACTIVE)
    assert state["pending"]["cursor"] == "c2"
    assert len(list_trades(conn, ACTIVE)) == 2  # page 1 is stored with its cursor
    conn.close()

    fake.calls.clear()
    second = sync(fake, path)
    assert second.ok and ACTIVE in second.resumed
    active_calls = [q for p, q in fake.calls if p == "/markets/trades" and q["ticker"] == ACTIVE]
    assert [q.get("cursor") for q in active_calls] == ["c2", "c4"]  # page 1 not re-read
    conn = open_store(path)
    got = dump(conn)
    conn.close()
    conn = open_store(tmp_path / "ref.sqlite")
    want = dump(conn)
    conn.close()
    assert got == want


def test_interrupted_twice_then_finishes(fake: FakeKalshi, db_path: Path) -> None:
    fake.fail[("/markets/trades", "c2")] = 4
    fake.fail[("/markets/trades", "c4")] = 4
    assert not sync(fake, db_path).ok
    assert not sync(fake, db_path).ok
    final = sync(fake, db_path)
    assert final.ok
    conn = open_store(db_path)
    assert len(list_trades(conn, ACTIVE)) == 6
    conn.close()


def test_historical_endpoints_before_cutoff(fake: FakeKalshi, db_path: Path) -> None:
    # FINAL has moved to /historical (cutoff 19:01), with every trade before 19:01
    fake.cutoff = datetime(2026, 11, 20, 19, 1, tzinfo=UTC)
    final = next(m for m in fake.markets if m["ticker"] == FINAL)
    fake.markets = [m for m in fake.markets if m["ticker"] != FINAL]
    fake.historical_markets = [final]
    report = sync(fake, db_path, opts=SyncOptions(tickers=(FINAL, ACTIVE)))
    assert report.ok, report.problems
    assert fake.count("/historical/markets") == 1
    assert fake.count(f"/historical/markets/{FINAL}/candlesticks") == 1
    hist = [q for p, q in fake.calls if p == "/historical/trades"]
    assert {q["ticker"] for q in hist} == {FINAL, ACTIVE}
    live = [q for p, q in fake.calls if p == "/markets/trades" and q["ticker"] == ACTIVE]
    assert live and all(int(q["min_ts"]) >= int(fake.cutoff.timestamp()) for q in live)
    conn = open_store(db_path)
    try:
        assert len(list_trades(conn, FINAL)) == 2
        assert len(list_candles(conn, FINAL)) == 15
        assert len(list_trades(conn, ACTIVE)) == 6
    finally:
        conn.close()


def test_unknown_ticker_is_a_problem_not_a_crash(fake: FakeKalshi, db_path: Path) -> None:
    report = sync(fake, db_path, opts=SyncOptions(tickers=("NOPE-1",), historical=False))
    assert report.ok and report.markets == 0
    assert any("NOPE-1" in p for p in report.problems)


def test_since_until_bound_the_window(fake: FakeKalshi, db_path: Path) -> None:
    since = datetime(2026, 11, 20, 19, 5, tzinfo=UTC)
    until = datetime(2026, 11, 20, 19, 16, tzinfo=UTC)
    report = sync(fake, db_path, opts=SyncOptions(series=(SERIES,), since=since, until=until))
    assert report.ok
    q = next(q for p, q in fake.calls if p == "/markets")
    assert q["min_close_ts"] == str(int(since.timestamp()))
    conn = open_store(db_path)
    try:
        assert get_market(conn, FINAL) is None  # closed before --since (filtered server side)
        assert all(t.ts >= since for t in list_trades(conn, ACTIVE))
        assert len(list_candles(conn, ACTIVE)) == 10  # 19:06 .. 19:15
    finally:
        conn.close()


def test_options_are_validated() -> None:
    with pytest.raises(UserInputError):
        SyncOptions().validate()
    with pytest.raises(UserInputError):
        SyncOptions(series=("X",), status="active").validate()
    with pytest.raises(UserInputError):
        SyncOptions(series=("X",), period_minutes=5).validate()


def test_covered_window_arithmetic() -> None:
    state: dict[str, int] = {}
    assert todo_window(state, 100, 200) == (100, 200)
    merge_covered(state, 100, 200)
    assert todo_window(state, 100, 200) is None
    assert todo_window(state, 150, 300) == (200, 300)
    assert todo_window(state, 50, 300) == (50, 300)  # earlier start: refetch all
    merge_covered(state, 200, 300)
    assert state == {"from": 100, "through": 300}
    merge_covered(state, 400, 500)  # not contiguous: replaced
    assert state == {"from": 400, "through": 500}
