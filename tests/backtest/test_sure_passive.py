"""The screen's "certain passive bid" agrees with the edge rule itself.

A flagged cycle may be skipped as "order already resting at this price" only when the screen
is certain which passive bid ``strategy.rules.propose`` would make. Over many random books and
fair values, whenever ``_sure_passive`` names a side and price, ``propose`` must return exactly
that passive bid; and it must name one often enough to matter.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from kalshibot.backtest.fastpath import MeanRevScreen
from kalshibot.domain.fees import TAKER_RATE, FeeType
from kalshibot.domain.orders import Action, Side
from kalshibot.domain.portfolio import Position
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams
from kalshibot.strategy.meanrev import MeanReversionStrategy
from kalshibot.strategy.rules import Proposal, propose
from tests.engine.helpers import T0, book, market


def _screen(params: StrategyParams) -> MeanRevScreen:
    return MeanRevScreen(MeanReversionStrategy(), params, None, [], T0,  # type: ignore[arg-type]
                         timedelta(seconds=10), 1, max_book_age=timedelta(minutes=5),
                         unknown_size=False)


@pytest.mark.parametrize(("fee_type", "min_edge", "allow_taker"),
                         [(FeeType.QUADRATIC, "0.02", True), (FeeType.QUADRATIC, "0.005", True),
                          (FeeType.QUADRATIC, "0.01", False),
                          (FeeType.QUADRATIC_WITH_MAKER_FEES, "0.02", True)])
def test_sure_passive_bids_are_what_the_edge_rule_proposes(fee_type: FeeType, min_edge: str,
                                                           allow_taker: bool) -> None:
    params = StrategyParams(min_edge=Decimal(min_edge), allow_taker=allow_taker)
    m = market(fee_type=fee_type)
    rng = np.random.default_rng(11)
    n = 4000
    bid_c = rng.integers(1, 97, size=n)
    ask_c = bid_c + rng.integers(1, 6, size=n)
    ask_c = np.minimum(ask_c, 99)
    keep = ask_c > bid_c
    bid_c, ask_c = bid_c[keep], ask_c[keep]
    n = len(bid_c)
    mean = (bid_c + ask_c) / 200.0 + rng.normal(0, 0.04, size=n)
    mean = np.clip(mean, 0.001, 0.999)
    bu, au = bid_c * 100, ask_c * 100
    seg = np.zeros(n, dtype=np.int64)
    side, px = _screen(params)._sure_passive(
        [m], seg, bu, au, mean, np.full(n, 3.0), np.full(n, 3600.0), au / 10000.0,
        bu / 10000.0, np.full(n, float(TAKER_RATE)))
    named = 0
    for i in range(n):
        if side[i] == 0:
            continue
        named += 1
        b = book(m.ticker, yes=((f"{bid_c[i] / 100:.2f}", 100),),
                 no=((f"{1 - ask_c[i] / 100:.2f}", 100),), ts=T0)
        view = MarketView(m, b, T0, Position(m.ticker))
        prop = propose(view, FairValue(float(mean[i]), "z beyond"), params)
        assert isinstance(prop, Proposal), (bid_c[i], ask_c[i], mean[i], prop)
        assert not prop.is_taker and prop.action is Action.BUY
        assert prop.side is (Side.YES if side[i] == 1 else Side.NO)
        assert int(prop.limit.value * 10000) == px[i]
    if fee_type is FeeType.QUADRATIC:
        assert named > n // 20
    else:
        assert named == 0  # maker fees: never certain


def test_not_certain_when_entries_are_closed_or_z_is_marginal() -> None:
    params = StrategyParams(min_edge=Decimal("0.02"))
    m = market()
    one = np.zeros(1, dtype=np.int64)
    # YES 0.40 / 0.43, mean 0.455: taker edge 0.455 - 0.43 - 0.0172 < 0.02; the passive bid
    # at 0.41 clears it after the half-spread allowance: 0.455 - 0.41 - 0.015 = 0.03
    args = (np.array([4000]), np.array([4300]), np.array([0.455]))
    rate = np.array([0.07])
    screen = _screen(params)
    ok = screen._sure_passive([m], one, *args, np.array([3.0]), np.array([600.0]),
                              np.array([0.43]), np.array([0.40]), rate)
    assert ok[0][0] == 1 and ok[1][0] == 4100, ok
    for z, tau in ((2.0, 600.0), (3.0, 120.0)):
        got = screen._sure_passive([m], one, *args, np.array([z]), np.array([tau]),
                                   np.array([0.43]), np.array([0.40]), rate)
        assert got[0][0] == 0
