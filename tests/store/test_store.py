"""Store tests on real SQLite files: migrations, atomicity, idempotence, exact money."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import Event, Market, MarketStatus, Result, Series
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Order, OrderIntent, OrderStatus, Side, Trade
from kalshibot.domain.portfolio import Position
from kalshibot.domain.ticks import TickGrid
from kalshibot.errors import StoreError
from kalshibot.store import (
    atomic,
    books,
    decisions,
    equity,
    fills,
    integrity_check,
    kv,
    markets,
    open_store,
    orders,
    positions,
    registry,
    runs,
    schema_version,
    trades,
)
from kalshibot.store.history import load_markets, load_snapshots, load_trades
from kalshibot.store.migrations import CURRENT_VERSION, MIGRATIONS, _statements

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _market(ticker: str = "KXBTC15M-26SEP302015-15", **kw: object) -> Market:
    base: dict[str, object] = dict(
        ticker=ticker, event_ticker=ticker.rsplit("-", 1)[0], series_ticker="KXBTC15M",
        title="BTC up?", status=MarketStatus.FINALIZED, open_time=T0,
        close_time=T0 + timedelta(minutes=15), tick_grid=TickGrid.linear_cent(),
        strike_type="greater_or_equal", floor_strike=Decimal("83509.70"), result=Result.YES,
        settlement_value=Price(1), volume=Decimal("12.34"))
    base.update(kw)
    return Market(**base)  # type: ignore[arg-type]


def test_fresh_file_reaches_current_version(tmp_path):
    conn = open_store(tmp_path / "a.sqlite")
    assert schema_version(conn) == CURRENT_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert integrity_check(conn) == []


def test_old_file_is_migrated_and_keeps_data(tmp_path):
    path = tmp_path / "old.sqlite"
    raw = sqlite3.connect(path)
    for stmt in _statements(MIGRATIONS[0].sql):  # a version-1 file built by hand
        raw.execute(stmt)
    raw.execute("INSERT INTO markets (ticker, event_ticker, series_ticker, status, close_time, "
                "updated_ts) VALUES ('X-1', 'X', 'X', 'active', 1, 1)")
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()
    conn = open_store(path)
    assert schema_version(conn) == CURRENT_VERSION
    assert conn.execute("SELECT count(*) FROM markets").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    assert integrity_check(conn) == []


def test_newer_file_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(path)


def test_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        open_store(path)


def test_crash_mid_batch_keeps_previous_state(tmp_path):
    conn = open_store(tmp_path / "c.sqlite")
    with atomic(conn):
        markets.upsert_markets(conn, [_market()], now=T0)
    with pytest.raises(RuntimeError), atomic(conn):
        markets.upsert_markets(conn, [_market("KXBTC15M-26SEP302030-30")], now=T0)
        with atomic(conn):  # nested: joins the outer transaction
            books.insert_snapshot_rows(conn, [("A", 1, 4900, 100, 5100, 200, None)])
        raise RuntimeError("crash")
    conn.close()
    conn = open_store(tmp_path / "c.sqlite")
    assert [r[0] for r in conn.execute("SELECT ticker FROM markets")] == [_market().ticker]
    assert conn.execute("SELECT count(*) FROM book_snapshots").fetchone()[0] == 0
    assert integrity_check(conn) == []


def test_reingest_changes_nothing(tmp_path):
    conn = open_store(tmp_path / "i.sqlite")
    m = _market()
    book = OrderBook.from_levels(m.ticker, [(Price("0.47"), Count("210"))],
                                 [(Price("0.51"), Count("5.5"))], T0)
    tr = Trade("t1", m.ticker, Price("0.4712"), Count("1.25"), Side.YES, T0)
    for expect in (1, 0):
        with atomic(conn):
            assert markets.upsert_series(conn, [Series("KXBTC15M")], now=T0) == expect
            assert markets.upsert_events(conn, [Event(m.event_ticker, "KXBTC15M")],
                                         now=T0) == expect
            assert markets.upsert_markets(conn, [m], now=T0 + timedelta(days=expect)) == expect
            assert books.save_books(conn, [book]) == expect
            assert trades.upsert_trades(conn, [tr]) == expect
    assert markets.get_market(conn, m.ticker) == m
    back = books.book_at(conn, m.ticker, T0)
    assert back == book


def test_money_round_trips_exactly(tmp_path):
    conn = open_store(tmp_path / "m.sqlite")
    intent = OrderIntent("KXBTC15M-X-15", Side.NO, Action.BUY, Price("0.0123"), Count("3.33"),
                         "coid-1")
    rec = orders.create_order(conn, intent, strategy="edge", now=T0)
    assert rec.price == Price("0.0123") and rec.count == Count("3.33")
    assert rec.status is OrderStatus.PENDING_SUBMIT
    rec = orders.update_order(conn, "coid-1", now=T0, order_id="ex-1",
                              status=OrderStatus.PARTIALLY_FILLED, filled=Count("1.11"),
                              fees=Money(Decimal("0.0001")))
    assert orders.find_by_order_id(conn, "ex-1") == rec
    f = Fill("f1", "ex-1", intent.ticker, Side.NO, Action.BUY, Price("0.0123"), Count("1.11"),
             Money(Decimal("0.0009")), True, T0)
    assert fills.insert_fills(conn, [f, f]) == 1
    (back,) = fills.list_fills(conn)
    assert back.price.value == Decimal("0.0123") and back.fee.amount == Decimal("0.0009")
    assert back.client_order_id == "coid-1"
    pos = Position(intent.ticker, Count("-1.11"), Money(Decimal("0.013653")),
                   Money(Decimal("-0.1")), Money(Decimal("0.0009")))
    positions.save_positions(conn, [pos], now=T0)
    assert positions.load_positions(conn)[intent.ticker] == pos
    p = equity.EquityPoint(T0, Money(Decimal("9999.9876")), Money(Decimal("10000.0001")),
                           Money(0), Money(Decimal("0.0125")), Money(Decimal("0.0009")), "r1")
    equity.record_equity(conn, p)
    assert equity.equity_curve(conn, run_id="r1") == [p]


def test_runs_decisions_registry_kv(tmp_path):
    conn = open_store(tmp_path / "r.sqlite")
    with atomic(conn):
        runs.start_run(conn, "r1", mode="paper", exchange="sim", now=T0)
        runs.heartbeat(conn, runs.Heartbeat("r1", T0, 1, 120, 5, 1, 0))
        d = decisions.Decision("r1", 1, T0, "X", "edge", decisions.Verdict.DENIED,
                               "spread too wide", 0.61, Decimal("0.55"), "yes", Decimal("0.03"),
                               Decimal("10"))
        decisions.record_decisions(conn, [d, d])
        kv.kv_set(conn, "breaker", {"tripped": True, "reason": "drawdown"}, now=T0)
        registry.register_model(conn, "m1", "models/m1.joblib", created=T0, metrics={"ll": 0.6})
        registry.register_model(conn, "m2", "models/m2.joblib", created=T0 + timedelta(1))
    assert decisions.list_decisions(conn, run_id="r1") == [d]
    assert runs.last_heartbeat(conn).markets_seen == 5
    assert kv.kv_get(conn, "breaker")["tripped"] is True
    assert registry.current_model(conn).id == "m2"
    registry.set_current(conn, "m1")
    assert registry.current_model(conn).metrics == {"ll": 0.6}
    with pytest.raises(sqlite3.IntegrityError):
        runs.heartbeat(conn, runs.Heartbeat("nope", T0, 1))  # foreign key enforced


def test_history_loaders_columns(tmp_path):
    conn = open_store(tmp_path / "h.sqlite")
    m = _market()
    markets.upsert_markets(conn, [m], now=T0)
    markets.upsert_events(conn, [Event(m.event_ticker, "KXBTC15M", "", True)], now=T0)
    books.insert_snapshot_rows(conn, [(m.ticker, 1000, 4700, 21000, None, None, None)])
    trades.upsert_trades(conn, [Trade("t", m.ticker, Price("0.47"), Count("2"), Side.NO, T0)])
    df = load_markets(conn)
    assert list(df.columns) == ["ticker", "event_ticker", "series_ticker", "title", "status",
                                "open_time", "close_time", "strike_type", "floor_strike",
                                "cap_strike", "result", "settlement_value", "mutually_exclusive"]
    assert str(df.close_time.dtype) == "datetime64[ns, UTC]"
    assert df.floor_strike[0] == 83509.70 and bool(df.mutually_exclusive[0])
    s = load_snapshots(conn)
    assert s.yes_bid[0] == 0.47 and s.yes_bid_size[0] == 210.0 and s.yes_ask.isna()[0]
    assert load_trades(conn).yes_price[0] == 0.47


def _sell_yes_record(conn: sqlite3.Connection) -> None:
    intent = OrderIntent("KXBTC15M-26SEP302015-15", Side.YES, Action.SELL, Price("0.6000"),
                         Count(5), "kb-exit-1")
    with atomic(conn):
        orders.create_order(conn, intent, strategy="edge", now=T0)
        orders.update_order(conn, "kb-exit-1", now=T0, order_id="ex-1",
                            status=OrderStatus.RESTING)


def _canonical(side: Side, action: Action, price: str) -> Order:
    return Order(order_id="ex-1", client_order_id="kb-exit-1",
                 ticker="KXBTC15M-26SEP302015-15", side=side, action=action,
                 price=Price(price), initial_count=Count(5), filled_count=Count(2),
                 remaining_count=Count(3), status=OrderStatus.PARTIALLY_FILLED)


def test_exchange_order_in_canonical_form_keeps_the_records_price(tmp_path):
    """Kalshi reads our "sell YES @ 0.60" back as "buy NO @ 0.40": the local record must keep
    0.60 (copying the NO price made the engine cancel/re-price the exit every cycle)."""
    conn = open_store(tmp_path / "o.sqlite")
    _sell_yes_record(conn)
    with atomic(conn):
        rec = orders.apply_exchange_order(conn, _canonical(Side.NO, Action.BUY, "0.4000"),
                                          now=T0 + timedelta(seconds=5))
    assert (rec.side, rec.action, rec.price) == (Side.YES, Action.SELL, Price("0.6000"))
    assert rec.filled == Count(2) and rec.status is OrderStatus.PARTIALLY_FILLED
    again = orders.get_order(conn, "kb-exit-1")
    assert again is not None and again.price == Price("0.6000")


def test_exchange_order_with_the_opposite_direction_is_refused(tmp_path):
    from kalshibot.errors import DataError

    conn = open_store(tmp_path / "o.sqlite")
    _sell_yes_record(conn)
    with pytest.raises(DataError, match="reports buy yes"), atomic(conn):
        orders.apply_exchange_order(conn, _canonical(Side.YES, Action.BUY, "0.6000"), now=T0)
    rec = orders.get_order(conn, "kb-exit-1")
    assert rec is not None and rec.price == Price("0.6000") and rec.filled == Count(0)
