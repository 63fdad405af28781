"""Strategies a backtest can run, by name, built fresh for every run.

A factory gets a ``StrategyContext`` (the read-only market-data connection, the run's simulated
clock, the selection and the backtest config) and the strategy parameters as strings (from
``--param`` / ``--sweep``), and returns a ``kalshibot.strategy.base.Strategy``. Parameters are
converted to the type of the strategy constructor's default; an unknown name is a
``UserInputError``. ``register`` adds a strategy (tests register a deliberately leaky one).
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kalshibot.backtest.config import BacktestConfig
from kalshibot.clock import SimClock
from kalshibot.errors import UserInputError
from kalshibot.strategy.base import Strategy


@dataclass
class StrategyContext:
    data: sqlite3.Connection  # read-only market data (never the run's state store)
    clock: SimClock
    config: BacktestConfig
    span: tuple[datetime, datetime]  # first open, last close of the selection (UTC)
    tickers: tuple[str, ...]  # the selected markets


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


def _meanrev(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    from kalshibot.strategy.meanrev import MeanReversionStrategy

    return MeanReversionStrategy(**kwargs_for(MeanReversionStrategy, params, "meanrev"))


def _crypto(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    from kalshibot.feeds.reference import replay_reference
    from kalshibot.store.history import load_spot
    from kalshibot.strategy.crypto import CryptoVolStrategy

    spot = load_spot(ctx.data, since=ctx.span[0] - timedelta(hours=6),
                     until=ctx.span[1] + timedelta(hours=1))
    feed = replay_reference(spot, ctx.clock)  # recorded index rows first, then exchange spot
    return CryptoVolStrategy(feed, **kwargs_for(CryptoVolStrategy, params, "crypto"))


def _model(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    from kalshibot.backtest.model import ModelStrategy

    if params:
        raise UserInputError("the model strategy takes no --param (use --model/--retrain-every)")
    return ModelStrategy.from_context(ctx)


register("meanrev", _meanrev)
register("crypto", _crypto)
register("edge", _model)  # the same name as `trade --strategy edge`
register("model", _model)  # alias


def build(name: str, ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    f = REGISTRY.get(name)
    if f is None:
        raise UserInputError(f"unknown --strategy {name!r} (choose from "
                             f"{', '.join(sorted(REGISTRY))})")
    return f(ctx, params)
