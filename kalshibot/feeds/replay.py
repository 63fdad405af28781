"""Spot feeds over recorded data for simulation and backtests (same interface as ``SpotFeed``).

``ReplaySpotFeed`` serves a pandas DataFrame with columns ``ts`` (aware UTC), ``source``,
``symbol``, ``price`` (USD per coin; strings, ints, Decimals or floats). At the clock's current
time each source's latest row at or before now is its quote; rows after now are never visible
(no look-ahead).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from kalshibot.clock import Clock, ensure_utc
from kalshibot.errors import DataError
from kalshibot.feeds.combine import SpotFeedConfig, combine
from kalshibot.feeds.feed import _resolution, status_to_price, window_average
from kalshibot.feeds.history import bars_from_observations
from kalshibot.feeds.symbols import normalize_symbol
from kalshibot.feeds.types import (
    Resolution,
    SpotBar,
    SpotPrice,
    SpotQuote,
    SpotStatus,
    SpotUnavailableError,
)

COLUMNS = ("ts", "source", "symbol", "price")


def _to_decimal(value: Any, row: int) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise DataError(f"spot frame row {row}: bad price {value!r}")
    try:
        out = Decimal(value) if isinstance(value, (str, int, Decimal)) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise DataError(f"spot frame row {row}: bad price {value!r}") from exc
    if not out.is_finite() or out <= 0:
        raise DataError(f"spot frame row {row}: price must be finite and > 0, got {value!r}")
    return out


class _Series:
    """One source's rows for one symbol, time-ordered."""

    def __init__(self) -> None:
        self.ts: list[datetime] = []
        self.prices: list[Decimal] = []

    def at(self, now: datetime) -> int:
        """Index of the latest row at or before ``now`` (-1 if none)."""
        return bisect.bisect_right(self.ts, now) - 1


@dataclass
class _BarIndex:
    """Observation times and their bar buckets (epoch s), and the bars built from them."""

    times: list[datetime]
    buckets: list[int]
    starts: list[int]
    bars: list[SpotBar]
    first: list[int]


class ReplaySpotFeed:
    """Spot feed replaying a DataFrame at the injected clock's time.

    Combination (median, stale, diverging, refusals) is the live ``SpotFeed``'s. History is the
    combined price evaluated at every row time, bucketed into 1-second / 1-minute bars.
    """

    def __init__(
        self, frame: pd.DataFrame, clock: Clock, config: SpotFeedConfig | None = None
    ) -> None:
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"spot frame: missing columns {missing} (need {list(COLUMNS)})")
        self._clock = clock
        self.config = config or SpotFeedConfig()
        ts = self._parse_ts(frame["ts"])
        series: dict[str, dict[str, _Series]] = {}
        rows = zip(ts, frame["source"], frame["symbol"], frame["price"], strict=True)
        for i, (t, source, symbol, price) in enumerate(rows):
            if not isinstance(source, str) or not source or not isinstance(symbol, str):
                raise DataError(f"spot frame row {i}: bad source/symbol {source!r}/{symbol!r}")
            s = series.setdefault(normalize_symbol(symbol), {}).setdefault(source, _Series())
            s.ts.append(t)
            s.prices.append(_to_decimal(price, i))
        for by_source in series.values():
            for s in by_source.values():
                order = sorted(range(len(s.ts)), key=s.ts.__getitem__)
                s.ts = [s.ts[i] for i in order]
                s.prices = [s.prices[i] for i in order]
        self._series = series
        self._observations: dict[str, list[tuple[datetime, Decimal]]] = {}
        self._bar_cache: dict[tuple[str, int], _BarIndex] = {}

    @staticmethod
    def _parse_ts(col: pd.Series) -> list[datetime]:
        if pd.api.types.is_datetime64_any_dtype(col):
            if getattr(col.dt, "tz", None) is None:
                raise DataError("spot frame: 'ts' must be timezone-aware UTC")
            parsed = col.dt.tz_convert("UTC")
        else:
            try:
                parsed = pd.to_datetime(col, utc=True)
            except (ValueError, TypeError) as exc:
                raise DataError(f"spot frame: unparseable 'ts': {exc}") from exc
        if parsed.isna().any():
            raise DataError(f"spot frame: missing 'ts' in row {int(parsed.isna().argmax())}")
        return [ensure_utc(t.to_pydatetime()) for t in parsed]

    @property
    def clock(self) -> Clock:
        """The clock the feed evaluates freshness at."""
        return self._clock

    def symbols(self) -> tuple[str, ...]:
        """Symbols present in the frame."""
        return tuple(sorted(self._series))

    def _sym(self, symbol: str) -> str:
        sym = normalize_symbol(symbol)
        if sym not in self._series:
            raise SpotUnavailableError(sym, "symbol not in replay data")
        return sym

    def _quotes_at(self, sym: str, now: datetime) -> dict[str, SpotQuote]:
        out: dict[str, SpotQuote] = {}
        for source, s in self._series[sym].items():
            i = s.at(now)
            if i >= 0:
                out[source] = SpotQuote(source=source, symbol=sym, price=s.prices[i], ts=s.ts[i])
        return out

    def refresh(self, symbols: tuple[str, ...] | None = None) -> dict[str, SpotStatus]:
        """Nothing to poll: the statuses at the current time."""
        return {self._sym(s): self.status(s) for s in (symbols or self.symbols())}

    def status(self, symbol: str) -> SpotStatus:
        """Status at the clock's current time."""
        sym = self._sym(symbol)
        now = self._clock.now()
        return combine(sym, self._quotes_at(sym, now), now, self.config)

    def latest(self, symbol: str) -> SpotPrice:
        """Combined price now (USD per coin); ``SpotUnavailableError`` when refused."""
        return status_to_price(self.status(symbol))

    def _obs(self, sym: str) -> list[tuple[datetime, Decimal]]:
        """Combined price at every row time of ``sym`` (computed once, cached)."""
        if sym not in self._observations:
            times = sorted({t for s in self._series[sym].values() for t in s.ts})
            obs: list[tuple[datetime, Decimal]] = []
            for t in times:
                st = combine(sym, self._quotes_at(sym, t), t, self.config)
                if st.ok and st.price is not None:
                    obs.append((t, st.price))
            self._observations[sym] = obs
        return self._observations[sym]

    def _bar_index(self, sym: str, width_s: int) -> _BarIndex:
        """All bars of ``sym`` at ``width_s`` over the whole frame, built once (cached)."""
        key = (sym, width_s)
        idx = self._bar_cache.get(key)
        if idx is None:
            obs = self._obs(sym)
            times = [t for t, _ in obs]
            bars = bars_from_observations(obs, width_s)
            epochs = [int(t.timestamp()) for t in times]
            buckets = [e - e % width_s for e in epochs]
            starts = [int(b.start.timestamp()) for b in bars]
            # index of the first observation of each bar
            first: list[int] = []
            k = 0
            for bs in starts:
                while buckets[k] != bs:
                    k += 1
                first.append(k)
            idx = _BarIndex(times, buckets, starts, bars, first)
            self._bar_cache[key] = idx
        return idx

    def history(
        self,
        symbol: str,
        resolution: Resolution | str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SpotBar]:
        """Bars of the combined price up to now (never later), ``since``/``until`` inclusive.

        Whole bars come from a cache built once per symbol and resolution; the bar containing
        the cut-off time is rebuilt from the observations at or before it, so no bar ever
        includes a later observation.
        """
        sym = self._sym(symbol)
        res = _resolution(resolution)
        now = self._clock.now()
        hi = now if until is None else min(now, ensure_utc(until))
        idx = self._bar_index(sym, res.seconds)
        j = bisect.bisect_right(idx.times, hi)  # observations [0, j) are visible
        if j == 0:
            return []
        last_bucket = idx.buckets[j - 1]
        b = bisect.bisect_left(idx.starts, last_bucket)  # the bar holding observation j - 1
        bars = idx.bars[:b]
        obs = self._obs(sym)
        bars = bars + bars_from_observations(obs[idx.first[b]:j], res.seconds)
        if since is not None:
            epoch = int(ensure_utc(since).timestamp())
            lo = epoch - epoch % res.seconds
            i = bisect.bisect_left(idx.starts, lo, 0, b + 1)
            bars = bars[i:]
        return bars

    def average(self, symbol: str, start: datetime, end: datetime) -> Decimal:
        """Settlement-style mean over ``(start, end]`` of the per-second level (USD per coin),
        as ``SpotFeed.average``; nothing after the clock's time is seen."""
        start, end = ensure_utc(start), ensure_utc(end)
        bars = self.history(symbol, Resolution.SECOND, start - timedelta(minutes=5), end)
        return window_average(normalize_symbol(symbol), bars, start, end)


class StaticSpotFeed(ReplaySpotFeed):
    """Fixed prices (USD per coin) that never go stale; for tests and offline wiring."""

    def __init__(
        self, prices: Mapping[str, Decimal | str | int], clock: Clock, source: str = "static"
    ) -> None:
        now = clock.now()
        frame = pd.DataFrame(
            {
                "ts": [pd.Timestamp(now)] * len(prices),
                "source": [source] * len(prices),
                "symbol": list(prices),
                "price": [Decimal(str(p)) for p in prices.values()],
            }
        )
        super().__init__(frame, clock, SpotFeedConfig(stale_after_s=float("inf")))
