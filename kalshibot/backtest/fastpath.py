"""The fast path: skip cycles where provably nothing can happen, keep "one engine" semantics.

The runner calls ``Engine.run_cycle`` for every cycle in which anything *could* happen and skips
the rest. A cycle may be skipped only when all of these hold (checked by the runner):

1. the account holds no position (except in closed markets with no recorded result, which can
   never change again) and no resting order, and the engine's portfolio agrees;
2. no snapshot our orders took liquidity from is still the current one;
3. the strategy's *screen* says no market's edge rule can trigger at that cycle.

A screen is a vectorised twin of one strategy, computed per market over the snapshot arrays
(numpy, one market at a time, streamed by open time so memory stays bounded). It must be a
*superset*: it flags every cycle where the strategy could propose an order, with safety margins
for floating-point differences. It also replays the strategy's state over skipped cycles (the
mean-reversion window of mids), so the next full cycle sees exactly what it would have seen.
Strategies without a screen run every cycle. ``tests/backtest`` checks fast == full runs.

Assumption (true for data written by ``store.books`` and ``sim.sample``): a snapshot's
``yes_bid``/``yes_ask`` columns are the top of its ``depth`` when depth is present.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from kalshibot.domain.market import Market
from kalshibot.store.units import ts_ms
from kalshibot.strategy.base import Strategy, StrategyParams
from kalshibot.strategy.meanrev import MeanReversionStrategy

Z_MARGIN = 1e-6
EDGE_MARGIN = 1e-5  # dollars: covers float rounding and the 6-place probability rounding
SECS_MARGIN = 1e-6


@dataclass
class _MarketCycles:
    ticker: str
    k_lo: int  # first cycle index at which the market is active
    k_hi: int  # first cycle index at which it is closed
    valid: npt.NDArray[np.bool_]  # per cycle in [k_lo, k_hi): a two-sided book is shown
    mids: npt.NDArray[np.float64]  # per cycle: YES mid (float dollars), NaN when not valid
    pushed: int  # cycle index up to which the strategy state has been advanced


class MeanRevScreen:
    """Screen for ``MeanReversionStrategy`` (see module docstring)."""

    def __init__(self, strategy: MeanReversionStrategy, params: StrategyParams,
                 data: sqlite3.Connection, markets: Sequence[Market], t0: datetime,
                 interval: timedelta, n_cycles: int, *, max_book_age: timedelta,
                 unknown_size: bool, chunk_cycles: int = 8640) -> None:
        self.s = strategy
        self.params = params
        self.data = data
        self.t0_ms = ts_ms(t0)
        self.step_ms = int(interval.total_seconds() * 1000)
        self.n = n_cycles
        self.max_age_ms = int(max_book_age.total_seconds() * 1000)
        self.unknown_size = unknown_size
        self.chunk = chunk_cycles
        self.pending = sorted(markets, key=lambda m: self._k_of(m.open_time, lo=True))
        self.next_pending = 0
        self.loaded: dict[str, _MarketCycles] = {}
        self.flags: list[int] = []  # heap of flagged cycle indices
        self.snapshots = 0

    def _k_of(self, t: datetime | None, *, lo: bool) -> int:
        if t is None:
            return 0
        d = ts_ms(t) - self.t0_ms
        return max(0, -(-d // self.step_ms))  # first cycle at or after t

    def _load_until(self, k: int) -> None:
        while self.next_pending < len(self.pending):
            m = self.pending[self.next_pending]
            if self._k_of(m.open_time, lo=True) > k + self.chunk:
                break
            self.next_pending += 1
            self._load(m)

    def _next_unloaded_k(self) -> int:
        if self.next_pending >= len(self.pending):
            return self.n
        return self._k_of(self.pending[self.next_pending].open_time, lo=True)

    def _load(self, m: Market) -> None:
        k_lo = self._k_of(m.open_time, lo=True)
        k_hi = min(self._k_of(m.close_time, lo=True), self.n)
        if k_hi <= k_lo:
            return
        # One packed integer per snapshot besides its time, flags computed by SQLite:
        # bid * 2^16 + ask * 4 + 2 * (bid side tradable) + (ask side tradable), prices in
        # $0.0001 units (0..10000, 14 bits; a missing price is 0 and its side not tradable).
        unk = 1 if self.unknown_size else 0
        rows = self.data.execute(
            "SELECT ts, (coalesce(yes_bid, 0) << 16) | (coalesce(yes_ask, 0) << 2)"
            " | ((yes_bid IS NOT NULL AND (depth IS NOT NULL OR yes_bid_size > 0"
            "     OR (? AND yes_bid_size IS NULL))) << 1)"
            " | (yes_ask IS NOT NULL AND (depth IS NOT NULL OR yes_ask_size > 0"
            "     OR (? AND yes_ask_size IS NULL)))"
            " FROM book_snapshots WHERE ticker = ? ORDER BY ts", (unk, unk, m.ticker)).fetchall()
        self.snapshots += len(rows)
        kk = np.arange(k_lo, k_hi, dtype=np.int64)
        tk = self.t0_ms + kk * self.step_ms
        if not rows:
            valid = np.zeros(len(kk), dtype=bool)
            mids = np.full(len(kk), np.nan)
            bidc = askc = mids
        else:
            a = np.asarray(rows, dtype=np.int64)
            ts, packed = a[:, 0], a[:, 1]
            bid, ask = packed >> 16, (packed >> 2) & 0x3FFF
            has_b, has_a = (packed & 2) != 0, (packed & 1) != 0
            i = np.searchsorted(ts, tk, side="right") - 1
            ok = i >= 0
            ic = np.maximum(i, 0)
            valid = ok & (tk - ts[ic] <= self.max_age_ms) & has_b[ic] & has_a[ic]
            mids = np.where(valid, (bid[ic] + ask[ic]) / 20000.0, np.nan)
            bidc, askc = bid[ic] / 10000.0, ask[ic] / 10000.0
        mc = _MarketCycles(m.ticker, k_lo, k_hi, valid, mids, k_lo)
        self.loaded[m.ticker] = mc
        for k in self._flags(mc, m, tk, bidc, askc).tolist():
            heapq.heappush(self.flags, k)

    def _flags(self, mc: _MarketCycles, m: Market, tk: npt.NDArray[np.int64],
               bid: npt.NDArray[np.float64], ask: npt.NDArray[np.float64]
               ) -> npt.NDArray[np.int64]:
        """Cycle indices where the mean-reversion entry rule could trigger: the window is
        full, |z| >= z_entry, entries are still allowed, and the best conceivable edge reaches
        min_edge. Edges are bounded with fees >= 0: a passive YES bid costs at least the best
        bid plus one tick (when the bid is on a single-band grid; else plus $0.0001), a passive
        NO bid likewise from 1 - ask, a taker buy the ask (YES) or 1 - bid (NO)."""
        s, w = self.s, self.s.window
        pos = np.flatnonzero(mc.valid)
        if len(pos) < w:
            return np.zeros(0, dtype=np.int64)
        seq = mc.mids[pos]
        win = np.lib.stride_tricks.sliding_window_view(seq, w)
        mean = win.mean(axis=1)
        std = np.maximum(win.std(axis=1), s.min_std)
        at = pos[w - 1:]  # cycle offsets where the window is full
        z = (seq[w - 1:] - mean) / std
        tau = (ts_ms(m.close_time) - tk[at]) / 1000.0
        b, a = bid[at], ask[at]
        gap_b, gap_a = _gaps(m, b), _gaps(m, a)
        bound = np.maximum(np.maximum(mean - b - gap_b, a - mean - gap_a),
                           np.maximum(mean - a, b - mean))
        cand = ((np.abs(z) >= s.z_entry - Z_MARGIN) & (tau >= s.no_entry_last_s - SECS_MARGIN)
                & (bound >= float(self.params.min_edge) - EDGE_MARGIN))
        return (mc.k_lo + at[cand]).astype(np.int64)

    # --- runner interface ------------------------------------------------------------------
    def next_flag(self, k: int) -> int:
        """Smallest cycle index >= k that must run because of the strategy (or self.n)."""
        self._load_until(k)
        while self.flags and self.flags[0] < k:
            heapq.heappop(self.flags)
        nxt = self.flags[0] if self.flags else self.n
        return min(nxt, self._next_unloaded_k())

    def before_cycle(self, k: int) -> None:
        """Replay the strategy's state over the skipped cycles of every active market."""
        self._load_until(k)
        for t, mc in list(self.loaded.items()):
            if mc.k_hi <= k:
                del self.loaded[t]
                continue
            if mc.k_lo > k or mc.pushed >= k:
                continue
            lo, hi = mc.pushed - mc.k_lo, k - mc.k_lo
            seg = mc.mids[lo:hi][mc.valid[lo:hi]]
            if len(seg):
                d = self.s._mids.setdefault(t, deque(maxlen=self.s.window))
                d.extend(seg[-self.s.window:].tolist())
            mc.pushed = k + 1  # the full cycle at k pushes its own mid

    def after_cycle(self, k: int) -> None:
        for mc in self.loaded.values():
            if mc.k_lo <= k < mc.k_hi:
                mc.pushed = k + 1


def _gaps(m: Market, px: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Least distance (dollars) from a best bid at ``px`` (YES bid, or the YES ask standing
    for the NO bid 1 - ask) to the next valid price above it: one step on a single-band grid
    from 0 when the price is on it, else $0.0001 (the finest price unit)."""
    bands = m.tick_grid.bands
    if len(bands) == 1 and bands[0].start == 0 and bands[0].end == 1:
        step = int(bands[0].step * 10000)
        if step >= 1 and bands[0].step * 10000 == step and 10000 % step == 0:
            units = np.rint(px * 10000).astype(np.int64)
            return np.where(units % step == 0, step / 10000.0, 1e-4)
    return np.full(len(px), 1e-4)


def screen_for(strategy: Strategy, params: StrategyParams, data: sqlite3.Connection,
               markets: Sequence[Market], t0: datetime, interval: timedelta, n_cycles: int, *,
               max_book_age: timedelta, unknown_size: bool) -> MeanRevScreen | None:
    """The screen of ``strategy`` or None (then every cycle runs in full)."""
    if type(strategy) is MeanReversionStrategy:
        return MeanRevScreen(strategy, params, data, markets, t0, interval, n_cycles,
                             max_book_age=max_book_age, unknown_size=unknown_size)
    return None
