"""`backtest` runs with the trader's settings, as `trade` does (issue 22: backtests run exactly
what trades).

On f6e3055 (and until this change) the backtest ignored the environment and `.env`: its risk
limits and strategy settings were the built-in defaults (``load_settings(env={})``), so a trader
with a $50 per-market limit backtested with $1,000 and saw positions `trade` would never take.
This test fails there (no `risk_limits` in the JSON; the fills hold more than $50 in one market).
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side
from kalshibot.domain.portfolio import Portfolio

D = Decimal


def _largest_position_cost(path: Path) -> Decimal:
    """The most money held in one market at any point, replaying the exported fills."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "the backtest traded nothing"
    fills = sorted((Fill(r["fill_id"], r["order_id"], r["ticker"], Side(r["side"]),
                         Action(r["action"]), Price(D(r["price"])), Count(D(r["count"])),
                         Money(D(r["fee"])), r["is_taker"] == "1",
                         datetime.fromisoformat(r["ts"])) for r in rows),
                   key=lambda f: f.ts)
    pf = Portfolio(Money(0), {})
    worst = D(0)
    for f in fills:
        pf = pf.with_fill(f)
        for p in pf.open_positions():
            worst = max(worst, p.cost.amount)
    return worst


def test_backtest_honours_the_traders_limits(workdir: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "sample", "--days", "1", "--end", "2026-11-19T20:00Z"]) == 0
    assert run(["backtest", "--json", "--export", str(workdir / "default")]) == 0
    capsys.readouterr()
    assert _largest_position_cost(workdir / "default" / "trades.csv") > 50  # the limit binds

    monkeypatch.setenv("KALSHIBOT_MAX_POSITION_PER_MARKET", "50")
    assert run(["backtest", "--json", "--export", str(workdir / "mine")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["risk_limits"]["max_position_per_market"] == "50"
    assert _largest_position_cost(workdir / "mine" / "trades.csv") <= 50


def test_no_secret_travels_with_a_backtest_config(workdir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from kalshibot.backtest.config import backtest_settings
    from kalshibot.config import load_settings

    monkeypatch.setenv("KALSHIBOT_API_KEY_ID", "key-id-123")
    monkeypatch.setenv("KALSHIBOT_TELEGRAM_BOT_TOKEN", "tok")
    monkeypatch.setenv("KALSHIBOT_TELEGRAM_CHAT_ID", "1")
    monkeypatch.setenv("KALSHIBOT_MAX_POSITION_PER_MARKET", "50")
    s = backtest_settings(load_settings())
    assert s.api_key_id is None and s.telegram_bot_token is None
    assert s.max_position_per_market == 50
