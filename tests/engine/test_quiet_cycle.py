"""``Engine.quiet_cycle`` == ``run_cycle`` for a cycle in which only marks change.

Two engines over copies of the same sample data buy once, then hold with no opinion (nothing
to do but mark the position). One runs every cycle in full; the other runs only the first and
replaces the rest by ``quiet_cycle`` with the books its venue shows. A tight drawdown
breaker trips during the hold: equity curves, breaker state and positions must be identical.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from kalshibot.clock import SimClock
from kalshibot.domain.book import OrderBook
from kalshibot.domain.money import Money
from kalshibot.engine import Engine
from kalshibot.risk import RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.sim.exchange import SimExchange
from kalshibot.store.connection import connect
from kalshibot.store.equity import equity_curve
from kalshibot.strategy.base import MarketView

from .conftest import SIM_START, FnStrategy, build_engine


def _buy_once(v: MarketView) -> float | None:
    return 0.99 if v.position.side is None and v.now == SIM_START else None


def _rig(sample_db: Path, tmp: Path) -> tuple[Engine, SimClock, SimExchange]:
    tmp.mkdir()
    shutil.copy(sample_db, tmp / "data.sqlite")
    clock = SimClock(SIM_START)
    ex = SimExchange(connect(tmp / "data.sqlite"), clock, SimAccount(Money(10000)),
                     series=["KXBTC15M"])
    eng = build_engine(tmp, ex, FnStrategy(_buy_once), clock.now())
    eng.risk = RiskManager(replace(eng.risk.limits, circuit_breaker_drawdown=Decimal("0.0001")))
    eng.breaker.drawdown = Decimal("0.0001")
    return eng, clock, ex


def test_quiet_cycles_track_equity_and_breaker_like_full_cycles(
    sample_db: Path, tmp_path: Path
) -> None:
    full, clock_a, _ = _rig(sample_db, tmp_path / "a")
    quiet, clock_b, ex_b = _rig(sample_db, tmp_path / "b")
    for eng, clock in ((full, clock_a), (quiet, clock_b)):
        eng.start(clock.now())
        eng.run_cycle(clock.now())
    held = [p.ticker for p in full.open_positions()]
    assert held, "the first cycle should have bought"
    for _ in range(40):
        clock_a.sleep(10)
        full.run_cycle(clock_a.now())
        clock_b.sleep(10)
        now = clock_b.now()
        shown: dict[str, OrderBook] = {}
        for t in held:
            b = ex_b._book(t, now)
            if b is not None:
                shown[t] = b
        with quiet.conn:
            quiet.quiet_cycle(now, shown)
    curve_a = [(p.ts, p.cash, p.equity, p.realized, p.unrealized, p.fees)
               for p in equity_curve(full.conn, run_id="r1")]
    curve_b = [(p.ts, p.cash, p.equity, p.realized, p.unrealized, p.fees)
               for p in equity_curve(quiet.conn, run_id="r1")]
    assert len(curve_a) == 41
    assert curve_a == curve_b
    assert len({p[2] for p in curve_a}) > 2  # the marks did move the equity
    assert full.breaker.state().tripped
    assert full.breaker.state().at > SIM_START.isoformat()  # tripped while holding
    assert quiet.breaker.state().tripped == full.breaker.state().tripped
    assert quiet.breaker.state().reason == full.breaker.state().reason
    assert quiet.open_positions() == full.open_positions()
