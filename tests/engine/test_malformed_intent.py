"""A malformed intent is rejected locally: recorded, never sent, and it does not block its
market the way an order with an unknown outcome does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Action, OrderIntent, OrderStatus, Side, TimeInForce
from kalshibot.execution import OrderManager
from kalshibot.store.connection import connect
from kalshibot.store.orders import get_order

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class NoCallsExchange:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the exchange must not be called ({name})")


@pytest.mark.parametrize("intent", [
    OrderIntent("KXT-1", Side.YES, Action.BUY, Price("0.40"), Count(1), "c-1",
                TimeInForce.IOC, post_only=True),
    OrderIntent("KXT-1", Side.YES, Action.SELL, Price("0.40"), Count(1), "c-1",
                TimeInForce.GTC, reduce_only=True),
    OrderIntent("KXT-1", Side.YES, Action.BUY, Price("0.40005"), Count(1), "c-1"),
    OrderIntent("KXT-1", Side.YES, Action.BUY, Price("0"), Count(1), "c-1"),
    OrderIntent("KXT-1", Side.YES, Action.BUY, Price("0.40"), Count(0), "c-1"),
    OrderIntent("KXT-1", Side.YES, Action.BUY, Price("0.40"), Count(1), "bad id!"),
])
def test_malformed_intent_is_rejected_without_a_request(tmp_path: Path,
                                                        intent: OrderIntent) -> None:
    om = OrderManager(connect(tmp_path / "s.sqlite"), NoCallsExchange())  # type: ignore[arg-type]
    res = om.submit(intent, T0)
    assert res.status is OrderStatus.REJECTED and "not sent" in res.message
    rec = get_order(om.conn, intent.client_order_id)
    assert rec is not None and rec.status is OrderStatus.REJECTED
    assert om.blocked_markets() == set()
