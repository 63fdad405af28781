"""Risk: one denial per check with its own reason; exits; never raises; persisted breaker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.config import load_settings
from kalshibot.domain.market import MarketStatus
from kalshibot.domain.money import Count, Money
from kalshibot.domain.orders import Side
from kalshibot.engine import StoreKV
from kalshibot.risk import (
    CircuitBreaker,
    RiskDecision,
    RiskLimits,
    RiskManager,
    RiskSnapshot,
    kill_switch_on,
)
from kalshibot.store.connection import connect

from .helpers import T0, book, market

D = Decimal
A = "KXA-26NOV19-E1-A"  # series KXA, event KXA-26NOV19-E1

LIMITS = RiskLimits(
    max_position_per_market=Money(100),
    max_portfolio_exposure=Money(300),
    max_exposure_per_event=Money(150),
    max_exposure_per_series=Money(200),
    max_daily_loss=Money(50),
    circuit_breaker_drawdown=D("0.2"),
    max_concurrent_positions=5,
    max_spread=D("0.10"),
    min_top_size=Count(5),
    min_seconds_to_close=60.0,
)


def snap(exposure: dict[str, int] | None = None, **kw: object) -> RiskSnapshot:
    exposure = exposure or {}
    ex = {t: Money(v) for t, v in exposure.items()}
    tickers = [*ex, A]
    return RiskSnapshot(
        ex,
        {t: t.rsplit("-", 1)[0] for t in tickers},
        {t: t.split("-", 1)[0] for t in tickers},
        kw.pop("day_pnl", Money(0)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def check(s: RiskSnapshot | None = None, *, cost: int | str = 10, is_exit: bool = False,
          limits: RiskLimits = LIMITS, **mkw: object) -> RiskDecision:
    b = mkw.pop("book", None) or book(A)
    m = market(A, **mkw)  # type: ignore[arg-type]
    return RiskManager(limits).check(
        market=m, book=b, now=T0, snap=s or snap(), side=Side.YES, cost=Money(D(str(cost))),
        is_exit=is_exit,
    )


def denied(d: RiskDecision, name: str, text: str) -> None:
    assert not d.approved, d
    assert d.check == name, d
    assert text in d.reason, d


def test_baseline_is_approved() -> None:
    assert check() == RiskDecision(True, "approved")


def test_kill_switch() -> None:
    denied(check(snap(kill_switch=True)), "kill_switch", "kill switch")


def test_circuit_breaker() -> None:
    d = check(snap(breaker_tripped=True, breaker_reason="drawdown 25%"))
    denied(d, "circuit_breaker", "drawdown 25%")


def test_daily_loss() -> None:
    denied(check(snap(day_pnl=Money(-50))), "daily_loss", "daily loss limit")
    assert check(snap(day_pnl=Money(D("-49.99")))).approved


def test_exchange_paused() -> None:
    denied(check(snap(trading_active=False)), "exchange_paused", "paused")


@pytest.mark.parametrize("status", [MarketStatus.CLOSED, MarketStatus.INITIALIZED,
                                    MarketStatus.FINALIZED])
def test_market_status(status: MarketStatus) -> None:
    denied(check(status=status), "market_status", f"market is {status.value}")


def test_time_to_close() -> None:
    denied(check(close_in=timedelta(seconds=59)), "time_to_close", "59s to close < 60s")
    assert check(close_in=timedelta(seconds=60)).approved


def test_spread() -> None:
    wide = book(A, yes=(("0.30", 100),), no=(("0.59", 100),))  # 0.30 / 0.41
    denied(check(book=wide), "spread", "spread 0.11 > max 0.10")
    one_sided = book(A, yes=(("0.30", 100),), no=())
    denied(check(book=one_sided), "spread", "one side of the book is empty")


def test_liquidity_at_touch() -> None:
    thin = book(A, no=(("0.50", 4),))  # 4 YES contracts offered at 0.50
    denied(check(book=thin), "liquidity", "4 contracts at the touch < 5")


def test_nothing_to_buy() -> None:
    denied(check(cost=0), "size", "nothing to buy")


def test_per_market_cap() -> None:
    denied(check(snap({A: 95}), cost=10), "market_cap", "market exposure $95.00 + $10.00")
    assert check(snap({A: 90}), cost=10).approved  # exactly at the cap is allowed


def test_max_concurrent_positions() -> None:
    others = {f"KXO{i}-26NOV19-E{i}-X": 1 for i in range(5)}
    denied(check(snap(others)), "max_positions", "5 markets open = max 5")
    # adding to a market already open is fine
    with_a = {**{f"KXO{i}-26NOV19-E{i}-X": 1 for i in range(4)}, A: 1}
    assert check(snap(with_a)).approved


def test_portfolio_cap() -> None:
    others = {f"KXO{i}-26NOV19-E{i}-X": 80 for i in range(3)}  # 240, other events/series
    denied(check(snap(others), cost=70), "portfolio_cap", "portfolio exposure $240.00 + $70.00")


def test_event_cap() -> None:
    sibling = "KXA-26NOV19-E1-B"  # same event as A
    denied(check(snap({sibling: 100}), cost=60), "event_cap", "event KXA-26NOV19-E1")


def test_series_cap() -> None:
    same_series = {"KXA-26NOV19-E8-X": 100, "KXA-26NOV19-E9-X": 50}  # other events, series KXA
    denied(check(snap(same_series), cost=60), "series_cap", "series KXA exposure $150.00")


def test_checks_run_in_documented_order() -> None:
    # Everything wrong at once: the kill switch wins, then the breaker, ...
    s = snap({A: 100}, kill_switch=True, breaker_tripped=True, day_pnl=Money(-100),
             trading_active=False)
    assert check(s, status=MarketStatus.CLOSED).check == "kill_switch"
    s2 = snap({A: 100}, breaker_tripped=True, day_pnl=Money(-100), trading_active=False)
    assert check(s2).check == "exchange_paused"
    s3 = snap({A: 100}, breaker_tripped=True, day_pnl=Money(-100))
    assert check(s3).check == "circuit_breaker"
    assert check(snap({A: 100}, day_pnl=Money(-100))).check == "daily_loss"


# --- exits ----------------------------------------------------------------------------
def test_exits_allowed_under_breaker_and_daily_loss() -> None:
    s = snap({A: 100}, breaker_tripped=True, breaker_reason="dd", day_pnl=Money(-500))
    assert check(s, cost=0, is_exit=True).approved
    # and past the caps / near close / on a wide book: an exit only reduces risk
    wide = book(A, yes=(("0.30", 1),), no=(("0.59", 1),))
    assert check(s, cost=0, is_exit=True, book=wide, close_in=timedelta(seconds=5)).approved


def test_exits_denied_by_kill_switch_and_closed_market() -> None:
    denied(check(snap(kill_switch=True), cost=0, is_exit=True), "kill_switch", "kill switch")
    denied(check(cost=0, is_exit=True, status=MarketStatus.CLOSED), "market_status", "closed")


def test_exits_denied_when_exchange_paused() -> None:
    # Regression: exits skipped the paused check and were sent to a paused exchange.
    denied(check(snap(trading_active=False), cost=0, is_exit=True), "exchange_paused", "paused")


# --- never raises ---------------------------------------------------------------------
GARBAGE = [
    dict(market=None, book=None, now=None, snap=None, side=None, cost=None),
    dict(snap="nonsense"),
    dict(cost=1.5),
    dict(cost=Money(D("NaN"))),
    dict(book=None),
    dict(now="2026-11-19"),
    dict(snap=RiskSnapshot({A: 5}, {}, {}, Money(0))),  # type: ignore[dict-item]
    dict(snap=RiskSnapshot({}, {}, {}, 0)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("bad", GARBAGE)
def test_check_never_raises(bad: dict) -> None:
    args = dict(market=market(A), book=book(A), now=T0, snap=snap(), side=Side.YES,
                cost=Money(10))
    args.update(bad)
    d = RiskManager(LIMITS).check(**args)
    assert isinstance(d, RiskDecision)
    assert not d.approved and d.check == "error" and "risk check failed" in d.reason


# --- room -----------------------------------------------------------------------------
def test_room_is_tightest_cap_and_never_negative() -> None:
    rm = RiskManager(LIMITS)
    m = market(A)
    assert rm.room(m, snap()) == Money(100)
    assert rm.room(m, snap({A: 30})) == Money(70)
    assert rm.room(m, snap({"KXA-26NOV19-E1-B": 120})) == Money(30)  # event
    assert rm.room(m, snap({"KXA-26NOV19-E9-B": 180})) == Money(20)  # series
    big = {f"KXO{i}-26NOV19-E{i}-X": 100 for i in range(3)}
    assert rm.room(m, snap(big)) == Money(0)
    assert rm.room(m, snap({A: 150})) == Money(0)


def test_limits_from_default_settings() -> None:
    lim = RiskLimits.from_settings(load_settings(env={}, dotenv_file=None))
    assert lim.max_position_per_market == Money(1000)
    assert lim.min_top_size == Count(1)


# --- circuit breaker ------------------------------------------------------------------
def test_breaker_survives_restart_and_only_reset_clears(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    conn = connect(path)
    br = CircuitBreaker(StoreKV(conn, T0), D("0.2"))
    assert not br.state().tripped
    br.trip("drawdown 30%", T0)
    conn.close()

    conn = connect(path)
    br = CircuitBreaker(StoreKV(conn, T0 + timedelta(days=1)), D("0.2"))
    st = br.state()
    assert st.tripped and st.reason == "drawdown 30%" and st.at == T0.isoformat()
    # a new day and a rising equity do not clear it
    assert br.update(Money(1_000_000), T0 + timedelta(days=1)).tripped
    conn.close()

    conn = connect(path)
    br = CircuitBreaker(StoreKV(conn, T0), D("0.2"))
    assert br.state().tripped
    br.reset()
    conn.close()
    conn = connect(path)
    assert not CircuitBreaker(StoreKV(conn, T0), D("0.2")).state().tripped
    conn.close()


def test_breaker_trips_on_drawdown_from_days_peak(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.sqlite")
    br = CircuitBreaker(StoreKV(conn, T0), D("0.2"))
    assert not br.update(Money(1000), T0).tripped
    assert not br.update(Money(1200), T0 + timedelta(minutes=1)).tripped
    assert not br.update(Money(961), T0 + timedelta(minutes=2)).tripped  # 19.9% below 1200
    st = br.update(Money(960), T0 + timedelta(minutes=3))  # 20% below 1200
    assert st.tripped and "drawdown" in st.reason
    assert br.day_start_equity(T0, Money(0)) == Money(1000)


def test_breaker_reset_does_not_retrip_on_the_old_peak(tmp_path: Path) -> None:
    # Regression: reset() left today's peak in the store, so the very next update re-tripped
    # at the same equity and `risk reset` could not resume trading for the rest of the day.
    conn = connect(tmp_path / "x.sqlite")
    br = CircuitBreaker(StoreKV(conn, T0), D("0.2"))
    br.update(Money(1000), T0)
    assert br.update(Money(700), T0 + timedelta(minutes=1)).tripped
    br.reset()
    assert not br.update(Money(700), T0 + timedelta(minutes=2)).tripped
    # and the drawdown is measured from equity at the reset
    assert not br.update(Money(561), T0 + timedelta(minutes=3)).tripped
    assert br.update(Money(560), T0 + timedelta(minutes=4)).tripped


def test_kill_switch_file(tmp_path: Path) -> None:
    p = tmp_path / "KILL"
    assert not kill_switch_on(p)
    p.touch()
    assert kill_switch_on(p)


def test_breaker_reason_prints_a_half_percent_threshold_as_such(tmp_path: Path) -> None:
    """Issue 19 item 12: a 0.5% threshold read "0%" on f6e3055 (fails there)."""
    conn = connect(tmp_path / "x.sqlite")
    br = CircuitBreaker(StoreKV(conn, T0), D("0.005"))
    assert not br.update(Money(10_000), T0).tripped
    st = br.update(Money(9_940), T0)
    assert st.tripped and st.reason.endswith(">= 0.5%"), st.reason
    assert "0.60%" in st.reason
