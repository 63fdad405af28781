"""The cached bar index of ReplaySpotFeed.history gives exactly the bars built from the
observations visible at each time (no later observation leaks into the last bar)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from kalshibot.clock import SimClock
from kalshibot.feeds import ReplaySpotFeed, Resolution
from kalshibot.feeds.history import bars_from_observations

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("resolution", [Resolution.SECOND, Resolution.MINUTE])
def test_cached_history_equals_rebuilt_history(resolution: Resolution) -> None:
    rng = random.Random(3)
    rows, t, price = [], T0, Decimal("100.00")
    for _ in range(1500):
        t += timedelta(milliseconds=rng.choice((300, 700, 1000, 2500)))
        price += Decimal(rng.randint(-20, 20)) / 100
        rows.append((pd.Timestamp(t), "x", "BTC", price))
    frame = pd.DataFrame(rows, columns=["ts", "source", "symbol", "price"])
    clock = SimClock(T0)
    feed = ReplaySpotFeed(frame, clock)
    obs = feed._obs("BTC")
    for _ in range(60):
        now = T0 + timedelta(seconds=rng.uniform(0, 1600))
        clock._now = now  # jump anywhere: the feed must only show what is known at `now`
        since = now - timedelta(seconds=rng.uniform(0, 900))
        got = feed.history("BTC", resolution, since=since)
        visible = [(ts, p) for ts, p in obs if ts <= now]
        epoch = int(since.timestamp())
        lo = epoch - epoch % resolution.seconds
        want = [b for b in bars_from_observations(visible, resolution.seconds)
                if int(b.start.timestamp()) >= lo]
        assert got == want
