"""``data sync`` of a month of KXBTC15M against the market-data fake: request economy."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import responses

from kalshibot.clock import SimClock
from kalshibot.ingest.sync import SyncOptions, run_sync
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.http import HttpClient
from kalshibot.store import open_store
from tests.kalshi.helpers import BASE
from tests.kit.market_data import MarketDataFake

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def test_events_of_a_month_come_in_pages_of_200_not_one_request_per_market(
        rsps: responses.RequestsMock, tmp_path: object) -> None:
    """On f6e3055 this made 2,880 ``GET /events/{ticker}`` requests (one per market)."""
    fake = MarketDataFake(days=30, seed=3, now=NOW)
    fake.install(rsps, BASE)
    clock = SimClock(NOW)
    client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
    conn = open_store(f"{tmp_path}/s.db")
    opts = SyncOptions(series=(fake.series,), since=NOW - timedelta(days=30), until=NOW,
                       candles=False, trades=False, account_settlements=False)
    report = run_sync(client, conn, opts, clock=clock)
    n_events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert n_events == len(fake.markets) == 2880, report
    assert fake.requests["/events/{t}"] == 0
    assert fake.requests["/events"] <= 15
