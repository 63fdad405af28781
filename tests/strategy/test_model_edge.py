"""Issue 22: one edge strategy for `trade` and `backtest`, differing only in its feature source.

On the same store and times, features built per cycle (``LiveFeatures``, as `trade` does) and
features precomputed once (``PrecomputedFeatures``, as `backtest` does) give identical fair
values. On f6e3055 the two venues ran two different classes (``backtest/model.ModelStrategy``
and ``strategy/model_edge.ModelEdgeStrategy``) from two registries; these tests do not import
there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from kalshibot.backtest.config import BacktestConfig
from kalshibot.clock import SimClock
from kalshibot.config import load_settings
from kalshibot.domain.portfolio import Position
from kalshibot.features.builder import FEATURE_NAMES, FeatureBuilder
from kalshibot.models.training import SPOT_WARMUP, Selection, load_history
from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store import open_store
from kalshibot.store.books import book_at
from kalshibot.store.markets import find_markets
from kalshibot.strategy.base import MarketView
from kalshibot.strategy.model_edge import LiveFeatures, ModelEdgeStrategy, PrecomputedFeatures
from kalshibot.strategy.registry import StrategyContext, build

END = datetime(2026, 10, 1, tzinfo=UTC)


class EveryFeatureModel:
    """A deterministic stand-in for a trained model that depends on every feature: a logistic
    of a fixed random projection of the rows (NaN counted as 0)."""

    def __init__(self) -> None:
        self.w = np.random.default_rng(1).normal(0, 0.3, len(FEATURE_NAMES))

    def predict_proba(self, rows: pd.DataFrame) -> npt.NDArray[np.float64]:
        x = np.nan_to_num(rows[list(FEATURE_NAMES)].to_numpy(dtype=float))
        out: npt.NDArray[np.float64] = 1 / (1 + np.exp(-(x @ self.w)))
        return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("edge") / "data.sqlite"
    conn = open_store(db)
    try:
        generate_sample(conn, SampleConfig(days=0.15, seed=4, series=("KXBTC15M",), end=END))
    finally:
        conn.close()
    return db


def _views(conn: Any, now: datetime) -> list[MarketView]:
    out = []
    for m in find_markets(conn):
        if m.open_time is not None and m.open_time <= now < m.close_time:
            b = book_at(conn, m.ticker, now)
            if b is not None:
                out.append(MarketView(m, b, now, Position(m.ticker)))
    return out


def test_live_and_precomputed_features_give_identical_fair_values(store: Path) -> None:
    conn = open_store(store)
    try:
        markets = find_markets(conn)
        first_open = min(m.open_time for m in markets if m.open_time is not None)
        precomputed = PrecomputedFeatures(FeatureBuilder().batch(load_history(
            conn, Selection(tickers=[m.ticker for m in markets]))))
        backtest_style = ModelEdgeStrategy(EveryFeatureModel(), precomputed)
        compared = 0
        for minutes in (40, 95, 150, 200):
            now = first_open + timedelta(minutes=minutes, seconds=7)
            views = _views(conn, now)
            assert views
            # the same history depth as the precomputed frame (snapshots since the first
            # market opened, spot from the training warm-up on)
            live = LiveFeatures(conn, lookback=now - first_open,
                                spot_lookback=now - (first_open - SPOT_WARMUP.to_pytimedelta()))
            live_style = ModelEdgeStrategy(EveryFeatureModel(), live)
            a = live_style.fair_values(views)
            b = backtest_style.fair_values(views)
            assert a == b
            compared += sum(1 for f in a if f.p_yes is not None)
        assert compared >= 4  # real opinions were compared, not only "no row"
    finally:
        conn.close()


def test_trade_and_backtest_build_the_same_strategy_types(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one registry builds each strategy for `trade` (no backtest options) and for
    `backtest` (with them) as the same class."""
    import kalshibot.models as models

    monkeypatch.setattr(models, "load_current_model", lambda _dir: EveryFeatureModel())
    conn = open_store(store)
    try:
        settings = load_settings(env={}, dotenv_file=None)
        markets = find_markets(conn)
        span = (min(m.open_time for m in markets if m.open_time is not None),
                max(m.close_time for m in markets))
        clock = SimClock(span[0])
        tickers = tuple(m.ticker for m in markets)
        trade = StrategyContext(conn, clock, settings, span=span)
        bt = StrategyContext(conn, clock, settings, span=span, tickers=tickers,
                             backtest=BacktestConfig(data=store))
        for name in ("edge", "crypto", "meanrev"):
            assert type(build(name, trade)) is type(build(name, bt)), name
        assert isinstance(build("edge", bt), ModelEdgeStrategy)
    finally:
        conn.close()


@pytest.mark.parametrize("block", [7, 50_000])
def test_block_predictions_of_a_trained_ensemble_equal_live_fair_values(
        store: Path, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the product's own (batch-invariant) ensemble, the backtest predicts the frame in
    blocks ahead of the clock and looks rows up; `trade`-style features predicted per cycle
    give the same bits. Before issue 22's speed work the backtest asked the model every cycle
    (an ensemble's LR member rounded differently per batch shape)."""
    import kalshibot.strategy.model_edge as me
    from kalshibot.models.ensemble import EnsembleModel, ModelConfig

    monkeypatch.setattr(me, "BLOCK_ROWS", block)
    conn = open_store(store)
    try:
        markets = find_markets(conn)
        first_open = min(m.open_time for m in markets if m.open_time is not None)
        frame = FeatureBuilder().batch(load_history(
            conn, Selection(tickers=[m.ticker for m in markets])))
        lab = frame[frame["label"].notna()]
        model = EnsembleModel(FEATURE_NAMES, ModelConfig(
            rf_trees=6, rf_max_depth=4, rf_min_leaf=20, hgb_iter=10, hgb_min_leaf=40))
        model.fit(lab, lab["label"].to_numpy())
        backtest_style = ModelEdgeStrategy(model, PrecomputedFeatures(frame))
        compared = 0
        for minutes in (40, 41, 95, 150, 151, 200):
            now = first_open + timedelta(minutes=minutes, seconds=7)
            views = _views(conn, now)
            live = LiveFeatures(conn, lookback=now - first_open,
                                spot_lookback=now - (first_open - SPOT_WARMUP.to_pytimedelta()))
            a = ModelEdgeStrategy(model, live).fair_values(views)
            b = backtest_style.fair_values(views)
            assert a == b
            compared += sum(1 for f in a if f.p_yes is not None)
        assert compared >= 6
        cache = backtest_style._predictions
        assert cache is not None and cache.done.any()  # looked up, not asked per cycle
        assert not cache.done.all()  # only what the clock reached (plus one block)
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_walk_forward_backtest_is_the_same_with_block_predictions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk-forward edge backtest (retrained every simulated hour over 7 hours, so several
    models, and the block predictions stop at each retraining) gives the same orders, fills,
    decisions and statistics as asking the model every cycle (a model not declaring itself
    batch invariant)."""
    import kalshibot.strategy.model_edge as me
    from kalshibot.backtest import backtest
    from kalshibot.models.ensemble import EnsembleModel

    db = tmp_path / "data.sqlite"
    conn = open_store(db)
    try:
        generate_sample(conn, SampleConfig(days=0.3, seed=4, series=("KXBTC15M",), end=END))
    finally:
        conn.close()
    cfg = BacktestConfig(data=db, strategies=("edge",), retrain_every_h=1.0, interval_s=60.0,
                         limits={"max_daily_loss": "100000"})
    models: set[int] = set()
    model_at = me.WalkForward.model_at

    def counting(self: me.WalkForward, now: datetime, current: Any) -> Any:
        m = model_at(self, now, current)
        models.add(id(m))
        return m

    monkeypatch.setattr(me.WalkForward, "model_at", counting)

    def outcome() -> tuple[Any, ...]:
        r = backtest(cfg)[0]
        return ([(f.ticker, f.side, f.action, f.price, f.count, f.fee, f.ts)
                 for f in r.run.fills],
                [(o.ticker, o.side, o.action, o.price, o.count, o.status, o.created)
                 for o in r.run.orders],
                [(d.ts, d.ticker, d.verdict, d.side, d.edge, d.proposed_size, d.reason)
                 for d in r.run.decisions], r.stats.as_dict())

    blocks = outcome()
    assert len(models - {id(None)}) >= 2  # retrained: more than one model predicted
    assert blocks[1] and any(" p=" in d[-1] for d in blocks[2])  # a trained model traded
    monkeypatch.setattr(EnsembleModel, "batch_invariant", False)
    assert outcome() == blocks
