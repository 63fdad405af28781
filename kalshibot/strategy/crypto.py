"""Crypto volatility strategy for the 15-minute series (KXBTC15M, KXETH15M, KXSOL15M, ...).

Fair value = P(settlement average over ``(T - 60 s, T]`` >= floor_strike) from the digital pricer
(``kalshibot.features.digital``), priced on what settles the market: the coin's CF Benchmarks
index, or exchange spot with its basis to the index while the index is stale
(``kalshibot.feeds.reference``). The ticks already inside the settlement window enter as their
observed average; on fallback the basis uncertainty widens the distribution, and the age of the
level adds ``sigma**2 * age`` of variance. Volatility: ``kalshibot.features.volatility`` on a
one-minute grid of the reference (``vol_model`` ``robust`` by default; ``ewma`` is the
baseline), recomputed at most every ``sigma_refresh_s`` seconds of session time.

No fair value (with the reason) when the reference refuses (index and spot both stale), the
market has no strike, or the history is too short for a volatility. Each fair value's reason
names the source that priced it and its age (``index BRTI 0.4s`` or ``spot fallback
coinbase+kraken 1.2s basis +2.1bp ±1.4bp``); ``last_refs`` keeps the ``Reference`` per market
for display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from kalshibot.clock import Clock
from kalshibot.errors import ConfigError, KalshibotError
from kalshibot.features.digital import digital_prob_one
from kalshibot.features.volatility import VolSpec, sigma_at
from kalshibot.feeds import SpotFeedLike, series_to_symbol
from kalshibot.feeds.reference import Reference, ReferenceConfig, ReferenceFeed
from kalshibot.strategy.base import FairValue, MarketView


class CryptoVolStrategy:
    name = "crypto"

    def __init__(
        self,
        feed: ReferenceFeed | SpotFeedLike,
        *,
        vol_model: str = "robust",
        vol_halflife_s: float = 1800.0,
        lookback: timedelta = timedelta(hours=6),
        min_returns: int = 10,
        no_entry_last_s: float = 20.0,
        p_clip: float = 0.005,
        sigma_refresh_s: float = 60.0,
        reference: ReferenceConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(feed, ReferenceFeed):  # exchange spot only: always the fallback
            clock = clock or getattr(feed, "clock", None)
            if clock is None:
                raise ConfigError("the crypto strategy needs a clock with a plain spot feed")
            feed = ReferenceFeed(feed, None, clock, reference, poll=True)
        self.feed = feed
        self.vol = VolSpec(vol_model, vol_halflife_s, min_returns)
        self.lookback = lookback
        self.no_entry_last_s = no_entry_last_s
        self.p_clip = p_clip
        self.sigma_refresh_s = sigma_refresh_s
        self._sigma_cache: dict[str, tuple[datetime, float | None, str]] = {}
        self._symbols: dict[str, str | FairValue] = {}  # series -> coin, or why none
        self.last_refs: dict[str, Reference] = {}

    def _symbol(self, series: str) -> str | FairValue:
        """The series' coin, or the (immutable, shared) answer for a series without one."""
        got = self._symbols.get(series)
        if got is None:
            try:
                got = series_to_symbol(series)
            except KalshibotError as exc:
                got = FairValue(None, f"no reference: {exc}")
            self._symbols[series] = got
        return got

    def sigma(self, symbol: str, now: datetime) -> tuple[float | None, str]:
        """Volatility of the log level per sqrt(second) and the history's source (cached)."""
        hit = self._sigma_cache.get(symbol)
        if hit is not None and 0 <= (now - hit[0]).total_seconds() < self.sigma_refresh_s:
            return hit[1], hit[2]
        ts, vals, src = self.feed.path(symbol, now - self.lookback, now)
        sig = sigma_at(ts, vals, now.timestamp(), self.vol, self.lookback.total_seconds())
        self._sigma_cache[symbol] = (now, sig, src)
        return sig, src

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        out: list[FairValue | None] = [None] * len(views)
        symbols: dict[int, str] = {}
        for i, v in enumerate(views):
            got = self._symbol(v.market.series_ticker)
            if isinstance(got, str):
                symbols[i] = got
            else:
                out[i] = got
        if symbols:
            self.feed.refresh(tuple(dict.fromkeys(symbols.values())))
        refs: dict[tuple[str, datetime], Reference | str] = {}
        sigmas: dict[str, float | None] = {}
        rows: list[tuple[int, Reference, float, float]] = []
        for i, sym in symbols.items():
            v = views[i]
            m = v.market
            if m.floor_strike is None:
                out[i] = FairValue(None, "market has no strike yet")
                continue
            key = (sym, m.close_time)
            if key not in refs:
                try:
                    refs[key] = self.feed.reference(sym, m.close_time)
                except KalshibotError as exc:
                    refs[key] = f"reference refused: {exc}"
            ref = refs[key]
            if isinstance(ref, str):
                out[i] = FairValue(None, ref)
                continue
            if sym not in sigmas:
                sigmas[sym] = self.sigma(sym, v.now)[0]
            sig = sigmas[sym]
            if sig is None:
                out[i] = FairValue(None, "not enough reference history for volatility")
                continue
            rows.append((i, ref, sig, m.seconds_to_close(v.now)))
        if rows:
            self._price(views, rows, out)
        return [fv if fv is not None else FairValue(None, "no fair value") for fv in out]

    def _price(self, views: Sequence[MarketView], rows: list[tuple[int, Reference, float, float]],
               out: list[FairValue | None]) -> None:
        lo, hi = self.p_clip, 1 - self.p_clip
        p: list[float] = []
        for i, r, sig, t in rows:  # one market at a time: bit-identical to digital_prob
            pk = digital_prob_one(r.price, float(views[i].market.floor_strike or math.nan), sig,
                                  t, observed_avg=r.observed_avg,
                                  extra_var=r.extra_sd ** 2 + sig * sig * r.age_s)
            p.append(pk if pk != pk else min(max(pk, lo), hi))  # np.clip; NaN stays NaN
        described: dict[int, str] = {}  # one description per reference (shared by markets)
        for k, (i, ref, sig, t) in enumerate(rows):
            m = views[i].market
            self.last_refs[m.ticker] = ref
            d = described.get(id(ref))
            if d is None:
                d = described[id(ref)] = f"ref {ref.describe()} level {ref.price:.6g}"
            pk = p[k]
            if pk != pk:
                out[i] = FairValue(None, f"pricer returned NaN ({d})")
                continue
            out[i] = FairValue(
                pk, f"digital p={pk:.3f} {d} strike {m.floor_strike} sigma {sig:.2e}/sqrt(s) "
                    f"tau {t:.0f}s", allow_entry=t >= self.no_entry_last_s)
        if len(self.last_refs) > 4096:  # keep the newest markets only
            for tk in list(self.last_refs)[:2048]:
                del self.last_refs[tk]

