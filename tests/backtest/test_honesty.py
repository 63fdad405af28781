"""Lookahead check catches a leaky strategy; honest strategies pass; real window end to end;
CLI smoke."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from kalshibot.backtest import FillModel, backtest
from kalshibot.cli.main import run as cli
from kalshibot.strategy.base import FairValue, MarketView, Strategy
from kalshibot.strategy.registry import REGISTRY, StrategyContext, register
from tests.backtest.make_golden import DB, config
from tests.conftest import shared_path


class LeakyStrategy:
    """Cheats: reads each market's recorded result from the data store before it settles."""

    name = "leaky"

    def __init__(self, ctx: StrategyContext) -> None:
        self.data = ctx.data

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        out = []
        for v in views:
            row = self.data.execute("SELECT result FROM markets WHERE ticker = ?",
                                    (v.market.ticker,)).fetchone()
            res = row[0] if row else ""
            out.append(FairValue(0.97 if res == "yes" else 0.03 if res == "no" else None,
                                 "peeked"))
        return out


def _leaky(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    return LeakyStrategy(ctx)


def test_lookahead_check_catches_the_leaky_strategy() -> None:
    if "leaky" not in REGISTRY:
        register("leaky", _leaky)
    rep = backtest(replace(config(), strategies=("leaky",)), check_lookahead=True,
                   lookahead_points=2)[0]
    assert rep.stats.net_pnl > 0  # the cheat "works" in the full run ...
    assert rep.lookahead is not None and not rep.lookahead.ok  # ... and is caught
    assert "decision differs" in rep.lookahead.differences[0]


def test_lookahead_check_passes_an_honest_strategy() -> None:
    rep = backtest(config(), check_lookahead=True, lookahead_points=2)[0]
    assert rep.lookahead is not None and rep.lookahead.ok, rep.lookahead.differences


def test_real_aligned_window_end_to_end(tmp_path: Path) -> None:
    window = shared_path("data", "kalshi", "watkast-kalshi-weather-bot",
                         "window_2026-10-01T0015Z")
    from kalshibot.importers.datasets import import_dataset
    from kalshibot.store.connection import connect

    db = tmp_path / "real.sqlite"
    conn = connect(db)
    import_dataset(conn, window, now=datetime(2026, 10, 2, tzinfo=UTC))
    conn.close()
    cfg = replace(config(), data=db, fill=FillModel(unknown_size=Decimal(5)), interval_s=2.0,
                  min_edge=Decimal("0.005"))
    # crypto: the window has no strikes and 35-second spot samples, so it refuses to trade
    reps = backtest(replace(cfg, strategies=("crypto",)))
    # a short window and a low entry threshold: with the adverse-selection allowance (issue
    # 15) the wide weather spreads no longer count as edge, so only real moves trade
    honest = {"window": "5", "z_entry": "1.0", "no_entry_last_s": "30"}
    reps += backtest(replace(cfg, strategies=("meanrev",), params=honest))
    full = backtest(replace(cfg, strategies=("meanrev",), params=honest, fast=False))[0]
    for r in reps:
        assert len(r.run.markets) == 9
        assert r.run.snapshots == 185  # quotes of the 9 selected markets (WTI is not one)
        assert r.stats.net_pnl == r.stats.final_equity - r.stats.starting_cash
        assert r.stats.unsettled == 0  # every market has its recorded outcome
        assert {m.result.value for m in r.run.markets.values()} == {"yes", "no"}
        assert any("size" in w for w in r.book_warnings) or not r.run.orders
    assert reps[0].stats.trades == 0
    assert reps[1].stats.trades > 0 and reps[1].stats.fees > 0
    assert reps[1].stats.as_dict() == full.stats.as_dict()


def test_cli_smoke(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code = cli(["backtest", "--db", str(DB), "--json", "--export", str(out),
                "--plot", str(out / "bt.png"), "--strategy", "meanrev"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"][0]["strategy"] == "meanrev"
    assert doc["runs"][0]["stats"] == json.loads(
        (Path(__file__).parent / "golden" / "expected.json").read_text())["meanrev"]
    assert (out / "trades.csv").read_text().count("\n") == doc["runs"][0]["stats"]["trades"] + 1
    assert (out / "decisions.csv").exists() and (out / "bt.png").stat().st_size > 1000
    code = cli(["backtest", "--db", str(DB), "--sweep", "z_entry=2,3", "--rank-by", "net_pnl",
                "--backend", "threading", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 2 and rows[0]["score"] >= rows[1]["score"]
    assert cli(["backtest", "--db", str(DB), "--fills", "bogus"]) == 2
    # --model current with no trained model in the registry: one clear line, exit 3
    # (NoModelError); without --model the edge strategy retrains walk-forward (issue 22)
    assert cli(["backtest", "--db", str(DB), "--strategy", "edge", "--model", "current",
                "--model-dir", str(tmp_path / "no-models")]) == 3
    assert "no current model" in capsys.readouterr().err
