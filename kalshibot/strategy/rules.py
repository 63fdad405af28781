"""The one edge-after-fees rule that turns a fair value into an order proposal.

Buying side S (YES or NO) at price ``a`` with probability ``q`` that S wins earns, per contract,

    taker edge   = q - a - taker_fee(a)                            (dollars per contract)
    passive edge = q - b - maker_fee(b) - adverse_selection x (ask - bid) / 2

with q = p for YES and 1 - p for NO, fees from ``domain.fees``. Entries are screened here with
the marginal fee (the unrounded fee per contract, which no order pays less than); once sized
(``sizing.size_with_charged_fee``), the edge after ``charged_fee``, the fee an order of that size
is charged (whole cents per order unless a direct member), is what must clear ``min_edge``.

A marketable IOC is proposed at the highest price whose taker edge is still >= ``min_edge`` (so
the order may walk several levels but never past that price); otherwise, if allowed, a passive
GTC bid ``b`` one tick above the best bid (inside the spread) when its passive edge is
>= ``min_edge``. The passive edge is measured against the fair value, less an allowance for
adverse selection (a resting bid tends to be filled when the price moves against it),
``StrategyParams.adverse_selection`` half-spreads (1 by default): with p equal to the mid no bid
inside the spread has any edge, so nothing is proposed for any book. A passive bid needs a
two-sided book (the spread measures the allowance). A crossed or locked book (bid >= ask) is not
a market to price against: nothing is proposed.

A held position is closed (sold at the bid, IOC) when ``force_exit`` is set or the bid pays more
than the fair value by at least ``min_edge`` after the taker fee (the edge has reversed by more
than the cost of crossing). Exits use the fee charged on the position.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kalshibot.domain.fees import fee_per_contract, order_fee_per_contract
from kalshibot.domain.money import ONE, Count, Price
from kalshibot.domain.orders import Action, Side, TimeInForce
from kalshibot.domain.ticks import Rounding
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams, to_prob


@dataclass(frozen=True, slots=True)
class Proposal:
    """An order the strategy would like, before sizing and risk.

    ``limit``: price of ``side`` (the worst price accepted). ``p_win``: probability that the
    contract bought (or kept) wins. ``edge``: dollars per contract after fees at ``limit``.
    ``market_price``: the touch price the decision was based on.
    """

    ticker: str
    side: Side
    action: Action
    limit: Price
    p_win: Decimal
    edge: Decimal
    time_in_force: TimeInForce
    is_taker: bool
    market_price: Price
    reason: str


@dataclass(frozen=True, slots=True)
class NoTrade:
    """Why nothing is proposed for this market (recorded as a skipped decision)."""

    ticker: str
    reason: str
    p_yes: float | None = None
    best_edge: Decimal | None = None


def _fee(price: Price, view: MarketView, *, taker: bool) -> Decimal:
    """Marginal (unrounded) fee per contract; 0 while the market's fee waiver runs."""
    m = view.market
    if m.fee_schedule.waived(view.now):
        return Decimal(0)
    return fee_per_contract(price, is_taker=taker, fee_type=m.fee_type, multiplier=m.fee_multiplier)


def charged_fee(price: Price, count: Count, view: MarketView, params: StrategyParams, *,
                taker: bool) -> Decimal:
    """Fee per contract an order of ``count`` at ``price`` is charged (``order_fee``)."""
    return order_fee_per_contract(count, price, is_taker=taker,
                                  schedule=view.market.fee_schedule,
                                  direct_member=params.direct_member, at=view.now)


def taker_limit(q: Decimal, view: MarketView, side: Side, min_edge: Decimal) -> Price | None:
    """Highest grid price ``a`` of ``side`` with ``q - a - taker_fee(a) >= min_edge``, or None."""
    grid = view.market.tick_grid
    best = view.book.best_ask(side)
    if best is None:
        return None
    # Edge falls as the price rises (fee rises too below 0.5), so walk the asks up.
    limit: Price | None = None
    for level in view.book.asks(side):
        if q - level.price.value - _fee(level.price, view, taker=True) < min_edge:
            break
        limit = level.price
    if limit is None:
        return None
    return grid.round(limit, Rounding.DOWN) if not grid.is_valid(limit) else limit


def propose(view: MarketView, fv: FairValue, params: StrategyParams) -> Proposal | NoTrade:
    """Apply the edge rule for one market (see module docstring)."""
    tk = view.market.ticker
    if view.market.untradeable:
        return NoTrade(tk, f"not traded: {view.market.untradeable}", fv.p_yes)
    if fv.p_yes is None:
        return NoTrade(tk, fv.reason or "no fair value")
    try:
        p = to_prob(fv.p_yes)
    except ValueError:
        return NoTrade(tk, f"strategy gave an invalid probability {fv.p_yes!r}")
    spread = view.book.spread()
    if spread is not None and spread <= 0:
        return NoTrade(tk, f"book is crossed or locked (spread {spread}): not priced", fv.p_yes)
    held = view.position.side
    if held is not None:
        exit_prop = _exit(view, fv, p, held, params)
        if exit_prop is not None:
            return exit_prop
    if not fv.allow_entry:
        return NoTrade(tk, fv.reason or "entries not allowed", fv.p_yes)
    best: Proposal | None = None
    best_edge: Decimal | None = None
    for side in (Side.YES, Side.NO):
        if held is not None and side is not held:
            continue  # never open the opposite side while holding one (that would be an exit)
        q = p if side is Side.YES else ONE - p
        prop = _entry(view, side, q, params)
        if isinstance(prop, Proposal):
            if best is None or prop.edge > best.edge:
                best = prop
        elif prop is not None and (best_edge is None or prop > best_edge):
            best_edge = prop
    if best is not None:
        return best
    shown = f"{best_edge:.4f}" if best_edge is not None else "n/a"
    return NoTrade(tk, f"edge {shown} below min {params.min_edge}", fv.p_yes, best_edge)


def _entry(
    view: MarketView, side: Side, q: Decimal, params: StrategyParams
) -> Proposal | Decimal | None:
    """A buy of ``side`` or the best edge seen (Decimal) when none qualifies."""
    ask = view.book.best_ask(side)
    seen: Decimal | None = None
    if ask is not None:
        seen = q - ask.price.value - _fee(ask.price, view, taker=True)
        if params.allow_taker:
            limit = taker_limit(q, view, side, params.min_edge)
            if limit is not None:
                edge = q - limit.value - _fee(limit, view, taker=True)
                return Proposal(
                    view.market.ticker,
                    side,
                    Action.BUY,
                    limit,
                    q,
                    edge,
                    TimeInForce.IOC,
                    True,
                    ask.price,
                    f"buy {side.value}: p={q:.3f} ask {ask.price.to_str()} "
                    f"taker edge {seen:.4f} >= {params.min_edge}",
                )
    if params.allow_passive and ask is not None:
        bid = view.book.best_bid(side)
        grid = view.market.tick_grid
        if bid is not None and bid.price < grid.max_price:
            inside = grid.round(bid.price.shifted(Decimal("0.0001")), Rounding.UP)
            if inside is not None and inside < ask.price:
                allowance = params.adverse_selection * (ask.price - bid.price) / 2
                edge = q - inside.value - _fee(inside, view, taker=False) - allowance
                if edge >= params.min_edge:
                    return Proposal(
                        view.market.ticker,
                        side,
                        Action.BUY,
                        inside,
                        q,
                        edge,
                        TimeInForce.GTC,
                        False,
                        bid.price,
                        f"bid {side.value} inside spread at {inside.to_str()}: "
                        f"p={q:.3f} passive edge {edge:.4f} (adverse selection "
                        f"{allowance:.4f})",
                    )
                seen = edge if seen is None else max(seen, edge)
    return seen


def _exit(
    view: MarketView, fv: FairValue, p: Decimal, held: Side, params: StrategyParams
) -> Proposal | None:
    bid = view.book.best_bid(held)
    if bid is None:
        return None
    q = p if held is Side.YES else ONE - p
    proceeds = bid.price.value - charged_fee(bid.price, view.position.contracts, view, params,
                                             taker=True)
    reversed_by = proceeds - q
    if fv.force_exit or (params.exit_on_reversal and reversed_by >= params.min_edge):
        why = (
            fv.reason
            if fv.force_exit
            else (
                f"edge reversed: bid {bid.price.to_str()} after fee beats p={q:.3f} by "
                f"{reversed_by:.4f}"
            )
        )
        return Proposal(
            view.market.ticker,
            held,
            Action.SELL,
            bid.price,
            q,
            reversed_by,
            TimeInForce.IOC,
            True,
            bid.price,
            f"exit {held.value}: {why}",
        )
    return None
