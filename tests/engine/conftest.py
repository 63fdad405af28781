"""Engine fixtures: generated sample data (once per session) and engines over it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshibot.clock import SimClock
from kalshibot.config import load_settings
from kalshibot.domain.money import Money
from kalshibot.engine import Engine, EngineConfig
from kalshibot.exchange import Exchange
from kalshibot.risk import RiskLimits, RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.sim.exchange import SimExchange
from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store.connection import atomic, connect
from kalshibot.store.runs import start_run
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams

SAMPLE_END = datetime(2026, 11, 20, tzinfo=UTC)
SIM_START = datetime(2026, 11, 19, 18, 1, tzinfo=UTC)


class FnStrategy:
    """A test strategy: ``fn(view) -> p_yes`` (or None) that the test controls."""

    name = "test"

    def __init__(self, fn: Callable[[MarketView], float | None]) -> None:
        self.fn = fn

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        out = []
        for v in views:
            p = self.fn(v)
            out.append(FairValue(p, "" if p is not None else "no opinion"))
        return out


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "data.sqlite"
    conn = connect(path)
    generate_sample(
        conn, SampleConfig(days=0.3, end=SAMPLE_END, series=("KXBTC15M",))
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@dataclass
class SimRig:
    engine: Engine
    clock: SimClock
    account: SimAccount
    exchange: SimExchange
    state_path: Path
    kill: Path


def build_engine(
    tmp: Path, exchange: Exchange, strategy: FnStrategy, now: datetime, *,
    series: Sequence[str] = ("KXBTC15M",), new_run: bool = True, run_id: str = "r1",
) -> Engine:
    conn = connect(tmp / "state.sqlite")
    if new_run:
        with atomic(conn):
            start_run(conn, run_id, mode="paper", exchange="sim", now=now)
    return Engine(
        conn=conn,
        exchange=exchange,
        strategy=strategy,
        params=StrategyParams(),
        risk=RiskManager(RiskLimits.from_settings(load_settings(env={}, dotenv_file=None))),
        config=EngineConfig(run_id, series=list(series), kill_switch_path=tmp / "KILL"),
        starting_cash=Money(10000),
        now=now,
    )


@pytest.fixture
def sim_rig(sample_db: Path, tmp_path: Path) -> Callable[[FnStrategy], SimRig]:
    def make(strategy: FnStrategy, start: datetime = SIM_START) -> SimRig:
        data_path = tmp_path / "data.sqlite"
        shutil.copy(sample_db, data_path)
        data = connect(data_path)
        clock = SimClock(start)
        acct = SimAccount(Money(10000))
        ex = SimExchange(data, clock, acct, series=["KXBTC15M"])
        eng = build_engine(tmp_path, ex, strategy, clock.now())
        return SimRig(eng, clock, acct, ex, tmp_path / "state.sqlite", tmp_path / "KILL")

    return make
