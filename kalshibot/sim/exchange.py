"""``SimExchange``: market data replayed from a SQLite store, fills simulated by ``SimAccount``.

Time is whatever the injected clock says (usually a ``SimClock`` driven faster than real time).
At time ``now`` the venue shows only what was known then: a market is ``active`` between its
open and close times and its result is hidden until it closes; the book is the latest stored
snapshot at or before ``now`` (older than ``max_book_age`` counts as no book); public trades
up to ``now`` feed resting orders. Liquidity our marketable orders take from a snapshot stays
taken until the next snapshot of that market (no refilling the same levels every cycle).
Markets settle ``settle_delay`` after close at their stored result, paying $1 per winning
contract.

Backtest options (all off by default, so default behaviour is unchanged): ``latency`` makes an
order arrive ``latency`` after the decision: it is placed against the book at that later time
(and rejected if the market closed meanwhile); its fills carry that later time. ``unknown_size``
gives a snapshot side with a price but no recorded size that many contracts (default None: such a
side is empty, i.e. unfillable). ``since``/``until`` keep only markets closing in [since, until).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from kalshibot.clock import Clock, SimClock
from kalshibot.domain.book import Level, OrderBook
from kalshibot.domain.fees import FeeSchedule
from kalshibot.domain.market import (
    ExchangeStatus,
    Market,
    MarketStatus,
    Result,
    Settlement,
)
from kalshibot.domain.money import ONE, Count, Money, Price
from kalshibot.domain.orders import (
    Action,
    Fill,
    Order,
    OrderAck,
    OrderIntent,
    OrderStatus,
    Side,
)
from kalshibot.errors import ExchangeRejectedError, UserInputError
from kalshibot.sim.account import SimAccount
from kalshibot.sim.snapshots import SnapshotCursor
from kalshibot.sim.venue import SimulatedAccountVenue
from kalshibot.store.books import SnapshotRow, row_to_book
from kalshibot.store.markets import find_markets, find_tickers, get_market
from kalshibot.store.trades import list_trades
from kalshibot.store.units import ms_ts, ts_ms


def _deplete(book: OrderBook, taken: dict[tuple[Side, Decimal], Decimal]) -> OrderBook:
    """``book`` less the contracts our own orders already took from its bid levels."""

    def side(levels: tuple[Level, ...], s: Side) -> list[tuple[Price, Count]]:
        out = []
        for lv in levels:
            left = lv.size.value - taken.get((s, lv.price.value), Decimal(0))
            if left > 0:
                out.append((lv.price, Count(left)))
        return out

    return OrderBook.from_levels(book.ticker, side(book.yes_bids, Side.YES),
                                 side(book.no_bids, Side.NO), book.ts)


def status_at(m: Market, now: datetime) -> MarketStatus:
    if m.open_time is not None and now < m.open_time:
        return MarketStatus.INITIALIZED
    if now < m.close_time:
        return MarketStatus.ACTIVE
    return MarketStatus.CLOSED


class SimExchange(SimulatedAccountVenue):
    """The ``Exchange`` protocol over stored history (see module docstring)."""

    name = "sim"

    def __init__(
        self,
        data: sqlite3.Connection,
        clock: Clock,
        account: SimAccount,
        *,
        series: Sequence[str] = (),
        tickers: Sequence[str] = (),
        settle_delay: timedelta = timedelta(seconds=60),
        max_book_age: timedelta = timedelta(minutes=5),
        latency: timedelta = timedelta(0),
        unknown_size: Count | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        self.data = data
        self.clock = clock
        self.account = account
        self.settle_delay = settle_delay
        self.max_book_age = max_book_age
        self.latency = latency
        self.unknown_size = unknown_size
        self._all = {m.ticker: m for m in find_markets(data, series=series, tickers=tickers,
                                                       close_after=since, close_before=until)}
        # sweep index for "open" market queries under a clock that only moves forward
        self._order = {t: i for i, t in enumerate(self._all)}
        self._by_open = sorted(self._all.values(),
                               key=lambda m: (m.open_time or datetime.min.replace(
                                   tzinfo=m.close_time.tzinfo), self._order[m.ticker]))
        self._sweep_i = 0
        self._sweep_now: datetime | None = None
        self._sweep_active: dict[str, Market] = {}
        self._fees = {t: m.fee_schedule for t, m in self._all.items()}
        account.fees = self._fee_of
        self._at = SnapshotCursor(data)  # the latest snapshot row per ticker at a time
        self._built: dict[str, tuple[int, OrderBook]] = {}  # ticker -> (snapshot ts, book)
        self._shown: dict[str, tuple[MarketStatus, Market, Market]] = {}  # see ``_visible``
        self._trades_seen: dict[str, datetime] = {}
        self._settled: dict[str, Settlement] = {}
        # ticker -> (snapshot ts ms, {(bid side, price): contracts taken by our orders})
        self._taken: dict[str, tuple[int, dict[tuple[Side, Decimal], Decimal]]] = {}
        self.requests = 0

    def _fee_of(self, ticker: str) -> FeeSchedule:
        return self._fees.get(ticker) or FeeSchedule()

    def selected_markets(self) -> list[Market]:
        """The stored markets this venue replays (the selection), in store order."""
        return list(self._all.values())

    # --- time span of the data ----------------------------------------------------------
    def data_span(self) -> tuple[datetime, datetime] | None:
        """First market open and last market close in the selection (None if empty)."""
        if not self._all:
            return None
        opens = [m.open_time or m.close_time for m in self._all.values()]
        return min(opens), max(m.close_time for m in self._all.values())

    # --- market data --------------------------------------------------------------------
    def get_exchange_status(self) -> ExchangeStatus:
        self.requests += 1
        return ExchangeStatus(True, True)

    def get_markets(
        self,
        *,
        series: Sequence[str] = (),
        tickers: Sequence[str] = (),
        event: str | None = None,
        status: str | None = "open",
    ) -> list[Market]:
        self.requests += 1
        now = self.clock.now()
        if status == "open" and event is None:
            return [self._visible(m, now) for m in self._active_at(now)
                    if (not series or m.series_ticker in series)
                    and (not tickers or m.ticker in tickers)]
        out = []
        for m in self._all.values():
            if series and m.series_ticker not in series:
                continue
            if tickers and m.ticker not in tickers:
                continue
            if event and m.event_ticker != event:
                continue
            st = status_at(m, now)
            if status == "open" and st is not MarketStatus.ACTIVE:
                continue
            out.append(self._visible(m, now))
        return out

    def _active_at(self, now: datetime) -> list[Market]:
        """Markets ``ACTIVE`` at ``now`` in stored order; amortised O(changes) while time moves
        forward (a backward jump rebuilds the sweep)."""
        if self._sweep_now is None or now < self._sweep_now:
            self._sweep_i, self._sweep_active = 0, {}
        self._sweep_now = now
        ms = self._by_open
        while self._sweep_i < len(ms):
            m = ms[self._sweep_i]
            if m.open_time is not None and m.open_time > now:
                break
            self._sweep_active[m.ticker] = m
            self._sweep_i += 1
        for t in [t for t, m in self._sweep_active.items() if m.close_time <= now]:
            del self._sweep_active[t]
        return sorted(self._sweep_active.values(), key=lambda m: self._order[m.ticker])

    def release_closed(self, now: datetime, *, orders_before: datetime | None = None) -> int:
        """Forget cached snapshots and trade cursors of markets closed by ``now`` (bounded
        memory over long replays) and, with ``orders_before``, the account's orders closed
        before then (``SimAccount.forget_closed``); returns how many markets were dropped.
        Closed markets never show a book again."""
        gone = {t for t in [*self._at, *self._taken, *self._built, *self._trades_seen]
                if t in self._all and self._all[t].close_time <= now}
        for t in gone:
            self._at.forget(t)
            self._built.pop(t, None)
            self._taken.pop(t, None)
            self._trades_seen.pop(t, None)
        for t in [t for t in self._shown if self._all[t].close_time + self.settle_delay <= now]:
            del self._shown[t]
        if orders_before is not None:
            self.account.forget_closed(orders_before)
        return len(gone)

    def taken_is_current(self, now: datetime) -> bool:
        """Whether our orders took liquidity from a snapshot that is still the current one of
        its market (books shown until the next snapshot are depleted)."""
        at = ts_ms(now)
        current = False
        for t, (snap_ts, used) in list(self._taken.items()):
            row = self._row_at(t, at) if used else None
            if row is not None and row[1] == snap_ts:
                current = True
                break
            if not used or (row is not None and row[1] > snap_ts):
                del self._taken[t]  # a newer snapshot replaced it: never shown again
        return current

    def _visible(self, m: Market, now: datetime) -> Market:
        """``m`` as shown at ``now`` (result hidden until it closes). The shown object depends
        only on the market's phase, so it is built once per phase (markets are immutable):
        every poll in a phase returns the same object."""
        st = status_at(m, now)
        if st is MarketStatus.CLOSED and now >= m.close_time + self.settle_delay:
            st = MarketStatus.FINALIZED
        hit = self._shown.get(m.ticker)
        if hit is not None and hit[0] is st and hit[1] is m:
            return hit[2]
        shown = (replace(m, status=st) if st is MarketStatus.FINALIZED
                 else replace(m, status=st, result=Result.NONE, settlement_value=None))
        self._shown[m.ticker] = (st, m, shown)
        return shown

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        """The books at ``now`` as Kalshi shows them: our resting orders included."""
        self.requests += 1
        now = self.clock.now()
        self._settle_due(now)
        return self.present(self._books_and_feed(tickers, now))

    def _books_and_feed(self, tickers: Sequence[str], now: datetime) -> dict[str, OrderBook]:
        out: dict[str, OrderBook] = {}
        for t in tickers:
            book = self._book(t, now)
            if book is None:
                continue
            out[t] = book
            self._feed_account(t, book, now)
        return out

    def replay_quiet_feed(self, now: datetime) -> bool:
        """Backtest fast path: do what ``get_orderbooks`` at ``now`` does to the resting
        orders (trades and books fed to them, queue estimates advanced) *if* that fills
        nothing, and return True; if it would fill anything, undo it all and return False
        (the caller then runs the full cycle, which repeats it for real).

        The caller guarantees that nothing is due to settle and no order's market has closed
        by ``now`` (so ``_settle_due`` would do nothing). Markets without resting orders are
        not touched: for them a venue poll only moves the trade cursor, which ``place_order``
        resets anyway."""
        acct = self.account
        live = acct.open_sim_orders()
        if not live:
            return True
        tickers = sorted({s.order.ticker for s in live}, key=lambda t: self._order.get(t, 0))
        cp = acct.checkpoint(tickers)
        seen = {t: self._trades_seen.get(t) for t in tickers}
        self._books_and_feed(tickers, now)
        if len(acct.fills) == cp.n_fills:
            return True
        acct.rollback(cp)
        for t in tickers:
            ts = seen[t]
            if ts is None:
                self._trades_seen.pop(t, None)
            else:
                self._trades_seen[t] = ts
        return False

    def next_trade_at(self, ticker: str) -> datetime | None:
        """Time of the first stored public trade of ``ticker`` that the next venue poll would
        feed to its resting orders (at or after the trade cursor), or None."""
        since = self._trades_seen.get(ticker)
        row = self.data.execute(
            "SELECT min(ts) FROM trades WHERE ticker = ? AND ts >= ?",
            (ticker, -(1 << 62) if since is None else ts_ms(since))).fetchone()
        return None if row[0] is None else ms_ts(row[0])

    def replay_quiet_span(self, ticker: str, last_shown: datetime) -> None:
        """Backtest fast path: leave ``ticker``'s resting orders as a run of venue polls over
        a span of cycles would, when the caller has proven that no trade reaches them and no
        shown book touches their prices in it: then only the last poll that showed a book
        (at ``last_shown``) leaves a trace (the trade cursor and the last book seen)."""
        since = self._trades_seen.get(ticker)
        if since is not None and since > last_shown:
            return  # the order is still in flight over the whole span
        book = self._book(ticker, last_shown)
        if book is not None:
            self._feed_account(ticker, book, last_shown)

    def _row_at(self, ticker: str, at_ms: int) -> SnapshotRow | None:
        """The latest stored snapshot of ``ticker`` at or before ``at_ms`` (``SnapshotCursor``:
        read a batch ahead per market, no market's whole history held in memory)."""
        return self._at.at(ticker, at_ms)

    def _book(self, ticker: str, now: datetime) -> OrderBook | None:
        m = self._all.get(ticker)
        if m is None or status_at(m, now) is not MarketStatus.ACTIVE:
            return None
        found = self._row_at(ticker, ts_ms(now))
        if found is None:
            return None
        built = self._built.get(ticker)
        if built is not None and built[0] == found[1]:
            book = built[1]  # the same snapshot as last time: the same (immutable) book
        else:
            row = found
            if self.unknown_size is not None and row[6] is None:
                units = int(self.unknown_size.value * 100)
                row = (row[0], row[1], row[2], units if row[2] is not None and row[3] is None
                       else row[3], row[4], units if row[4] is not None and row[5] is None
                       else row[5], None)
            book = row_to_book(row)
            self._built[ticker] = (found[1], book)
        if book.ts is not None and now - book.ts > self.max_book_age:
            return None
        taken = self._taken.get(ticker)
        if taken is not None and taken[0] == found[1] and taken[1]:
            book = _deplete(book, taken[1])
        return book

    def _feed_account(self, ticker: str, book: OrderBook, now: datetime) -> None:
        if not self.account.open_orders(ticker):
            self._trades_seen[ticker] = now
            return
        since = self._trades_seen.get(ticker)
        if since is not None and since > now:
            return  # an order still in flight (latency) meets neither trades nor books yet
        trades = list_trades(self.data, ticker, since=since, until=now + timedelta(milliseconds=1))
        self._trades_seen[ticker] = now + timedelta(milliseconds=1)
        self.account.on_trades(trades, now)
        self.account.on_book(book, now)

    def _settle_due(self, now: datetime) -> None:
        for pos in list(self.account.positions()):
            self._settle_one(pos.ticker, now)
        for o in list(self.account.open_orders()):
            m = self._all.get(o.ticker)
            if m is not None and now >= m.close_time:
                self.account.cancel(o.order_id, now)

    def _settle_one(self, ticker: str, now: datetime) -> None:
        m = self._all.get(ticker)
        if m is None or ticker in self._settled or now < m.close_time + self.settle_delay:
            return
        if m.result not in (Result.YES, Result.NO, Result.SCALAR):
            return  # no recorded outcome: stays open, marked at the last mid by reports
        pos = next((p for p in self.account.positions() if p.ticker == ticker), None)
        yes_n = pos.qty.value if pos is not None and pos.qty.value > 0 else 0
        no_n = -pos.qty.value if pos is not None and pos.qty.value < 0 else 0
        revenue = self.account.settle(ticker, m.result, m.settlement_value)
        self._settled[ticker] = Settlement(
            ticker,
            m.result,
            revenue,
            m.close_time + self.settle_delay,
            Count(yes_n).value,
            Count(no_n).value,
            m.settlement_value,
        )

    # --- account ------------------------------------------------------------------------
    def place_order(self, intent: OrderIntent) -> OrderAck:
        self.requests += 1
        now = self.clock.now()
        m = self._all.get(intent.ticker)
        if m is None:
            raise ExchangeRejectedError(
                f"market {intent.ticker} not found", status=404, code="market_not_found"
            )
        if status_at(m, now) is not MarketStatus.ACTIVE:
            raise ExchangeRejectedError(
                f"market {intent.ticker} is not open", status=400, code="market_closed"
            )
        if not m.tick_grid.is_valid(intent.price):
            raise ExchangeRejectedError(
                f"price {intent.price.to_str()} off the tick grid", status=400, code="invalid_price"
            )
        if self.latency > timedelta(0):
            now = now + self.latency  # the order reaches the venue later
            if status_at(m, now) is not MarketStatus.ACTIVE:
                raise ExchangeRejectedError(
                    f"market {intent.ticker} closed before the order arrived (latency)",
                    status=400, code="market_closed")
            seen = self._trades_seen.get(intent.ticker)
            if seen is None or seen < now:
                self._trades_seen[intent.ticker] = now  # trades before arrival cannot fill it
        book = self._book(intent.ticker, now)
        before = len(self.account.fills)
        ack = self.account.place(intent, book, now)
        if book is not None and book.ts is not None:
            snap_ts = ts_ms(book.ts)
            prev = self._taken.get(intent.ticker)
            used = prev[1] if prev is not None and prev[0] == snap_ts else {}
            for f in self.account.fills[before:]:
                if not f.is_taker:
                    continue
                # Buying S at p consumed bids for the other side at 1 - p; selling hit S's bids.
                key = ((f.side.other(), ONE - f.price.value) if f.action is Action.BUY
                       else (f.side, f.price.value))
                used[key] = used.get(key, Decimal(0)) + f.count.value
            self._taken[intent.ticker] = (snap_ts, used)
        return ack

    def get_settlements(self, since: datetime | None = None) -> list[Settlement]:
        self.requests += 1
        self._settle_due(self.clock.now())
        return [s for s in self._settled.values() if since is None or s.settled_time >= since]

    # --- restart support ----------------------------------------------------------------
    def restore(
        self,
        fills: Sequence[Fill],
        settlements: Sequence[Settlement],
        open_orders: Sequence[Order],
        cash: Money,
    ) -> None:
        """Rebuild the simulated account from a trading store after a restart."""
        acct = self.account
        acct.portfolio = type(acct.portfolio)(cash, {})
        events: list[tuple[datetime, int, object]] = [(f.ts, 0, f) for f in fills]
        events += [(s.settled_time, 1, s) for s in settlements]
        for _, kind, ev in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:
                assert isinstance(ev, Fill)
                acct.fills.append(ev)
                acct.portfolio = acct.portfolio.with_fill(ev)
            else:
                assert isinstance(ev, Settlement)
                acct.portfolio = acct.portfolio.with_settlement(ev.ticker, ev.result, ev.value)
                self._settled[ev.ticker] = ev
        from kalshibot.sim.account import SimOrder

        for o in open_orders:
            if o.status in (OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED):
                intent = OrderIntent(
                    o.ticker,
                    o.side,
                    o.action,
                    o.price,
                    o.initial_count,
                    o.client_order_id or o.order_id,
                )
                acct.track(SimOrder(o, intent, queue_ahead=Count(0).value))
                acct.by_client_id[intent.client_order_id] = o.order_id
        def _num(ident: str) -> int:
            tail = ident.rsplit("-", 1)[-1].lstrip("of")
            return int(tail) if tail.isdigit() else 0

        acct._n_orders = max([_num(o) for o in acct.orders] + [_num(f.order_id) for f in fills]
                             + [0])
        acct._n_fills = max([_num(f.fill_id) for f in fills] + [0])


def open_sim_venue(data: sqlite3.Connection, account: SimAccount, *,
                   series: Sequence[str] = (), tickers: Sequence[str] = (),
                   hint: str = "check --series/--tickers", **kw: Any,
                   ) -> tuple[SimExchange, tuple[datetime, datetime]]:
    """The simulated venue over stored history for ``trade --exchange sim`` and ``backtest``,
    and the span (first open, last close; UTC) of its selected markets. Its clock is a
    placeholder until the caller sets ``venue.clock`` (the start depends on the span).
    No selected market is a ``UserInputError`` with ``hint``."""
    probe = SimClock(datetime(2000, 1, 1, tzinfo=UTC))
    ex = SimExchange(data, probe, account, series=series, tickers=tickers, **kw)
    span = ex.data_span()
    if span is None:
        raise UserInputError("no stored markets match the selection",
                             hint=f"{hint}; {stored_close_span(data, series, tickers)}")
    return ex, span


def stored_close_span(data: sqlite3.Connection, series: Sequence[str] = (),
                      tickers: Sequence[str] = ()) -> str:
    """Where the stored markets of ``series``/``tickers`` close (UTC), for an empty selection's
    hint: ``--from``/``--to`` outside that span select nothing."""
    found = find_tickers(data, series=series, tickers=tickers)
    if not found:
        return "no stored market has that series/ticker"
    first, last = (get_market(data, t) for t in (found[0], found[-1]))
    if first is None or last is None:  # deleted meanwhile by another process
        return f"{len(found):,} stored market(s)"
    return (f"{len(found):,} stored market(s) close from {first.close_time:%Y-%m-%dT%H:%MZ} "
            f"to {last.close_time:%Y-%m-%dT%H:%MZ}")
