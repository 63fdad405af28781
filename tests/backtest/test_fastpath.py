"""Fast path == full engine run on a bench-like dataset where resting orders dominate.

A day of a synthetic 15-minute series (top of book every 6 s, a slow random walk of the mid)
makes the mean-reversion strategy place many passive bids that rest, re-price, go stale and
sometimes fill. The fast path skips cycles in which those orders provably see nothing; fills,
orders, order decisions and statistics must equal a run of every cycle, for every fill model
(the neutral and optimistic models fill on touches, so queue estimates matter).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from kalshibot.backtest import BacktestConfig, FillModel, backtest
from kalshibot.domain.fees import FeeType
from kalshibot.domain.market import Event, Market, MarketStatus, Result, Series
from kalshibot.domain.money import Price
from kalshibot.domain.ticks import TickGrid
from kalshibot.store import open_store
from kalshibot.store.books import SnapshotRow, insert_snapshot_rows
from kalshibot.store.connection import atomic
from kalshibot.store.markets import upsert_events, upsert_markets, upsert_series

START = datetime(2025, 1, 1, tzinfo=UTC)
SERIES = "KXFAST15M"


def _generate(path: Path, markets: int = 48, step: int = 6, seed: int = 7) -> None:
    conn = open_store(path)
    per = 900 // step
    rng = np.random.default_rng(seed)
    moves = rng.choice(np.array([-1, 0, 1]), p=[0.04, 0.92, 0.04], size=(markets, per))
    mids = np.clip(50 + np.cumsum(moves, axis=1), 3, 97)
    spread = rng.choice(np.array([1, 2, 2, 3]), size=mids.shape)
    bid = mids - spread // 2
    ask = bid + spread
    sizes = rng.integers(10, 500, size=(2, *mids.shape)) * 100
    rows: list[SnapshotRow] = []
    ms: list[Market] = []
    evs: list[Event] = []
    for j in range(markets):
        o = START + timedelta(minutes=15 * j)
        t = f"{SERIES}-{o:%y%m%d%H%M}-00"
        o_ms = int(o.timestamp() * 1000)
        rows += [(t, o_ms + k * step * 1000, int(bid[j, k]) * 100, int(sizes[0, j, k]),
                  int(ask[j, k]) * 100, int(sizes[1, j, k]), None) for k in range(per)]
        yes = bool(mids[j, -1] >= 50)
        evs.append(Event(t.rsplit("-", 1)[0], SERIES, "fast", False))
        ms.append(Market(t, t.rsplit("-", 1)[0], SERIES, "fast", MarketStatus.FINALIZED, o,
                         o + timedelta(minutes=15), TickGrid.linear_cent(), "greater_or_equal",
                         Decimal(50), result=Result.YES if yes else Result.NO,
                         settlement_value=Price(1 if yes else 0), fee_type=FeeType.QUADRATIC))
    insert_snapshot_rows(conn, rows)
    with atomic(conn):
        upsert_series(conn, [Series(SERIES, "fast", FeeType.QUADRATIC, Decimal(1),
                                    "fifteen_min")], now=START, category="fast")
        upsert_events(conn, evs, now=START)
        upsert_markets(conn, ms, now=START, source="fast")
    conn.close()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("fastpath") / "fast.sqlite"
    _generate(p)
    return p


@pytest.mark.parametrize("model", ["pessimistic", "neutral", "optimistic"])
def test_fast_equals_full_with_resting_orders(dataset: Path, model: str) -> None:
    cfg = BacktestConfig(data=dataset, strategies=("meanrev",), fill=FillModel.preset(model))
    fast = backtest(cfg)[0]
    full = backtest(replace(cfg, fast=False))[0]
    assert full.run.cycles_skipped == 0
    assert fast.run.cycles_run + fast.run.cycles_skipped == full.run.cycles_run
    assert fast.run.cycles_run * 4 < full.run.cycles_run

    def fills(r):  # type: ignore[no-untyped-def]
        return [(f.ticker, f.side, f.action, f.price, f.count, f.fee, f.is_taker, f.ts)
                for f in r.run.fills]

    def orders(r):  # type: ignore[no-untyped-def]
        return [(o.ticker, o.side, o.action, o.price, o.count, o.filled, o.fees, o.status,
                 o.created, o.last_error) for o in r.run.orders]

    def acted(r):  # type: ignore[no-untyped-def]
        # every decision that sent, cancelled or kept an order
        return [(d.ts, d.ticker, d.verdict, d.side, d.edge, d.proposed_size, d.reason)
                for d in r.run.decisions
                if d.verdict.value != "skipped" or "order" in d.reason]

    assert len(fast.run.orders) > 20
    assert any(not f.is_taker for f in fast.run.fills)  # resting orders did fill
    assert any(o.status.value == "cancelled" for o in fast.run.orders)
    assert fills(fast) == fills(full)
    assert orders(fast) == orders(full)
    assert acted(fast) == acted(full)
    assert fast.stats.as_dict() == full.stats.as_dict()
