"""Event-driven replay for strategies without a vectorised screen (``crypto``, ``edge``, ...).

At each cycle in which the account has no resting order, no order of unknown outcome and no
book of ours depleted, and every open market shows a current book (a cycle without one records
"no current order book", which reports count), ``ProbePlanner`` asks the strategy for its fair
values on exactly the views the engine would build (the venue's open markets and books at that
time, the engine's positions: ``Engine.views``) and applies the one edge rule
(``rules.propose``). When no market gets a proposal, the full cycle would do nothing but log
skipped decisions, so it is skipped: flat, it leaves no trace; holding positions (all in
markets still open), ``Engine.quiet_cycle`` marks them on those books and tracks the equity,
the breaker and the equity curve exactly as the cycle would. The first cycle with a proposal
runs in full, and the engine gets the fair values already computed for it (``MemoStrategy``):
the strategy is asked once per cycle, at the same times and with the same views as in a run of
every cycle, so stateful strategies (volatility caches, walk-forward retraining) evolve
identically. ``tests/backtest/test_fastpath.py`` checks fast == full for every strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kalshibot.backtest.planner import RunPlanner
from kalshibot.domain.book import OrderBook
from kalshibot.errors import KalshibotError
from kalshibot.exchange import with_market_updates
from kalshibot.store.connection import atomic
from kalshibot.strategy.base import FairValue, MarketView, Strategy, StrategyParams
from kalshibot.strategy.rules import Proposal, propose


class MemoStrategy:
    """``inner`` as the engine sees it: a call with views equal to those of the last probe
    returns the probe's fair values (once) instead of asking ``inner`` again."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.name = inner.name
        self.pending: tuple[list[MarketView], list[FairValue]] | None = None

    def __getattr__(self, attr: str) -> Any:  # reload, in_sample, ... of the real strategy
        return getattr(self.inner, attr)

    def remember(self, views: list[MarketView], fvs: list[FairValue]) -> None:
        self.pending = (views, fvs)

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        got, self.pending = self.pending, None
        if got is not None and got[0] == list(views):
            return got[1]
        return self.inner.fair_values(views)


class ProbePlanner(RunPlanner):
    """The event-driven fast path of one run (see module docstring)."""

    def __init__(self, memo: MemoStrategy, params: StrategyParams, *, n_cycles: int,
                 **run: Any) -> None:
        super().__init__(**run)
        self.memo = memo
        self.params = params
        self.n = n_cycles
        self.due: int | None = None  # a probed cycle found to need a full run

    def before_full_cycle(self, k: int) -> None:
        """Nothing to replay: the strategy saw every cycle."""

    def full_cycle_ran(self, k: int) -> None:
        """Nothing cached across cycles."""

    def _may_probe(self, now: datetime) -> bool:
        """No order resting or of unknown outcome, no depleted book current, the account's
        positions as the engine holds them, every held market still open."""
        orders = self.engine.orders
        if (self.account.open_orders() or orders.open_orders() or orders.blocked_markets()
                or self.venue.taken_is_current(now)):
            return False
        held = {p.ticker: p.qty for p in self.account.positions()}
        if held != {p.ticker: p.qty for p in self.engine.open_positions()}:
            return False
        for t in held:
            if self.stuck(t, now):
                continue
            m = self.by_ticker.get(t)
            if m is None or now >= m.close_time:
                return False
        return True

    def _quiet(self, now: datetime) -> tuple[bool, dict[str, OrderBook]]:
        """Ask the strategy about ``now`` as the engine would; (no proposal anywhere, the books
        shown). The fair values are kept for the engine (``MemoStrategy``)."""
        self.clock.set(now)
        eng = self.engine
        found = self.venue.get_markets(series=eng.cfg.series, tickers=eng.cfg.tickers,
                                       status="open")
        markets = with_market_updates(self.venue, {m.ticker: m for m in found})
        active = [m for m in markets.values() if m.close_time > now]
        books = self.venue.get_orderbooks([m.ticker for m in active]) if active else {}
        if any(m.ticker not in books for m in active):
            return False, books  # the cycle records "no current order book" (counted)
        views = eng.views(active, books, now)
        if not views:
            return True, books
        try:
            fvs = self.memo.inner.fair_values(views)
        except KalshibotError:
            return False, books  # the engine records the error: run the cycle
        self.memo.remember(views, fvs)
        for view, fv in zip(views, fvs, strict=True):
            try:
                if isinstance(propose(view, fv, self.params), Proposal):
                    return False, books
            except KalshibotError:
                return False, books
        return True, books

    def skip_to(self, k: int, now: datetime) -> int:
        """The first cycle >= ``k`` that must run in full (see module docstring); the quiet
        ones before it have been applied."""
        if self.due == k:
            return k  # probed already: the strategy is asked once per cycle
        with atomic(self.conn):  # the quiet cycles' equity points: one transaction
            return self._scan(k)

    def _scan(self, k: int) -> int:
        c = k
        while c < self.n:
            t = self.t0 + c * self.interval
            if not self._may_probe(t):
                return c
            holding = any(not self.stuck(p.ticker, t) for p in self.engine.open_positions())
            quiet, books = self._quiet(t)
            if not quiet:
                self.due = c
                return c
            self.memo.pending = None
            if holding:
                self.engine.quiet_cycle(t, books)
            c += 1
        return c
