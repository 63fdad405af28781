"""Fractional Kelly sizing for a binary contract, capped by limits and book depth.

Buying one contract at all-in cost ``c`` (price + fee per contract, dollars) that pays $1 with
probability ``p`` has the Kelly fraction of equity

    f* = (p - c) / (1 - c)            (0 when p <= c)

The Kelly stake is a *target holding*: ``kelly_fraction x f* x equity / c`` contracts, less what is
already held on that side (so re-deciding every cycle never stacks stakes beyond Kelly). The order
is then capped by the dollar room left under the risk limits and by the contracts available at the
limit price, and rounded **down** to whole contracts (or to 0.01 where fractional trading is on).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from kalshibot.domain.money import ONE, ZERO, Count, Money


@dataclass(frozen=True, slots=True)
class SizeResult:
    count: Count
    kelly_f: Decimal  # full-Kelly fraction of equity (before the fractional multiplier)
    capped_by: str  # "kelly", "room", "depth", "no edge" or "equity"

    @property
    def reason(self) -> str:
        return f"size {self.count} (f*={self.kelly_f:.4f}, limited by {self.capped_by})"


def kelly_fraction(p_win: Decimal, cost: Decimal) -> Decimal:
    """Full Kelly fraction of equity for a $1 binary bought at ``cost`` (0 if no edge)."""
    if not (ZERO < cost < ONE) or p_win <= cost:
        return ZERO
    return (p_win - cost) / (ONE - cost)


def kelly_size(
    *,
    p_win: Decimal,
    cost: Decimal,
    equity: Money,
    fraction: Decimal,
    room: Money,
    depth: Count | None,
    fractional: bool = False,
    held: Count | None = None,
) -> SizeResult:
    """Contracts to buy (>= 0). ``room``: dollars still allowed by the limits (>= 0);
    ``depth``: contracts available at or better than the limit (None = unlimited, e.g. passive);
    ``held``: contracts already held on the side being bought (>= 0)."""
    f = kelly_fraction(p_win, cost)
    if f <= 0:
        return SizeResult(Count(0), f, "no edge")
    if equity.amount <= 0:
        return SizeResult(Count(0), f, "equity")
    candidates = [
        (fraction * f * equity.amount / cost - (held.value if held else ZERO), "kelly"),
        (max(room.amount, ZERO) / cost, "room"),
    ]
    if depth is not None:
        candidates.append((max(depth.value, ZERO), "depth"))
    raw, why = min(candidates, key=lambda c: c[0])
    step = Decimal("0.01") if fractional else ONE
    n = (raw / step).to_integral_value(rounding=ROUND_DOWN) * step
    return SizeResult(Count(max(n, ZERO)), f, why)
