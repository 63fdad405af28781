"""Schema versions and migrations.

The version lives in ``PRAGMA user_version``. ``MIGRATIONS`` is the ordered list of steps;
step ``n`` takes a file from version ``n - 1`` to ``n``. A fresh file runs every step; an old file
runs the missing ones, each in its own transaction; a file whose version is higher than
``CURRENT_VERSION`` was written by a newer kalshibot and is refused with ``StoreError``.

Conventions (see ``kalshibot.store.units``): times INTEGER epoch ms UTC; exact money TEXT decimal
dollars; high-volume prices INTEGER units of $0.0001 and counts INTEGER units of 0.01 contract.
Never REAL for money (``model_p`` and other probabilities are REAL).

Version history:
1. market data: series, events, markets, book_snapshots, trades, candles, spot_prices,
   price_points, settlements.
2. trading: orders, fills, positions, decisions, equity, runs, heartbeats, model_registry, kv.
3. Kalshi API 3.34: markets.fee_waiver_until (epoch ms), markets.exchange_index,
   markets.untradeable (why the bot must not trade it; "" when it may), orders.exchange_index.
4. quote history from candles (issue 21): book_snapshots.source ('book' = a recorded/imported
   order book, 'candle' = derived from a 1-minute candle's closing YES bid/ask, see
   ``kalshibot.store.quotes``); a market's recorded books win: storing one deletes that
   market's candle-derived rows (triggers). Existing candles are derived on upgrade.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from kalshibot.errors import StoreError
from kalshibot.store.quotes import DERIVE_ALL_SQL


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


V1_MARKET_DATA = """
CREATE TABLE series (
    ticker          TEXT PRIMARY KEY,
    title           TEXT NOT NULL DEFAULT '',
    category        TEXT NOT NULL DEFAULT '',
    frequency       TEXT NOT NULL DEFAULT '',
    fee_type        TEXT NOT NULL DEFAULT 'quadratic',
    fee_multiplier  TEXT NOT NULL DEFAULT '1',
    updated_ts      INTEGER NOT NULL
);
CREATE TABLE events (
    event_ticker        TEXT PRIMARY KEY,
    series_ticker       TEXT NOT NULL,
    title               TEXT NOT NULL DEFAULT '',
    mutually_exclusive  INTEGER NOT NULL DEFAULT 0,
    updated_ts          INTEGER NOT NULL
);
CREATE INDEX events_series ON events(series_ticker);
CREATE TABLE markets (
    ticker              TEXT PRIMARY KEY,
    event_ticker        TEXT NOT NULL,
    series_ticker       TEXT NOT NULL,
    title               TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    open_time           INTEGER,
    close_time          INTEGER NOT NULL,
    strike_type         TEXT,
    floor_strike        TEXT,
    cap_strike          TEXT,
    result              TEXT NOT NULL DEFAULT '',
    settlement_value    TEXT,
    tick_structure      TEXT NOT NULL DEFAULT 'linear_cent',
    price_ranges        TEXT,
    fractional_trading  INTEGER NOT NULL DEFAULT 0,
    volume              TEXT NOT NULL DEFAULT '0',
    open_interest       TEXT NOT NULL DEFAULT '0',
    fee_type            TEXT NOT NULL DEFAULT 'quadratic',
    fee_multiplier      TEXT NOT NULL DEFAULT '1',
    source              TEXT NOT NULL DEFAULT '',
    updated_ts          INTEGER NOT NULL
);
CREATE INDEX markets_series_close ON markets(series_ticker, close_time);
CREATE INDEX markets_event ON markets(event_ticker);
CREATE INDEX markets_status_close ON markets(status, close_time);
CREATE TABLE book_snapshots (
    ticker          TEXT NOT NULL,
    ts              INTEGER NOT NULL,
    yes_bid         INTEGER,
    yes_bid_size    INTEGER,
    yes_ask         INTEGER,
    yes_ask_size    INTEGER,
    depth           TEXT,
    PRIMARY KEY (ticker, ts)
) WITHOUT ROWID;
CREATE TABLE trades (
    trade_id    TEXT PRIMARY KEY,
    ticker      TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    yes_price   INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    taker_side  TEXT NOT NULL CHECK (taker_side IN ('yes', 'no'))
);
CREATE INDEX trades_ticker_ts ON trades(ticker, ts);
CREATE TABLE candles (
    ticker          TEXT NOT NULL,
    period_min      INTEGER NOT NULL,
    end_ts          INTEGER NOT NULL,
    price_open      INTEGER,
    price_high      INTEGER,
    price_low       INTEGER,
    price_close     INTEGER,
    yes_bid_close   INTEGER,
    yes_ask_close   INTEGER,
    volume          INTEGER NOT NULL DEFAULT 0,
    open_interest   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ticker, period_min, end_ts)
) WITHOUT ROWID;
CREATE TABLE spot_prices (
    source  TEXT NOT NULL,
    symbol  TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    price   TEXT NOT NULL,
    open    TEXT,
    high    TEXT,
    low     TEXT,
    volume  TEXT,
    PRIMARY KEY (symbol, source, ts)
) WITHOUT ROWID;
CREATE TABLE price_points (
    ticker      TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    last_price  INTEGER NOT NULL,
    volume      INTEGER,
    source      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (ticker, ts)
) WITHOUT ROWID;
CREATE TABLE settlements (
    ticker      TEXT PRIMARY KEY,
    result      TEXT NOT NULL,
    revenue     TEXT NOT NULL,
    settled_ts  INTEGER NOT NULL,
    yes_count   TEXT NOT NULL DEFAULT '0',
    no_count    TEXT NOT NULL DEFAULT '0',
    value       TEXT
);
"""

V2_TRADING = """
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    order_id        TEXT UNIQUE,
    ticker          TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('yes', 'no')),
    action          TEXT NOT NULL CHECK (action IN ('buy', 'sell')),
    price           TEXT NOT NULL,
    count           TEXT NOT NULL,
    filled          TEXT NOT NULL DEFAULT '0',
    status          TEXT NOT NULL,
    strategy        TEXT NOT NULL DEFAULT '',
    time_in_force   TEXT NOT NULL DEFAULT 'good_till_canceled',
    fees            TEXT NOT NULL DEFAULT '0',
    created_ts      INTEGER NOT NULL,
    updated_ts      INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX orders_status ON orders(status);
CREATE INDEX orders_ticker ON orders(ticker);
CREATE TABLE fills (
    fill_id         TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL,
    client_order_id TEXT,
    ticker          TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('yes', 'no')),
    action          TEXT NOT NULL CHECK (action IN ('buy', 'sell')),
    price           TEXT NOT NULL,
    count           TEXT NOT NULL,
    fee             TEXT NOT NULL,
    is_taker        INTEGER NOT NULL,
    ts              INTEGER NOT NULL,
    strategy        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX fills_ts ON fills(ts);
CREATE INDEX fills_order ON fills(order_id);
CREATE TABLE positions (
    ticker          TEXT PRIMARY KEY,
    qty             TEXT NOT NULL,
    cost            TEXT NOT NULL,
    realized_pnl    TEXT NOT NULL,
    fees            TEXT NOT NULL,
    updated_ts      INTEGER NOT NULL
);
CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    mode            TEXT NOT NULL,
    exchange        TEXT NOT NULL,
    started_ts      INTEGER NOT NULL,
    ended_ts        INTEGER,
    end_reason      TEXT,
    config          TEXT
);
CREATE TABLE heartbeats (
    run_id          TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    ts              INTEGER NOT NULL,
    cycle           INTEGER NOT NULL,
    cycle_ms        INTEGER NOT NULL DEFAULT 0,
    markets_seen    INTEGER NOT NULL DEFAULT 0,
    orders_sent     INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0,
    note            TEXT,
    PRIMARY KEY (run_id, cycle)
);
CREATE INDEX heartbeats_ts ON heartbeats(ts);
CREATE TABLE decisions (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL,
    cycle           INTEGER NOT NULL,
    ts              INTEGER NOT NULL,
    ticker          TEXT NOT NULL,
    strategy        TEXT NOT NULL DEFAULT '',
    model_p         REAL,
    market_price    TEXT,
    side            TEXT,
    edge            TEXT,
    proposed_size   TEXT,
    verdict         TEXT NOT NULL CHECK (verdict IN ('approved', 'denied', 'skipped')),
    reason          TEXT NOT NULL DEFAULT '',
    UNIQUE (run_id, cycle, ticker, strategy)
);
CREATE INDEX decisions_ts ON decisions(ts);
CREATE TABLE equity (
    ts          INTEGER NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    cash        TEXT NOT NULL,
    equity      TEXT NOT NULL,
    realized    TEXT NOT NULL,
    unrealized  TEXT NOT NULL,
    fees        TEXT NOT NULL,
    PRIMARY KEY (run_id, ts)
);
CREATE TABLE model_registry (
    id          TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    created_ts  INTEGER NOT NULL,
    metrics     TEXT NOT NULL DEFAULT '{}',
    is_current  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX model_registry_one_current ON model_registry(is_current) WHERE is_current = 1;
CREATE TABLE kv (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_ts  INTEGER NOT NULL
);
"""

V3_API_334 = """
ALTER TABLE markets ADD COLUMN fee_waiver_until INTEGER;
ALTER TABLE markets ADD COLUMN exchange_index INTEGER;
ALTER TABLE markets ADD COLUMN untradeable TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN exchange_index INTEGER
"""

V4_CANDLE_QUOTES = """
ALTER TABLE book_snapshots ADD COLUMN source TEXT NOT NULL DEFAULT 'book';
CREATE INDEX book_snapshots_candle ON book_snapshots(ticker) WHERE source = 'candle';
CREATE TRIGGER book_snapshots_book_wins_insert AFTER INSERT ON book_snapshots
WHEN NEW.source = 'book'
BEGIN
    DELETE FROM book_snapshots WHERE ticker = NEW.ticker AND source = 'candle';
END;
CREATE TRIGGER book_snapshots_book_wins_update AFTER UPDATE OF source ON book_snapshots
WHEN NEW.source = 'book' AND OLD.source <> 'book'
BEGIN
    DELETE FROM book_snapshots WHERE ticker = NEW.ticker AND source = 'candle';
END;
""" + DERIVE_ALL_SQL

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "market data", V1_MARKET_DATA),
    Migration(2, "trading state", V2_TRADING),
    Migration(3, "Kalshi API 3.34: fee waivers, exchange shards, untradeable markets",
              V3_API_334),
    Migration(4, "quote history from candles (book_snapshots.source)", V4_CANDLE_QUOTES),
)
CURRENT_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, read_only: bool = False) -> int:
    """Bring ``conn`` to ``CURRENT_VERSION``; return the number of steps applied.

    Safe when several processes open the same new file at once: each step runs under the
    write lock (``BEGIN IMMEDIATE``) and re-reads ``user_version`` there, so a step another
    process applied meanwhile is skipped instead of run twice.
    """
    version = _check(schema_version(conn))
    if version == CURRENT_VERSION:
        return 0
    if read_only:
        raise StoreError(f"the database is at schema version {version}; version "
                         f"{CURRENT_VERSION} is needed and the file is opened read-only")
    applied = 0
    for step in MIGRATIONS:
        # executescript() commits first; run the step's statements inside one transaction.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _check(schema_version(conn))
            if step.version <= version:
                conn.execute("COMMIT")
                continue
            if version == 0 and _has_user_tables(conn):
                raise StoreError("the file holds tables but no kalshibot schema version",
                                 hint="is this a kalshibot database?")
            for statement in _statements(step.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step.version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied += 1
    return applied


def _check(version: int) -> int:
    """``version`` when this code can open it; ``StoreError`` for a newer kalshibot's file."""
    if version > CURRENT_VERSION:
        raise StoreError(
            f"the database is at schema version {version}, newer than this kalshibot "
            f"understands ({CURRENT_VERSION})",
            hint="upgrade kalshibot, or point KALSHIBOT_DB_PATH at another file",
        )
    return version


def _statements(sql: str) -> list[str]:
    """Split a script into statements (a trigger's ``BEGIN ... END`` body stays whole)."""
    out: list[str] = []
    buf = ""
    for piece in sql.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf.strip().rstrip(";"))
            buf = ""
    if buf.strip(" \n;"):
        out.append(buf.strip().rstrip(";"))
    return out


def _has_user_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return bool(row[0])
