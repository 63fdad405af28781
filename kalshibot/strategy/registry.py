"""The one strategy registry: ``trade`` (paper, live, sim) and ``backtest`` build strategies here.

A factory gets a ``StrategyContext`` (the history connection, the clock, settings, the live feed
if any, and for replays the span, the selected markets and the backtest options) and the
strategy parameters as strings (``backtest --param`` / ``--sweep``; none in ``trade``), and
returns a ``kalshibot.strategy.base.Strategy``. Strategy options default to the settings and
are overridden by parameters, converted to the type of the constructor's default; an unknown
name is a ``UserInputError``. ``register`` adds a strategy (tests register deliberately leaky
ones).

Venues differ only in what the context supplies: a replay (``span`` set) gets its spot or
reference feed built from the stored history on the run's clock; the edge strategy gets
precomputed features in a backtest (``backtest`` set) and features built per cycle otherwise
(``kalshibot.strategy.model_edge``).
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshibot.clock import Clock
from kalshibot.config import Settings
from kalshibot.errors import ConfigError, KalshibotError, UserInputError
from kalshibot.strategy.base import Strategy

if TYPE_CHECKING:
    from kalshibot.backtest.config import BacktestConfig

#: The strategies ``trade`` offers (``backtest`` also accepts registered extras and aliases).
TRADING = ("edge", "crypto", "meanrev")


@dataclass
class StrategyContext:
    """What a factory may use. ``data``: the history store (read-only market data in sim and
    backtest, the trading store in paper/live); ``feed``: the live spot/reference feed (None in
    replays: built from ``data``); ``span``: a replay's first and last time (UTC);
    ``tickers``: the selected markets; ``backtest``: the backtest options (None in ``trade``)."""

    data: sqlite3.Connection | None
    clock: Clock
    settings: Settings
    feed: Any = None
    span: tuple[datetime, datetime] | None = None
    tickers: tuple[str, ...] = ()
    backtest: BacktestConfig | None = None


Factory = Callable[[StrategyContext, Mapping[str, str]], Strategy]
REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    REGISTRY[name] = factory


def kwargs_for(cls: Callable[..., Any], params: Mapping[str, str], what: str) -> dict[str, Any]:
    """Convert string parameters to the types of ``cls``'s keyword defaults."""
    sig = inspect.signature(cls)
    out: dict[str, Any] = {}
    for k, v in params.items():
        p = sig.parameters.get(k)
        if p is None or p.default is inspect.Parameter.empty:
            known = [n for n, q in sig.parameters.items()
                     if q.default is not inspect.Parameter.empty]
            raise UserInputError(f"{what} has no parameter {k!r} (known: {', '.join(known)})")
        d = p.default
        try:
            if isinstance(d, bool):
                out[k] = v.lower() in ("1", "true", "yes", "on")
            elif isinstance(d, int):
                out[k] = int(v)
            elif isinstance(d, float):
                out[k] = float(v)
            elif isinstance(d, timedelta):
                out[k] = timedelta(seconds=float(v))
            else:
                out[k] = type(d)(v)
        except (TypeError, ValueError):
            raise UserInputError(f"{what}: parameter {k}={v!r} is not a "
                                 f"{type(d).__name__}") from None
    return out


def _replay_spot(ctx: StrategyContext) -> Any:
    """Stored spot rows around a replay's span (6 h of warm-up before it)."""
    from kalshibot.store.history import load_spot

    assert ctx.data is not None and ctx.span is not None
    return load_spot(ctx.data, since=ctx.span[0] - timedelta(hours=6),
                     until=ctx.span[1] + timedelta(hours=1))


def _meanrev(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    from kalshibot.strategy.meanrev import MeanReversionStrategy

    return MeanReversionStrategy(**kwargs_for(MeanReversionStrategy, params, "meanrev"))


def _crypto(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    from kalshibot.feeds.reference import ReferenceConfig, replay_reference
    from kalshibot.strategy.crypto import CryptoVolStrategy

    s = ctx.settings
    reference = ReferenceConfig.from_settings(s)
    feed = ctx.feed
    if feed is None and ctx.span is not None and ctx.data is not None:
        # recorded index rows are the index, the rest exchange spot (issue 17)
        feed = replay_reference(_replay_spot(ctx), ctx.clock, reference)
    if feed is None:
        raise ConfigError("the crypto strategy needs a spot feed")
    kw: dict[str, Any] = {"vol_model": s.crypto_vol_model,
                          "vol_halflife_s": s.crypto_vol_halflife_s, "reference": reference}
    kw.update(kwargs_for(CryptoVolStrategy, params, "crypto"))
    return CryptoVolStrategy(feed, **kw)


def _edge(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    from kalshibot.strategy.model_edge import LiveFeatures, ModelEdgeStrategy

    if params:
        raise UserInputError("the edge strategy takes no --param (use --model/--retrain-every)")
    if ctx.data is None:
        raise KalshibotError("the edge strategy needs a history store")
    if ctx.backtest is not None:
        return _edge_backtest(ctx, ctx.backtest)
    from kalshibot.models import load_current_model

    feed = ctx.feed
    if feed is None and ctx.span is not None:
        from kalshibot.feeds import ReplaySpotFeed

        feed = ReplaySpotFeed(_replay_spot(ctx), ctx.clock)
    return ModelEdgeStrategy(load_current_model(ctx.settings.model_dir),
                             LiveFeatures(ctx.data, feed=feed))


def _edge_backtest(ctx: StrategyContext, cfg: BacktestConfig) -> Strategy:
    """The edge strategy over precomputed features: walk-forward retraining unless a model is
    named (out of sample by default, issue 22); a named model whose training window overlaps
    the span is refused unless ``allow_in_sample`` (then the run is stamped in-sample)."""
    from kalshibot.features.builder import FeatureBuilder
    from kalshibot.models.training import Selection, load_history
    from kalshibot.strategy.model_edge import (
        ModelEdgeStrategy,
        PrecomputedFeatures,
        WalkForward,
        in_sample_overlap,
    )

    assert ctx.data is not None
    which = cfg.model or "walk-forward"
    frame = FeatureBuilder().batch(load_history(ctx.data, Selection(tickers=list(ctx.tickers))))
    features = PrecomputedFeatures(frame)
    settle = timedelta(seconds=cfg.settle_delay_s)
    if which == "walk-forward":
        from kalshibot.models.training import check_backend

        wf = WalkForward(features.frame, timedelta(hours=cfg.retrain_every_h),
                         settle_delay=settle,
                         backend=check_backend(cfg.train_backend, cfg.train_scheduler),
                         scheduler=cfg.train_scheduler, jobs=cfg.train_jobs)
        return ModelEdgeStrategy(None, features, walk_forward=wf)
    from kalshibot.models import load_current_model, load_model

    if which == "current":
        if cfg.model_dir is None:
            raise UserInputError("--model current needs --model-dir (the registry folder)")
        model = load_current_model(Path(cfg.model_dir))
    else:
        model = load_model(Path(which))
    out = ModelEdgeStrategy(model, features)
    if ctx.span is not None:
        out.in_sample = in_sample_overlap(model.meta, ctx.span, model.model_id)
    if out.in_sample is not None and not cfg.allow_in_sample:
        raise UserInputError(f"{out.in_sample}: the backtest would be in-sample",
                             hint="backtest a later span, omit --model (walk-forward), "
                                  "or pass --allow-in-sample")
    return out


register("meanrev", _meanrev)
register("crypto", _crypto)
register("edge", _edge)
register("model", _edge)  # alias kept for earlier backtest command lines


def build(name: str, ctx: StrategyContext, params: Mapping[str, str] | None = None) -> Strategy:
    """The strategy ``name`` for ``ctx`` (``UserInputError`` for an unknown name)."""
    f = REGISTRY.get(name)
    if f is None:
        raise UserInputError(f"unknown --strategy {name!r} (choose from "
                             f"{', '.join(sorted(REGISTRY))})")
    return f(ctx, params or {})
