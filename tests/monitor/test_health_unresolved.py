"""``status`` is degraded while orders have an unknown outcome (issue 16 case 5).

On f6e3055 a store with orders in ``outcome_unknown`` (a timeout, or a SIGKILL mid-send leaving
``pending_submit`` rows) was "healthy" (exit 0) although the engine takes no new orders in
their markets. These tests fail there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Action, OrderIntent, OrderStatus, Side
from kalshibot.monitor import health
from kalshibot.store.connection import atomic
from kalshibot.store.orders import create_order, update_order

from .conftest import T0, Prepared


def _order(p: Prepared, coid: str, ticker: str, status: OrderStatus, at: timedelta) -> None:
    with atomic(p.conn):
        create_order(p.conn, OrderIntent(ticker, Side.YES, Action.BUY, Price(Decimal("0.40")),
                                         Count(Decimal(3)), coid), strategy="edge", now=T0 - at)
        if status is not OrderStatus.PENDING_SUBMIT:
            update_order(p.conn, coid, now=T0 - at, status=status)


def _doc(p: Prepared) -> dict:
    return health.collect_status(p.conn, p.settings, now=T0, database=p.path)


def test_outcome_unknown_orders_make_status_degraded_with_their_markets(
        prepared: Callable[..., Prepared]) -> None:
    p = prepared()
    _order(p, "kb-unknown-1", "KXTEST-26NOV19-C", OrderStatus.OUTCOME_UNKNOWN, timedelta(0))
    _order(p, "kb-unknown-2", "KXTEST-26NOV19-D", OrderStatus.OUTCOME_UNKNOWN, timedelta(0))
    doc = _doc(p)
    assert health.exit_code(doc) == health.DEGRADED
    (reason,) = [r for r in doc["health"]["reasons"] if "unknown outcome" in r]
    assert reason.startswith("2 order(s) with an unknown outcome")
    assert "KXTEST-26NOV19-C, KXTEST-26NOV19-D" in reason


def test_pending_submit_left_by_a_killed_process_is_degraded_a_fresh_one_is_not(
        prepared: Callable[..., Prepared]) -> None:
    p = prepared()
    _order(p, "kb-sending", "KXTEST-26NOV19-C", OrderStatus.PENDING_SUBMIT, timedelta(seconds=1))
    assert health.exit_code(_doc(p)) == health.HEALTHY  # being sent right now
    for i in range(4):  # a SIGKILL mid-send left four
        _order(p, f"kb-killed-{i}", f"KXTEST-26NOV19-K{i}", OrderStatus.PENDING_SUBMIT,
               timedelta(seconds=65))  # older than health.PENDING_GRACE
    doc = _doc(p)
    assert health.exit_code(doc) == health.DEGRADED
    assert any(r.startswith("4 order(s) with an unknown outcome")
               for r in doc["health"]["reasons"])
