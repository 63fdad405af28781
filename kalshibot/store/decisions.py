"""Per-market, per-cycle decisions (principle 7: explain every decision).

``decisions(run_id, cycle, ts, ticker, strategy, model_p REAL, market_price, side, edge,
proposed_size, verdict, reason)``; ``market_price`` and ``edge`` exact decimal dollars per
contract, ``proposed_size`` contracts; ``verdict`` approved | denied | skipped. One row per
(run_id, cycle, ticker, strategy); re-recording the same key replaces it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from kalshibot.store.units import ms_ts, text_decimal, ts_ms


class Verdict(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Decision:
    run_id: str
    cycle: int
    ts: datetime
    ticker: str
    strategy: str
    verdict: Verdict
    reason: str = ""
    model_p: float | None = None  # probability, float is fine
    market_price: Decimal | None = None  # dollars per contract
    side: str | None = None  # yes | no
    edge: Decimal | None = None  # dollars per contract after fees
    proposed_size: Decimal | None = None  # contracts


COLS = ("run_id", "cycle", "ts", "ticker", "strategy", "model_p", "market_price", "side", "edge",
        "proposed_size", "verdict", "reason")
UPSERT_SQL = (
    f"INSERT INTO decisions ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))}) "
    "ON CONFLICT(run_id, cycle, ticker, strategy) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLS if c not in ("run_id", "cycle", "ticker",
                                                                  "strategy"))
)


def _t(v: Decimal | None) -> str | None:
    return None if v is None else format(v, "f")


def record_decisions(conn: sqlite3.Connection, decisions: Iterable[Decision]) -> int:
    rows = [(d.run_id, d.cycle, ts_ms(d.ts), d.ticker, d.strategy, d.model_p, _t(d.market_price),
             d.side, _t(d.edge), _t(d.proposed_size), Verdict(d.verdict).value, d.reason)
            for d in decisions]
    before = conn.total_changes
    conn.executemany(UPSERT_SQL, rows)
    return conn.total_changes - before


def list_decisions(conn: sqlite3.Connection, *, run_id: str | None = None,
                   since: datetime | None = None, ticker: str | None = None,
                   limit: int | None = None) -> list[Decision]:
    """Decisions newest first."""
    sql = f"SELECT {', '.join(COLS)} FROM decisions WHERE 1=1"
    args: list[object] = []
    if run_id:
        sql += " AND run_id = ?"
        args.append(run_id)
    if since is not None:
        sql += " AND ts >= ?"
        args.append(ts_ms(since))
    if ticker:
        sql += " AND ticker = ?"
        args.append(ticker)
    sql += " ORDER BY ts DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_decision(r) for r in conn.execute(sql, args)]


def _decision(r: Sequence[Any]) -> Decision:
    return Decision(r[0], r[1], ms_ts(r[2]), r[3], r[4], Verdict(r[10]), r[11], r[5],
                    text_decimal(r[6]), r[7], text_decimal(r[8]), text_decimal(r[9]))


def iter_decisions(conn: sqlite3.Connection, run_id: str) -> Iterator[Decision]:
    """A run's decisions oldest first (by time, cycle, ticker), streamed row by row."""
    sql = (f"SELECT {', '.join(COLS)} FROM decisions WHERE run_id = ? "
           "ORDER BY ts, cycle, ticker")
    return (_decision(r) for r in conn.execute(sql, (run_id,)))
