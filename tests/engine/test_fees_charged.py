"""Issue 15 case 5: edge, Kelly sizing and every simulated fill use the fee Kalshi *charges*
(per fill rounded up to $0.0001; for non-direct members whole cents per order)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.config import load_settings
from kalshibot.domain.fees import FeeSchedule, FeeType
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, OrderIntent, Side, TimeInForce
from kalshibot.engine import Engine, EngineConfig
from kalshibot.risk import RiskLimits, RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.store.connection import atomic, connect
from kalshibot.store.runs import start_run
from kalshibot.strategy.base import StrategyParams

from .conftest import FnStrategy
from .helpers import T0, FakeExchange, book, market

D = Decimal
TK = "KXTEST-26NOV19-A"


def _buy(ticker: str, price: str, count: int, coid: str) -> OrderIntent:
    return OrderIntent(ticker, Side.YES, Action.BUY, Price(price), Count(count), coid,
                       TimeInForce.IOC)


@pytest.mark.parametrize(("price", "no_bid", "charged"), [("0.50", "0.50", "0.02"),
                                                          ("0.05", "0.95", "0.01")])
def test_simulated_1_lot_pays_whole_cents(price: str, no_bid: str, charged: str) -> None:
    """A 1-lot at $0.50 is charged $0.02 (modelled $0.0175 on f6e3055), at $0.05 $0.01
    (modelled $0.0034). Fails on f6e3055: the sim charged the $0.0001-rounded fee."""
    acct = SimAccount(Money(100))
    b = book(TK, yes=(("0.01", 10),), no=((no_bid, 10),))
    ack = acct.place(_buy(TK, price, 1, "c1"), b, T0)
    assert ack.filled_count == Count(1)
    assert acct.fills[-1].fee == Money(charged)
    assert acct.cash == Money(100) - Money(price) - Money(charged)


def test_order_filled_in_pieces_pays_the_order_total_rounded_to_the_cent() -> None:
    """Two levels, one order: fees 4 x 0.0175 = 0.07 -> $0.07 in all, not 2 x $0.04."""
    acct = SimAccount(Money(100))
    b = book(TK, yes=(("0.01", 10),), no=(("0.50", 2), ("0.49", 2)))  # YES asks 0.50, 0.51
    acct.place(_buy(TK, "0.51", 4, "c1"), b, T0)
    # 2 @ 0.50: 0.035 -> $0.04; 2 @ 0.51: 0.034986 -> 0.0350; total 0.0700 -> $0.07
    assert [f.fee for f in acct.fills] == [Money("0.04"), Money("0.03")]


def test_direct_member_and_waiver_in_the_sim() -> None:
    acct = SimAccount(Money(100), direct_member=True)
    acct.place(_buy(TK, "0.50", 1, "c1"), book(TK), T0)
    assert acct.fills[-1].fee == Money("0.0175")
    waived = SimAccount(Money(100))
    waived.fees = lambda _t: FeeSchedule(waiver_until=T0.replace(hour=T0.hour + 1))
    waived.place(_buy(TK, "0.50", 1, "c2"), book(TK), T0)
    assert waived.fills[-1].fee == Money(0)


def _engine(tmp: Path, cash: str, p: float, *, direct: bool = False) -> tuple[Engine,
                                                                                FakeExchange]:
    acct = SimAccount(Money(D(cash)), direct_member=direct)
    ex = FakeExchange([market(TK)], {TK: book(TK)}, acct)  # YES ask 0.50 x 100
    conn = connect(tmp / "state.sqlite")
    with atomic(conn):
        start_run(conn, "r1", mode="paper", exchange="fake", now=T0)
    eng = Engine(conn=conn, exchange=ex, strategy=FnStrategy(lambda v: p),
                 params=StrategyParams(allow_passive=False, direct_member=direct),
                 risk=RiskManager(RiskLimits.from_settings(load_settings(env={},
                                                                         dotenv_file=None))),
                 config=EngineConfig("r1", kill_switch_path=tmp / "KILL"),
                 starting_cash=Money(D(cash)), now=T0)
    return eng, ex


def test_small_account_does_not_buy_a_1_lot_whose_charged_edge_is_below_min(
        tmp_path: Path) -> None:
    """$200 equity, p = 0.5376, YES ask $0.50: the modelled edge 0.5376 - 0.50 - 0.0175 =
    0.0201 clears min_edge 0.02, Kelly buys 1, and that 1-lot is charged $0.02, so its real
    edge is 0.0176 < 0.02. Fails on f6e3055 (it bought 1 at $0.50)."""
    eng, ex = _engine(tmp_path, "200", 0.5376)
    eng.start(T0)
    rep = eng.run_cycle(T0)
    assert ex.place_calls == []
    assert rep.orders_sent == 0
    reason = eng.conn.execute("SELECT reason, edge FROM decisions").fetchone()
    assert "0.0176" in reason[0] and "below min" in reason[0], reason
    assert D(str(reason[1])) == D("0.0176")


def test_the_same_edge_trades_for_a_direct_member(tmp_path: Path) -> None:
    eng, ex = _engine(tmp_path, "200", 0.5376, direct=True)
    eng.start(T0)
    assert eng.run_cycle(T0).orders_sent == 1
    assert [i.count for i in ex.place_calls] == [Count(1)]
    assert ex.account.fills[-1].fee == Money("0.0175")


def test_size_where_cent_rounding_still_pays_is_kept(tmp_path: Path) -> None:
    """With more equity Kelly buys enough that the charged fee per contract falls back to
    0.0175 (4, 20, ... contracts at $0.50): the order goes out, at a size whose charged edge
    clears min_edge, and the decision records that charged edge."""
    eng, ex = _engine(tmp_path, "2000", 0.5376)
    eng.start(T0)
    assert eng.run_cycle(T0).orders_sent == 1
    (n,) = [i.count.value for i in ex.place_calls]
    fee = ex.account.fills[-1].fee.amount
    assert D("0.5376") - D("0.50") - fee / n >= D("0.02")
    edge = D(str(eng.conn.execute("SELECT edge FROM decisions").fetchone()[0]))
    assert edge == D("0.5376") - D("0.50") - fee / n


def test_maker_fee_types_in_the_sim_fill() -> None:
    acct = SimAccount(Money(100))
    acct.fees = lambda _t: FeeSchedule(FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES)
    b = book(TK)
    intent = OrderIntent(TK, Side.YES, Action.BUY, Price("0.46"), Count(10), "c1",
                         TimeInForce.GTC)
    acct.place(intent, b, T0)
    fills = acct.on_book(book(TK, yes=(("0.45", 100),), no=(("0.50", 100), ("0.53", 10))), T0)
    # NO bid 0.53 = YES ask 0.47 does not cross 0.46; a YES ask at 0.45 does
    assert fills == []
    fills = acct.on_book(book(TK, yes=(("0.40", 100),), no=(("0.55", 20),)), T0)
    # 10 @ 0.46 as maker: 0.035 * 10 * 0.46 * 0.54 = 0.08694 -> 0.0870 -> $0.09
    assert [f.fee for f in fills] == [Money("0.09")]
