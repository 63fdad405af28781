"""Candle-derived quote history (issue 21): what a candle gives, and recorded books winning."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kalshibot.domain.money import Count, Price
from kalshibot.store import open_store
from kalshibot.store.books import book_at, insert_snapshot_rows
from kalshibot.store.candles import Candle, upsert_candles
from kalshibot.store.migrations import _statements
from kalshibot.store.quotes import derive_candle_quotes, history_summary, quote_sources
from kalshibot.store.trades import insert_trade_rows
from kalshibot.store.units import ts_ms

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TK = "KXBTC15M-26NOV201215-15"


def _candles(conn: sqlite3.Connection, ticker: str = TK, n: int = 3) -> None:
    upsert_candles(conn, [Candle(ticker, 1, T0 + timedelta(minutes=i + 1),
                                 yes_bid_close=Price(Decimal("0.40") + Decimal(i) / 100),
                                 yes_ask_close=Price(Decimal("0.45") + Decimal(i) / 100),
                                 volume=Count(5)) for i in range(n)])


def _rows(conn: sqlite3.Connection, ticker: str = TK) -> list[tuple[object, ...]]:
    return conn.execute("SELECT ts, yes_bid, yes_bid_size, yes_ask, yes_ask_size, source "
                        "FROM book_snapshots WHERE ticker = ? ORDER BY ts", (ticker,)).fetchall()


def test_a_candle_becomes_a_quote_at_its_minute_end_with_sizes_from_that_minutes_trades(
) -> None:
    conn = open_store(":memory:")
    _candles(conn)
    end1 = ts_ms(T0 + timedelta(minutes=1))
    # in the first minute: 3 contracts lifted the ask (taker yes), 2 hit the bid (taker no);
    # a trade exactly at the minute's end belongs to it; one a millisecond later does not
    insert_trade_rows(conn, [("a", TK, end1 - 30_000, 4500, 300, "yes"),
                             ("b", TK, end1, 4000, 200, "no"),
                             ("c", TK, end1 + 1, 4000, 700, "no")])
    assert derive_candle_quotes(conn, [TK]) == 3
    rows = _rows(conn)
    assert rows[0] == (end1, 4000, 200, 4500, 300, "candle")
    assert rows[1][2] == 700 and rows[1][4] is None  # no YES taker in minute 2: size unknown
    assert rows[2][2] is None and rows[2][4] is None
    book = book_at(conn, TK, T0 + timedelta(minutes=1, seconds=59))
    assert book is not None and book.ts == T0 + timedelta(minutes=1)  # never fresher
    assert quote_sources(conn, [TK, "OTHER"]) == {TK: "candles", "OTHER": "none"}
    assert derive_candle_quotes(conn, [TK]) == 0  # idempotent


def test_a_recorded_book_replaces_the_markets_candle_quotes() -> None:
    conn = open_store(":memory:")
    _candles(conn)
    derive_candle_quotes(conn)
    assert len(_rows(conn)) == 3
    # a recorded book at the very millisecond of a candle quote, and one between
    at = ts_ms(T0 + timedelta(minutes=2))
    insert_snapshot_rows(conn, [(TK, at, 4100, 1000, 4600, 1000, None),
                                (TK, at + 5_000, 4200, 1000, 4700, 1000, None)])
    assert _rows(conn) == [(at, 4100, 1000, 4600, 1000, "book"),
                           (at + 5_000, 4200, 1000, 4700, 1000, "book")]
    # deriving again leaves a market with recorded books alone
    assert derive_candle_quotes(conn) == 0
    assert quote_sources(conn, [TK]) == {TK: "snapshots"}


def test_recorded_books_of_one_market_leave_other_markets_candle_quotes() -> None:
    conn = open_store(":memory:")
    _candles(conn, "A-1")
    _candles(conn, "B-1")
    insert_snapshot_rows(conn, [("A-1", ts_ms(T0), 4100, 100, 4600, 100, None)])
    derive_candle_quotes(conn)
    assert quote_sources(conn, ["A-1", "B-1"]) == {"A-1": "snapshots", "B-1": "candles"}
    s = history_summary(conn, ["A-1", "B-1", "C-1"])
    assert s["source"] == "snapshots+candles"
    assert s["markets"] == {"snapshots": 1, "candles": 1, "none": 1}
    assert s["per_market"] == {"A-1": "snapshots", "B-1": "candles", "C-1": "none"}
    assert "fidelity" in s


def test_upgrading_a_version_3_store_derives_quotes_from_its_candles(tmp_path: object) -> None:
    """A store synced before migration 4 trains on its candles after the upgrade."""
    from kalshibot.store import migrations as mg

    path = f"{tmp_path}/old.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for step in mg.MIGRATIONS[:3]:
        for st in _statements(step.sql):
            raw.execute(st)
    raw.execute("PRAGMA user_version = 3")
    raw.execute("INSERT INTO candles (ticker, period_min, end_ts, yes_bid_close, yes_ask_close) "
                "VALUES (?, 1, ?, 4000, 4500)", (TK, ts_ms(T0)))
    raw.close()
    conn = open_store(path)
    assert _rows(conn) == [(ts_ms(T0), 4000, None, 4500, None, "candle")]


def test_trigger_bodies_stay_whole_when_a_script_is_split() -> None:
    sql = ("CREATE TABLE t (a);\nCREATE TRIGGER x AFTER INSERT ON t BEGIN\n"
           "  DELETE FROM t WHERE a = 0;\n  DELETE FROM t WHERE a = 1;\nEND;\n")
    assert len(_statements(sql)) == 2
