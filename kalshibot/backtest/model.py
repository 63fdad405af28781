"""The ``model`` strategy in backtests: P(YES) from a trained model over the one feature builder.

``--model PATH`` loads a registry artefact directory (``kalshibot.models.load_model``),
``--model current`` the registry's current model (``--model-dir``), and
``--model walk-forward`` retrains every ``--retrain-every`` hours of simulated time on the
markets already settled (close + settle delay <= now) and only on feature rows stamped before
now, so the model never sees the future. Each retraining's fit tasks (its evaluation folds and
the final fit) run on ``BacktestConfig.train_backend``: "local" (in process) or "dask" (one
shared ``kalshibot.cluster`` client for the run; every retraining scatters its training rows to
the workers), with the same model, hence the same trades, either way.

Features come from ``FeatureBuilder.batch`` over the selection, computed once: its kernels are
prefix-stable (a row's features use data stamped at or before the row only; see
``kalshibot.features.builder``), so looking up the latest row at or before ``now`` equals the
live computation. ``--check-lookahead`` verifies this end to end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from kalshibot.backtest.strategies import StrategyContext
from kalshibot.errors import DataError, UserInputError
from kalshibot.strategy.base import FairValue, MarketView


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


class ModelStrategy:
    name = "model"
    in_sample: str | None = None  # why this run is in-sample (None: out of sample)

    def __init__(self, frame: pd.DataFrame, *, model: Any = None,
                 retrain_every: timedelta | None = None,
                 settle_delay: timedelta = timedelta(seconds=60), min_rows: int = 200,
                 backend: str = "local", scheduler: str | None = None, jobs: int = 1) -> None:
        self.frame = frame.sort_values(["ticker", "ts"], kind="mergesort").reset_index(drop=True)
        self.model = model
        self.retrain_every = retrain_every
        self.settle_delay = settle_delay
        self.min_rows = min_rows
        self.backend, self.scheduler, self.jobs = backend, scheduler, jobs
        self._next_train: datetime | None = None
        self._index: dict[str, tuple[np.ndarray, int]] = {}
        ts = self.frame["ts"].astype("int64").to_numpy() // 1_000_000  # epoch ms
        for t, idx in self.frame.groupby("ticker", sort=False).indices.items():
            self._index[str(t)] = (ts[idx], int(idx[0]))

    @classmethod
    def from_context(cls, ctx: StrategyContext) -> ModelStrategy:
        from kalshibot.features.builder import FeatureBuilder
        from kalshibot.models.training import Selection, load_history

        cfg = ctx.config
        # out of sample by default: retrain walk-forward unless a model is named (issue 22)
        which = cfg.model or "walk-forward"
        hist = load_history(ctx.data, Selection(tickers=list(ctx.tickers)))
        frame = FeatureBuilder().batch(hist)
        settle = timedelta(seconds=cfg.settle_delay_s)
        if which == "walk-forward":
            from kalshibot.models.training import check_backend

            return cls(frame, retrain_every=timedelta(hours=cfg.retrain_every_h),
                       settle_delay=settle,
                       backend=check_backend(cfg.train_backend, cfg.train_scheduler),
                       scheduler=cfg.train_scheduler, jobs=cfg.train_jobs)
        from kalshibot.models import load_current_model, load_model

        if which == "current":
            if cfg.model_dir is None:
                raise UserInputError("--model current needs --model-dir (the registry folder)")
            model = load_current_model(Path(cfg.model_dir))
        else:
            model = load_model(Path(which))
        out = cls(frame, model=model, settle_delay=settle)
        out.in_sample = in_sample_overlap(model.meta, ctx.span, model.model_id)
        if out.in_sample is not None and not cfg.allow_in_sample:
            raise UserInputError(f"{out.in_sample}: the backtest would be in-sample",
                                 hint="backtest a later span, omit --model (walk-forward), "
                                      "or pass --allow-in-sample")
        return out

    def _row(self, ticker: str, now: datetime) -> int | None:
        hit = self._index.get(ticker)
        if hit is None:
            return None
        ts, first = hit
        i = int(np.searchsorted(ts, int(now.timestamp() * 1000), side="right")) - 1
        return None if i < 0 else first + i

    def _retrain(self, now: datetime) -> None:
        from kalshibot.models import TrainConfig, train_model

        client = None
        if self.backend == "dask":
            from kalshibot.cluster import shared_client

            client = shared_client(self.scheduler, self.jobs)
        now_ts = pd.Timestamp(now)
        f = self.frame
        known = (f["close_time"] + self.settle_delay <= now_ts) & (f["ts"] < now_ts)
        train = f[known & f["label"].notna()]
        # not enough settled history yet (too few rows, or a fold holding one outcome, a
        # DataError): keep the previous model (or none) until the next retraining time. This
        # used to escape on DataError, skip the cycle and retry on every cycle.
        with contextlib.suppress(UserInputError, DataError):
            self.model = train_model(train, TrainConfig(n_folds=2, n_jobs=1,
                                                        min_rows=self.min_rows,
                                                        backend=self.backend,
                                                        scheduler=self.scheduler),
                                     client=client).model

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        if not views:
            return []
        now = views[0].now
        if self.retrain_every is not None and (self._next_train is None
                                               or now >= self._next_train):
            self._retrain(now)
            self._next_train = now + self.retrain_every
        if self.model is None:
            return [FairValue(None, "walk-forward: no model yet (too little settled history)")
                    for _ in views]
        rows = [self._row(v.market.ticker, v.now) for v in views]
        have = [r for r in rows if r is not None]
        probs = np.array([], dtype=float)
        if have:
            # a few rows per cycle: one thread (OpenMP start-up per boosting iteration cost
            # ~3 ms a call, i.e. most of a walk-forward backtest's time on a busy machine)
            with threadpool_limits(limits=1):
                probs = self.model.predict_proba(self.frame.iloc[have])
        out: list[FairValue] = []
        j = 0
        for r in rows:
            if r is None:
                out.append(FairValue(None, "no feature row at or before now"))
                continue
            p = float(probs[j])
            j += 1
            if p != p:
                out.append(FairValue(None, "model returned NaN"))
            else:
                out.append(FairValue(min(max(p, 0.0), 1.0), f"model p={p:.3f}"))
        return out
