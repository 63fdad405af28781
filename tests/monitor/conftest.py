"""A prepared trading store (real SQLite file, built with the store repositories) and settings.

Everything happens at fixed times around ``T0`` so documents are deterministic; tests move an
injected ``SimClock`` to make heartbeats stale.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.clock import SimClock
from kalshibot.config import Settings, load_settings
from kalshibot.domain.book import OrderBook
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, OrderIntent, OrderStatus, Side
from kalshibot.domain.portfolio import Position
from kalshibot.monitor.logging import REDACTOR, teardown_logging
from kalshibot.store import registry as registry_repo
from kalshibot.store.books import save_books
from kalshibot.store.connection import atomic, connect
from kalshibot.store.decisions import Decision, Verdict, record_decisions
from kalshibot.store.equity import EquityPoint, record_equity
from kalshibot.store.fills import insert_fills
from kalshibot.store.kv import kv_set
from kalshibot.store.orders import create_order, update_order
from kalshibot.store.positions import save_positions
from kalshibot.store.runs import Heartbeat, heartbeat, start_run

T0 = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
TICKER = "KXTEST-26NOV19-A"
D = Decimal


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Each test starts without our handlers and registered secrets, and leaves none."""
    teardown_logging()
    saved = set(REDACTOR.secrets)
    yield
    teardown_logging()
    REDACTOR.secrets.clear()
    REDACTOR.secrets |= saved
    logging.getLogger("kalshibot").setLevel(logging.NOTSET)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """KALSHIBOT_* environment pointing every folder into tmp_path (also set in os.environ)."""
    for k in list(os.environ):
        if k.upper().startswith("KALSHIBOT_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    values = {"KALSHIBOT_DATA_DIR": str(tmp_path / "data"),
              "KALSHIBOT_LOG_DIR": str(tmp_path / "logs"),
              "KALSHIBOT_MODEL_DIR": str(tmp_path / "models")}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env=env, dotenv_file=None)


@dataclass
class Prepared:
    path: Path
    conn: sqlite3.Connection
    settings: Settings

    def close(self) -> None:
        self.conn.close()


def build_store(path: Path, *, errors: int = 0, model_age: timedelta = timedelta(hours=2),
                strategy: str = "edge", ended: bool = False,
                equity_now: Decimal = D("10001.2500")) -> sqlite3.Connection:
    """A paper store: one run with heartbeats, a fill, an open position with a book mark,
    a resting order, decisions, equity points (yesterday and today) and a current model."""
    conn = connect(path)
    with atomic(conn):
        start_run(conn, "paper-r1", mode="paper", exchange="paper", now=T0 - timedelta(hours=1),
                  config={"strategy": strategy, "series": ["KXTEST"], "tickers": []})
        for i, ago in enumerate((90, 60, 30)):
            heartbeat(conn, Heartbeat("paper-r1", T0 - timedelta(seconds=ago), 40 + i, 850, 3,
                                      1 if i == 2 else 0, errors if i == 2 else 0,
                                      "order books: timeout" if errors and i == 2 else None))
        kv_set(conn, "account.starting_cash", "10000.0000", now=T0 - timedelta(days=2))
        kv_set(conn, "risk.start_equity.2026-11-19", "10000.5000", now=T0 - timedelta(hours=12))
        for ts, cash, eq, real, unreal, fees in (
            (T0 - timedelta(days=1), "10000.5000", "10000.5000", "0.5000", "0", "0.0100"),
            (T0 - timedelta(minutes=20), "9995.9827", "10000.4827", "0.5000", "0", "0.0273"),
            (T0 - timedelta(seconds=30), "9995.9827", str(equity_now), "0.5000",
             format(equity_now - D("9995.9827") - D("4.5000"), "f"), "0.0273"),
        ):
            record_equity(conn, EquityPoint(ts, Money(D(cash)), Money(D(eq)), Money(D(real)),
                                            Money(D(unreal)), Money(D(fees)), "paper-r1"))
        intent = OrderIntent(TICKER, Side.YES, Action.BUY, Price(D("0.45")), Count(D(10)),
                             "kb-filled-1")
        create_order(conn, intent, strategy=strategy, now=T0 - timedelta(minutes=21))
        update_order(conn, "kb-filled-1", now=T0 - timedelta(minutes=20), order_id="ord-1",
                     status=OrderStatus.EXECUTED, filled=Count(D(10)), fees=Money(D("0.0173")))
        insert_fills(conn, [Fill("fill-1", "ord-1", TICKER, Side.YES, Action.BUY,
                                 Price(D("0.45")), Count(D(10)), Money(D("0.0173")), True,
                                 T0 - timedelta(minutes=20), "kb-filled-1")], strategy=strategy)
        rest = OrderIntent(TICKER, Side.YES, Action.BUY, Price(D("0.40")), Count(D(5)),
                           "kb-resting-2")
        create_order(conn, rest, strategy=strategy, now=T0 - timedelta(minutes=5))
        update_order(conn, "kb-resting-2", now=T0 - timedelta(minutes=5), order_id="ord-2",
                     status=OrderStatus.RESTING)
        save_positions(conn, [Position(TICKER, Count(D(10)), Money(D("4.5000")),
                                       Money(D("0")), Money(D("0.0173"))),
                              Position("KXOLD-26NOV18-B", Count(D(0)), Money(D(0)),
                                       Money(D("0.5000")), Money(D("0.0100")))],
                       now=T0 - timedelta(minutes=20))
        save_books(conn, [OrderBook.from_levels(
            TICKER, [(Price(D("0.45")), Count(D(100)))], [(Price(D("0.50")), Count(D(100)))],
            T0 - timedelta(seconds=30))], ts=T0 - timedelta(seconds=30))
        record_decisions(conn, [
            Decision("paper-r1", 42, T0 - timedelta(seconds=30), TICKER, strategy,
                     Verdict.SKIPPED, "order already resting at this price", 0.58,
                     D("0.50"), "yes", D("0.0650"), None),
            Decision("paper-r1", 42, T0 - timedelta(seconds=30), "KXTEST-26NOV19-B", strategy,
                     Verdict.SKIPPED, "edge 0.0040 < min 0.02 after fees", 0.31, D("0.30"),
                     None, None, None),
            Decision("paper-r1", 41, T0 - timedelta(seconds=60), "KXTEST-26NOV19-C", strategy,
                     Verdict.DENIED, "spread 0.15 > max 0.10", 0.7, D("0.60"), "yes",
                     D("0.0800"), D("12")),
        ])
        if ended:
            from kalshibot.store.runs import end_run

            end_run(conn, "paper-r1", now=T0 - timedelta(seconds=20), reason="SIGTERM")
    registry_repo.register_model(conn, "model-2026-11-19", "models/model-2026-11-19",
                                 created=T0 - model_age, metrics={"brier": 0.21, "rows": 1200})
    return conn


@pytest.fixture
def prepared(settings: Settings) -> Iterator[Callable[..., Prepared]]:
    made: list[Prepared] = []

    def make(**kw: object) -> Prepared:
        path = settings.database_path
        p = Prepared(path, build_store(path, **kw), settings)  # type: ignore[arg-type]
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimClock:
    """The injected clock of the CLI commands, at T0."""
    from kalshibot.cli import status_cmd

    c = SimClock(T0)
    monkeypatch.setattr(status_cmd, "_clock", lambda: c)
    return c
