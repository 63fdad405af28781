"""Backtest settings: what to replay, which strategies, and how pessimistic the fills are.

Units: times are aware UTC datetimes; ``interval_s`` and ``latency_s`` are seconds of simulated
time; money (``starting_cash``) is exact ``Decimal`` dollars; ``min_edge`` dollars per contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from kalshibot.errors import UserInputError

if TYPE_CHECKING:
    from kalshibot.config import Settings

# settings a backtest never needs and must never ship to a worker
_PRIVATE = ("api_key_id", "private_key_path", "private_key_password", "alert_webhook_url",
            "telegram_bot_token")


def backtest_settings(settings: Settings) -> Settings:
    """``settings`` for a backtest: the same limits and strategy settings ``trade`` uses, with
    the keys and alert secrets removed (a backtest sends nothing; sweeps ship the config)."""
    return settings.model_copy(update=dict.fromkeys(_PRIVATE))


@dataclass(frozen=True)
class FillModel:
    """How fills are simulated (``kalshibot.sim.account.SimAccount``), most pessimistic first.

    - ``trade_through``: a resting order fills only when the price trades *through* it (touches
      only eat the queue ahead of us).
    - ``queue_front``: a new resting order joins ahead of the displayed size (optimistic).
    - ``taker_fee_always``: taker fees even on provably rested fills (worst-case fees).
    - ``unknown_size``: contracts assumed at a recorded price whose size was not recorded
      (None: such a side cannot be traded).
    """

    name: str = "pessimistic"
    trade_through: bool = True
    queue_front: bool = False
    taker_fee_always: bool = False
    unknown_size: Decimal | None = None

    PRESETS = ("worst", "pessimistic", "neutral", "optimistic")

    @classmethod
    def preset(cls, name: str) -> FillModel:
        """``worst`` (taker fees on everything), ``pessimistic`` (default: taker fee unless the
        order provably rested, fills only when traded through, behind the displayed queue),
        ``neutral`` (touches fill after the queue), ``optimistic`` (front of the queue)."""
        if name == "worst":
            return cls("worst", True, False, True)
        if name == "pessimistic":
            return cls()
        if name == "neutral":
            return cls("neutral", False, False, False)
        if name == "optimistic":
            return cls("optimistic", False, True, False)
        raise UserInputError(f"unknown fill model {name!r} (choose from {', '.join(cls.PRESETS)})")


@dataclass(frozen=True)
class BacktestConfig:
    """One backtest. ``start``/``end`` select markets by close time in [start, end) and bound
    the simulated clock; ``None`` means the whole stored span."""

    data: Path | str
    strategies: tuple[str, ...] = ("meanrev",)
    series: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    interval_s: float = 10.0
    latency_s: float = 1.0
    fill: FillModel = field(default_factory=FillModel)
    starting_cash: Decimal = Decimal("10000")
    min_edge: Decimal = Decimal("0.02")
    kelly_fraction: Decimal = Decimal("0.1")
    adverse_selection: Decimal = Decimal(1)  # passive edge allowance, half-spreads
    settle_delay_s: float = 60.0
    params: Mapping[str, str] = field(default_factory=dict)  # strategy parameters (sweeps)
    model: str | None = None  # registry path / "current" / "walk-forward"
    model_dir: Path | None = None
    retrain_every_h: float = 24.0
    fast: bool = True  # skip cycles where provably nothing can happen (see fastpath)
    state_dir: Path | None = None  # None: in-memory state stores
    limits: Mapping[str, str] = field(default_factory=dict)  # RiskLimits overrides
    direct_member: bool = False  # fees cost $0.0001-rounded, not whole cents per order
    # issue 22: a fill needs a book recorded at most this many seconds before the order
    # arrives (None: twice the data's median recording interval, see runner.book_age_limit)
    max_book_age_s: float | None = None
    allow_in_sample: bool = False  # issue 22: allow --model spans overlapping its training
    # issue 18: where walk-forward retraining fits ("local" or "dask"; see models.training),
    # the Dask scheduler (None: a local cluster of train_jobs worker processes)
    train_backend: str = "local"
    train_scheduler: str | None = None
    train_jobs: int = 1
    # the trader's settings (risk limits, strategy settings such as the crypto volatility
    # model), as ``trade`` uses them; None: the built-in defaults. Build it with
    # ``backtest_settings`` so that no secret travels with the config (sweeps ship it).
    settings: Settings | None = None

    def with_params(self, **params: str) -> BacktestConfig:
        return replace(self, params={**self.params, **params})

    def validate(self) -> None:
        if self.interval_s <= 0:
            raise UserInputError("--interval must be positive (seconds)")
        if self.latency_s < 0:
            raise UserInputError("--latency must be >= 0 (seconds)")
        if not self.strategies:
            raise UserInputError("say which --strategy to backtest")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise UserInputError("--from must be before --to")
        if self.max_book_age_s is not None and not self.max_book_age_s > 0:
            raise UserInputError("--max-book-age must be positive (seconds)")
        if self.starting_cash <= 0:
            raise UserInputError("--cash must be positive")
