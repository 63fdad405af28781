"""Key-value state (circuit breaker, sync cursors...): ``kv(key PK, value JSON, updated_ts)``."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from kalshibot.store.units import ms_ts, ts_ms

_MISSING = object()  # a key with no row
_UNKNOWN = object()  # a key not read yet


def _encode(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def kv_set(conn: sqlite3.Connection, key: str, value: Any, *, now: datetime) -> None:
    """Store any JSON-serialisable value (Decimals become strings)."""
    _write(conn, key, _encode(value), now)


def _write(conn: sqlite3.Connection, key: str, text: str, now: datetime) -> None:
    conn.execute("INSERT INTO kv (key, value, updated_ts) VALUES (?, ?, ?) ON CONFLICT(key) "
                 "DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts",
                 (key, text, ts_ms(now)))


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


class KVCache:
    """``kv_get`` / ``kv_set`` / ``kv_delete`` on one connection, with each key read from the
    store once (absent keys too) and writes going through to the store and the cache.

    The owner must ``clear()`` it whenever the store may have changed elsewhere (another
    connection, or this one behind the cache's back): see ``connection.StoreWatch``. Values
    are shared with the cache: do not modify them."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._values: dict[str, Any] = {}

    def clear(self) -> None:
        self._values.clear()

    def get(self, key: str, default: Any = None) -> Any:
        v = self._values.get(key, _UNKNOWN)
        if v is _UNKNOWN:
            v = self._values[key] = kv_get(self.conn, key, _MISSING)
        return default if v is _MISSING else v

    def set(self, key: str, value: Any, *, now: datetime) -> None:
        text = _encode(value)
        self._values.pop(key, None)  # unknown until the write succeeded
        _write(self.conn, key, text, now)
        self._values[key] = json.loads(text)  # what a read of the row returns

    def delete(self, key: str) -> bool:
        self._values.pop(key, None)
        gone = kv_delete(self.conn, key)
        self._values[key] = _MISSING
        return gone
