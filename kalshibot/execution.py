"""Order lifecycle: idempotent submit, outcome-unknown resolution, fills, cancels, reconciliation.

State machine of a local order (``domain.OrderStatus``)::

    pending_submit --ack--> resting | partially_filled | executed | cancelled (IOC remainder)
    pending_submit --400/404/429--> rejected
    pending_submit --timeout/5xx/dropped--> outcome_unknown --read orders--> any of the above,
                                                               or rejected when the exchange
                                                               has no such order after a grace
    resting --fills--> partially_filled --fills--> executed;  resting/partial --cancel--> cancelled

Rules (DESIGN principle 5): the ``client_order_id`` is committed to the store **before** the
request (forced to disk with ``durable=True``, which live sessions use); an order whose outcome is
unknown blocks new orders in its market until it is resolved by reading the exchange's orders
(never re-posted blindly); fills are stored once per fill id.

What orders commit (``committed``, DESIGN principle 9): risk must see every order's effect before
the next order, so a buy counts from the moment its row is written until its fills are stored
(and thereby in the positions): at its full count while its outcome is unknown, at what rests,
and at what the exchange acknowledged as filled but whose fills are not stored yet.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from kalshibot.domain.money import ZERO, Count, Money
from kalshibot.domain.orders import (
    Action,
    Fill,
    Order,
    OrderAck,
    OrderIntent,
    OrderStatus,
    TimeInForce,
    check_intent,
)
from kalshibot.domain.portfolio import Position
from kalshibot.errors import (
    AuthError,
    ExchangeRejectedError,
    KalshibotError,
    OrderKilledError,
    OrderOutcomeUnknownError,
    RetryableError,
)
from kalshibot.exchange import Exchange
from kalshibot.store import fills as fills_repo
from kalshibot.store import orders as orders_repo
from kalshibot.store.connection import atomic
from kalshibot.store.orders import OrderRecord

UNRESOLVED = (OrderStatus.PENDING_SUBMIT, OrderStatus.OUTCOME_UNKNOWN)
OPEN = (OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED)
ACTIVE = UNRESOLVED + OPEN


def new_client_order_id(prefix: str = "kb") -> str:
    """A fresh id: <= 64 chars of ``[A-Za-z0-9_:+=/-]`` (Kalshi's documented alphabet)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def status_from_ack(intent: OrderIntent, ack: OrderAck) -> OrderStatus:
    if ack.remaining_count.value > 0:
        if intent.time_in_force is TimeInForce.GTC:
            return OrderStatus.PARTIALLY_FILLED if ack.filled_count else OrderStatus.RESTING
        return OrderStatus.CANCELLED
    if ack.filled_count == intent.count:
        return OrderStatus.EXECUTED
    return OrderStatus.CANCELLED  # IOC/FOK remainder cancelled by the exchange


@dataclass(frozen=True, slots=True)
class SubmitResult:
    client_order_id: str
    status: OrderStatus
    message: str
    filled: Count = Count(0)  # contracts the exchange reported filled (0 when not known)


@dataclass
class OrderManager:
    """Runs every order through the store and the exchange (see module docstring)."""

    conn: sqlite3.Connection
    exchange: Exchange
    strategy: str = ""
    unknown_grace: timedelta = timedelta(seconds=30)
    errors: list[str] = field(default_factory=list)
    # Store reads kept until a write made here drops them, or ``invalidate`` (the engine calls
    # it when the store changed elsewhere): the open and the unresolved orders (one query,
    # ``_open is None`` = not read) and the time of the newest stored fill (None = not read).
    _open: list[OrderRecord] | None = field(default=None, init=False, repr=False)
    _unresolved: list[OrderRecord] = field(default_factory=list, init=False, repr=False)
    _last_fill: tuple[datetime | None] | None = field(default=None, init=False, repr=False)
    # Ids of the fills last given to ``record_fills``, all stored by then (the exchange keeps
    # returning the recent ones): not looked up again.
    _stored_fills: set[str] = field(default_factory=set, init=False, repr=False)
    durable: bool = False  # force the pre-send row to disk (synchronous=FULL): live sessions
    _exposure: tuple[list[OrderRecord], dict[str, Money]] | None = field(
        default=None, init=False, repr=False)
    # Buys the exchange reported (partly) filled whose fills may not all be stored yet:
    # client_order_id -> None. ``None`` as a whole = scan the store for them first.
    _awaiting: dict[str, None] | None = field(default=None, init=False, repr=False)

    def invalidate(self) -> None:
        """Forget cached store reads (call when the store may have changed elsewhere)."""
        self._open = None
        self._last_fill = None
        self._stored_fills = set()
        self._awaiting = None

    def _active(self) -> list[OrderRecord]:
        """The open orders, reading them (and the unresolved ones) if not cached."""
        if self._open is None:
            recs = orders_repo.list_orders(self.conn, statuses=ACTIVE)  # oldest first
            self._unresolved = [r for r in recs if r.status in UNRESOLVED]
            self._open = [r for r in recs if r.status in OPEN]
        return self._open

    def _await_fills(self, coid: str, filled: Count | None) -> None:
        """The exchange says order ``coid`` filled ``filled``: its fills may not be stored."""
        if filled is not None and filled.value > 0 and self._awaiting is not None:
            self._awaiting[coid] = None

    # --- submit ------------------------------------------------------------------------
    def submit(
        self, intent: OrderIntent, now: datetime, *, strategy: str | None = None
    ) -> SubmitResult:
        """Record, then send, one order. Never raises for exchange outcomes (see result)."""
        try:
            check_intent(intent)
        except KalshibotError as exc:  # malformed: never sent, so rejected (not unknown)
            with atomic(self.conn):
                orders_repo.create_order(self.conn, intent, strategy=strategy or self.strategy,
                                         now=now)
                orders_repo.update_order(self.conn, intent.client_order_id, now=now,
                                         status=OrderStatus.REJECTED,
                                         last_error=f"not sent: {exc}")
            self._open = None
            return SubmitResult(intent.client_order_id, OrderStatus.REJECTED, f"not sent: {exc}")
        self._open = None
        with atomic(self.conn, durable=self.durable):  # committed before the request leaves
            orders_repo.insert_order(self.conn, intent, strategy=strategy or self.strategy, now=now)
        coid = intent.client_order_id
        try:
            ack = self.exchange.place_order(intent)
        except OrderOutcomeUnknownError as exc:
            self._update(coid, now, status=OrderStatus.OUTCOME_UNKNOWN, last_error=str(exc))
            return SubmitResult(coid, OrderStatus.OUTCOME_UNKNOWN, f"outcome unknown: {exc}")
        except ExchangeRejectedError as exc:
            if exc.status == 409 and not isinstance(exc, OrderKilledError):
                # the id exists at the exchange: read it, never re-send
                self._update(coid, now, status=OrderStatus.OUTCOME_UNKNOWN, last_error=str(exc))
                self.resolve(coid, now)
                rec = orders_repo.get_order(self.conn, coid)
                st = rec.status if rec else OrderStatus.OUTCOME_UNKNOWN
                return SubmitResult(coid, st, f"409 resolved by reading orders: {st.value}",
                                    rec.filled if rec else Count(0))
            self._update(coid, now, status=OrderStatus.REJECTED, last_error=str(exc))
            return SubmitResult(coid, OrderStatus.REJECTED, f"rejected: {exc}")
        except (RetryableError, AuthError) as exc:
            # Refused before processing (429, auth): the order was not created.
            self._update(coid, now, status=OrderStatus.REJECTED, last_error=str(exc))
            if isinstance(exc, AuthError):
                raise
            return SubmitResult(coid, OrderStatus.REJECTED, f"not sent: {exc}")
        except KalshibotError as exc:
            self._update(coid, now, status=OrderStatus.OUTCOME_UNKNOWN, last_error=str(exc))
            return SubmitResult(coid, OrderStatus.OUTCOME_UNKNOWN, f"outcome unknown: {exc}")
        status = status_from_ack(intent, ack)
        fees = (
            ack.average_fee_per_contract * ack.filled_count.value
            if ack.average_fee_per_contract is not None
            else None
        )
        self._update(
            coid, now, order_id=ack.order_id, status=status, filled=ack.filled_count, fees=fees
        )
        self._await_fills(coid, ack.filled_count)
        return SubmitResult(
            coid, status, f"{status.value}: filled {ack.filled_count} of {intent.count}",
            ack.filled_count,
        )

    def _update(self, coid: str, now: datetime, **kw: object) -> None:
        self._open = None
        with atomic(self.conn):
            orders_repo.write_order(self.conn, coid, now=now, **kw)  # type: ignore[arg-type]

    # --- unknown outcomes --------------------------------------------------------------
    def blocked_markets(self) -> set[str]:
        """Markets with an order whose outcome is not known yet: no new orders there."""
        self._active()
        return {r.ticker for r in self._unresolved}

    def resolve(self, client_order_id: str, now: datetime) -> OrderStatus | None:
        """Ask the exchange what became of one unresolved order."""
        rec = orders_repo.get_order(self.conn, client_order_id)
        if rec is None or rec.status not in UNRESOLVED:
            return None if rec is None else rec.status
        try:
            found = self.exchange.find_order_by_client_id(client_order_id, ticker=rec.ticker)
        except KalshibotError as exc:
            self.errors.append(f"resolve {client_order_id}: {exc}")
            return rec.status
        if found is not None:
            self._apply(found, now)
            return found.status
        # A pending_submit row seen here was left by a process that died while sending: just as
        # unknown as a timeout. "Never created" once the exchange's account data is known to be
        # complete past the request (``user_data_as_of``), else after the fixed grace.
        if self._data_covers(rec.updated) or now - rec.updated >= self.unknown_grace:
            self._update(
                client_order_id,
                now,
                status=OrderStatus.REJECTED,
                last_error="not found at the exchange: never created",
            )
            return OrderStatus.REJECTED
        return rec.status

    def _data_covers(self, sent: datetime) -> bool:
        """The exchange's account reads include everything up to after ``sent``."""
        try:
            as_of = self.exchange.user_data_as_of()
        except KalshibotError as exc:
            self.errors.append(f"user data timestamp: {exc}")
            return False
        return as_of is not None and as_of > sent

    def resolve_unknown(self, now: datetime) -> int:
        """Resolve every pending/unknown order; returns how many are still unknown."""
        left = 0
        self._active()
        for rec in list(self._unresolved):
            if self.resolve(rec.client_order_id, now) in UNRESOLVED:
                left += 1
        return left

    # --- fills -------------------------------------------------------------------------
    def sync_fills(self, now: datetime, since: datetime | None = None) -> list[Fill]:
        """Fetch fills from the exchange, store the new ones once, update their orders."""
        if since is None:
            if self._last_fill is None:
                self._last_fill = (fills_repo.last_fill_time(self.conn),)
            last = self._last_fill[0]
            since = None if last is None else last - timedelta(minutes=5)
        fills = self.exchange.get_fills(since)
        return self.record_fills(fills, now)

    def record_fills(self, fills: Iterable[Fill], now: datetime) -> list[Fill]:
        """Store fills once per fill id and update their orders; returns the fills that were
        new. The check and the insert happen in one write transaction, so two writers (the REST
        sync and the WebSocket fill sink, on separate connections) never both see a fill as
        new: only the one whose insert actually added the row reports it."""
        unique: dict[str, Fill] = {}
        for f in fills:
            unique.setdefault(f.fill_id, f)
        if not unique:
            return []
        ids = list(unique)
        stored = self._stored_fills
        known = {i for i in ids if i in stored}
        ask = [i for i in ids if i not in known]
        for i in range(0, len(ask), 500):  # cheap pre-filter outside the write lock
            part = ask[i : i + 500]
            known |= {
                r[0]
                for r in self.conn.execute(
                    f"SELECT fill_id FROM fills WHERE fill_id IN ({','.join('?' * len(part))})",
                    part,
                )
            }
        todo = [f for f in unique.values() if f.fill_id not in known]
        if not todo:
            self._remember_stored(ids)
            return []
        self._open = None
        self._last_fill = None
        self._stored_fills = set()
        new: list[Fill] = []
        with atomic(self.conn):
            for f in todo:
                rec = orders_repo.find_by_order_id(self.conn, f.order_id)
                strat = rec.strategy if rec is not None else ""
                if fills_repo.insert_fills(self.conn, [f], strategy=strat) != 1:
                    continue  # another writer stored it first: not new for us
                new.append(f)
                if rec is not None:
                    # The ack (or a read of the order) may already have counted this fill, so
                    # never add to ``rec.filled``: recompute from the stored fills of the order
                    # (exact, de-duplicated) and keep the larger of the two.
                    n_sum, fee_sum = self._fill_totals(f.order_id)
                    if n_sum >= rec.filled.value:
                        filled, fees = Count(n_sum), Money(fee_sum)
                    else:
                        filled, fees = rec.filled, Money(max(rec.fees.amount, fee_sum))
                    if filled > rec.count:
                        filled = rec.count
                    status = rec.status
                    if rec.status in OPEN or rec.status in UNRESOLVED:
                        status = (
                            OrderStatus.EXECUTED
                            if filled >= rec.count
                            else OrderStatus.PARTIALLY_FILLED
                        )
                    orders_repo.write_order(
                        self.conn,
                        rec.client_order_id,
                        now=now,
                        filled=filled,
                        fees=fees,
                        status=status,
                    )
        self._remember_stored(ids)
        return new

    def _remember_stored(self, ids: list[str]) -> None:
        """``ids`` are all in the store now; remembered unless a caller's transaction, which
        could still roll back, is open."""
        self._stored_fills = set() if self.conn.in_transaction else set(ids)

    def _fill_totals(self, order_id: str) -> tuple[Decimal, Decimal]:
        """Contracts and fees of the stored fills of one exchange order (exact)."""
        n, fee = Decimal(0), Decimal(0)
        for c, fe in self.conn.execute(
            "SELECT count, fee FROM fills WHERE order_id = ?", (order_id,)
        ):
            n += Decimal(str(c))
            fee += Decimal(str(fe))
        return n, fee

    # --- open orders -------------------------------------------------------------------
    def open_orders(self, ticker: str | None = None) -> list[OrderRecord]:
        recs = self._active()
        if ticker:
            return [r for r in recs if r.ticker == ticker]
        return list(recs)

    def open_exposure(self) -> dict[str, Money]:
        """``exposure_of_orders`` of the open and the unresolved orders (an order whose outcome
        is unknown counts at its full count), computed once per read of the orders (do not
        modify the result)."""
        recs = self._active()
        c = self._exposure
        if c is None or c[0] is not recs:
            c = self._exposure = (recs, exposure_of_orders([*recs, *self._unresolved]))
        return c[1]

    def committed(self) -> dict[str, Money]:
        """Dollars per ticker that buy orders commit beyond the positions built from stored
        fills (module docstring): resting remainders and unresolved orders
        (``open_exposure``) plus the fills the exchange acknowledged but the store does not
        hold yet, at the order's limit price (the most they can cost, fees excluded)."""
        out = dict(self.open_exposure())
        for coid in list(self._awaiting_fills()):
            rec = orders_repo.get_order(self.conn, coid)
            n_stored = self._fill_totals(rec.order_id)[0] if rec and rec.order_id else ZERO
            if rec is None or rec.action is not Action.BUY or rec.filled.value <= n_stored:
                self._awaiting.pop(coid, None)  # type: ignore[union-attr]
                continue
            unstored = Money((rec.filled.value - n_stored) * rec.price.value)
            out[rec.ticker] = out.get(rec.ticker, Money(0)) + unstored
        return out

    def _awaiting_fills(self) -> dict[str, None]:
        """The buys whose acknowledged fills may not all be stored (scanned from the store
        after a restart or a change made elsewhere, e.g. the WebSocket order sink)."""
        if self._awaiting is None:
            self._awaiting = dict.fromkeys(r[0] for r in self.conn.execute(
                "SELECT o.client_order_id FROM orders o WHERE o.action = 'buy' "
                "AND o.order_id IS NOT NULL AND CAST(o.filled AS REAL) > 0 "
                "AND CAST(o.filled AS REAL) > 0.001 + (SELECT coalesce(sum(CAST(f.count AS REAL)),"
                " 0) FROM fills f WHERE f.order_id = o.order_id)"))
        return self._awaiting

    def refresh_open(self, now: datetime) -> None:
        """Bring local open orders in line with the exchange's view."""
        remote = {o.order_id: o for o in self.exchange.get_open_orders()}
        with atomic(self.conn):
            for o in remote.values():
                self._apply(o, now)
        for rec in self.open_orders():
            if rec.order_id and rec.order_id not in remote:
                try:
                    o = self.exchange.get_order(rec.order_id)
                except KalshibotError as exc:
                    self.errors.append(f"refresh {rec.order_id}: {exc}")
                    continue
                self._apply(o, now)

    def _apply(self, order: Order, now: datetime) -> None:
        """Merge the exchange's view of one order into the store (see ``apply_exchange_order``)."""
        self._open = None
        with atomic(self.conn):
            rec = orders_repo.apply_exchange_order(self.conn, order, now=now)
        self._await_fills(rec.client_order_id, rec.filled)

    def cancel(self, rec: OrderRecord, now: datetime, reason: str) -> bool:
        if rec.order_id is None:
            return False
        try:
            self.exchange.cancel_order(rec.order_id, rec.ticker)
        except ExchangeRejectedError as exc:
            # Already filled or cancelled: read the truth instead of guessing.
            self._read_back(rec, now, f"cancel {rec.order_id}: {exc}")
            return False
        except KalshibotError as exc:
            self.errors.append(f"cancel {rec.order_id}: {exc}")
            return False
        self._update(rec.client_order_id, now, status=OrderStatus.CANCELLED, last_error=reason)
        return True

    def cancel_all(self, now: datetime, reason: str, tickers: Sequence[str] | None = None) -> int:
        """Cancel our open orders (of ``tickers``) in one batched request
        (``Exchange.cancel_orders``); orders the exchange would not cancel are read back."""
        recs = [r for r in self.open_orders() if r.order_id is not None
                and (tickers is None or r.ticker in tickers)]
        if not recs:
            return 0
        try:
            answer = self.exchange.cancel_orders([(r.order_id or "", r.ticker) for r in recs])
        except KalshibotError as exc:  # outcome unknown: the one-by-one path reads the truth
            self.errors.append(f"batch cancel: {exc}")
            return sum(self.cancel(r, now, reason) for r in recs)
        n = 0
        for r in recs:
            if answer.get(r.order_id or "", "unanswered") == "":
                self._update(r.client_order_id, now, status=OrderStatus.CANCELLED,
                             last_error=reason)
                n += 1
            else:
                self._read_back(r, now, f"cancel {r.order_id}: {answer.get(r.order_id or '')}")
        return n

    def _read_back(self, rec: OrderRecord, now: datetime, why: str) -> None:
        """Store the exchange's view of an order (after a refused cancel)."""
        try:
            o = self.exchange.get_order(rec.order_id or "")
        except KalshibotError:
            self.errors.append(why)
            return
        self._apply(o, now)

    def cancel_stale(self, now: datetime, max_age: timedelta) -> int:
        n = 0
        for rec in self.open_orders():
            if now - rec.created >= max_age:
                n += self.cancel(rec, now, f"stale after {max_age.total_seconds():.0f}s")
        return n

    # --- reconciliation ----------------------------------------------------------------
    def reconcile_positions(self, local: dict[str, Position]) -> list[str]:
        """Differences between local positions and the exchange's (empty = agree)."""
        remote = {p.ticker: p.qty for p in self.exchange.get_positions() if p.qty}
        mine = {t: p.qty for t, p in local.items() if p.qty}
        diffs = []
        for t in sorted(set(remote) | set(mine)):
            a, b = mine.get(t, Count(0)), remote.get(t, Count(0))
            if a != b:
                diffs.append(f"{t}: local {a} vs exchange {b}")
        return diffs


def exposure_of_orders(records: Iterable[OrderRecord]) -> dict[str, Money]:
    """Money committed by buy orders per ticker: remaining x price (fees excluded); for an
    order whose outcome is unknown, nothing is known filled, so that is its full count."""
    out: dict[str, Money] = {}
    for r in records:
        if r.action.value == "buy":
            out[r.ticker] = out.get(r.ticker, Money(0)) + Money(r.remaining.value * r.price.value)
    return out


def local_fill_totals(fills: Iterable[Fill]) -> dict[str, Decimal]:
    """Signed YES-equivalent contracts per ticker from fills (for checks and tests)."""
    out: dict[str, Decimal] = {}
    for f in fills:
        adds_yes = (f.side.value == "yes") == (f.action.value == "buy")
        out[f.ticker] = out.get(f.ticker, Decimal(0)) + (
            f.count.value if adds_yes else -f.count.value
        )
    return out


__all__ = [
    "OrderManager",
    "SubmitResult",
    "new_client_order_id",
    "status_from_ack",
    "exposure_of_orders",
    "local_fill_totals",
    "Order",
]
