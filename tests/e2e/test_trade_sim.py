"""End to end: `kalshibot data sample` then `kalshibot trade --exchange sim` for a few hundred
cycles, then check the store: every order has a decision with a reason, positions equal the sum
of fills, and cash + positions valued at settlement equal the reported P&L."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.domain.market import Result
from kalshibot.domain.money import ZERO, Money, Price
from kalshibot.domain.portfolio import Portfolio
from kalshibot.store.connection import connect
from kalshibot.store.fills import list_fills
from kalshibot.store.markets import get_market
from kalshibot.store.positions import load_positions
from kalshibot.store.settlements import list_settlements


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("KALSHIBOT_DATA_DIR", str(root / "data"))
    try:
        assert run(["data", "sample", "--days", "0.5", "--series", "KXBTC15M",
                    "--series", "KXETH15M", "--end", "2026-11-20T12:00Z"]) == 0
        import io
        from contextlib import redirect_stdout

        buf = io.StringIO()
        with redirect_stdout(buf):
            code = run(["trade", "--exchange", "sim", "--strategy", "crypto",
                        "--series", "KXBTC15M,KXETH15M", "--max-cycles", "400", "--fresh",
                        "--json"])
        assert code == 0
        summary = json.loads(buf.getvalue())
    finally:
        mp.undo()
    return root, summary


def test_session_ran_and_traded(sim_run: tuple[Path, dict]) -> None:
    _, summary = sim_run
    assert summary["cycles"] == 400
    assert summary["orders_sent"] > 0 and summary["fills"] > 0
    assert summary["errors"] == 0


def test_every_order_has_an_approved_decision_with_a_reason(sim_run: tuple[Path, dict]) -> None:
    root, _ = sim_run
    db = sqlite3.connect(root / "data" / "sim.sqlite")
    orders = db.execute("SELECT client_order_id, ticker, created_ts FROM orders").fetchall()
    assert orders
    for coid, ticker, ts in orders:
        row = db.execute("SELECT verdict, reason FROM decisions WHERE ticker = ? AND ts = ?",
                         (ticker, ts)).fetchone()
        assert row is not None, f"order {coid} has no decision"
        assert row[0] == "approved" and row[1], (coid, row)


def test_positions_equal_sum_of_fills_and_settlements(sim_run: tuple[Path, dict]) -> None:
    root, _ = sim_run
    conn = connect(root / "data" / "sim.sqlite", read_only=True)
    fills = list_fills(conn)
    pf = Portfolio(Money(0), {}).with_fills(sorted(fills, key=lambda f: f.ts))
    for s in list_settlements(conn):
        pf = pf.with_settlement(s.ticker, s.result, s.value)
    stored = load_positions(conn)
    for ticker, pos in pf.positions.items():
        assert stored[ticker].qty == pos.qty, ticker
        assert stored[ticker].cost == pos.cost, ticker
        assert stored[ticker].fees == pos.fees, ticker


def test_cash_plus_positions_at_settlement_equal_reported_pnl(sim_run: tuple[Path, dict]) -> None:
    root, summary = sim_run
    conn = connect(root / "data" / "sim.sqlite", read_only=True)
    data = connect(root / "data" / "paper.sqlite", read_only=True)
    start = Decimal(summary["start_equity"])
    # Cash recomputed independently from the fills and settlements tables.
    cash = start
    for f in list_fills(conn):
        adds = f.count.value * f.price.value
        cash += -adds if f.action.value == "buy" else adds
        cash -= f.fee.amount
    for s in list_settlements(conn):
        cash += s.revenue.amount
    last = conn.execute("SELECT cash, equity FROM equity ORDER BY ts DESC LIMIT 1").fetchone()
    assert cash == Decimal(last[0])
    # Open positions valued at their markets' recorded results.
    value = ZERO
    for ticker, pos in load_positions(conn, open_only=True).items():
        m = get_market(data, ticker)
        assert m is not None and m.result in (Result.YES, Result.NO)
        value += pos.market_value(Price(1) if m.result is Result.YES else Price(0)).amount
    realized = sum((p.realized_pnl.amount for p in load_positions(conn).values()), ZERO)
    fees = sum((p.fees.amount for p in load_positions(conn).values()), ZERO)
    open_cost = sum((p.cost.amount for p in load_positions(conn, open_only=True).values()), ZERO)
    # The accounting identity, all exact: final wealth at settlement - start
    #   == realized P&L + (settlement value - cost of open positions) - fees.
    assert cash + value - start == realized + (value - open_cost) - fees
    assert Decimal(summary["realized_pnl"]) == realized
    assert Decimal(summary["fees"]) == fees
