"""Model registry rows: ``model_registry(id, path, created_ts, metrics JSON, is_current)``.
At most one row is current (a partial unique index enforces it)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kalshibot.store.connection import atomic
from kalshibot.store.units import ms_ts, ts_ms


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    path: str
    created: datetime
    metrics: dict[str, Any]
    is_current: bool


def register_model(conn: sqlite3.Connection, model_id: str, path: str, *, created: datetime,
                   metrics: dict[str, Any] | None = None, make_current: bool = True) -> ModelEntry:
    """Add (or update) a model; with ``make_current`` it becomes the only current one."""
    with atomic(conn):
        if make_current:
            conn.execute("UPDATE model_registry SET is_current = 0 WHERE is_current = 1")
        conn.execute(
            "INSERT INTO model_registry (id, path, created_ts, metrics, is_current) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET path = excluded.path, "
            "metrics = excluded.metrics, is_current = excluded.is_current",
            (model_id, path, ts_ms(created), json.dumps(metrics or {}, sort_keys=True, default=str),
             int(make_current)))
    return ModelEntry(model_id, path, created, metrics or {}, make_current)


def set_current(conn: sqlite3.Connection, model_id: str) -> None:
    with atomic(conn):
        found = conn.execute("SELECT 1 FROM model_registry WHERE id = ?", (model_id,)).fetchone()
        if found is None:
            raise KeyError(model_id)
        conn.execute("UPDATE model_registry SET is_current = 0 WHERE is_current = 1")
        conn.execute("UPDATE model_registry SET is_current = 1 WHERE id = ?", (model_id,))


def _entry(r: tuple[Any, ...]) -> ModelEntry:
    return ModelEntry(r[0], r[1], ms_ts(r[2]), json.loads(r[3]), bool(r[4]))


def current_model(conn: sqlite3.Connection) -> ModelEntry | None:
    r = conn.execute("SELECT id, path, created_ts, metrics, is_current FROM model_registry "
                     "WHERE is_current = 1").fetchone()
    return None if r is None else _entry(r)


def list_models(conn: sqlite3.Connection) -> list[ModelEntry]:
    return [_entry(r) for r in conn.execute(
        "SELECT id, path, created_ts, metrics, is_current FROM model_registry "
        "ORDER BY created_ts DESC")]
