"""Bounded ring buffers of combined-price bars (1-second and 1-minute)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kalshibot.clock import ensure_utc, from_epoch_s
from kalshibot.feeds.types import SpotBar


@dataclass
class _Bar:
    start: int  # epoch seconds of the bar open
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    count: int

    def frozen(self) -> SpotBar:
        return SpotBar(
            start=from_epoch_s(self.start),
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            count=self.count,
        )


class BarBuffer:
    """Bars of ``width_s`` seconds; keeps the newest ``capacity`` bars (memory is bounded).

    Observations must arrive in time order; one older than the newest bar is ignored.
    """

    def __init__(self, width_s: int, capacity: int) -> None:
        self.width_s = width_s
        self._bars: deque[_Bar] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._bars)

    def _bucket(self, ts: datetime) -> int:
        epoch = int(ensure_utc(ts).timestamp() // 1)
        return epoch - epoch % self.width_s

    def add(self, ts: datetime, price: Decimal) -> bool:
        """Add one observation (USD per coin); returns False if it was too old to place."""
        bucket = self._bucket(ts)
        if self._bars:
            last = self._bars[-1]
            if bucket < last.start:
                return False
            if bucket == last.start:
                last.high = max(last.high, price)
                last.low = min(last.low, price)
                last.close = price
                last.count += 1
                return True
        self._bars.append(_Bar(bucket, price, price, price, price, 1))
        return True

    def merge(self, bars: list[SpotBar]) -> int:
        """Merge whole bars (e.g. back-filled candles); existing bars win. Returns bars added."""
        have = {b.start: b for b in self._bars}
        added = 0
        for bar in bars:
            start = self._bucket(bar.start)
            if start not in have:
                have[start] = _Bar(start, bar.open, bar.high, bar.low, bar.close, bar.count)
                added += 1
        if added:
            ordered = sorted(have.values(), key=lambda b: b.start)
            self._bars.clear()
            self._bars.extend(ordered)  # deque(maxlen) keeps the newest
        return added

    def bars(self, since: datetime | None = None, until: datetime | None = None) -> list[SpotBar]:
        """Bars whose open time is in ``[since, until]`` (both optional), oldest first."""
        lo = None if since is None else self._bucket(since)
        hi = None if until is None else int(ensure_utc(until).timestamp())
        return [
            b.frozen()
            for b in self._bars
            if (lo is None or b.start >= lo) and (hi is None or b.start <= hi)
        ]


def bars_from_observations(
    observations: list[tuple[datetime, Decimal]], width_s: int
) -> list[SpotBar]:
    """Bars of ``width_s`` seconds from time-ordered (ts, price) observations."""
    buf = BarBuffer(width_s, max(1, len(observations)))
    for ts, price in observations:
        buf.add(ts, price)
    return buf.bars()
