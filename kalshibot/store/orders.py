"""Our orders: ``orders(client_order_id PK, order_id UNIQUE NULL, ticker, side, action, price,
count, filled, status, strategy, time_in_force, fees, created_ts, updated_ts, last_error)``.

``price`` is exact decimal dollars of the order's own side (a NO price for NO orders), ``count``
/ ``filled`` exact contracts, ``fees`` decimal dollars; ``status`` a ``domain.OrderStatus`` value.
Write the row with ``create_order`` **before** sending the request (principle 5), then record
the exchange's answer with ``update_order`` / ``apply_exchange_order``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Order, OrderIntent, OrderStatus, Side, TimeInForce
from kalshibot.errors import BugError, DataError
from kalshibot.store.units import ms_ts, ts_ms


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One local order row (prices of ``side``; counts in contracts; fees in dollars)."""

    client_order_id: str
    order_id: str | None
    ticker: str
    side: Side
    action: Action
    price: Price
    count: Count
    filled: Count
    status: OrderStatus
    strategy: str
    time_in_force: TimeInForce
    fees: Money
    created: datetime
    updated: datetime
    last_error: str | None = None

    @property
    def remaining(self) -> Count:
        return self.count - self.filled


COLS = ("client_order_id", "order_id", "ticker", "side", "action", "price", "count", "filled",
        "status", "strategy", "time_in_force", "fees", "created_ts", "updated_ts", "last_error")


def _rec(r: Sequence[Any]) -> OrderRecord:
    return OrderRecord(
        str(r[0]), None if r[1] is None else str(r[1]), str(r[2]), Side(r[3]), Action(r[4]),
        Price(Decimal(str(r[5]))), Count(Decimal(str(r[6]))), Count(Decimal(str(r[7]))),
        OrderStatus(r[8]), str(r[9]), TimeInForce(r[10]), Money(Decimal(str(r[11]))),
        ms_ts(int(r[12])), ms_ts(int(r[13])),
        None if r[14] is None else str(r[14]))


def create_order(conn: sqlite3.Connection, intent: OrderIntent, *, strategy: str, now: datetime
                 ) -> OrderRecord:
    """Record a new intent as ``pending_submit``. A repeated ``client_order_id`` is a bug."""
    insert_order(conn, intent, strategy=strategy, now=now)
    rec = get_order(conn, intent.client_order_id)
    assert rec is not None
    return rec


def insert_order(conn: sqlite3.Connection, intent: OrderIntent, *, strategy: str, now: datetime
                 ) -> None:
    """``create_order`` without reading the new row back."""
    try:
        conn.execute(
            f"INSERT INTO orders ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})",
            (intent.client_order_id, None, intent.ticker, intent.side.value, intent.action.value,
             intent.price.to_str(), format(intent.count.value, "f"), "0",
             OrderStatus.PENDING_SUBMIT.value, strategy, intent.time_in_force.value, "0",
             ts_ms(now), ts_ms(now), None))
    except sqlite3.IntegrityError as exc:
        raise BugError(f"client_order_id {intent.client_order_id} already recorded") from exc


def update_order(
    conn: sqlite3.Connection, client_order_id: str, *, now: datetime,
    order_id: str | None = None, status: OrderStatus | None = None, filled: Count | None = None,
    fees: Money | None = None, price: Price | None = None, count: Count | None = None,
    last_error: str | None = None,
) -> OrderRecord:
    """Change the given fields of one order (others untouched); returns the new row."""
    write_order(conn, client_order_id, now=now, order_id=order_id, status=status, filled=filled,
                fees=fees, price=price, count=count, last_error=last_error)
    rec = get_order(conn, client_order_id)
    assert rec is not None
    return rec


def write_order(
    conn: sqlite3.Connection, client_order_id: str, *, now: datetime,
    order_id: str | None = None, status: OrderStatus | None = None, filled: Count | None = None,
    fees: Money | None = None, price: Price | None = None, count: Count | None = None,
    last_error: str | None = None,
) -> None:
    """``update_order`` without reading the row back."""
    sets = ["updated_ts = ?"]
    args: list[object] = [ts_ms(now)]
    for col, val in (("order_id", order_id),
                     ("status", None if status is None else status.value),
                     ("filled", None if filled is None else format(filled.value, "f")),
                     ("fees", None if fees is None else format(fees.amount, "f")),
                     ("price", None if price is None else price.to_str()),
                     ("count", None if count is None else format(count.value, "f")),
                     ("last_error", last_error)):
        if val is not None:
            sets.append(f"{col} = ?")
            args.append(val)
    cur = conn.execute(f"UPDATE orders SET {', '.join(sets)} WHERE client_order_id = ?",
                       (*args, client_order_id))
    if cur.rowcount != 1:
        raise BugError(f"no local order with client_order_id {client_order_id}")


def apply_exchange_order(conn: sqlite3.Connection, order: Order, *, now: datetime,
                         strategy: str = "") -> OrderRecord:
    """Merge an order as the exchange reports it (insert if unknown locally, e.g. after a
    restart or an order placed elsewhere; such rows get ``client_order_id`` = ``order_id``
    when the exchange reports none)."""
    coid = order.client_order_id or order.order_id
    existing = get_order(conn, coid) or find_by_order_id(conn, order.order_id)
    if existing is None:
        created = order.created_time or now
        conn.execute(
            f"INSERT INTO orders ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})",
            (coid, order.order_id, order.ticker, order.side.value, order.action.value,
             order.price.to_str(), format(order.initial_count.value, "f"),
             format(order.filled_count.value, "f"), order.status.value, strategy,
             TimeInForce.GTC.value, format(order.fees_paid.amount, "f"), ts_ms(created),
             ts_ms(order.updated_time or now), None))
        _set_shard(conn, coid, order)
        rec = get_order(conn, coid)
        assert rec is not None
        return rec
    rec = update_order(conn, existing.client_order_id, now=now, order_id=order.order_id,
                       status=order.status, filled=order.filled_count, fees=order.fees_paid,
                       price=_price_in_record_terms(existing, order),
                       count=order.initial_count)
    _set_shard(conn, rec.client_order_id, order)
    return rec


def _set_shard(conn: sqlite3.Connection, client_order_id: str, order: Order) -> None:
    """Record the exchange shard of an order when the exchange states it."""
    if order.exchange_index is not None:
        conn.execute("UPDATE orders SET exchange_index = ? WHERE client_order_id = ?",
                     (order.exchange_index, client_order_id))


def _adds_yes(side: Side, action: Action) -> bool:
    """Buying YES and selling NO both add YES exposure (the V2 ``bid`` book side)."""
    return (side is Side.YES) == (action is Action.BUY)


def _price_in_record_terms(rec: OrderRecord, order: Order) -> Price:
    """``order.price`` expressed on the local record's side.

    Kalshi reports V2 orders canonically as a *buy of the outcome side*, so our "sell YES @ p"
    comes back as "buy NO @ 1 - p". The record keeps its own side/action, so the price must be
    complemented, never copied (copying turned an exit at $0.60 into one at $0.40). An order
    whose direction contradicts the record (different book side) is a ``DataError``.
    """
    if (rec.side, rec.action) == (order.side, order.action):
        return order.price
    if _adds_yes(rec.side, rec.action) != _adds_yes(order.side, order.action):
        raise DataError(
            f"order {order.order_id}: the exchange reports {order.action.value} "
            f"{order.side.value}, but local order {rec.client_order_id} is "
            f"{rec.action.value} {rec.side.value}")
    return order.price.complement()


def get_order(conn: sqlite3.Connection, client_order_id: str) -> OrderRecord | None:
    r = conn.execute(f"SELECT {', '.join(COLS)} FROM orders WHERE client_order_id = ?",
                     (client_order_id,)).fetchone()
    return None if r is None else _rec(r)


def find_by_order_id(conn: sqlite3.Connection, order_id: str) -> OrderRecord | None:
    r = conn.execute(f"SELECT {', '.join(COLS)} FROM orders WHERE order_id = ?",
                     (order_id,)).fetchone()
    return None if r is None else _rec(r)


def list_orders(conn: sqlite3.Connection, *, statuses: Sequence[OrderStatus] = (),
                ticker: str | None = None, since: datetime | None = None) -> list[OrderRecord]:
    """Orders filtered by status / ticker / creation time, oldest first."""
    sql = f"SELECT {', '.join(COLS)} FROM orders WHERE 1=1"
    args: list[object] = []
    if statuses:
        sql += f" AND status IN ({','.join('?' * len(statuses))})"
        args += [s.value for s in statuses]
    if ticker:
        sql += " AND ticker = ?"
        args.append(ticker)
    if since is not None:
        sql += " AND created_ts >= ?"
        args.append(ts_ms(since))
    return [_rec(r) for r in conn.execute(sql + " ORDER BY created_ts, client_order_id", args)]


def unresolved_orders(conn: sqlite3.Connection) -> list[OrderRecord]:
    """Orders that are open or whose outcome is not known (to reconcile on start)."""
    return list_orders(conn, statuses=(OrderStatus.PENDING_SUBMIT, OrderStatus.OUTCOME_UNKNOWN,
                                       OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED))
