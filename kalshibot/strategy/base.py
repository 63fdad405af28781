"""The strategy interface and the per-market view strategies read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import Market
from kalshibot.domain.portfolio import Position


@dataclass(frozen=True, slots=True)
class MarketView:
    """Everything known about one market at decision time ``now`` (nothing later)."""

    market: Market
    book: OrderBook
    now: datetime
    position: Position
    features: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FairValue:
    """A strategy's opinion of one market.

    ``p_yes``: probability YES wins (None = no opinion, see ``reason``). ``allow_entry`` False
    blocks new positions (e.g. too close to close); ``force_exit`` asks to close what is held.
    """

    p_yes: float | None
    reason: str = ""
    allow_entry: bool = True
    force_exit: bool = False


class Strategy(Protocol):
    """A named fair-value estimator, batched across markets for one cycle."""

    name: str

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]: ...


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """Trading rule parameters shared by all strategies (from settings or ``--strategy``)."""

    min_edge: Decimal = Decimal("0.02")  # dollars per contract after fees
    kelly_fraction: Decimal = Decimal("0.1")
    allow_taker: bool = True  # cross the spread (IOC) when the edge pays the taker fee
    allow_passive: bool = True  # otherwise rest a bid one tick inside the spread
    exit_on_reversal: bool = True
    # Charged against a resting bid's edge, in half-spreads of the book (adverse selection).
    adverse_selection: Decimal = Decimal(1)
    direct_member: bool = False  # fees cost $0.0001-rounded (else whole cents per order)


def to_prob(p: float) -> Decimal:
    """A float probability as an exact Decimal (6 places) for edge arithmetic."""
    if not 0.0 <= p <= 1.0 or p != p:
        raise ValueError(f"probability {p!r} is outside [0, 1]")
    return Decimal(f"{p:.6f}")
