"""Crypto volatility strategy for the 15-minute series (KXBTC15M, KXETH15M, KXSOL15M, ...).

Fair value = P(60-second settlement average >= floor_strike) from the digital pricer
(``kalshibot.features.digital``) on the live spot feed, with sigma from an EWMA of 1-minute spot
returns (1-second bars over the last ``fast_lookback`` with a short half-life when the feed has
them, else 1-minute bars). Refuses to trade (no fair value) when the feed is stale, diverging or
thin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from kalshibot.errors import KalshibotError
from kalshibot.features.digital import SETTLE_WINDOW_S, digital_prob, ewma_variance_rate
from kalshibot.feeds import Resolution, SpotFeedLike, series_to_symbol
from kalshibot.strategy.base import FairValue, MarketView


class CryptoVolStrategy:
    name = "crypto"

    def __init__(
        self,
        feed: SpotFeedLike,
        *,
        halflife_s: float = 1800.0,
        lookback: timedelta = timedelta(hours=3),
        fast_halflife_s: float = 300.0,
        fast_lookback: timedelta = timedelta(minutes=30),
        min_fast_bars: int = 60,
        min_bars: int = 10,
        no_entry_last_s: float = 20.0,
        p_clip: float = 0.005,
        sigma_refresh_s: float = 60.0,
    ) -> None:
        self.feed = feed
        self.halflife_s = halflife_s
        self.lookback = lookback
        self.fast_halflife_s = fast_halflife_s
        self.fast_lookback = fast_lookback
        self.min_fast_bars = min_fast_bars
        self.min_bars = min_bars
        self.no_entry_last_s = no_entry_last_s
        self.p_clip = p_clip
        self.sigma_refresh_s = sigma_refresh_s
        self._sigma_cache: dict[str, tuple[datetime, float | None]] = {}

    def _sigma(self, symbol: str, view: MarketView) -> float | None:
        """Volatility of the log price per sqrt(second), or None when history is too thin.

        Recomputed at most every ``sigma_refresh_s`` seconds of session time (an EWMA with a
        5-minute half-life barely moves in a few seconds)."""
        hit = self._sigma_cache.get(symbol)
        if hit is not None and 0 <= (view.now - hit[0]).total_seconds() < self.sigma_refresh_s:
            return hit[1]
        sigma = self._compute_sigma(symbol, view)
        self._sigma_cache[symbol] = (view.now, sigma)
        return sigma

    def _compute_sigma(self, symbol: str, view: MarketView) -> float | None:
        bars = self.feed.history(symbol, Resolution.SECOND, since=view.now - self.fast_lookback,
                                 until=view.now)
        halflife = self.fast_halflife_s
        if len(bars) < self.min_fast_bars:
            bars = self.feed.history(symbol, Resolution.MINUTE, since=view.now - self.lookback,
                                     until=view.now)
            halflife = self.halflife_s
            if len(bars) < self.min_bars:
                return None
        ts = pd.DatetimeIndex([b.start for b in bars])
        px = np.array([b.close_float for b in bars])
        rate = ewma_variance_rate(ts, px, halflife_s=halflife)
        last = float(rate[-1]) if len(rate) else math.nan
        return math.sqrt(last) if last == last and last > 0 else None

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        sigmas: dict[str, float | None] = {}
        out: list[FairValue] = []
        for v in views:
            m = v.market
            try:
                symbol = series_to_symbol(m.series_ticker)
                status = self.feed.status(symbol)
            except KalshibotError as exc:
                out.append(FairValue(None, f"no spot feed: {exc}"))
                continue
            if not status.ok or status.price is None:
                out.append(FairValue(None, f"spot feed refused: {status.reason}"))
                continue
            if m.floor_strike is None:
                out.append(FairValue(None, "market has no strike yet"))
                continue
            if symbol not in sigmas:
                sigmas[symbol] = self._sigma(symbol, v)
            sigma = sigmas[symbol]
            if sigma is None:
                out.append(FairValue(None, "not enough spot history for volatility"))
                continue
            tau = m.seconds_to_close(v.now)
            obs = math.nan
            if 0 < tau < SETTLE_WINDOW_S:
                try:
                    avg = self.feed.average(symbol, m.close_time - timedelta(seconds=60), v.now)
                    obs = float(avg)
                except KalshibotError:
                    obs = math.nan
            p = float(
                digital_prob(
                    float(status.price), float(m.floor_strike), sigma, tau, observed_avg=obs
                )
            )
            if p != p:
                out.append(FairValue(None, "pricer returned NaN"))
                continue
            p = min(max(p, self.p_clip), 1 - self.p_clip)
            allow = tau >= self.no_entry_last_s
            out.append(
                FairValue(
                    p,
                    f"digital p={p:.3f} spot {status.price} strike "
                    f"{m.floor_strike} sigma {sigma:.2e}/sqrt(s) tau {tau:.0f}s",
                    allow_entry=allow,
                )
            )
        return out
