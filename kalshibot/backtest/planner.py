"""Which cycles a backtest must run in full, and the effects of the ones it skips.

``SkipPlanner.skip_to(k, now)`` answers, at cycle ``k``: ``k`` itself when the cycle must run in
full, else the first cycle after a quiet span whose effects on the venue and the engine it has
applied (the account-state cases of ``kalshibot.backtest.fastpath``). It reads the account, the
engine and the venue through their public interfaces only (``SimAccount.open_orders``,
``Engine.open_positions``, ``SimExchange.taken_is_current`` / ``replay_quiet_span`` ...) and the
strategy's screen. Call ``before_full_cycle(k)`` and ``full_cycle_ran(k)`` around every full
cycle: only a full cycle changes the resting orders it caches. Strategies without a screen get
``kalshibot.backtest.probe.ProbePlanner`` (the same two calls and ``skip_to``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kalshibot.backtest.fastpath import MeanRevScreen
from kalshibot.clock import SimClock
from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import Market, Result
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Action, Side
from kalshibot.engine import Engine
from kalshibot.sim.account import SimAccount
from kalshibot.sim.exchange import SimExchange
from kalshibot.store.connection import atomic

#: After the last full cycle: (earliest stale deadline, whether any order's outcome is
#: unresolved, the markets holding exactly one resting buy: its side and price).
Resting = tuple[datetime | None, bool, dict[str, tuple[Side, Price]]]


def top_book(ticker: str, bid_units: int, ask_units: int) -> OrderBook:
    """A book of the best YES bid and ask only ($0.0001 units, 0 = that side empty); sizes are
    unknown here and shown as 1 (marks read prices only)."""
    one = Count(1)
    yes = [(Price(Decimal(bid_units) / 10000), one)] if bid_units else []
    no = [(Price(Decimal(10000 - ask_units) / 10000), one)] if ask_units else []
    return OrderBook.from_levels(ticker, yes, no)


class RunPlanner:
    """What both fast paths read: the run's account, engine, venue, selected markets, state
    store and clock. Cycle ``k`` is at ``t0 + k * interval``; ``settle`` is the venue's settle
    delay."""

    def __init__(self, *, account: SimAccount, engine: Engine, venue: SimExchange,
                 markets: list[Market], conn: sqlite3.Connection, clock: SimClock,
                 t0: datetime, interval: timedelta, settle: timedelta) -> None:
        self.account = account
        self.engine = engine
        self.venue = venue
        self.by_ticker = {m.ticker: m for m in markets}
        self.conn = conn
        self.clock = clock
        self.t0 = t0
        self.interval = interval
        self.settle = settle

    def stuck(self, ticker: str, now: datetime) -> bool:
        """A position in a closed market with no recorded result: it never changes again."""
        m = self.by_ticker.get(ticker)
        return (m is not None and m.result is Result.NONE
                and now >= m.close_time + self.settle)


class SkipPlanner(RunPlanner):
    """The fast path's decisions for one run with a vectorised screen (module docstring)."""

    def __init__(self, screen: MeanRevScreen, **run: Any) -> None:
        super().__init__(**run)
        self.screen = screen
        self.stale_after = self.engine.cfg.stale_order_after
        self.close_window = timedelta(seconds=self.engine.risk.limits.min_seconds_to_close)
        self._resting: Resting | None = None

    # --- state -----------------------------------------------------------------------------
    def before_full_cycle(self, k: int) -> None:
        """Replay the strategy's state over the cycles skipped before ``k`` (screen)."""
        self.screen.before_cycle(k)

    def full_cycle_ran(self, k: int) -> None:
        """Forget the cached resting orders (a full cycle may have changed them)."""
        self._resting = None
        self.screen.after_cycle(k)

    def holding(self, now: datetime) -> bool:
        if any(not self.stuck(p.ticker, now) for p in self.account.positions()):
            return True
        return any(not self.stuck(p.ticker, now) for p in self.engine.open_positions())

    def must_run(self, now: datetime) -> bool:
        return (bool(self.account.open_orders()) or self.holding(now)
                or self.venue.taken_is_current(now))

    def resting(self) -> Resting:
        """See ``Resting``; computed once per full cycle."""
        if self._resting is None:
            recs = self.engine.orders.open_orders()
            deadline = min((r.created for r in recs), default=None)
            per: dict[str, list[tuple[Side, Price, Action]]] = {}
            for r in recs:
                per.setdefault(r.ticker, []).append((r.side, r.price, r.action))
            one = {t: (rs[0][0], rs[0][1]) for t, rs in per.items()
                   if len(rs) == 1 and rs[0][2] is Action.BUY}
            self._resting = (None if deadline is None else deadline + self.stale_after,
                             bool(self.engine.orders.blocked_markets()), one)
        return self._resting

    # --- decisions -------------------------------------------------------------------------
    def skip_to(self, k: int, now: datetime) -> int:
        """Where to go on from cycle ``k``: ``k`` itself when it must run in full, else past a
        quiet span whose effects on the venue and the engine have been applied."""
        if not self.must_run(now):
            return self.screen.next_flag(k)
        self.clock.set(now)
        if self.account.open_orders():
            nk = self.quiet_until(k, now)
            if nk > k:
                self.skip_quietly(k, nk)
                return nk
            return k + 1 if self.quiet_with_orders(k, now) else k
        nk = self.hold_until(k, now)
        if nk > k:
            self.skip_holding(k, nk)
        return nk

    def kept(self, k: int) -> int:
        """The first cycle >= ``k`` at which the engine would cancel a resting order: its
        market's proposal is not certain to be that order (or a market holds more than one
        order, or a sell)."""
        resting = self.resting()[2]
        if any(o.ticker not in resting for o in self.account.open_orders()):
            return k
        return self.screen.next_unmatched(k, resting)

    def quiet_until(self, k: int, now: datetime) -> int:
        """For a flat account with resting orders: the first cycle >= ``k`` at which anything
        could happen (k itself when that cannot be ruled out). Nothing can before it: every
        proposal is certain to be the order already resting in its market and no other entry
        is proposed (screen), no order turns stale or nears its market's close, no book of
        ours is depleted, no stored trade reaches the orders and no shown book touches their
        prices. ``skip_quietly`` then leaves the venue as the skipped polls would."""
        sc = self.screen
        if self.holding(now) or self.venue.taken_is_current(now):
            return k
        deadline, blocked, resting = self.resting()
        nk = min(sc.next_flag(k, resting), self.kept(k))
        if nk <= k or blocked:
            return k
        if deadline is not None:
            nk = min(nk, sc.k_at(deadline))
        for o in self.account.open_orders():
            m = self.by_ticker.get(o.ticker)
            if m is None:
                return k
            nk = min(nk, sc.k_at(m.close_time - self.close_window))
            nk = sc.next_touch(o.ticker, o.side, o.action, o.price, k, nk)
            traded = self.venue.next_trade_at(o.ticker)
            if traded is not None:
                nk = min(nk, sc.k_at(traded))
            if nk <= k:
                return k
        return nk

    def skip_quietly(self, k: int, nk: int) -> None:
        for t in sorted({o.ticker for o in self.account.open_orders()}):
            c = self.screen.last_shown(t, k, nk)
            if c is not None:
                self.venue.replay_quiet_span(t, self.t0 + c * self.interval)

    def hold_until(self, k: int, now: datetime) -> int:
        """For an account holding positions and no resting order: the first cycle >= ``k``
        at which anything but marks could change (k itself when that cannot be ruled out):
        the screen flags no entry, no held position could be exited, no held market closes
        or settles, and no book of ours is depleted. The skipped cycles then only move the
        marks, the equity, the breaker's peak and the equity curve (``skip_holding``)."""
        sc = self.screen
        if self.account.open_orders() or self.venue.taken_is_current(now):
            return k
        deadline, blocked, _ = self.resting()
        if blocked or deadline is not None:
            return k
        nk = sc.next_flag(k)
        held = {p.ticker: p.qty for p in self.account.positions()}
        if held != {p.ticker: p.qty for p in self.engine.open_positions()}:
            return k
        for t in held:
            m = self.by_ticker.get(t)
            if m is None:
                return k
            if self.stuck(t, now):
                continue
            if now >= m.close_time:
                nk = min(nk, sc.k_at(m.close_time + self.settle))
            else:
                nk = min(nk, sc.k_at(m.close_time), sc.next_exit(t, k))
            if nk <= k:
                return k
        return nk

    def skip_holding(self, k: int, nk: int) -> None:
        """What cycles ``k .. nk-1`` would have done (see ``hold_until``): each marks the held
        positions on the top of its shown book, then the engine tracks the equity exactly as
        a cycle does (``Engine.quiet_cycle``)."""
        shown: dict[int, dict[str, OrderBook]] = {}
        for p in self.engine.open_positions():
            ks, bids, asks = self.screen.shown_tops(p.ticker, k, nk)
            for c, b, a in zip(ks.tolist(), bids.tolist(), asks.tolist(), strict=True):
                shown.setdefault(c, {})[p.ticker] = top_book(p.ticker, b, a)
        with atomic(self.conn):
            for c in range(k, nk):
                self.engine.quiet_cycle(self.t0 + c * self.interval, shown.get(c, {}))

    def quiet_with_orders(self, k: int, now: datetime) -> bool:
        """One cycle of ``quiet_until``'s kind where a book does touch an order: feeding the
        venue's trades and books to the orders fills nothing (``replay_quiet_feed`` then
        leaves exactly the state the cycle would)."""
        if self.holding(now) or self.venue.taken_is_current(now):
            return False
        if self.screen.next_flag(k, self.resting()[2]) <= k or self.kept(k) <= k:
            return False
        deadline, blocked, _ = self.resting()
        if blocked or (deadline is not None and now >= deadline):
            return False
        for o in self.account.open_orders():
            m = self.by_ticker.get(o.ticker)
            if m is None or now >= m.close_time:
                return False
        return self.venue.replay_quiet_feed(now)
