"""Key-value state (circuit breaker, sync cursors...): ``kv(key PK, value JSON, updated_ts)``."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from kalshibot.store.units import ms_ts, ts_ms


def kv_set(conn: sqlite3.Connection, key: str, value: Any, *, now: datetime) -> None:
    """Store any JSON-serialisable value (Decimals become strings)."""
    conn.execute("INSERT INTO kv (key, value, updated_ts) VALUES (?, ?, ?) ON CONFLICT(key) "
                 "DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts",
                 (key, json.dumps(value, sort_keys=True, default=str), ts_ms(now)))


def kv_get(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    r = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return default if r is None else json.loads(r[0])


def kv_updated(conn: sqlite3.Connection, key: str) -> datetime | None:
    r = conn.execute("SELECT updated_ts FROM kv WHERE key = ?", (key,)).fetchone()
    return None if r is None else ms_ts(r[0])


def kv_delete(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0


def kv_items(conn: sqlite3.Connection, prefix: str = "") -> dict[str, Any]:
    return {k: json.loads(v) for k, v in conn.execute(
        "SELECT key, value FROM kv WHERE key LIKE ? ORDER BY key", (prefix + "%",))}
