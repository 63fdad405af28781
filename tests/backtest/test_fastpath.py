"""Fast path == full engine run on a bench-like dataset where resting orders dominate.

A day of a synthetic 15-minute series (top of book every 6 s, a slow random walk of the mid)
makes the mean-reversion strategy place many passive bids that rest, re-price, go stale and
sometimes fill. The fast path skips cycles in which those orders provably see nothing; fills,
orders, order decisions and statistics must equal a run of every cycle, for every fill model
(the neutral and optimistic models fill on touches, so queue estimates matter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

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
from kalshibot.store.trades import TradeRow, insert_trade_rows
from kalshibot.strategy.base import Strategy
from kalshibot.strategy.registry import StrategyContext, register

START = datetime(2025, 1, 1, tzinfo=UTC)
SERIES = "KXFAST15M"


def _generate(path: Path, markets: int = 48, step: int = 6, seed: int = 7,
              trades: bool = False) -> None:
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
    if trades:  # prints at the bid or the ask, at random times (some reach resting orders)
        n = 12 * markets
        j = rng.integers(0, markets, size=n)
        k = rng.integers(0, per, size=n)
        at_ask = rng.random(n) < 0.5
        tape: list[TradeRow] = []
        for i in range(n):
            o_ms = int((START + timedelta(minutes=15 * int(j[i]))).timestamp() * 1000)
            ts = o_ms + int(k[i]) * step * 1000 + int(rng.integers(0, step * 1000))
            px = int(ask[j[i], k[i]] if at_ask[i] else bid[j[i], k[i]]) * 100
            t = ms[j[i]].ticker
            tape.append((f"tr-{i}", t, ts, px, int(rng.integers(1, 50)) * 100,
                         "yes" if at_ask[i] else "no"))
        insert_trade_rows(conn, tape)
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


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("fastpath") / "traded.sqlite"
    _generate(p, trades=True)
    return p


@pytest.mark.parametrize("model", ["pessimistic", "neutral", "optimistic"])
def test_fast_equals_full_with_resting_orders(dataset: Path, model: str) -> None:
    # Pessimistic fills need a book trading through the bid, and a resting bid is cancelled
    # at the first cycle whose proposal is not that bid: in this calm market none fills.
    _check_fast_equals_full(dataset, model, latency_s=1.0, min_speedup=4,
                            rested_fills=model != "pessimistic")


@pytest.mark.parametrize("model", ["pessimistic", "neutral"])
def test_fast_equals_full_with_the_default_allowance(traded: Path, model: str) -> None:
    """The default adverse-selection allowance (the half-spread): fewer passive bids."""
    _check_fast_equals_full(traded, model, latency_s=1.0, min_speedup=20, min_orders=5,
                            params={"adverse_selection": "1"})


@pytest.mark.parametrize(("model", "latency_s"), [("pessimistic", 0.0), ("neutral", 3.0),
                                                   ("optimistic", 15.0)])
def test_fast_equals_full_with_public_trades(traded: Path, model: str, latency_s: float
                                             ) -> None:
    """Public trades reach resting orders between cycles; orders may still be in flight."""
    _check_fast_equals_full(traded, model, latency_s=latency_s, min_speedup=2)


def test_fast_equals_full_taker_only(traded: Path) -> None:
    """Without passive orders the screen bounds taker edges after the taker fee."""
    _check_fast_equals_full(traded, "pessimistic", latency_s=1.0, min_speedup=10,
                            params={"allow_passive": "false", "min_edge": "0.01"}, min_orders=3)


def test_fast_equals_full_with_taker_and_passive_orders(traded: Path) -> None:
    """A low min_edge lets taker buys qualify where passive bids rest (no cycle may be
    skipped as "already resting" when the rule would cross the spread instead)."""
    _check_fast_equals_full(traded, "pessimistic", latency_s=1.0, min_speedup=2,
                            params={"min_edge": "0.005"})


def test_fast_equals_full_when_the_breaker_trips_while_holding(traded: Path) -> None:
    """Held positions are marked in skipped cycles: a tight drawdown breaker trips there
    exactly when it trips in a run of every cycle, and blocks the same later entries."""
    _check_fast_equals_full(traded, "optimistic", latency_s=1.0, min_speedup=2, min_orders=3,
                            limits={"circuit_breaker_drawdown": "0.0002"}, breaker=True)


def _check_fast_equals_full(dataset: Path, model: str, latency_s: float, min_speedup: int,
                            params: dict[str, str] | None = None, min_orders: int = 20,
                            limits: dict[str, str] | None = None, breaker: bool = False,
                            rested_fills: bool = True) -> None:
    # The synthetic market is calm (spreads of 1-3 cents, rare moves): without an adverse-
    # selection allowance passive bids are frequent, which is what these runs exercise.
    params = {"adverse_selection": "0", **(params or {})}
    cfg = BacktestConfig(data=dataset, strategies=("meanrev",), fill=FillModel.preset(model),
                         latency_s=latency_s, params=params, limits=limits or {})
    fast = backtest(cfg)[0]
    full = backtest(replace(cfg, fast=False))[0]
    assert full.run.cycles_skipped == 0
    assert fast.run.cycles_run + fast.run.cycles_skipped == full.run.cycles_run
    assert fast.run.cycles_run * min_speedup < full.run.cycles_run

    def fills(r):  # type: ignore[no-untyped-def]
        return [(f.ticker, f.side, f.action, f.price, f.count, f.fee, f.is_taker, f.ts)
                for f in r.run.fills]

    def orders(r):  # type: ignore[no-untyped-def]
        return [(o.ticker, o.side, o.action, o.price, o.count, o.filled, o.fees, o.status,
                 o.created, o.last_error) for o in r.run.orders]

    def acted(r):  # type: ignore[no-untyped-def]
        # every decision that sent or cancelled an order (a fast run skips the cycles whose
        # only effect is to log "order already resting at this price")
        return [(d.ts, d.ticker, d.verdict, d.side, d.edge, d.proposed_size, d.reason)
                for d in r.run.decisions
                if (d.verdict.value != "skipped" or "order" in d.reason)
                and "already resting" not in d.reason]

    assert len(fast.run.orders) > min_orders
    if "allow_passive" not in params:
        # some cycles that would only keep a resting order were skipped
        kept = [d for d in full.run.decisions if "already resting" in d.reason]
        assert len([d for d in fast.run.decisions if "already resting" in d.reason]) < len(kept)
    denied = [d for d in full.run.decisions if "drawdown" in d.reason]
    assert bool(denied) is breaker
    if "allow_passive" not in params and rested_fills:
        assert any(not f.is_taker for f in fast.run.fills)  # resting orders did fill
        assert any(o.status.value == "cancelled" for o in fast.run.orders)
    assert fills(fast) == fills(full)
    assert orders(fast) == orders(full)
    assert acted(fast) == acted(full)
    assert fast.stats.as_dict() == full.stats.as_dict()


# --- every strategy (issue 22): the event-driven fast path of strategies without a screen ---

@pytest.fixture(scope="module")
def crypto_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six hours of the synthetic sample of a 15-minute crypto series, with spot."""
    from kalshibot.sim.sample import SampleConfig, generate_sample

    p = tmp_path_factory.mktemp("fastpath") / "crypto.sqlite"
    conn = open_store(p)
    try:
        generate_sample(conn, SampleConfig(days=0.25, seed=3, series=("KXBTC15M",),
                                           end=datetime(2026, 10, 1, tzinfo=UTC)))
    finally:
        conn.close()
    return p


def _same_run(cfg: BacktestConfig, min_orders: int) -> list[str]:
    """A fast run (skipping quiet cycles) and a run of every cycle trade identically; returns
    the full run's decision reasons."""
    fast = backtest(cfg)[0]
    full = backtest(replace(cfg, fast=False))[0]
    assert full.run.cycles_skipped == 0 and fast.run.cycles_skipped > 0
    assert fast.run.cycles_run + fast.run.cycles_skipped == full.run.cycles_run

    def acted(r: Any) -> list[Any]:
        return [(d.ts, d.ticker, d.verdict, d.side, d.edge, d.proposed_size, d.reason)
                for d in r.run.decisions if d.verdict.value != "skipped"]

    assert len(fast.run.orders) >= min_orders
    assert [(f.ticker, f.side, f.action, f.price, f.count, f.fee, f.is_taker, f.ts)
            for f in fast.run.fills] == [
        (f.ticker, f.side, f.action, f.price, f.count, f.fee, f.is_taker, f.ts)
        for f in full.run.fills]
    assert [(o.ticker, o.side, o.action, o.price, o.count, o.filled, o.status, o.created,
             o.last_error) for o in fast.run.orders] == [
        (o.ticker, o.side, o.action, o.price, o.count, o.filled, o.status, o.created,
         o.last_error) for o in full.run.orders]
    assert acted(fast) == acted(full)
    assert fast.stats.as_dict() == full.stats.as_dict()
    assert fast.run.no_current_book == full.run.no_current_book
    return [d.reason for d in full.run.decisions]


def test_fast_equals_full_crypto(crypto_sample: Path) -> None:
    _same_run(BacktestConfig(data=crypto_sample, strategies=("crypto",)), min_orders=20)


def test_fast_equals_full_crypto_holding_with_a_breaker(crypto_sample: Path) -> None:
    """Positions held through skipped cycles are marked there: a tight breaker trips at the
    same cycle as in a run of every cycle."""
    reasons = _same_run(BacktestConfig(data=crypto_sample, strategies=("crypto",),
                                       limits={"circuit_breaker_drawdown": "0.002"}),
                        min_orders=2)
    assert any("drawdown" in r for r in reasons)


class _LogisticModel:
    """A cheap deterministic stand-in for a trained model, reading every feature."""

    def __init__(self) -> None:
        from kalshibot.features.builder import FEATURE_NAMES

        self.names = list(FEATURE_NAMES)
        self.w = np.random.default_rng(2).normal(0, 0.5, len(self.names))
        self.w[self.names.index("p_digital_logit")] = 1.0  # roughly the digital price

    def predict_proba(self, rows: Any) -> Any:
        x = np.nan_to_num(rows[self.names].to_numpy(dtype=float))
        return 1 / (1 + np.exp(-(x @ self.w)))


def _edge_with_cheap_model(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    from kalshibot.features.builder import FeatureBuilder
    from kalshibot.models.training import Selection, load_history
    from kalshibot.strategy.model_edge import ModelEdgeStrategy, PrecomputedFeatures

    assert ctx.data is not None
    frame = FeatureBuilder().batch(load_history(ctx.data, Selection(tickers=list(ctx.tickers))))
    return ModelEdgeStrategy(_LogisticModel(), PrecomputedFeatures(frame))


def test_fast_equals_full_edge(crypto_sample: Path) -> None:
    """The edge strategy class over precomputed features (a cheap model in place of a trained
    one: the fast path does not depend on what the model is)."""
    register("edge-cheap-model", _edge_with_cheap_model)
    _same_run(BacktestConfig(data=crypto_sample, strategies=("edge-cheap-model",)),
              min_orders=3)
