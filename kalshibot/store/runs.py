"""Runs and heartbeats. ``runs(run_id, mode, exchange, started_ts, ended_ts, end_reason,
config)``; ``heartbeats(run_id -> runs, ts, cycle, cycle_ms, markets_seen, orders_sent, errors,
note)``, one per (run_id, cycle). Times epoch ms UTC."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kalshibot.store.units import ms_ts, opt_ms_ts, ts_ms


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    mode: str  # paper | live | backtest
    exchange: str  # kalshi | paper | sim
    started: datetime
    ended: datetime | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    run_id: str
    ts: datetime
    cycle: int
    cycle_ms: int = 0
    markets_seen: int = 0
    orders_sent: int = 0
    errors: int = 0
    note: str | None = None


def start_run(conn: sqlite3.Connection, run_id: str, *, mode: str, exchange: str,
              now: datetime, config: dict[str, Any] | None = None) -> Run:
    conn.execute("INSERT INTO runs (run_id, mode, exchange, started_ts, config) "
                 "VALUES (?, ?, ?, ?, ?)",
                 (run_id, mode, exchange, ts_ms(now),
                  None if config is None else json.dumps(config, default=str, sort_keys=True)))
    return Run(run_id, mode, exchange, now)


def end_run(conn: sqlite3.Connection, run_id: str, *, now: datetime, reason: str = "") -> None:
    conn.execute("UPDATE runs SET ended_ts = ?, end_reason = ? WHERE run_id = ?",
                 (ts_ms(now), reason, run_id))


def heartbeat(conn: sqlite3.Connection, hb: Heartbeat) -> None:
    conn.execute(
        "INSERT INTO heartbeats (run_id, ts, cycle, cycle_ms, markets_seen, orders_sent, errors, "
        "note) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, cycle) DO UPDATE SET "
        "ts = excluded.ts, cycle_ms = excluded.cycle_ms, markets_seen = excluded.markets_seen, "
        "orders_sent = excluded.orders_sent, errors = excluded.errors, note = excluded.note",
        (hb.run_id, ts_ms(hb.ts), hb.cycle, hb.cycle_ms, hb.markets_seen, hb.orders_sent,
         hb.errors, hb.note))


def get_run(conn: sqlite3.Connection, run_id: str) -> Run | None:
    r = conn.execute("SELECT run_id, mode, exchange, started_ts, ended_ts, end_reason FROM runs "
                     "WHERE run_id = ?", (run_id,)).fetchone()
    return None if r is None else Run(r[0], r[1], r[2], ms_ts(r[3]), opt_ms_ts(r[4]), r[5])


def latest_run(conn: sqlite3.Connection, mode: str | None = None) -> Run | None:
    sql = "SELECT run_id, mode, exchange, started_ts, ended_ts, end_reason FROM runs"
    args: list[object] = []
    if mode:
        sql += " WHERE mode = ?"
        args.append(mode)
    r = conn.execute(sql + " ORDER BY started_ts DESC LIMIT 1", args).fetchone()
    return None if r is None else Run(r[0], r[1], r[2], ms_ts(r[3]), opt_ms_ts(r[4]), r[5])


def last_heartbeat(conn: sqlite3.Connection, run_id: str | None = None) -> Heartbeat | None:
    sql = ("SELECT run_id, ts, cycle, cycle_ms, markets_seen, orders_sent, errors, note "
           "FROM heartbeats")
    args: list[object] = []
    if run_id:
        sql += " WHERE run_id = ?"
        args.append(run_id)
    r = conn.execute(sql + " ORDER BY ts DESC LIMIT 1", args).fetchone()
    return None if r is None else Heartbeat(r[0], ms_ts(r[1]), *r[2:])
