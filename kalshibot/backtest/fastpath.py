"""The fast path: skip cycles where provably nothing can happen, keep "one engine" semantics.

The runner calls ``Engine.run_cycle`` for every cycle in which anything *could* happen and skips
the rest, in spans. No snapshot our orders took liquidity from may still be current, no order's
outcome may be unresolved, and the strategy's *screen* must show no entry at any skipped cycle
(flags whose only effect would be to log "order already resting at this price" excepted:
``MeanRevScreen._sure_passive``). Then, by account state (checked by the runner):

1. flat, no resting order (positions in closed markets with no recorded result, which never
   change again, count as flat): nothing happens until the next flag;
2. flat with resting orders: while every cycle's proposal for an order's market is certain to
   be that same order (the engine cancels a resting order at the first cycle without one), and
   until an order turns stale, its market nears its close, a stored public trade reaches it or a
   shown book touches its price; ``SimExchange.replay_quiet_span`` leaves the venue as the
   skipped polls would;
3. holding positions, no resting order: until a held position could be exited (screen exit
   flags), its market closes or settles; ``Engine.quiet_cycle`` marks the positions at each
   skipped cycle's best bids (exit values) and tracks equity, the breaker and the equity curve
   exactly.

A screen is a vectorised twin of one strategy, computed over the snapshot arrays (numpy, a
batch of markets at a time, streamed by open time so memory stays bounded). It must be a
*superset*: it flags every cycle where the strategy could propose an order, with safety margins
for floating-point differences. It also replays the strategy's state over skipped cycles (the
mean-reversion window of mids), so the next full cycle sees exactly what it would have seen.
Strategies without a screen run every cycle. ``tests/backtest`` checks fast == full runs
(fills, orders, order decisions, statistics) over fill models, latencies and public trades.

Assumption (true for data written by ``store.books`` and ``sim.sample``): a snapshot's
``yes_bid``/``yes_ask`` columns are the top of its ``depth`` when depth is present.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from kalshibot.domain.fees import TAKER_RATE, FeeType
from kalshibot.domain.market import Market
from kalshibot.domain.money import Price
from kalshibot.domain.orders import Action, Side
from kalshibot.store.units import ts_ms
from kalshibot.strategy.base import Strategy, StrategyParams
from kalshibot.strategy.meanrev import MeanReversionStrategy

Z_MARGIN = 1e-6
EDGE_MARGIN = 1e-5  # dollars: covers float rounding and the 6-place probability rounding
SECS_MARGIN = 1e-6


@dataclass
class _MarketCycles:
    """One market's book as the cycles see it, for cycle indices ``k_lo <= k < k_hi`` (the
    cycles at which the market is active); arrays are indexed by ``k - k_lo``."""

    ticker: str
    k_lo: int  # first cycle index at which the market is active
    k_hi: int  # first cycle index at which it is closed
    fresh: npt.NDArray[np.bool_]  # a snapshot no older than the max book age is shown
    valid: npt.NDArray[np.bool_]  # ... and both of its sides are tradable (a mid exists)
    mids: npt.NDArray[np.float64]  # YES mid (float dollars), NaN when not valid
    bid: npt.NDArray[np.int64]  # YES bid in $0.0001 units (0: none)
    ask: npt.NDArray[np.int64]  # YES ask in $0.0001 units (0: none)
    pushed: int  # cycle index up to which the strategy state has been advanced
    exits: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # ^ sorted cycle indices at which a held position could be exited (see ``_flags``)


# Per market: its snapshot count, times "ts,ts,..." (ms) and the packed books in the same
# order, packed = bid << 16 | ask << 2 | (bid side tradable) << 1 | (ask side tradable), prices
# in $0.0001 units (0..10000, 14 bits; a missing price is 0 and its side not tradable). SQLite
# formats the numbers and numpy parses them: no Python object per snapshot. The primary key
# (ticker, ts) makes the scan run in time order (checked after parsing anyway).
_SNAPSHOTS_SQL = (
    "SELECT count(*), group_concat(ts), group_concat("
    " (coalesce(yes_bid, 0) << 16) | (coalesce(yes_ask, 0) << 2)"
    " | ((yes_bid IS NOT NULL AND (depth IS NOT NULL OR yes_bid_size > 0"
    "     OR (? AND yes_bid_size IS NULL))) << 1)"
    " | (yes_ask IS NOT NULL AND (depth IS NOT NULL OR yes_ask_size > 0"
    "     OR (? AND yes_ask_size IS NULL))))"
    " FROM book_snapshots WHERE ticker = ?")
_BATCH = 400  # markets per query (well under SQLite's bound-parameter limit)


class MeanRevScreen:
    """Screen for ``MeanReversionStrategy`` (see module docstring).

    Markets are loaded in open-time order, a batch at a time, ``chunk_cycles`` ahead of the
    clock, and dropped once closed: memory holds about a day of cycles, not the history."""

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
        self.pending = sorted(markets, key=lambda m: self._k_of(m.open_time))
        self.next_pending = 0
        self.loaded: dict[str, _MarketCycles] = {}
        # Flagged cycles, sorted, from index ``self.fi`` on (earlier ones are past), each with
        # its market and, when the proposal there is certain to be a passive bid, its side
        # (1 YES, 2 NO; 0 unsure) and price in $0.0001 units (see ``_sure_passive``).
        self.flag_k = np.zeros(0, dtype=np.int64)
        self.flag_t = np.zeros(0, dtype=object)
        self.flag_side = np.zeros(0, dtype=np.int8)
        self.flag_px = np.zeros(0, dtype=np.int64)
        self.fi = 0
        self.snapshots = 0

    def _k_of(self, t: datetime | None) -> int:
        if t is None:
            return 0
        d = ts_ms(t) - self.t0_ms
        return max(0, -(-d // self.step_ms))  # first cycle at or after t

    def _load_until(self, k: int) -> None:
        """Load every market opening by cycle ``k + chunk``; when any must be loaded, load
        those opening by ``k + 2 * chunk`` too, so markets come in large batches."""
        if (self.next_pending >= len(self.pending)
                or self._k_of(self.pending[self.next_pending].open_time) > k + self.chunk):
            return
        batch: list[Market] = []
        while self.next_pending < len(self.pending):
            m = self.pending[self.next_pending]
            if self._k_of(m.open_time) > k + 2 * self.chunk:
                break
            self.next_pending += 1
            batch.append(m)
            if len(batch) == _BATCH:
                self._load(batch)
                batch = []
        if batch:
            self._load(batch)

    def _next_unloaded_k(self) -> int:
        if self.next_pending >= len(self.pending):
            return self.n
        return self._k_of(self.pending[self.next_pending].open_time)

    def _read(self, tickers: Sequence[str]
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Snapshots of ``tickers``, concatenated in that order: (counts per ticker, ts ms,
        packed), each market's part sorted by time."""
        unk = 1 if self.unknown_size else 0
        counts = np.zeros(len(tickers), dtype=np.int64)
        ts_parts: list[str] = []
        packed_parts: list[str] = []
        for j, t in enumerate(tickers):
            n, ts, packed = self.data.execute(_SNAPSHOTS_SQL, (unk, unk, t)).fetchone()
            if n:
                counts[j] = n
                ts_parts.append(ts)
                packed_parts.append(packed)
        if not ts_parts:
            empty = np.zeros(0, dtype=np.int64)
            return counts, empty, empty
        ts_all = np.fromstring(",".join(ts_parts), dtype=np.int64, sep=",")
        packed_all = np.fromstring(",".join(packed_parts), dtype=np.int64, sep=",")
        seg = np.repeat(np.arange(len(tickers), dtype=np.int64), counts)
        if len(ts_all) > 1 and not bool(np.all((ts_all[1:] > ts_all[:-1])
                                               | (seg[1:] != seg[:-1]))):
            order = np.lexsort((ts_all, seg))
            ts_all, packed_all = ts_all[order], packed_all[order]
        return counts, ts_all, packed_all

    def _load(self, batch: Sequence[Market]) -> None:
        """Per-cycle books and entry flags of a batch of markets, all at once: cycles of every
        market are concatenated (market by market) and matched to their latest snapshot with
        one search over (market, time) keys."""
        k_lo = np.array([self._k_of(m.open_time) for m in batch], dtype=np.int64)
        k_hi = np.minimum(np.array([self._k_of(m.close_time) for m in batch], dtype=np.int64),
                          self.n)
        lens = np.maximum(k_hi - k_lo, 0)
        counts, ts, packed = self._read([m.ticker for m in batch])
        self.snapshots += int(counts.sum())
        total = int(lens.sum())
        if total == 0:
            return
        starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
        seg = np.repeat(np.arange(len(batch), dtype=np.int64), lens)  # market of each cycle
        kk = np.arange(total, dtype=np.int64) - starts[seg] + k_lo[seg]  # global cycle index
        tk = self.t0_ms + kk * self.step_ms
        if len(ts):
            snap_seg = np.repeat(np.arange(len(batch), dtype=np.int64), counts)
            snap_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
            i = np.searchsorted((snap_seg << 43) + ts, (seg << 43) + tk, side="right") - 1
            ok = i >= snap_start[seg]
            ic = np.maximum(i, 0)
            p = packed[ic]
            fresh = ok & (tk - ts[ic] <= self.max_age_ms)
        else:
            p = np.zeros(total, dtype=np.int64)
            fresh = np.zeros(total, dtype=bool)
        bid, ask = p >> 16, (p >> 2) & 0x3FFF
        has_b, has_a = fresh & ((p & 2) != 0), fresh & ((p & 1) != 0)
        valid = has_b & has_a
        mids = np.where(valid, (bid + ask) / 20000.0, np.nan)
        bid, ask = np.where(has_b, bid, 0), np.where(has_a, ask, 0)
        for j, m in enumerate(batch):
            if lens[j] <= 0:
                continue
            c0, c1 = int(starts[j]), int(starts[j] + lens[j])
            self.loaded[m.ticker] = _MarketCycles(
                m.ticker, int(k_lo[j]), int(k_hi[j]), fresh[c0:c1], valid[c0:c1],
                mids[c0:c1], bid[c0:c1], ask[c0:c1], int(k_lo[j]))
        entries, side, px, exits = self._flags(batch, seg, kk, tk, valid, mids, bid, ask)
        names = np.array([m.ticker for m in batch], dtype=object)
        f0 = self.fi
        fk = np.concatenate((self.flag_k[f0:], kk[entries]))
        order = np.argsort(fk, kind="stable")
        self.flag_k = fk[order]
        self.flag_t = np.concatenate((self.flag_t[f0:], names[seg[entries]]))[order]
        self.flag_side = np.concatenate((self.flag_side[f0:], side))[order]
        self.flag_px = np.concatenate((self.flag_px[f0:], px))[order]
        self.fi = 0
        # exits: sorted offsets into the concatenated cycles; split them market by market
        cut = np.searchsorted(exits, np.concatenate((starts, [total])))
        for j, m in enumerate(batch):
            if lens[j] > 0 and cut[j + 1] > cut[j]:
                self.loaded[m.ticker].exits = kk[exits[cut[j]:cut[j + 1]]]

    def _flags(self, batch: Sequence[Market], seg: npt.NDArray[np.int64],
               kk: npt.NDArray[np.int64], tk: npt.NDArray[np.int64],
               valid: npt.NDArray[np.bool_], mids: npt.NDArray[np.float64],
               bid: npt.NDArray[np.int64], ask: npt.NDArray[np.int64]
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.int64],
                          npt.NDArray[np.int64]]:
        """Entries: offsets into the concatenated cycles where the mean-reversion entry rule
        could trigger (with ``_sure_passive``'s side and price): the window (the last
        ``window`` cycles of the same market with a two-sided book) is full,
        |z| >= z_entry, entries are still allowed, and the best conceivable edge reaches
        min_edge. Edges are bounded from above: a passive YES bid costs at least the best bid
        plus one tick (when the bid is on a single-band grid; else plus $0.0001) and a maker
        fee >= 0, a passive NO bid likewise from 1 - ask; a taker buy costs the best ask (YES)
        or 1 - bid (NO) plus at least the unrounded taker fee (the edge only falls deeper in
        the book). Only the order kinds the parameters allow are bounded.

        Exits (offsets into the concatenated cycles): where a held position could be exited:
        the window is full and |z| <= z_exit (forced exit), or |z| >= z_entry and a bid of
        either side beats the fair value by min_edge (exit on reversal, fees >= 0)."""
        s, w = self.s, self.s.window
        pos = np.flatnonzero(valid)
        none = np.zeros(0, dtype=np.int64)
        if len(pos) < w:
            return none, np.zeros(0, dtype=np.int8), none, none
        seq = mids[pos]
        win = np.lib.stride_tricks.sliding_window_view(seq, w)
        full = seg[pos[: len(pos) - w + 1]] == seg[pos[w - 1:]]  # window within one market
        at = pos[w - 1:][full]  # concatenated cycle offsets where the window is full
        win = win[full]
        mean = win.mean(axis=1)
        std = np.maximum(win.std(axis=1), s.min_std)
        z = (mids[at] - mean) / std
        close_ms = np.array([ts_ms(m.close_time) for m in batch], dtype=np.int64)
        tau = (close_ms[seg[at]] - tk[at]) / 1000.0
        steps = np.array([_grid_step(m) for m in batch], dtype=np.int64)[seg[at]]
        # a market with a fee waiver may pay no fee at all: no lower bound above 0
        taker_rate = np.array([0.0 if m.fee_waiver_until is not None
                               else float(TAKER_RATE * m.fee_multiplier)
                               for m in batch])[seg[at]]
        bu, au = bid[at], ask[at]
        b, a = bu / 10000.0, au / 10000.0
        terms: list[npt.NDArray[np.float64]] = []
        if self.params.allow_passive:  # maker fees >= 0; the adverse-selection allowance
            allow = float(self.params.adverse_selection) * (a - b) / 2
            terms.append(mean - b - np.where(bu % steps == 0, steps, 1) / 10000.0 - allow)
            terms.append(a - mean - np.where(au % steps == 0, steps, 1) / 10000.0 - allow)
        if self.params.allow_taker:  # taker fee per contract >= rate x multiplier x P(1-P)
            terms.append(mean - a - taker_rate * a * (1 - a))
            terms.append(b - mean - taker_rate * b * (1 - b))
        az = np.abs(z)
        out = az <= s.z_exit + Z_MARGIN
        if self.params.exit_on_reversal:
            out |= ((az >= s.z_entry - Z_MARGIN)
                    & (np.maximum(b - mean, mean - a) >= float(self.params.min_edge) - EDGE_MARGIN))
        exits = at[out]
        if not terms:
            return none, np.zeros(0, dtype=np.int8), none, exits
        bound = np.maximum.reduce(terms)
        cand = ((np.abs(z) >= s.z_entry - Z_MARGIN) & (tau >= s.no_entry_last_s - SECS_MARGIN)
                & (bound >= float(self.params.min_edge) - EDGE_MARGIN))
        side, px = self._sure_passive(batch, seg[at[cand]], bid[at[cand]], ask[at[cand]],
                                      mean[cand], z[cand], tau[cand], a[cand], b[cand],
                                      taker_rate[cand])
        return at[cand], side, px, exits

    def _sure_passive(self, batch: Sequence[Market], seg: npt.NDArray[np.int64],
                      bu: npt.NDArray[np.int64], au: npt.NDArray[np.int64],
                      mean: npt.NDArray[np.float64], z: npt.NDArray[np.float64],
                      tau: npt.NDArray[np.float64], a: npt.NDArray[np.float64],
                      b: npt.NDArray[np.float64], taker_rate: npt.NDArray[np.float64]
                      ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int64]]:
        """For flagged cycles: the side (1 YES, 2 NO, 0 unsure) and price ($0.0001 units) of
        the passive bid the edge rule is *certain* to propose there, so that a cycle whose
        only effect would be "order already resting at this price" can be skipped. Certain
        means, with margins for float error and the 6-place probability: |z| clears z_entry
        and entries are open; no taker buy can qualify (edge bound below min_edge); the bid
        one tick inside the spread is on a plain single-band grid in a series without maker
        fees; its edge (after the adverse-selection allowance, ``adverse_selection`` x the
        half-spread) clears min_edge and the other side's does not, or is clearly lower."""
        n = len(seg)
        side = np.zeros(n, dtype=np.int8)
        px = np.zeros(n, dtype=np.int64)
        if n == 0 or not self.params.allow_passive:
            return side, px
        s = self.s
        me = float(self.params.min_edge)
        step = np.array([_grid_step(m) if _plain_grid(m) and m.fee_type is FeeType.QUADRATIC
                         and not m.untradeable else 0 for m in batch], dtype=np.int64)[seg]
        top = np.array([int(m.tick_grid.max_price.value * 10000) for m in batch],
                       dtype=np.int64)[seg]
        ok = ((step > 0) & (np.abs(z) >= s.z_entry + Z_MARGIN)
              & (tau >= s.no_entry_last_s + SECS_MARGIN))
        if self.params.allow_taker:
            taker = np.maximum(mean - a - taker_rate * a * (1 - a),
                               b - mean - taker_rate * b * (1 - b))
            ok &= taker < me - EDGE_MARGIN
        st = np.maximum(step, 1)
        nb = 10000 - au  # NO bid
        py, pn = bu + st, nb + st
        allow = float(self.params.adverse_selection) * (au - bu) / 20000.0
        never = -np.inf
        ey = np.where((bu > 0) & (bu % st == 0) & (bu < top) & (py < au) & (au > 0),
                      mean - py / 10000.0 - allow, never)
        en = np.where((au > 0) & (nb % st == 0) & (nb < top) & (pn < 10000 - bu) & (bu > 0),
                      (1 - mean) - pn / 10000.0 - allow, never)
        hi, lo = me + EDGE_MARGIN, me - EDGE_MARGIN
        yes = ok & (ey >= hi) & ((en < lo) | (en < ey - EDGE_MARGIN))
        no = ok & ~yes & (en >= hi) & ((ey < lo) | (ey < en - EDGE_MARGIN))
        side[yes], side[no] = 1, 2
        px[yes], px[no] = py[yes], pn[no]
        return side, px

    # --- runner interface ------------------------------------------------------------------
    def next_flag(self, k: int, resting: Mapping[str, tuple[Side, Price]] | None = None) -> int:
        """Smallest cycle index >= k that must run because of the strategy (or self.n).

        ``resting``: markets holding exactly one resting buy (and no position), with its side
        and price. A flagged cycle whose every flag is a certain passive bid equal to the
        order already resting there does nothing but log "order already resting at this
        price", so it need not run."""
        self._load_until(k)
        fk = self.flag_k
        i = self.fi = self.fi + int(np.searchsorted(fk[self.fi:], k))
        unloaded = self._next_unloaded_k()
        while i < len(fk):
            kf = int(fk[i])
            if kf >= unloaded or not resting:
                return min(kf, unloaded)
            j = i
            while j < len(fk) and fk[j] == kf:
                r = resting.get(self.flag_t[j])
                sd = int(self.flag_side[j])
                if (r is None or sd == 0 or r[0] is not (Side.YES if sd == 1 else Side.NO)
                        or int(r[1].value * 10000) != int(self.flag_px[j])):
                    return kf
                j += 1
            i = j
        return unloaded

    def next_unmatched(self, k: int, resting: Mapping[str, tuple[Side, Price]]) -> int:
        """The first cycle >= ``k`` at which the proposal for some market of ``resting``
        (market -> side and price of its one resting buy) is not certain to be that order:
        the engine cancels a resting order there. ``k`` when a market is not loaded."""
        self._load_until(k)
        lo = self.fi + int(np.searchsorted(self.flag_k[self.fi:], k))
        fk, ft = self.flag_k[lo:], self.flag_t[lo:]
        fs, fp = self.flag_side[lo:], self.flag_px[lo:]
        out = self.n
        for t, (side, price) in resting.items():
            if t not in self.loaded:
                return k
            mask = ft == t
            ks = fk[mask]
            sure = ((fs[mask] == (1 if side is Side.YES else 2))
                    & (fp[mask] == int(price.value * 10000)))
            good = (ks == k + np.arange(len(ks))) & sure
            bad = np.flatnonzero(~good)
            out = min(out, k + (int(bad[0]) if len(bad) else len(ks)))
            if out <= k:
                return k
        return out

    def before_cycle(self, k: int) -> None:
        """Replay the strategy's state over the skipped cycles of every active market."""
        self._load_until(k)
        closed = []
        for t, mc in self.loaded.items():  # in open-time order
            if mc.k_lo > k:
                break
            if mc.k_hi <= k:
                closed.append(t)
                continue
            if mc.pushed >= k:
                continue
            lo, hi = mc.pushed - mc.k_lo, k - mc.k_lo
            self.s.observe(t, mc.mids[lo:hi][mc.valid[lo:hi]][-self.s.window:].tolist())
            mc.pushed = k + 1  # the full cycle at k pushes its own mid
        for t in closed:  # closed markets are never shown to the strategy again
            del self.loaded[t]
            self.s.forget(t)

    def k_at(self, t: datetime) -> int:
        """The first cycle index whose time is at or after ``t``."""
        return self._k_of(t)

    def _span(self, ticker: str, k_from: int, k_to: int
              ) -> tuple[_MarketCycles | None, int, int]:
        """``ticker``'s cycles (None if not loaded) and ``[k_from, k_to)`` clipped to the
        market's active cycles, as offsets into its arrays (empty when ``lo >= hi``)."""
        mc = self.loaded.get(ticker)
        if mc is None:
            return None, 0, 0
        return mc, max(k_from, mc.k_lo) - mc.k_lo, min(k_to, mc.k_hi) - mc.k_lo

    def next_touch(self, ticker: str, side: Side, action: Action, price: Price,
                   k_from: int, k_to: int) -> int:
        """The first cycle in ``[k_from, k_to)`` whose shown book reaches a resting order's
        price (it could fill, or move its queue estimate), else ``k_to``. A buy of YES meets
        YES asks at or below its price, a buy of NO meets YES bids at or above 1 - price; a
        sell meets bids of its side at or above its price. Conservative: sizes are ignored."""
        mc, lo, hi = self._span(ticker, k_from, k_to)
        if mc is None:
            return k_from  # unknown market: nothing can be proven
        if lo >= hi:
            return k_to
        p = int(price.value * 10000)
        bid, ask = mc.bid[lo:hi], mc.ask[lo:hi]
        if action is Action.BUY:
            hit = ((ask > 0) & (ask <= p) if side is Side.YES
                   else (bid > 0) & (10000 - bid <= p))
        else:
            hit = ((bid > 0) & (bid >= p) if side is Side.YES
                   else (ask > 0) & (10000 - ask >= p))
        i = np.flatnonzero(hit)
        return mc.k_lo + lo + int(i[0]) if len(i) else k_to

    def next_exit(self, ticker: str, k: int) -> int:
        """The first cycle >= ``k`` at which a position held in ``ticker`` could be exited
        (``k`` when the market is unknown; ``self.n`` when never)."""
        mc = self.loaded.get(ticker)
        if mc is None:
            return k
        i = int(np.searchsorted(mc.exits, k))
        return int(mc.exits[i]) if i < len(mc.exits) else self.n

    def shown_tops(self, ticker: str, k_from: int, k_to: int
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                              npt.NDArray[np.int64]]:
        """Cycles in ``[k_from, k_to)`` at which ``ticker`` shows a book, with its YES bid and
        YES ask there in $0.0001 units (0: that side is empty)."""
        mc, lo, hi = self._span(ticker, k_from, k_to)
        if mc is None or lo >= hi:
            none = np.zeros(0, dtype=np.int64)
            return none, none, none
        i = np.flatnonzero(mc.fresh[lo:hi]) + lo
        return i + mc.k_lo, mc.bid[i], mc.ask[i]

    def last_shown(self, ticker: str, k_from: int, k_to: int) -> int | None:
        """The last cycle in ``[k_from, k_to)`` at which ``ticker`` shows a book (None if
        none, or the market is unknown)."""
        mc, lo, hi = self._span(ticker, k_from, k_to)
        if mc is None or lo >= hi:
            return None
        i = np.flatnonzero(mc.fresh[lo:hi])
        return mc.k_lo + lo + int(i[-1]) if len(i) else None

    def after_cycle(self, k: int) -> None:
        for mc in self.loaded.values():
            if mc.k_lo > k:
                break
            if k < mc.k_hi:
                mc.pushed = k + 1


def _plain_grid(m: Market) -> bool:
    """A single band from 0 to 1 with a whole-unit step dividing $1 (e.g. linear cent)."""
    bands = m.tick_grid.bands
    return (len(bands) == 1 and bands[0].start == 0 and bands[0].end == 1
            and _grid_step(m) > 1)


def _grid_step(m: Market) -> int:
    """The tick (in $0.0001 units) of a single-band grid from 0 to 1, else 1: the least
    distance from a price on the grid to the next valid price above it (off the grid, or on a
    multi-band grid, $0.0001 is the safe bound)."""
    bands = m.tick_grid.bands
    if len(bands) == 1 and bands[0].start == 0 and bands[0].end == 1:
        step = bands[0].step * 10000
        if step >= 1 and step == int(step) and 10000 % int(step) == 0:
            return int(step)
    return 1


def screen_for(strategy: Strategy, params: StrategyParams, data: sqlite3.Connection,
               markets: Sequence[Market], t0: datetime, interval: timedelta, n_cycles: int, *,
               max_book_age: timedelta, unknown_size: bool) -> MeanRevScreen | None:
    """The screen of ``strategy`` or None (then every cycle runs in full)."""
    if type(strategy) is MeanReversionStrategy:
        return MeanRevScreen(strategy, params, data, markets, t0, interval, n_cycles,
                             max_book_age=max_book_age, unknown_size=unknown_size)
    return None
