"""Fractional Kelly sizing for a binary contract, capped by limits and book depth.

Buying one contract at all-in cost ``c`` (price + fee per contract, dollars) that pays $1 with
probability ``p`` has the Kelly fraction of equity

    f* = (p - c) / (1 - c)            (0 when p <= c)

The Kelly stake is a *target holding*: ``kelly_fraction x f* x equity / c`` contracts, less what is
already held on that side (so re-deciding every cycle never stacks stakes beyond Kelly). The order
is then capped by the dollar room left under the risk limits and by the contracts available at the
limit price, and rounded **down** to whole contracts (or to 0.01 where fractional trading is on).

``size_with_charged_fee`` does this with the fee an order is *charged* (``domain.fees.order_fee``:
whole cents per order for non-direct members), which per contract is larger for small orders,
and keeps the entry only if its edge after that fee still clears ``min_edge``.
"""

from __future__ import annotations

from collections.abc import Callable
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


#: Sizes tried below the Kelly size when rounding the fee to cents makes it miss ``min_edge``.
MAX_FEE_STEPS = 200


@dataclass(frozen=True, slots=True)
class ChargedSize:
    """An entry's size with the fee it is charged: ``edge`` dollars per contract after that
    fee at ``size.count``; ``reason`` says why nothing is bought when ``size.count`` is 0."""

    size: SizeResult
    edge: Decimal
    reason: str


def size_with_charged_fee(
    *,
    p_win: Decimal,
    price: Decimal,
    fee_per_contract: Callable[[Count], Decimal],
    marginal_fee: Decimal,
    min_edge: Decimal,
    equity: Money,
    fraction: Decimal,
    room: Money,
    depth: Count | None,
    fractional: bool = False,
    held: Count | None = None,
) -> ChargedSize:
    """Kelly size at the all-in cost ``price + fee_per_contract(n)`` (what an order of ``n``
    contracts is charged per contract: more than ``marginal_fee``, the unrounded fee per
    contract, for small orders, since non-direct members pay whole cents per order), then the
    largest size not above it whose edge ``p_win - price - fee_per_contract(n)`` still clears
    ``min_edge`` (0 if none)."""

    def size_at(n: Count | None) -> SizeResult:
        fee = fee_per_contract(n) if n else marginal_fee
        return kelly_size(p_win=p_win, cost=price + fee, equity=equity, fraction=fraction,
                          room=room, depth=depth, fractional=fractional, held=held)

    size = size_at(None)
    for _ in range(64):  # the charged cost only rises as n falls: stops at a fixed point
        if not size.count:
            break
        smaller = size_at(size.count)
        if smaller.count >= size.count:
            break
        size = smaller
    n = size.count
    if not n:
        return ChargedSize(size, p_win - price - marginal_fee, size.reason)
    step = Decimal("0.01") if fractional else ONE
    first = p_win - price - fee_per_contract(n)
    k = n.value
    for _ in range(MAX_FEE_STEPS):
        if k <= 0:
            break
        edge = p_win - price - fee_per_contract(Count(k))
        if edge >= min_edge:
            capped = size.capped_by if k == n.value else "fee rounding"
            return ChargedSize(SizeResult(Count(k), size.kelly_f, capped), edge, "")
        k -= step
    why = (f"edge {first:.4f} after the fee charged on {n} contracts is below min {min_edge}")
    return ChargedSize(SizeResult(Count(0), size.kelly_f, "fee rounding"), first, why)
