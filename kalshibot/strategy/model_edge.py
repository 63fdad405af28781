"""The *edge* strategy: the trained model's probability against the market's price.

One class for every venue (``trade`` paper/live/sim and ``backtest``); only its *feature
source* differs:

- ``LiveFeatures`` builds the rows each cycle with the one ``FeatureBuilder`` from history known
  at the decision time, read from a store connection (the market-data store in the sim venue,
  restricted to ``ts <= now``; the trading store in paper/live, where the engine records the
  books it sees; spot from the store or the live feed). Results and settlement values are
  blanked before features are built.
- ``PrecomputedFeatures`` looks up, per market, the latest row at or before now in a frame
  ``FeatureBuilder.batch`` computed once over the backtest's selection. The kernels are
  prefix-stable (``kalshibot.features.builder``), so with the same history depth both sources
  give identical rows (``tests/strategy/test_model_edge.py``).

With precomputed features and a *batch-invariant* model (``model.batch_invariant``: a row's
probability does not depend on the other rows predicted with it, ``kalshibot.models.ensemble``)
the strategy does not call the model every cycle: ``FramePredictions`` predicts the frame's rows
in blocks of ``BLOCK_ROWS`` ahead of the clock (never past the model's retraining time) and a
cycle looks its rows up, giving the same bits as predicting those rows alone. Other models are
asked per cycle, as live.

The model comes from the registry (``reload`` switches to the current one after retraining) or,
in a walk-forward backtest, from ``WalkForward``: retrained every ``every`` of simulated time on
the markets already settled (close + settle delay <= now), only on rows stamped before now.
Probabilities are clipped to [0.001, 0.999].
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import ThreadpoolController

from kalshibot.config import Settings
from kalshibot.errors import DataError, KalshibotError, UserInputError
from kalshibot.features.builder import FEATURE_NAMES, FeatureBuilder, HistoryFrames
from kalshibot.strategy.base import FairValue, MarketView

P_MIN, P_MAX = 0.001, 0.999
BLOCK_ROWS = 50_000  # frame rows predicted per block by ``FramePredictions``


class FeatureSource(Protocol):
    """Feature rows for the markets in view at ``views[0].now``."""

    def rows(self, views: Sequence[MarketView]) -> pd.DataFrame:
        """At most one row per market (column ``ticker`` and ``FEATURE_NAMES``), from data
        stamped at or before now; a market without a row has no feature row yet.
        ``KalshibotError`` when features cannot be built at all."""
        ...


class LiveFeatures:
    """Rows built per cycle from a store connection (see module docstring). ``lookback`` of
    snapshots and trades, ``spot_lookback`` of spot; ``feed`` supplies spot when the store has
    none."""

    def __init__(self, history: sqlite3.Connection, *,
                 lookback: timedelta = timedelta(minutes=45),
                 spot_lookback: timedelta = timedelta(hours=2), feed: Any = None) -> None:
        self.history = history
        self.lookback = lookback
        self.spot_lookback = spot_lookback
        self.feed = feed
        self.builder = FeatureBuilder()

    def _frames(self, views: Sequence[MarketView]) -> HistoryFrames:
        from kalshibot.store.history import load_markets, load_snapshots, load_spot, load_trades

        now = views[0].now
        tickers = sorted({v.market.ticker for v in views})
        events = {v.market.event_ticker for v in views}
        markets = load_markets(self.history, series=sorted({v.market.series_ticker
                                                           for v in views}))
        markets = markets[markets["event_ticker"].isin(events)].copy()
        markets["result"] = ""  # never let an outcome reach the features
        markets["settlement_value"] = np.nan
        until = now + timedelta(milliseconds=1)
        all_tickers = sorted(set(markets["ticker"]) | set(tickers))
        snaps = load_snapshots(self.history, all_tickers, since=now - self.lookback, until=until)
        trades = load_trades(self.history, all_tickers, since=now - self.lookback, until=until)
        spot = load_spot(self.history, since=now - self.spot_lookback, until=until)
        if len(spot) == 0 and self.feed is not None:
            spot = self._feed_spot(views)
        return HistoryFrames(markets, snaps, trades, spot)

    def _feed_spot(self, views: Sequence[MarketView]) -> pd.DataFrame:
        from kalshibot.feeds import Resolution, series_to_symbol

        rows = []
        now = views[0].now
        for sym in {v.market.series_ticker for v in views}:
            try:
                symbol = series_to_symbol(sym)
                bars = self.feed.history(symbol, Resolution.SECOND,
                                         since=now - self.spot_lookback, until=now)
            except KalshibotError:
                continue
            rows += [(b.start, "feed", symbol, b.close_float) for b in bars]
        return pd.DataFrame(rows, columns=["ts", "source", "symbol", "price"])

    def rows(self, views: Sequence[MarketView]) -> pd.DataFrame:
        return self.builder.live_rows(self._frames(views), pd.Timestamp(views[0].now),
                                      [v.market.ticker for v in views])


class PrecomputedFeatures:
    """Rows looked up in a ``FeatureBuilder.batch`` frame: per market, the latest row stamped
    at or before now (see module docstring)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.sort_values(["ticker", "ts"], kind="mergesort").reset_index(drop=True)
        self._index: dict[str, tuple[npt.NDArray[np.int64], int]] = {}
        ts = self.frame["ts"].astype("int64").to_numpy() // 1_000_000  # epoch ms
        for t, idx in self.frame.groupby("ticker", sort=False).indices.items():
            self._index[str(t)] = (ts[idx], int(idx[0]))
        self.ts_ms = ts
        self.tickers = self.frame["ticker"].to_numpy()
        self._time_order: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None

    def time_order(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Frame positions sorted by time (stable) and their stamps in epoch ms."""
        if self._time_order is None:
            order = np.argsort(self.ts_ms, kind="stable")
            self._time_order = (order, self.ts_ms[order])
        return self._time_order

    def row_at(self, ticker: str, now: datetime) -> int | None:
        """Position in ``frame`` of ``ticker``'s latest row at or before ``now`` (None: none)."""
        hit = self._index.get(ticker)
        if hit is None:
            return None
        ts, first = hit
        i = int(ts.searchsorted(int(now.timestamp() * 1000), "right")) - 1
        return None if i < 0 else first + i

    def positions(self, views: Sequence[MarketView]) -> list[int]:
        """Positions in ``frame`` of the rows ``rows(views)`` returns, in that order."""
        now = views[0].now
        at = [self.row_at(t, now) for t in dict.fromkeys(v.market.ticker for v in views)]
        return [i for i in at if i is not None]

    def rows(self, views: Sequence[MarketView]) -> pd.DataFrame:
        return self.frame.iloc[self.positions(views)]


class FramePredictions:
    """P(YES) of one batch-invariant ``model`` over a ``PrecomputedFeatures`` frame, computed
    on demand: when the clock passes the rows predicted so far, the next ``block`` rows in
    time order stamped before ``horizon`` (the model's retraining time; None: none) are
    predicted in one call; a row asked for but not predicted yet (e.g. a market's last row
    before the block started) is predicted then. Every row is predicted once."""

    def __init__(self, model: Any, features: PrecomputedFeatures, *,
                 block: int | None = None) -> None:
        self.model = model
        self.features = features
        self.block = block or BLOCK_ROWS
        n = len(features.frame)
        self.p = np.full(n, np.nan)
        self.done = np.zeros(n, dtype=bool)
        self._covered_ms = -(2 ** 62)  # rows stamped before this are predicted

    def _predict(self, positions: np.ndarray) -> None:
        todo = positions[~self.done[positions]]
        if len(todo):
            x = self.features.frame.iloc[todo][list(FEATURE_NAMES)]
            with _controller().limit(limits=1):
                self.p[todo] = self.model.predict_proba(x)
            self.done[todo] = True

    def at(self, positions: Sequence[int], now: datetime,
           horizon: datetime | None) -> npt.NDArray[np.float64]:
        """P(YES) of the frame rows at ``positions`` (a cycle at ``now``)."""
        now_ms = int(now.timestamp() * 1000)
        if now_ms >= self._covered_ms:
            order, ts = self.features.time_order()
            start = int(np.searchsorted(ts, now_ms, side="left"))
            end = min(start + self.block, len(ts))
            if horizon is not None:
                end = max(start, min(end, int(np.searchsorted(
                    ts, int(horizon.timestamp() * 1000), side="left"))))
            self._predict(order[start:end])
            self._covered_ms = int(ts[end]) if end < len(ts) else 2 ** 62
        pos = np.asarray(positions, dtype=np.int64)
        self._predict(pos)
        out: npt.NDArray[np.float64] = self.p[pos]
        return out


class WalkForward:
    """Walk-forward models for a backtest over ``frame`` (a ``FeatureBuilder.batch`` frame
    with labels): every ``every`` of simulated time, a model trained on the rows of markets
    settled by then (close + ``settle_delay`` <= now) stamped before now; the previous model
    (or none) while too little settled history exists."""

    def __init__(self, frame: pd.DataFrame, every: timedelta, *,
                 settle_delay: timedelta = timedelta(seconds=60), min_rows: int = 200,
                 backend: str = "local", scheduler: str | None = None, jobs: int = 1) -> None:
        self.frame = frame
        self.every = every
        self.settle_delay = settle_delay
        self.min_rows = min_rows
        # where each retraining's fit tasks (evaluation folds, final fit) run: "local" (in
        # process) or "dask" (one shared ``kalshibot.cluster`` client for the run; every
        # retraining scatters its training rows to the workers): the same model either way
        self.backend, self.scheduler, self.jobs = backend, scheduler, jobs
        self.next_train: datetime | None = None

    def model_at(self, now: datetime, current: Any) -> Any:
        """The model to use at ``now`` given the one in use (``current``, None: none yet)."""
        if self.next_train is not None and now < self.next_train:
            return current
        self.next_train = now + self.every
        from kalshibot.models import TrainConfig, train_model

        client = None
        if self.backend == "dask":
            from kalshibot.cluster import shared_client

            client = shared_client(self.scheduler, self.jobs)
        now_ts = pd.Timestamp(now)
        f = self.frame
        known = (f["close_time"] + self.settle_delay <= now_ts) & (f["ts"] < now_ts)
        # not enough settled history yet (too few rows: UserInputError; a fold holding one
        # outcome: DataError): keep the previous model until the next retraining time
        with contextlib.suppress(UserInputError, DataError):
            cfg = TrainConfig(n_folds=2, n_jobs=1, min_rows=self.min_rows,
                              backend=self.backend, scheduler=self.scheduler)
            return train_model(f[known & f["label"].notna()], cfg, client=client).model
        return current


def in_sample_overlap(meta: dict[str, Any], span: tuple[datetime, datetime],
                      model_id: str) -> str | None:
    """Why a backtest over ``span`` (UTC) is in-sample for a model with metadata ``meta``
    (None: the spans do not overlap). A model without a recorded training window is treated
    as in-sample: nothing shows it is not."""
    w = meta.get("training_window") or {}
    if not w.get("start") or not w.get("end"):
        return f"model {model_id} records no training window"
    start = pd.Timestamp(w["start"])
    end = pd.Timestamp(w["end"])
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    if pd.Timestamp(span[0]) <= end and start <= pd.Timestamp(span[1]):
        return (f"model {model_id} was trained on {start:%Y-%m-%d %H:%M} to "
                f"{end:%Y-%m-%d %H:%M} UTC, overlapping the backtest span "
                f"{span[0]:%Y-%m-%d %H:%M} to {span[1]:%Y-%m-%d %H:%M} UTC")
    return None


_CONTROLLER: list[ThreadpoolController] = []


def _controller() -> ThreadpoolController:
    """One ``ThreadpoolController`` per process, made at the first prediction (the model's
    native libraries are loaded by then): ``threadpool_limits`` re-scans the process's loaded
    libraries on every call (~3 ms, as much as the prediction itself)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


class ModelEdgeStrategy:
    """P(YES) from ``model`` (``predict_proba`` over ``FEATURE_NAMES`` columns) on the rows of
    ``features``; ``walk_forward`` replaces the model as simulated time passes."""

    name = "edge"

    def __init__(self, model: Any, features: FeatureSource, *,
                 walk_forward: WalkForward | None = None) -> None:
        self.model = model
        self.features = features
        self.walk_forward = walk_forward
        self.in_sample: str | None = None  # why a backtest of this model is in-sample
        self._predictions: FramePredictions | None = None  # of the current model

    def reload(self, settings: Settings) -> None:
        """Switch to the model currently marked current (after retraining)."""
        from kalshibot.models import load_current_model

        self.model = load_current_model(settings.model_dir)

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        if not views:
            return []
        if self.walk_forward is not None:
            self.model = self.walk_forward.model_at(views[0].now, self.model)
        if self.model is None:
            return [FairValue(None, "walk-forward: no model yet (too little settled history)")
                    for _ in views]
        by_ticker = self._predict(views)
        if isinstance(by_ticker, FairValue):
            return [by_ticker for _ in views]
        out = []
        for v in views:
            pv = by_ticker.get(v.market.ticker)
            if pv is None:
                out.append(FairValue(None, "no feature row at or before now"))
            elif not np.isfinite(pv):
                out.append(FairValue(None, "model returned NaN"))
            else:
                q = float(min(max(pv, P_MIN), P_MAX))
                out.append(FairValue(q, f"model p={q:.3f}"))
        return out

    def _predict(self, views: Sequence[MarketView]) -> dict[str, float] | FairValue:
        """P(YES) per ticker with a feature row (a ``FairValue`` without one: why none)."""
        src = self.features
        if isinstance(src, PrecomputedFeatures) and getattr(self.model, "batch_invariant",
                                                            False):
            if self._predictions is None or self._predictions.model is not self.model:
                self._predictions = FramePredictions(self.model, src)
            pos = src.positions(views)
            horizon = None if self.walk_forward is None else self.walk_forward.next_train
            p = self._predictions.at(pos, views[0].now, horizon)
            return dict(zip(src.tickers[pos].tolist(), p.tolist(), strict=True))
        try:
            rows = src.rows(views)
        except KalshibotError as exc:
            return FairValue(None, f"features unavailable: {exc}")
        p = np.array([], dtype=float)
        if len(rows):
            # a few rows per cycle: one thread (OpenMP start-up per boosting iteration cost
            # ~3 ms a call, most of a walk-forward backtest's time on a busy machine)
            with _controller().limit(limits=1):
                p = self.model.predict_proba(rows[list(FEATURE_NAMES)])
        return dict(zip(rows["ticker"], p, strict=True))
