"""Two writers (REST sync and the WebSocket fill sink) on separate connections to one store:
a fill both of them see is reported as new by exactly one, so the portfolio applies it once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side
from kalshibot.execution import OrderManager
from kalshibot.store.connection import connect

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FILL = Fill("fill-1", "ord-1", "KXT-1", Side.YES, Action.BUY, Price("0.40"), Count(3),
            Money("0.06"), True, T0)


class RacingConnection:
    """A connection whose duplicate pre-check runs just before the other writer commits the
    same fill (the window between the check and the insert)."""

    def __init__(self, conn: sqlite3.Connection, other: OrderManager) -> None:
        self._conn = conn
        self._other = other

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("SELECT fill_id FROM fills WHERE fill_id IN"):
            result = self._conn.execute(sql, *args).fetchall()  # stale: nothing stored yet
            assert self._other.record_fills([FILL], T0) == [FILL]  # the other writer wins
            return iter(result)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_fill_is_new_for_exactly_one_writer(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    ws = OrderManager(connect(path), exchange=None)  # type: ignore[arg-type]
    rest_conn = RacingConnection(connect(path), ws)
    rest = OrderManager(rest_conn, exchange=None)  # type: ignore[arg-type]
    assert rest.record_fills([FILL], T0) == []  # stored by the other writer meanwhile
    n = connect(path).execute("SELECT count(*) FROM fills").fetchone()[0]
    assert n == 1
