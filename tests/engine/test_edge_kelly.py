"""Edge-after-fees rule and Kelly sizing: hand-computed tables for YES and NO, with fees."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshibot.domain.fees import FeeType
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Side, TimeInForce
from kalshibot.domain.portfolio import Position
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams
from kalshibot.strategy.rules import NoTrade, Proposal, propose
from kalshibot.strategy.sizing import kelly_fraction, kelly_size

from .helpers import T0, book, market

D = Decimal
TK = "KXTEST-26NOV19-A"
TAKER_ONLY = StrategyParams(allow_passive=False)


def view(b=None, *, fee_type=FeeType.QUADRATIC, qty: int = 0, cost: str = "0") -> MarketView:
    m = market(TK, fee_type=fee_type)
    pos = Position(TK, Count(qty), Money(D(cost)))
    return MarketView(m, b or book(TK), T0, pos)


# --- entries: YES ---------------------------------------------------------------------
def test_yes_taker_edge_hand_computed() -> None:
    # YES bid 0.45, NO bid 0.50 -> YES ask 0.50. fee/contract = 0.07 * 0.5 * 0.5 = 0.0175.
    prop = propose(view(), FairValue(0.60), TAKER_ONLY)
    assert isinstance(prop, Proposal)
    assert (prop.side, prop.action, prop.time_in_force, prop.is_taker) == (
        Side.YES,
        Action.BUY,
        TimeInForce.IOC,
        True,
    )
    assert prop.limit == Price(D("0.50"))
    assert prop.market_price == Price(D("0.50"))
    assert prop.p_win == D("0.600000")
    assert prop.edge == D("0.0825")  # 0.60 - 0.50 - 0.0175
    assert "taker edge 0.0825" in prop.reason


def test_yes_taker_limit_walks_levels_while_edge_clears_min() -> None:
    # YES asks 0.50 (NO bid 0.50), 0.53 (NO bid 0.47), 0.58 (NO bid 0.42).
    b = book(TK, no=(("0.50", 10), ("0.47", 10), ("0.42", 10)))
    prop = propose(view(b), FairValue(0.60), TAKER_ONLY)
    assert isinstance(prop, Proposal)
    # 0.53: 0.60 - 0.53 - 0.07*0.53*0.47 = 0.052563 >= 0.02
    # 0.58: 0.60 - 0.58 - 0.07*0.58*0.42 = 0.002948 <  0.02  -> stop at 0.53
    assert prop.limit == Price(D("0.53"))
    assert prop.edge == D("0.052563")
    assert prop.market_price == Price(D("0.50"))


# --- entries: NO ----------------------------------------------------------------------
def test_no_taker_uses_one_minus_p_and_no_ask_is_one_minus_yes_bid() -> None:
    # NO ask = 1 - best YES bid (0.45) = 0.55; fee 0.07*0.55*0.45 = 0.017325.
    prop = propose(view(), FairValue(0.30), TAKER_ONLY)
    assert isinstance(prop, Proposal)
    assert prop.side is Side.NO and prop.action is Action.BUY and prop.is_taker
    assert prop.limit == Price(D("0.55"))
    assert prop.p_win == D("0.700000")
    assert prop.edge == D("0.132675")  # 0.70 - 0.55 - 0.017325


@pytest.mark.parametrize(
    ("p", "side", "edge"),
    [
        (0.60, Side.YES, D("0.0825")),
        (0.70, Side.YES, D("0.1825")),
        (0.30, Side.NO, D("0.132675")),
        (0.20, Side.NO, D("0.232675")),
    ],
)
def test_edge_table_yes_and_no(p: float, side: Side, edge: Decimal) -> None:
    prop = propose(view(), FairValue(p), TAKER_ONLY)
    assert isinstance(prop, Proposal)
    assert (prop.side, prop.edge) == (side, edge)


# --- passive bids, the maker fee and the adverse-selection allowance -------------------
# The default book is YES 0.45 / 0.50: half-spread 0.025, charged once (adverse_selection 1).
@pytest.mark.parametrize(
    ("fee_type", "edge"),
    [
        (FeeType.QUADRATIC, D("0.035")),  # 0.52 - 0.46 - 0.025: makers pay nothing
        # 0.52 - 0.46 - 0.0175*0.46*0.54 (=0.004347) - 0.025
        (FeeType.QUADRATIC_WITH_MAKER_FEES, D("0.030653")),
    ],
)
def test_passive_bid_inside_spread_uses_maker_fee_only_in_maker_fee_series(
    fee_type: FeeType, edge: Decimal
) -> None:
    # Taker edge at 0.50 is 0.52 - 0.50 - 0.0175 = 0.0025 < 0.02: rest a bid at 0.46 instead.
    prop = propose(view(fee_type=fee_type), FairValue(0.52), StrategyParams())
    assert isinstance(prop, Proposal)
    assert prop.side is Side.YES and not prop.is_taker
    assert prop.time_in_force is TimeInForce.GTC
    assert prop.limit == Price(D("0.46"))
    assert prop.market_price == Price(D("0.45"))
    assert prop.edge == edge


def test_no_passive_bid_when_spread_is_one_tick() -> None:
    b = book(TK, yes=(("0.49", 10),), no=(("0.50", 10),))  # YES 0.49 / 0.50
    res = propose(view(b), FairValue(0.515), StrategyParams())
    assert isinstance(res, NoTrade)


# --- no trade -------------------------------------------------------------------------
def test_no_trade_below_min_edge_reports_best_edge() -> None:
    res = propose(view(), FairValue(0.50), TAKER_ONLY)
    assert isinstance(res, NoTrade)
    # YES: 0.50 - 0.50 - 0.0175 = -0.0175; NO: 0.50 - 0.55 - 0.017325 = -0.067325
    assert res.best_edge == D("-0.0175")
    assert res.reason == "edge -0.0175 below min 0.02"


def test_no_trade_with_passive_allowed_reports_passive_edge() -> None:
    # YES passive at 0.46: 0.475 - 0.46 - 0.025 = -0.01; NO passive at 0.51: 0.525 - 0.51
    # - 0.025 = -0.01 (the half-spread is the adverse-selection allowance)
    res = propose(view(), FairValue(0.475), StrategyParams())
    assert isinstance(res, NoTrade)
    assert res.best_edge == D("-0.010")
    assert res.reason == "edge -0.0100 below min 0.02"


def test_adverse_selection_allowance_is_a_parameter() -> None:
    # 0.52 - 0.46 - 0 x 0.025 = 0.06 without allowance; 0.52 - 0.46 - 2 x 0.025 = 0.01 < min
    prop = propose(view(), FairValue(0.52), StrategyParams(adverse_selection=D(0)))
    assert isinstance(prop, Proposal) and prop.edge == D("0.06")
    assert isinstance(propose(view(), FairValue(0.52), StrategyParams(adverse_selection=D(2))),
                      NoTrade)


def test_edge_exactly_min_edge_trades() -> None:
    # YES taker edge: p - 0.50 - 0.0175 = 0.02 exactly at p = 0.5375
    prop = propose(view(), FairValue(0.5375), TAKER_ONLY)
    assert isinstance(prop, Proposal) and prop.edge == D("0.02")


def test_no_fair_value_and_entries_blocked() -> None:
    assert propose(view(), FairValue(None, "feed stale"), TAKER_ONLY) == NoTrade(TK, "feed stale")
    res = propose(view(), FairValue(0.9, "too close", allow_entry=False), TAKER_ONLY)
    assert isinstance(res, NoTrade) and res.reason == "too close"


# --- exits ----------------------------------------------------------------------------
def test_exit_yes_on_reversal() -> None:
    # Holding 10 YES; selling them at 0.45: fee 0.17325 -> 0.1733, charged $0.18 (whole cents
    # per order) = 0.018 per contract -> 0.432; p=0.40 -> reversed by 0.032
    prop = propose(view(qty=10, cost="5"), FairValue(0.40), StrategyParams())
    assert isinstance(prop, Proposal)
    assert (prop.side, prop.action, prop.time_in_force) == (Side.YES, Action.SELL, TimeInForce.IOC)
    assert prop.limit == Price(D("0.45"))
    assert prop.edge == D("0.032")
    assert "edge reversed" in prop.reason


def test_no_exit_when_reversal_smaller_than_min_edge_and_no_opposite_entry() -> None:
    # reversed by 0.432 - 0.42 = 0.012 < 0.02; NO would have edge but we hold YES.
    res = propose(view(qty=10, cost="5"), FairValue(0.42), StrategyParams())
    assert isinstance(res, NoTrade)


def test_exit_no_on_reversal() -> None:
    # Holding 10 NO; NO bid 0.50: fee 0.175 charged $0.18 = 0.018 per contract -> 0.482;
    # p=0.55 -> q=0.45 -> reversed by 0.032
    prop = propose(view(qty=-10, cost="5"), FairValue(0.55), StrategyParams())
    assert isinstance(prop, Proposal)
    assert (prop.side, prop.action) == (Side.NO, Action.SELL)
    assert prop.limit == Price(D("0.50"))
    assert prop.edge == D("0.032")


def test_exit_disabled_and_forced() -> None:
    no_exit = StrategyParams(exit_on_reversal=False, allow_passive=False)
    assert isinstance(propose(view(qty=10, cost="5"), FairValue(0.40), no_exit), NoTrade)
    forced = propose(view(qty=10, cost="5"), FairValue(0.60, "closing", force_exit=True), no_exit)
    assert isinstance(forced, Proposal) and forced.action is Action.SELL
    assert forced.reason == "exit yes: closing"


# --- Kelly ----------------------------------------------------------------------------
def test_kelly_fraction_hand_computed() -> None:
    cost = D("0.50") + D("0.07") * D("0.25")  # 0.5175
    assert cost == D("0.5175")
    assert kelly_fraction(D("0.6"), cost) == (D("0.6") - D("0.5175")) / (D("1") - D("0.5175"))
    # NO side: p_win = 1 - 0.30, cost = 0.55 + 0.017325
    assert kelly_fraction(D("0.70"), D("0.567325")) == D("0.132675") / D("0.432675")


@pytest.mark.parametrize(
    ("p", "cost"),
    [(D("0.5"), D("0.5175")), (D("0.5175"), D("0.5175")), (D("0.9"), D("1")), (D("0.9"), D("0"))],
)
def test_kelly_zero_without_edge(p: Decimal, cost: Decimal) -> None:
    assert kelly_fraction(p, cost) == 0
    res = kelly_size(
        p_win=p, cost=cost, equity=Money(10000), fraction=D("0.1"), room=Money(1000), depth=None
    )
    assert res.count == Count(0) and res.capped_by == "no edge"


def test_kelly_zero_equity() -> None:
    for eq in (Money(0), Money(-5)):
        res = kelly_size(
            p_win=D("0.6"), cost=D("0.5175"), equity=eq, fraction=D("0.1"),
            room=Money(1000), depth=None,
        )
        assert res.count == Count(0) and res.capped_by == "equity"


def _size(room: int | str, depth: int | None, fractional: bool = False):
    return kelly_size(
        p_win=D("0.6"),
        cost=D("0.5175"),
        equity=Money(10000),
        fraction=D("0.1"),
        room=Money(D(str(room))),
        depth=None if depth is None else Count(depth),
        fractional=fractional,
    )


def test_kelly_size_caps() -> None:
    # stake = 0.1 * (0.0825/0.4825) * 10000 = 170.98...; / 0.5175 = 330.40 contracts
    assert (_size(1000, None).count, _size(1000, None).capped_by) == (Count(330), "kelly")
    assert (_size(1000, 100).count, _size(1000, 100).capped_by) == (Count(100), "depth")
    # room 50 / 0.5175 = 96.618...
    assert (_size(50, 100).count, _size(50, 100).capped_by) == (Count(96), "room")
    assert _size(50, 100, fractional=True).count == Count(D("96.61"))
    assert _size(1000, None, fractional=True).count == Count(D("330.40"))
    assert _size(0, 100).count == Count(0) and _size(-10, 100).count == Count(0)
    assert _size(1000, 0).count == Count(0)


def test_kelly_size_never_exceeds_room_in_dollars() -> None:
    for room in ("0.52", "1.03", "7.77", "49.99", "100"):
        res = _size(room, None, fractional=True)
        assert res.count.value * D("0.5175") <= D(room)


def test_invalid_probability_is_no_trade_not_a_crash() -> None:
    """A strategy returning NaN or a value outside [0, 1] gets a NoTrade with the reason."""
    for bad in (float("nan"), 1.5, -0.1):
        out = propose(view(), FairValue(bad), StrategyParams())
        assert isinstance(out, NoTrade) and "invalid probability" in out.reason
