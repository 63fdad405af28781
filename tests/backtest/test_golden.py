"""Golden backtest: committed seeded data, statistics must match the stored values exactly."""

from __future__ import annotations

import json
from dataclasses import replace

from kalshibot.backtest import backtest
from tests.backtest.make_golden import EXPECTED, config


def test_golden_statistics_match_exactly() -> None:
    got = {r.run.strategy: r.stats.as_dict() for r in backtest(config())}
    assert got == json.loads(EXPECTED.read_text())


def test_fast_path_equals_full_engine_run() -> None:
    fast = backtest(config())[0]
    full = backtest(replace(config(), fast=False))[0]
    assert full.run.cycles_skipped == 0 and fast.run.cycles_skipped > 0
    key = [(f.ticker, f.side, f.action, f.price, f.count, f.fee, f.ts) for f in fast.run.fills]
    assert key == [(f.ticker, f.side, f.action, f.price, f.count, f.fee, f.ts)
                   for f in full.run.fills]
    assert fast.stats.as_dict() == full.stats.as_dict()
    approved = [(d.ts, d.ticker, d.side, d.edge, d.proposed_size) for d in fast.run.decisions
                if d.verdict.value == "approved"]
    assert approved == [(d.ts, d.ticker, d.side, d.edge, d.proposed_size)
                        for d in full.run.decisions if d.verdict.value == "approved"]


def test_pessimistic_fills_never_beat_optimistic_on_fill_count() -> None:
    from kalshibot.backtest import FillModel

    worst = backtest(replace(config(), fill=FillModel.preset("worst")))[0]
    pess = backtest(config())[0]
    assert worst.stats.fees >= pess.stats.fees or worst.stats.trades != pess.stats.trades
