"""Issue 15: the money path keeps its promises within every cycle.

One regression test per reported case (1 caps within a cycle, 2 stale resting entries, 3 our
own orders in the book, 4 marks at exit value) plus the capital cap of issue 14. Each drives the
real ``Engine`` over an in-memory venue whose account is the shared ``SimAccount`` fill
simulator, and checks the venue's truth (what the account holds and has resting), not the
engine's own tables. Each test fails on f6e3055 (its docstring says how).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from kalshibot.clock import SimClock
from kalshibot.domain.book import OrderBook
from kalshibot.domain.fees import FeeSchedule, order_fee
from kalshibot.domain.market import ExchangeStatus, Market
from kalshibot.domain.money import ZERO, Count, Money, Price
from kalshibot.domain.orders import Action, OrderStatus, Side
from kalshibot.engine import Engine
from kalshibot.risk import RiskLimits, RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.sim.paper import PaperExchange
from kalshibot.store import orders as orders_repo
from kalshibot.strategy.base import MarketView

from .conftest import FnStrategy, build_engine
from .helpers import T0, FakeExchange, book, market, venue_exposure

D = Decimal


def limits(**over: object) -> RiskLimits:
    base = RiskLimits(
        max_position_per_market=Money(1000), max_portfolio_exposure=Money(5000),
        max_exposure_per_event=Money(2000), max_exposure_per_series=Money(3000),
        max_daily_loss=Money(500), circuit_breaker_drawdown=D("0.2"),
        max_concurrent_positions=5, max_spread=D("0.10"), min_top_size=Count(1),
        min_seconds_to_close=60.0)
    return replace(base, **over)  # type: ignore[arg-type]


def rig(tmp: Path, ex: FakeExchange, fn, lim: RiskLimits, series: Sequence[str]) -> Engine:  # noqa: ANN001
    eng = build_engine(tmp, ex, FnStrategy(fn), ex.now, series=series)
    eng.risk = RiskManager(lim)
    eng.breaker.drawdown = lim.circuit_breaker_drawdown
    return eng


def deep(ticker: str) -> OrderBook:
    """YES bid 0.45 x 100, YES ask 0.50 x 5000: a taker can buy thousands of dollars."""
    return book(ticker, yes=[("0.45", 100)], no=[("0.50", 5000)])


def truth(ex: FakeExchange) -> dict[str, Decimal]:
    return venue_exposure(ex.account)


def by(group: str, ms: Sequence[Market], exp: dict[str, Decimal]) -> dict[str, Decimal]:
    of = {m.ticker: getattr(m, group) for m in ms}
    out: dict[str, Decimal] = {}
    for t, v in exp.items():
        out[of[t]] = out.get(of[t], ZERO) + v
    return out


# --- case 1: caps within one cycle ---------------------------------------------------------
def test_event_cap_holds_across_the_orders_of_one_cycle(tmp_path: Path) -> None:
    """Four markets of one event, $600 event cap, every order an IOC that fills at once. On
    f6e3055 the snapshot after each order missed the fills (not open, not yet in the
    portfolio), so the cycle opened about $2,300 in the event."""
    ms = [market(f"KXEV-26NOV19-{c}", event="KXEV-26NOV19") for c in "ABCD"]
    ex = FakeExchange(ms, {m.ticker: deep(m.ticker) for m in ms})
    eng = rig(tmp_path, ex, lambda v: 0.9, limits(max_exposure_per_event=Money(600)), ["KXEV"])
    rep = eng.run_cycle(T0)
    assert rep.orders_sent >= 1
    exp = truth(ex)
    assert sum(exp.values(), ZERO) > 500  # it did trade up to the cap
    assert by("event_ticker", ms, exp)["KXEV-26NOV19"] <= 600


def test_portfolio_cap_and_position_count_hold_within_a_cycle(tmp_path: Path) -> None:
    """$1,500 portfolio cap and at most 2 positions over 4 markets of 4 events. On f6e3055
    one cycle opened $3,864 in 4 positions."""
    ms = [market(f"KXPF-26NOV19{c}-X") for c in "ABCD"]
    ex = FakeExchange(ms, {m.ticker: deep(m.ticker) for m in ms})
    lim = limits(max_portfolio_exposure=Money(1500), max_concurrent_positions=2)
    eng = rig(tmp_path, ex, lambda v: 0.9, lim, ["KXPF"])
    eng.run_cycle(T0)
    exp = truth(ex)
    assert 0 < len(exp) <= 2
    assert sum(exp.values(), ZERO) <= 1500


def test_an_order_whose_outcome_is_unknown_counts_at_its_full_cost(tmp_path: Path) -> None:
    """The answer to the first order is lost (it filled at the venue): the next market of the
    same event must see its full cost. On f6e3055 it blocked only its own market, and the
    event ended above its $600 cap."""
    ms = [market(f"KXUN-26NOV19-{c}", event="KXUN-26NOV19") for c in "AB"]
    ex = FakeExchange(ms, {m.ticker: deep(m.ticker) for m in ms})
    calls = {"n": 0}

    def first_answer_lost(_intent: object) -> None:
        calls["n"] += 1
        ex.lose_answer = calls["n"] == 1

    ex.before_place = first_answer_lost
    eng = rig(tmp_path, ex, lambda v: 0.9, limits(max_exposure_per_event=Money(600)), ["KXUN"])
    eng.run_cycle(T0)
    first = orders_repo.get_order(eng.conn, ex.place_calls[0].client_order_id)
    assert first is not None and first.status is OrderStatus.OUTCOME_UNKNOWN
    assert by("event_ticker", ms, truth(ex))["KXUN-26NOV19"] <= 600


def test_a_closed_unsettled_position_counts_in_its_series(tmp_path: Path) -> None:
    """A 15-minute market closes while held; until it settles its money is at risk, so the
    next market of the series gets only what is left of the $600 series cap. On f6e3055 the
    closed market had no series in the snapshot and the next one got the full cap."""
    a = market("KXSR15M-26NOV191200-00", close_in=timedelta(minutes=10))
    b = market("KXSR15M-26NOV191215-15", close_in=timedelta(minutes=25))
    ex = FakeExchange([a], {a.ticker: deep(a.ticker)})
    lim = limits(max_exposure_per_series=Money(600), max_exposure_per_event=Money(600))
    eng = rig(tmp_path, ex, lambda v: 0.9, lim, ["KXSR15M"])
    eng.run_cycle(T0)
    held = truth(ex)
    assert held and sum(held.values(), ZERO) > 400
    later = T0 + timedelta(minutes=11)  # a closed, not settled; b open
    ex.now = later
    ex.markets = {b.ticker: b}
    ex.books = {b.ticker: deep(b.ticker)}
    eng.cfg.discover_every = 1
    eng.run_cycle(later)
    assert sum(truth(ex).values(), ZERO) <= 600


# --- capital cap (issue 14 item 4) ----------------------------------------------------------
def test_capital_cap_bounds_what_is_committed_and_kelly(tmp_path: Path) -> None:
    """A $10 capital cap: the total committed never exceeds it and Kelly sizes from
    min(equity, cap). On f6e3055 the setting was never read ($148 committed)."""
    ms = [market(f"KXCC-26NOV19{c}-X") for c in "ABC"]
    ex = FakeExchange(ms, {m.ticker: deep(m.ticker) for m in ms})
    lim = limits(capital_cap=Money(10))
    eng = rig(tmp_path, ex, lambda v: 0.9, lim, ["KXCC"])
    rep = eng.run_cycle(T0)
    assert rep.orders_sent >= 1
    assert sum(truth(ex).values(), ZERO) <= 10
    assert lim.sizing_equity(Money(10000)) == Money(10)
    assert lim.sizing_equity(Money(7)) == Money(7)


# --- case 2: resting entries outlive their edge ----------------------------------------------
def _passive_book(t: str) -> OrderBook:
    """YES 0.40 bid / 0.50 ask: with p = 0.5 only a passive bid (0.41) has edge."""
    return book(t, yes=[("0.40", 300)], no=[("0.50", 300)])


def _resting_then(tmp_path: Path, then: float | None, then_book: OrderBook | None = None
                  ) -> tuple[FakeExchange, Engine]:
    t = "KXRS-26NOV19-A"
    ex = FakeExchange([market(t)], {t: _passive_book(t)})
    p: dict[str, float | None] = {"v": 0.5}
    eng = rig(tmp_path, ex, lambda v: p["v"], limits(), ["KXRS"])
    eng.run_cycle(T0)
    assert [o.price for o in ex.account.open_orders()] == [Price(D("0.41"))]
    p["v"] = then
    if then_book is not None:
        ex.books[t] = then_book
    ex.now = T0 + timedelta(seconds=5)
    eng.run_cycle(ex.now)
    return ex, eng


def test_a_resting_entry_is_cancelled_when_the_fair_value_goes_stale(tmp_path: Path) -> None:
    """No fair value (a stale feed): the resting bid must go in that same cycle. On f6e3055
    it stayed until the 2-minute stale cancel and filled as the book collapsed."""
    ex, eng = _resting_then(tmp_path, None)
    assert ex.account.open_orders() == []
    assert eng.orders.open_orders() == []


def test_a_resting_entry_is_cancelled_when_its_edge_is_gone(tmp_path: Path) -> None:
    """The book tightens to 0.49/0.51 around p = 0.5: no order has edge any more, so the
    resting $0.41 bid is cancelled at once. On f6e3055 it survived (the code returned before
    looking at the resting order when nothing was proposed)."""
    t = "KXRS-26NOV19-A"
    ex, _ = _resting_then(tmp_path, 0.5, book(t, yes=[("0.49", 300)], no=[("0.49", 300)]))
    assert ex.account.open_orders() == []


def test_a_resting_entry_is_cancelled_when_p_collapses(tmp_path: Path) -> None:
    """p falls to 0.05 (the issue's -$118.49 case): the YES bid must not survive (here f6e3055
    also re-priced it, into a NO bid; the stale-feed and tightened-book cases above failed)."""
    ex, _ = _resting_then(tmp_path, 0.05)
    assert all(o.side is not Side.YES for o in ex.account.open_orders())


def test_a_resting_entry_is_cancelled_when_its_book_is_gone(tmp_path: Path) -> None:
    """The market shows no book this cycle: no proposal can match the resting bid."""
    t = "KXRB-26NOV19-A"
    ex = FakeExchange([market(t)], {t: _passive_book(t)})
    eng = rig(tmp_path, ex, lambda v: 0.5, limits(), ["KXRB"])
    eng.run_cycle(T0)
    assert ex.account.open_orders()
    ex.books = {}
    eng.run_cycle(T0 + timedelta(seconds=5))
    assert ex.account.open_orders() == []


def test_a_matching_resting_entry_keeps_resting(tmp_path: Path) -> None:
    ex, _ = _resting_then(tmp_path, 0.5)
    assert [o.price for o in ex.account.open_orders()] == [Price(D("0.41"))]


# --- case 3: the bot bids against itself ------------------------------------------------------
class KalshiLikeBooks(FakeExchange):
    """Books as Kalshi serves them: our resting orders are in them (added here, independently
    of the code under test)."""

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        out = {}
        for t in tickers:
            b = self.books.get(t)
            if b is None:
                continue
            yes = {lv.price.value: lv.size.value for lv in b.yes_bids}
            no = {lv.price.value: lv.size.value for lv in b.no_bids}
            for o in self.account.open_orders(t):
                side, px = (o.side, o.price.value) if o.action is Action.BUY else (
                    o.side.other(), 1 - o.price.value)
                lv = yes if side is Side.YES else no
                lv[px] = lv.get(px, ZERO) + o.remaining_count.value
            out[t] = OrderBook.from_levels(
                t, [(Price(p), Count(n)) for p, n in yes.items()],
                [(Price(p), Count(n)) for p, n in no.items()], b.ts)
        return out


def test_the_bot_never_prices_against_its_own_resting_bid(tmp_path: Path) -> None:
    """Eight cycles on an unchanged market: one placement, no cancel, and the strategy never
    sees our own bid. On f6e3055 the bot saw its $0.41 as the best bid, wanted $0.42,
    cancelled itself: 4 placements and 4 cancels in 8 cycles."""
    t = "KXSELF-26NOV19-A"
    ex = KalshiLikeBooks([market(t)], {t: _passive_book(t)})
    seen: list[OrderBook] = []

    def fn(v: MarketView) -> float:
        seen.append(v.book)
        return 0.5

    eng = rig(tmp_path, ex, fn, limits(), ["KXSELF"])
    for i in range(8):
        ex.now = T0 + timedelta(seconds=5 * i)
        eng.run_cycle(ex.now)
    assert len(ex.place_calls) == 1
    assert len(ex.account.open_orders()) == 1
    cancelled = [r for r in orders_repo.list_orders(eng.conn) if r.status is OrderStatus.CANCELLED]
    assert cancelled == []
    assert all(b == _passive_book(t) for b in seen)


class StaticData:
    """Public market data that never changes (``MarketData`` for ``PaperExchange``)."""

    def __init__(self, ms: Sequence[Market], books: dict[str, OrderBook]) -> None:
        self.ms, self.books = list(ms), books

    def get_exchange_status(self) -> ExchangeStatus:
        return ExchangeStatus(True, True)

    def get_markets(self, *, series=(), tickers=(), event=None, status="open") -> list[Market]:  # noqa: ANN001
        return [m for m in self.ms if not tickers or m.ticker in tickers]

    def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, OrderBook]:
        return {t: self.books[t] for t in tickers if t in self.books}


def test_paper_venue_shows_our_resting_orders_like_kalshi(tmp_path: Path) -> None:
    """The paper venue presents Kalshi's public book with our simulated resting bid in it, as
    Kalshi would; the engine's one removal gives the strategy the public book back. On
    f6e3055 paper books never held our orders (so passive fill rates were overstated)."""
    t = "KXSHOW-26NOV19-A"
    clock = SimClock(T0)
    paper = PaperExchange(StaticData([market(t)], {t: _passive_book(t)}), clock,
                          SimAccount(Money(10000)))
    seen: list[OrderBook] = []

    def fn(v: MarketView) -> float:
        seen.append(v.book)
        return 0.5

    eng = build_engine(tmp_path, paper, FnStrategy(fn), T0, series=["KXSHOW"])
    eng.run_cycle(T0)
    clock.sleep(5)
    top = paper.get_orderbooks([t])[t].best_bid(Side.YES)
    assert top is not None and top.price == Price(D("0.41"))
    eng.run_cycle(clock.now())
    assert len(paper.account.orders) == 1  # kept resting, never re-priced against itself
    assert seen == [_passive_book(t)] * 2


# --- case 4: marks flatter the account ----------------------------------------------------------
def test_equity_marks_positions_at_their_exit_value(tmp_path: Path) -> None:
    """Bought at $0.50 with the bid at $0.40: equity is cash + contracts x 0.40 less the exit
    fee, not the mid. When the YES bid side vanishes the position is worth 0 now and the 20%
    breaker trips. On f6e3055 equity was marked at the mid and kept the old mid when a side
    vanished (34% below the peak with the breaker still "ok")."""
    t = "KXMARK-26NOV19-A"
    start = book(t, yes=[("0.40", 100)], no=[("0.50", 5000)])
    ex = FakeExchange([market(t)], {t: start})
    p = {"v": 0.9}
    eng = rig(tmp_path, ex, lambda v: p["v"], limits(circuit_breaker_drawdown=D("0.05")),
              ["KXMARK"])
    eng.run_cycle(T0)
    pos = eng.portfolio.positions[t]
    n = pos.contracts
    assert n.value > 0
    p["v"] = 0.45  # hold: no more edge, no reversal
    ex.now = T0 + timedelta(seconds=5)
    rep = eng.run_cycle(ex.now)
    exit_now = Money(n.value * D("0.40")) - order_fee(n, Price(D("0.40")), is_taker=True,
                                                     schedule=FeeSchedule())
    assert rep.equity == eng.portfolio.cash + exit_now
    ex.books[t] = book(t, yes=[], no=[("0.50", 5000)])  # nobody bids for YES
    ex.now = T0 + timedelta(seconds=10)
    rep = eng.run_cycle(ex.now)
    assert rep.equity == eng.portfolio.cash
    assert rep.breaker != "ok"


def test_a_market_without_a_book_keeps_its_last_exit_value(tmp_path: Path) -> None:
    """No book this cycle (a fetch failed, the market closed): the position keeps the exit
    value of its last book; a position never seen with a book (e.g. after a restart) counts
    at cost until one is seen."""
    t = "KXKEEP-26NOV19-A"
    ex = FakeExchange([market(t)], {t: book(t, yes=[("0.40", 100)], no=[("0.50", 5000)])})
    p = {"v": 0.9}
    eng = rig(tmp_path, ex, lambda v: p["v"], limits(), ["KXKEEP"])
    eng.run_cycle(T0)
    p["v"] = 0.45
    before = eng.run_cycle(T0 + timedelta(seconds=5)).equity
    ex.books = {}
    assert eng.run_cycle(T0 + timedelta(seconds=10)).equity == before
    eng.conn.close()
    again = build_engine(tmp_path, ex, FnStrategy(lambda v: None), T0, series=["KXKEEP"],
                         new_run=False)
    pos = again.portfolio.positions[t]
    assert again.equity() == again.portfolio.cash + pos.cost
