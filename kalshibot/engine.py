"""``Engine.run_cycle(now)``: the one trading cycle shared by ``trade`` and ``backtest``.

discover markets -> books (batched) -> fills, settlements, unresolved orders -> our own resting
orders removed from the books -> marks, positions, P&L, circuit breaker -> fair values (batched
per strategy) -> edge-after-fees proposals -> Kelly size capped by limits and depth -> risk
verdict -> execution -> resting orders without a matching proposal cancelled -> one store
transaction with every decision and its reason, the equity point, positions and the heartbeat.

Promises kept within every cycle (DESIGN principle 9):
- the risk snapshot is rebuilt after every order sent or cancelled, from the positions plus
  what orders commit (``OrderManager.committed``: resting, unknown-outcome and acknowledged but
  unstored fills), with every held market grouped by its event and series even after it closed;
- a resting order survives a cycle only if its market's proposal in that cycle is that same
  order (side, action, price) and risk lets it rest (``RiskManager.may_rest``);
- books lose our own resting orders (``OrderBook.without_own``) before anything reads them;
- equity (breaker, daily loss, Kelly) marks positions at their exit value (``risk.exit_value``)
  on the last book seen; the YES mid (``marks``) is for display only;
- a fill is applied to the in-memory portfolio once per fill id, whatever its path.

The engine never reads the wall clock: ``now`` is passed in (``Clock`` outside). Orders are
written to the store before they are sent (``execution.OrderManager``); everything else of a
cycle commits together at its end.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from kalshibot.domain.book import OrderBook, own_levels
from kalshibot.domain.market import Market, Settlement
from kalshibot.domain.money import ZERO, Count, Money, Price
from kalshibot.domain.orders import Action, Fill, OrderIntent, OrderStatus, Side
from kalshibot.domain.portfolio import Portfolio, Position
from kalshibot.errors import KalshibotError, StopError
from kalshibot.exchange import Exchange, with_market_updates
from kalshibot.execution import OrderManager, new_client_order_id
from kalshibot.risk import (
    BreakerState,
    CircuitBreaker,
    RiskManager,
    RiskSnapshot,
    exit_value,
    kill_switch_on,
)
from kalshibot.store import fills as fills_repo
from kalshibot.store import settlements as settlements_repo
from kalshibot.store.connection import StoreWatch, atomic
from kalshibot.store.decisions import Decision, Verdict, record_decisions
from kalshibot.store.equity import EquityPoint, record_equity
from kalshibot.store.kv import KVCache, kv_delete, kv_get, kv_set
from kalshibot.store.markets import get_market, upsert_markets
from kalshibot.store.orders import OrderRecord
from kalshibot.store.positions import save_positions
from kalshibot.store.runs import Heartbeat, heartbeat
from kalshibot.strategy.base import FairValue, MarketView, Strategy, StrategyParams
from kalshibot.strategy.rules import NoTrade, Proposal, charged_fee, propose
from kalshibot.strategy.sizing import size_with_charged_fee

STARTING_CASH_KEY = "account.starting_cash"
#: Fees round up by up to $0.0001 per fill; an order may fill in several pieces (on top of the
#: fee charged for the order, ``rules.charged_fee``).
FEE_ROUNDING_BUDGET = Money("0.001")
ENTRIES_BLOCKED_KEY = "engine.entries_blocked"


class EngineMonitor(Protocol):
    """Optional observer (``kalshibot.monitor.trading.TradingMonitor``); must never raise."""

    def on_order(self, intent: OrderIntent, result: Any, now: datetime) -> None: ...

    def on_reconcile(self, diffs: Sequence[str], now: datetime) -> None: ...

    def on_cycle(self, report: CycleReport, decisions: Sequence[Decision],
                 fills: Sequence[Fill]) -> None: ...


class StoreKV:
    """``risk.KeyValue`` over the store's ``kv`` table (values are strings), read and written
    through ``cache`` when one is given (the engine's, cleared when the store changes)."""

    def __init__(self, conn: sqlite3.Connection, now: datetime,
                 cache: KVCache | None = None) -> None:
        self.conn = conn
        self.now = now
        self.cache = cache

    def get(self, key: str) -> str | None:
        v = kv_get(self.conn, key) if self.cache is None else self.cache.get(key)
        return None if v is None else str(v)

    def set(self, key: str, value: str) -> None:
        if self.cache is None:
            kv_set(self.conn, key, value, now=self.now)
        else:
            self.cache.set(key, value, now=self.now)

    def delete(self, key: str) -> None:
        if self.cache is None:
            kv_delete(self.conn, key)
        else:
            self.cache.delete(key)


@dataclass
class MarketRow:
    """What the terminal view shows per market after a cycle."""

    ticker: str
    p_yes: float | None
    yes_bid: Price | None
    yes_ask: Price | None
    edge: Decimal | None
    position: Count
    pnl: Money
    verdict: str
    reason: str


@dataclass
class CycleReport:
    cycle: int
    now: datetime
    markets: int
    orders_sent: int
    fills: int
    errors: list[str]
    equity: Money
    cash: Money
    day_pnl: Money
    breaker: str
    kill_switch: bool
    entries_blocked: str
    rows: list[MarketRow] = field(default_factory=list)
    duration_ms: float = 0.0


@dataclass
class EngineConfig:
    run_id: str
    series: Sequence[str] = ()
    tickers: Sequence[str] = ()
    discover_every: int = 12  # cycles between market discovery
    reconcile_every: int = 60  # cycles between full reconciliations
    stale_order_after: timedelta = timedelta(minutes=2)
    kill_switch_path: Path | None = Path("data/KILL")  # None: no kill switch (replays)
    fractional: bool = False
    record_books: bool = False  # store each fetched book (paper/live: builds history)
    durable_orders: bool = False  # sync each order's pre-send row to disk (live sessions)


class Engine:
    """One trading loop's state; ``run_cycle`` is the unit of work (see module docstring)."""

    def __init__(
        self,
        *,
        conn: sqlite3.Connection,
        exchange: Exchange,
        strategy: Strategy,
        params: StrategyParams,
        risk: RiskManager,
        config: EngineConfig,
        starting_cash: Money | None = None,
        now: datetime,
    ) -> None:
        self.conn = conn
        self.exchange = exchange
        self.strategy = strategy
        self.params = params
        self.risk = risk
        self.cfg = config
        self.orders = OrderManager(conn, exchange, strategy=strategy.name,
                                   durable=config.durable_orders)
        self.cycle = 0
        self.markets: dict[str, Market] = {}
        self.marks: dict[str, Price] = {}  # YES mid of the last book seen (display only)
        # Best YES and NO bids of the last book seen per market (our orders removed): what the
        # exit value of a position is computed from (None: that side had no bid).
        self.tops: dict[str, tuple[Price | None, Price | None]] = {}
        # ticker -> (position, tops, market, exit value): ``position_value``'s last answer
        self._values: dict[str, tuple[Position, tuple[Price | None, Price | None], Market | None,
                                      Money, StrategyParams]] = {}
        # Every market seen that is still open, held or has orders (grouping and fees of
        # markets that closed but are not settled yet).
        self._known: dict[str, Market] = {}
        self._applied: set[str] = set()  # ids of the fills in ``portfolio``
        self.trading_active = True
        self._last_settlement: datetime | None = None
        self._startup_sync = ""  # why the start-up fill sync must be retried ("" = done)
        self.monitor: EngineMonitor | None = None  # logs and alerts (set by the session)
        with atomic(conn):
            if starting_cash is not None and kv_get(conn, STARTING_CASH_KEY) is None:
                kv_set(conn, STARTING_CASH_KEY, starting_cash.to_str(), now=now)
        start = kv_get(conn, STARTING_CASH_KEY)
        self.starting_cash = Money(Decimal(start)) if start is not None else None
        self.portfolio = self._load_portfolio()
        # Per-portfolio caches (Portfolio is immutable: a new object means new values) and the
        # positions last written to the store (only changed ones are written again).
        self._pf_cache: tuple[Portfolio, list[Position], Money, Money] | None = None
        self._saved_positions: dict[str, Position] = {}
        self._saved_portfolio: Portfolio | None = None  # every position of it is saved
        # ticker -> event and ticker -> series of ``self.markets`` (rebuilt when it is replaced)
        self._groups: tuple[dict[str, Market], dict[str, str], dict[str, str]] | None = None
        # Store state cached across cycles: kv keys, the order manager's reads, the markets as
        # last upserted. Written through; all dropped when ``_watch`` says the store changed
        # elsewhere (checked at the top of each cycle, see ``_refresh_caches``).
        self._watch = StoreWatch(conn)
        self.kv = KVCache(conn)
        self._upserted: dict[str, Market] = {}
        self.breaker = CircuitBreaker(
            StoreKV(conn, now, self.kv), risk.limits.circuit_breaker_drawdown,
            risk.limits.day_boundary,
        )

    # --- state from the store ----------------------------------------------------------
    def _load_portfolio(self) -> Portfolio:
        pf = Portfolio(self.starting_cash or Money(0), {})
        events: list[tuple[datetime, int, Fill | Settlement]] = [
            (f.ts, 0, f) for f in fills_repo.list_fills(self.conn)
        ]
        events += [(s.settled_time, 1, s) for s in settlements_repo.list_settlements(self.conn)]
        for _, _kind, ev in sorted(events, key=lambda e: (e[0], e[1])):
            if isinstance(ev, Fill):
                pf = pf.with_fill(ev)
                self._applied.add(ev.fill_id)
            else:
                pf = pf.with_settlement(ev.ticker, ev.result, ev.value)
                self._last_settlement = ev.settled_time
        return pf

    def open_positions(self) -> list[Position]:
        """``portfolio.open_positions()``, computed once per portfolio value (the portfolio
        keeps every closed position, so scanning it each call grows with history)."""
        return self._pf()[1]

    def _pf(self) -> tuple[Portfolio, list[Position], Money, Money]:
        c = self._pf_cache
        if c is None or c[0] is not self.portfolio:
            pf = self.portfolio
            c = (pf, pf.open_positions(), pf.realized_pnl(), pf.fees_paid())
            self._pf_cache = c
        return c

    def equity(self) -> Money:
        """Cash plus every open position at its exit value (``position_value``)."""
        total = self.portfolio.cash
        for p in self.open_positions():
            total = total + self.position_value(p)
        return total

    def position_value(self, p: Position) -> Money:
        """What selling ``p`` would realise on the last book seen of its market (bid of the
        held side less the taker fee; 0 when that side had no bid). A market never seen with
        a book (e.g. held before a restart, closed since) is valued at cost."""
        top = self.tops.get(p.ticker)
        if top is None:
            return p.cost
        m = self._market(p.ticker)
        hit = self._values.get(p.ticker)  # same position, bids and market: same value
        if (hit is not None and hit[0] is p and hit[1] == top and hit[2] is m
                and hit[4] is self.params):
            return hit[3]
        value = exit_value(p, *top, schedule=None if m is None else m.fee_schedule,
                           direct_member=self.params.direct_member)
        if len(self._values) > 64 + 4 * len(self.open_positions()):  # closed ones: drop
            held = {q.ticker for q in self.open_positions()}
            self._values = {t: v for t, v in self._values.items() if t in held}
        self._values[p.ticker] = (p, top, m, value, self.params)
        return value

    def mark_positions(self, now: datetime) -> None:
        """Take exit-value marks for the open positions from their books at ``now`` (a
        resumed session then starts at the equity the last one ended at, not at cost). A book
        that cannot be read leaves the position at cost, as before any book was seen."""
        held = [p.ticker for p in self.open_positions()
                if (m := self._market(p.ticker)) is not None and m.close_time > now]
        if not held:
            return
        try:
            books = self.exchange.get_orderbooks(held)
        except KalshibotError:
            return
        self.observe(self._without_own_orders(books))

    def _market(self, ticker: str) -> Market | None:
        """The market of ``ticker``: discovered, remembered, or as last stored."""
        m = self.markets.get(ticker) or self._known.get(ticker)
        if m is None:
            m = get_market(self.conn, ticker)
            if m is not None:
                self._known[ticker] = m
        return m

    def observe(self, books: Mapping[str, OrderBook]) -> None:
        """Take marks from books (our own orders already removed): the YES mid for display and
        the best bid of each side for exit values. A vanished side is None, never the old
        price; a market without a book here keeps what its last book showed."""
        for t, b in books.items():
            mid = b.mid()
            if mid is not None:
                self.marks[t] = mid
            else:
                self.marks.pop(t, None)
            yes, no = b.best_bid(Side.YES), b.best_bid(Side.NO)
            self.tops[t] = (yes.price if yes else None, no.price if no else None)

    @property
    def entries_blocked(self) -> str:
        return str(self.kv.get(ENTRIES_BLOCKED_KEY, "") or "")

    def block_entries(self, reason: str, now: datetime) -> None:
        with atomic(self.conn):
            self.kv.set(ENTRIES_BLOCKED_KEY, reason, now=now)

    def _refresh_caches(self) -> None:
        """Drop every cache of store state if the store changed other than through them
        (another process committed, a write on this connection bypassed them, a rollback)."""
        if self._watch.changed():
            self.kv.clear()
            self.orders.invalidate()
            self._upserted = {}

    # --- start / reconcile -------------------------------------------------------------
    def start(self, now: datetime) -> list[str]:
        """Resolve unknown orders, pull fills and reconcile; returns mismatch descriptions.

        A transient or malformed answer here must not end the session: the full fill sync is
        then retried at the top of each cycle (entries wait: ``_startup_sync``)."""
        try:
            self.orders.resolve_unknown(now)
            self.apply_fills(self.orders.sync_fills(now, since=None))
            self._startup_sync = ""
        except StopError:
            raise
        except KalshibotError as exc:
            self._startup_sync = f"start-up sync failed, retrying: {exc}"
            return []
        return self.reconcile(now)

    def reconcile(self, now: datetime) -> list[str]:
        try:
            self.orders.refresh_open(now)
            self._sync_settlements(now, force=True)
            diffs = self.orders.reconcile_positions(dict(self.portfolio.positions))
        except KalshibotError as exc:
            self.orders.errors.append(f"reconcile: {exc}")
            return []
        with atomic(self.conn):
            if diffs:
                self.kv.set(
                    ENTRIES_BLOCKED_KEY,
                    "reconciliation mismatch: " + "; ".join(diffs[:5]),
                    now=now,
                )
            elif self.entries_blocked.startswith("reconciliation"):
                self.kv.delete(ENTRIES_BLOCKED_KEY)
        self._notify("on_reconcile", diffs, now)
        return diffs

    def _notify(self, hook: str, *args: Any) -> None:
        """Call the monitor, if any; monitoring never stops trading."""
        if self.monitor is None:
            return
        with contextlib.suppress(Exception):  # a broken monitor must not break the cycle
            getattr(self.monitor, hook)(*args)

    def apply_fills(self, fills: Sequence[Fill]) -> None:
        """Fold fills already stored (by ``OrderManager`` or the WebSocket fill sink) into the
        in-memory portfolio, each fill id once whatever path it came by."""
        for f in sorted(fills, key=lambda f: f.ts):
            if f.fill_id in self._applied:
                continue
            self._applied.add(f.fill_id)
            self.portfolio = self.portfolio.with_fill(f)

    def _sync_settlements(self, now: datetime, *, force: bool = False) -> list[Settlement]:
        due = force or any(
            (m := self.markets.get(p.ticker)) is None or m.close_time <= now
            for p in self.open_positions()
        )
        if not due:
            return []
        got = self.exchange.get_settlements(self._last_settlement)
        known = self._stored_settlements([s.ticker for s in got])
        new = [s for s in got if s.ticker not in known]
        if new:
            with atomic(self.conn):
                settlements_repo.upsert_settlements(self.conn, new)
            for s in sorted(new, key=lambda s: s.settled_time):
                self.portfolio = self.portfolio.with_settlement(s.ticker, s.result, s.value)
                self._last_settlement = s.settled_time
        return new

    def _stored_settlements(self, tickers: Sequence[str]) -> set[str]:
        """Which of ``tickers`` already have a stored settlement (a lookup by key, not a
        read of every settlement ever stored)."""
        known: set[str] = set()
        uniq = list(dict.fromkeys(tickers))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            known |= {
                r[0]
                for r in self.conn.execute(
                    f"SELECT ticker FROM settlements WHERE ticker IN ({','.join('?' * len(part))})",
                    part,
                )
            }
        return known

    # --- the cycle ---------------------------------------------------------------------
    def run_cycle(self, now: datetime) -> CycleReport:
        t0 = time.perf_counter()
        self.cycle += 1
        self.orders.errors = []
        self._open_cycle(now)
        errors = self.orders.errors
        if self.cycle == 1 or self.cycle % self.cfg.discover_every == 0 or not self.markets:
            self._discover(now, errors)
        self.markets = with_market_updates(self.exchange, self.markets)  # streamed tick grids
        active = [m for m in self.markets.values() if m.close_time > now]
        books: dict[str, OrderBook] = {}
        if active:
            try:
                books = self.exchange.get_orderbooks([m.ticker for m in active])
            except KalshibotError as exc:
                errors.append(f"order books: {exc}")
        new_fills: list[Fill] = []
        if self._startup_sync:
            errors.append(self._startup_sync)
            self.start(now)
        try:
            self.orders.resolve_unknown(now)
            new_fills = self.orders.sync_fills(now)
            self.apply_fills(new_fills)
            self._sync_settlements(now)
        except StopError:
            raise
        except KalshibotError as exc:
            errors.append(f"account sync: {exc}")
        if self.cycle % self.cfg.reconcile_every == 0:
            self.reconcile(now)
        books = self._without_own_orders(books)
        kill = self.cfg.kill_switch_path is not None and kill_switch_on(self.cfg.kill_switch_path)
        if kill:  # cancelling moves no money: the marks and equity below are unchanged
            self.orders.cancel_all(now, "kill switch")
        equity, breaker = self._track(books, now)
        day_start = self.breaker.day_start_equity(now, equity)
        snap = self._snapshot(now, equity - day_start, breaker.tripped, breaker.reason, kill)
        if breaker.tripped:
            self.orders.cancel_all(now, "circuit breaker")

        views = self.views(active, books, now)
        decisions: list[Decision] = []
        rows: list[MarketRow] = []
        sent = 0
        fvs: list[FairValue]
        try:
            fvs = self.strategy.fair_values(views) if views else []
        except KalshibotError as exc:
            errors.append(f"strategy: {exc}")
            fvs = [FairValue(None, f"strategy error: {exc}") for _ in views]
        blocked = self.orders.blocked_markets()
        resting = {r.ticker: r for r in self.orders.open_orders()}
        keep: set[str] = set()  # resting orders that this cycle's proposals match
        why: dict[str, str] = {}  # ticker -> why its resting order (if any) has no match
        for view, fv in zip(views, fvs, strict=True):
            tk = view.market.ticker
            try:
                d, row, acted = self._decide(view, fv, snap, blocked, resting, keep, now)
            except StopError:
                raise
            except KalshibotError as exc:  # one bad market never stops the cycle
                errors.append(f"{tk}: {exc}")
                d = Decision(self.cfg.run_id, self.cycle, now, tk,
                             self.strategy.name, Verdict.SKIPPED, f"error: {exc}", fv.p_yes)
                row = MarketRow(tk, fv.p_yes, None, None, None,
                                view.position.qty, Money(0), Verdict.SKIPPED.value, f"error: {exc}")
                acted = ""
            decisions.append(d)
            rows.append(row)
            why[tk] = d.reason
            sent += acted == "sent"
            if acted:  # every order sent or cancelled changes what the next one may do
                snap = self._snapshot(
                    now, snap.day_pnl, snap.breaker_tripped, snap.breaker_reason, kill
                )
        for m in self.markets.values():  # markets we did not see a book for
            if m.close_time > now and m.ticker not in books:
                why[m.ticker] = "no current order book"
                decisions.append(
                    Decision(
                        self.cfg.run_id,
                        self.cycle,
                        now,
                        m.ticker,
                        self.strategy.name,
                        Verdict.SKIPPED,
                        "no current order book",
                    )
                )
        self._cancel_unmatched(keep, why, now)
        self.orders.cancel_stale(now, self.cfg.stale_order_after)
        try:  # the fills of this cycle's orders (a cycle that sent none: nothing to fetch)
            more = self.orders.sync_fills(now) if sent else []
            self.apply_fills(more)
            new_fills += more
        except KalshibotError as exc:
            errors.append(f"fills: {exc}")
        equity = self.equity()
        duration = (time.perf_counter() - t0) * 1000
        with atomic(self.conn):
            record_decisions(self.conn, decisions)
            record_equity(self.conn, self._equity_point(now, equity))
            saved = self._save_positions(now)
            if self.cfg.record_books and books:
                from kalshibot.store.books import save_books

                save_books(self.conn, books.values(), ts=now)
            heartbeat(
                self.conn,
                Heartbeat(
                    self.cfg.run_id,
                    now,
                    self.cycle,
                    int(duration),
                    len(views),
                    sent,
                    len(errors),
                    "; ".join(errors)[:500] or None,
                ),
            )
        saved()  # only once committed: a failed commit leaves them to be written again
        self._watch.mark()
        report = CycleReport(
            self.cycle,
            now,
            len(views),
            sent,
            len(new_fills),
            list(errors),
            equity,
            self.portfolio.cash,
            equity - day_start,
            breaker.reason if breaker.tripped else "ok",
            kill,
            self.entries_blocked,
            rows,
            duration,
        )
        self._notify("on_cycle", report, decisions, new_fills)
        return report

    def _without_own_orders(self, books: dict[str, OrderBook]) -> dict[str, OrderBook]:
        """The one place our resting orders leave the books (venues show them, as Kalshi
        does): read after the account sync, so it removes what still rests now."""
        recs = self.orders.open_orders()
        if not recs or not books:
            return books
        own = own_levels((r.ticker, r.side, r.action, r.price, r.remaining) for r in recs)
        return {t: b.without_own(own[t]) if t in own else b for t, b in books.items()}

    def _cancel_unmatched(self, keep: set[str], why: Mapping[str, str], now: datetime) -> None:
        """Cancel every resting order that no proposal of this cycle matched: its edge, its
        fair value, its book or risk's consent is gone (``why`` says which, per market)."""
        for rec in self.orders.open_orders():
            if rec.client_order_id in keep:
                continue
            reason = why.get(rec.ticker, "market not traded this cycle")
            self.orders.cancel(rec, now, f"no matching proposal: {reason}"[:300])

    def _equity_point(self, now: datetime, equity: Money) -> EquityPoint:
        """The cycle's equity point: cash, equity at exit values, realized P&L, unrealized P&L
        (exit values less cost of the open positions) and fees paid, all in dollars."""
        unreal = Money(sum((self.position_value(p).amount - p.cost.amount
                            for p in self.open_positions()), ZERO))
        _, _, realized, fees = self._pf()
        return EquityPoint(now, self.portfolio.cash, equity, realized, unreal, fees,
                           self.cfg.run_id)

    def quiet_cycle(self, now: datetime, books: Mapping[str, OrderBook]) -> None:
        """A cycle in which provably nothing but marks changes (the backtest fast path skips
        such cycles): take marks from ``books`` (the books shown at ``now``, only their best
        prices matter), then track the breaker and record the equity point with the same code
        as ``run_cycle`` (``_open_cycle``, ``_track``, ``_equity_point``). No orders,
        decisions or heartbeat; the caller holds the store transaction."""
        self._open_cycle(now)
        equity, _ = self._track(books, now)
        record_equity(self.conn, self._equity_point(now, equity))
        self._watch.mark()

    def _open_cycle(self, now: datetime) -> None:
        """Start of every cycle, full or quiet: caches current, the breaker's clock at ``now``."""
        self._refresh_caches()
        self.breaker.kv.now = now  # type: ignore[attr-defined]

    def _track(self, books: Mapping[str, OrderBook], now: datetime) -> tuple[Money, BreakerState]:
        """Every cycle, full or quiet: mark the positions on ``books``, then the equity
        (dollars, at exit values) and the breaker's state after tracking it at ``now``."""
        self.observe(books)
        equity = self.equity()
        return equity, self.breaker.update(equity, now)

    def _save_positions(self, now: datetime) -> Callable[[], None]:
        """Upsert the positions that changed since the last save (the upsert of an unchanged
        position is a no-op, so the table ends up the same as writing them all). Returns what
        to call once the transaction has committed, to remember them as saved."""
        pf = self.portfolio
        if pf is self._saved_portfolio:  # immutable: nothing changed since the last save
            return lambda: None
        saved = self._saved_positions
        changed = [p for t, p in pf.positions.items() if saved.get(t) is not p]
        if changed:
            save_positions(self.conn, changed, now=now)

        def committed() -> None:
            for p in changed:
                saved[p.ticker] = p
            self._saved_portfolio = pf

        return committed

    def _discover(self, now: datetime, errors: list[str]) -> None:
        try:
            found = self.exchange.get_markets(
                series=self.cfg.series, tickers=self.cfg.tickers, status="open"
            )
            st = self.exchange.get_exchange_status()
            self.trading_active = st.trading_active and st.exchange_active
        except KalshibotError as exc:
            errors.append(f"discovery: {exc}")
            return
        self.markets = {m.ticker: m for m in found}
        # Remember the markets that closed while we hold them or have orders there: their
        # money stays at risk (and in their event's and series' exposure) until settled.
        held = {p.ticker for p in self.open_positions()}
        held |= {r.ticker for r in self.orders.open_orders()}
        known = dict(self.markets)
        for t in held - known.keys():
            m = self._known.get(t)
            if m is not None:
                known[t] = m
        self._known = known
        # Only markets new or changed since our last upsert are written (the upsert of an
        # unchanged market leaves its row untouched, so the table ends up the same).
        up = self._upserted
        changed = [m for m in found if (u := up.get(m.ticker)) is not m and u != m]
        if changed:
            with atomic(self.conn):
                upsert_markets(self.conn, changed, now=now)
        self._upserted = dict(self.markets)

    def views(self, active: Sequence[Market], books: Mapping[str, OrderBook],
              now: datetime) -> list[MarketView]:
        """What the strategy is shown at ``now``: each active market with a book, with the
        portfolio's position in it (the backtest fast path probes the strategy with these)."""
        pos = self.portfolio.positions
        return [MarketView(m, books[m.ticker], now, pos.get(m.ticker) or Position(m.ticker))
                for m in active if m.ticker in books]

    def _snapshot(
        self, now: datetime, day_pnl: Money, tripped: bool, reason: str, kill: bool
    ) -> RiskSnapshot:
        """The account as risk sees it now: the cost of every open position (closed but
        unsettled markets too) plus what orders commit (``OrderManager.committed``), each
        ticker with its event and series."""
        exposure: dict[str, Money] = {p.ticker: p.cost for p in self.open_positions()}
        for t, m in self.orders.committed().items():
            exposure[t] = exposure.get(t, Money(0)) + m
        g = self._groups
        if g is None or g[0] is not self.markets:
            mk = self.markets
            g = (mk, {t: m.event_ticker for t, m in mk.items()},
                 {t: m.series_ticker for t, m in mk.items()})
            self._groups = g
        _, event_of, series_of = g
        missing = [t for t in exposure if t not in event_of]
        if missing:
            event_of, series_of = dict(event_of), dict(series_of)
            for t in missing:
                known = self._market(t)
                # Kalshi's tickers are SERIES-EVENTSUFFIX-MARKETSUFFIX: the fallback grouping
                event_of[t] = known.event_ticker if known else t.rsplit("-", 1)[0]
                series_of[t] = known.series_ticker if known else t.split("-", 1)[0]
        blocked = self.entries_blocked or self._startup_sync
        return RiskSnapshot(
            exposure,
            event_of,
            series_of,
            day_pnl,
            tripped or bool(blocked),
            reason or blocked,
            kill,
            self.trading_active,
        )

    def _decide(
        self,
        view: MarketView,
        fv: FairValue,
        snap: RiskSnapshot,
        blocked: set[str],
        resting: Mapping[str, OrderRecord],
        keep: set[str],
        now: datetime,
    ) -> tuple[Decision, MarketRow, str]:
        """Decide one market; returns the decision, the terminal row and what was done to
        orders ("sent", "cancelled" or ""). A resting order that this market's proposal
        matches, and that may keep resting, is added to ``keep``; the caller cancels the rest."""
        m, book = view.market, view.book
        bid, ask = book.best_bid(), book.best_ask()
        pos = view.position
        pnl = self.position_value(pos) - pos.cost if pos.qty else Money(0)

        def out(
            verdict: Verdict,
            reason: str,
            prop: Proposal | None = None,
            size: Count | None = None,
            acted: str = "",
        ) -> tuple[Decision, MarketRow, str]:
            d = Decision(
                self.cfg.run_id,
                self.cycle,
                now,
                m.ticker,
                self.strategy.name,
                verdict,
                reason,
                fv.p_yes,
                prop.market_price.value if prop else (ask.price.value if ask else None),
                prop.side.value if prop else None,
                prop.edge if prop else None,
                size.value if size is not None else None,
            )
            r = MarketRow(
                m.ticker,
                fv.p_yes,
                bid.price if bid else None,
                ask.price if ask else None,
                prop.edge if prop else None,
                pos.qty,
                pnl,
                verdict.value,
                reason,
            )
            return d, r, acted

        prop = propose(view, fv, self.params)
        if isinstance(prop, NoTrade):
            return out(Verdict.SKIPPED, prop.reason)
        rest = resting.get(m.ticker)
        if rest is not None and (rest.side, rest.action, rest.price) == (
                prop.side, prop.action, prop.limit):
            ok = self.risk.may_rest(m, now, snap)
            if not ok.approved:
                return out(Verdict.DENIED, f"resting order may not rest: {ok.reason}", prop)
            keep.add(rest.client_order_id)
            return out(Verdict.SKIPPED, "order already resting at this price", prop)
        if m.ticker in blocked:
            return out(Verdict.SKIPPED, "an order's outcome is unknown: waiting to resolve", prop)
        if rest is not None:
            self.orders.cancel(rest, now, "re-price")
            return out(
                Verdict.SKIPPED, f"cancelled resting order to re-price ({prop.reason})", prop,
                acted="cancelled",
            )
        is_exit = prop.action is Action.SELL
        if is_exit:
            count = pos.contracts
            cost = Money(0)
        else:
            depth = book.depth_to_buy(prop.side, prop.limit) if prop.is_taker else None
            limit, taker = prop.limit, prop.is_taker
            sized = size_with_charged_fee(
                p_win=prop.p_win,
                price=limit.value,
                fee_per_contract=lambda n: charged_fee(limit, n, view, self.params, taker=taker),
                marginal_fee=prop.p_win - prop.limit.value - prop.edge,
                min_edge=self.params.min_edge,
                equity=self.risk.limits.sizing_equity(self.equity()),
                fraction=self.params.kelly_fraction,
                room=self.risk.room(m, snap) - FEE_ROUNDING_BUDGET,
                depth=depth,
                fractional=self.cfg.fractional or m.fractional_trading,
                held=pos.contracts if pos.side is prop.side else Count(0),
            )
            count = sized.size.count
            prop = replace(prop, edge=sized.edge)  # the edge after the fee charged
            if not count:
                why = sized.reason or sized.size.reason
                return out(Verdict.SKIPPED, f"{prop.reason}; {why}", prop, count)
            # Fees as charged for the order; per-fill rounding over several levels on top.
            fee = charged_fee(prop.limit, count, view, self.params, taker=prop.is_taker)
            cost = Money(count.value * (prop.limit.value + fee)) + FEE_ROUNDING_BUDGET
        verdict = self.risk.check(
            market=m, book=book, now=now, snap=snap, side=prop.side, cost=cost, is_exit=is_exit
        )
        if not verdict.approved:
            return out(Verdict.DENIED, verdict.reason, prop, count)
        intent = OrderIntent(
            m.ticker,
            prop.side,
            prop.action,
            prop.limit,
            count,
            new_client_order_id(),
            prop.time_in_force,
            post_only=not prop.is_taker,
            reduce_only=is_exit,
        )
        res = self.orders.submit(intent, now)
        keep.add(intent.client_order_id)  # the order this cycle proposed, should it rest
        self._notify("on_order", intent, res, now)
        accepted = res.status not in (OrderStatus.REJECTED,)
        return out(
            Verdict.APPROVED if accepted else Verdict.DENIED,
            f"{prop.reason}; {count} contracts -> {res.message}",
            prop,
            count,
            acted="sent",
        )
