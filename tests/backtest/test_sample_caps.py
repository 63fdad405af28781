"""Issue 15: ``kalshibot data sample`` then ``kalshibot backtest`` stays within every cap.

The two commands run as a user runs them (default settings, default strategy); the exported
fills are then replayed through the portfolio in time order, with settlements at the
markets' close + the settle delay, and the money held per market, event, series and in total,
and the number of markets held, are checked against the default limits after every fill and
at the end. (On f6e3055 a reviewer's run ended holding $3,194.67 in one weather event against
the $2,000 event cap; the cycle-level checks of that bug are in tests/engine.)
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.config import load_settings
from kalshibot.domain.market import Result
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side
from kalshibot.domain.portfolio import Portfolio
from kalshibot.store.connection import connect
from kalshibot.store.markets import find_markets

D = Decimal


def test_sample_backtest_stays_within_every_cap(workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "sample", "--end", "2026-11-19T20:00Z"]) == 0
    capsys.readouterr()
    assert run(["backtest", "--json", "--export", str(workdir / "out")]) == 0
    doc = json.loads(capsys.readouterr().out)
    s = load_settings(env={}, dotenv_file=None)
    conn = connect(workdir / "data" / "paper.sqlite", read_only=True)
    markets = {m.ticker: m for m in find_markets(conn)}
    with (workdir / "out" / "trades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 50  # it traded
    events: list[tuple[datetime, int, object]] = []
    for r in rows:
        f = Fill(r["fill_id"], r["order_id"], r["ticker"], Side(r["side"]), Action(r["action"]),
                 Price(D(r["price"])), Count(D(r["count"])), Money(D(r["fee"])),
                 r["is_taker"] == "1", datetime.fromisoformat(r["ts"]))
        events.append((f.ts, 0, f))
    settle = timedelta(seconds=60)
    for m in markets.values():
        if m.result in (Result.YES, Result.NO):
            events.append((m.close_time + settle, 1, m))
    pf = Portfolio(Money(0), {})
    worst: dict[str, Decimal] = {}
    for _, kind, ev in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            pf = pf.with_fill(ev)  # type: ignore[arg-type]
        else:
            pf = pf.with_settlement(ev.ticker, ev.result)  # type: ignore[attr-defined]
        held = pf.open_positions()
        by_event: dict[str, Decimal] = {}
        by_series: dict[str, Decimal] = {}
        for p in held:
            m = markets[p.ticker]
            assert p.cost.amount <= s.max_position_per_market, p
            by_event[m.event_ticker] = by_event.get(m.event_ticker, D(0)) + p.cost.amount
            by_series[m.series_ticker] = by_series.get(m.series_ticker, D(0)) + p.cost.amount
        total = sum((p.cost.amount for p in held), D(0))
        assert max(by_event.values(), default=D(0)) <= s.max_exposure_per_event, by_event
        assert max(by_series.values(), default=D(0)) <= s.max_exposure_per_series, by_series
        assert total <= min(s.max_portfolio_exposure, s.capital_cap), total
        assert len(held) <= s.max_concurrent_positions, held
        worst["event"] = max(worst.get("event", D(0)), max(by_event.values(), default=D(0)))
    assert worst["event"] > 0
    end = doc["runs"][0]
    assert sum(D(u["cost"]) for u in end["unsettled"]) <= s.max_exposure_per_event
