"""``backtest --search`` (issue 18 item 3): Optuna over declared ranges, seeded, ranked by the
loss; no such option on f6e3055."""

from __future__ import annotations

import json

import pytest

from kalshibot.backtest.search import parse_ranges, run_search, score
from kalshibot.backtest.sweep import run_one
from kalshibot.cli.main import run as cli
from kalshibot.errors import UserInputError
from tests.backtest.make_golden import DB, config


def test_ranges_are_checked() -> None:
    assert parse_ranges(["z_entry=1.0:3.0"]) == {"z_entry": (1.0, 3.0)}
    for bad in ("z_entry=3:1", "z_entry=1", "=1:2", "z_entry=a:b", "z_entry=1:inf"):
        with pytest.raises(UserInputError):
            parse_ranges([bad])


def test_losses_from_stats() -> None:
    st = {"net_pnl": "50", "sharpe": None, "sortino": 1.5, "return_on_capital": 0.005,
          "max_drawdown": "25", "max_drawdown_pct": 0.0025}
    assert score(st, "net_pnl") == 50.0 and score(st, "sharpe") is None
    assert score(st, "sortino") == 1.5 and score(st, "pnl_over_dd") == 2.0
    assert score(st, "calmar") == pytest.approx(2.0)
    assert score({**st, "max_drawdown": "0", "max_drawdown_pct": 0.0}, "calmar") is None


def test_search_is_seeded_ranked_and_each_row_is_its_backtest() -> None:
    pytest.importorskip("optuna")
    cfg = config()
    rows, warning = run_search(cfg, ["z_entry=1.5:3.5"], loss="net_pnl", trials=3, seed=5,
                               backend="threading")
    again, _ = run_search(cfg, ["z_entry=1.5:3.5"], loss="net_pnl", trials=3, seed=5,
                          backend="threading")
    assert [r.params for r in rows] == [r.params for r in again] and len(rows) == 3
    assert warning is None  # below the multiple-testing threshold
    scores = [r.score for r in rows]
    assert scores == sorted(scores, key=lambda v: -(v or 0.0))
    for r in rows:
        assert 1.5 <= float(r.params["z_entry"]) <= 3.5
        assert r.stats == run_one(cfg, "meanrev", r.params)
        assert r.score == float(r.stats["net_pnl"])


def test_cli_search_and_its_user_errors(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("optuna")
    assert cli(["backtest", "--db", str(DB), "--search", "--param-range", "z_entry=2:3",
                "--trials", "2", "--loss", "pnl_over_dd", "--backend", "threading",
                "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metric"] == "pnl_over_dd" and len(doc["rows"]) == 2
    assert cli(["backtest", "--db", str(DB), "--search", "--loss", "pnl"]) == 2
    assert cli(["backtest", "--db", str(DB), "--search"]) == 2  # no --param-range
    assert cli(["backtest", "--db", str(DB), "--search", "--param-range", "z_entry=2:3",
                "--trials", "0"]) == 2
    assert cli(["backtest", "--db", str(DB), "--search", "--sweep", "z_entry=2,3"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_walk_forward_reports_only_out_of_sample_windows(
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("optuna")
    from dataclasses import replace
    from datetime import UTC, datetime

    from kalshibot.backtest.search import walk_forward, windows_of

    cfg = replace(config(), start=datetime(2026, 9, 1, 0, 0, tzinfo=UTC),
                  end=datetime(2026, 9, 1, 6, 0, tzinfo=UTC))
    parts = windows_of(cfg, 3)
    assert [(p.start.hour, p.end.hour) for p in parts if p.start and p.end] == [
        (0, 2), (2, 4), (4, 6)]
    rows, _ = walk_forward(cfg, ["z_entry=2:3"], windows=3, loss="net_pnl", trials=2,
                           backend="threading")
    assert [r["window"] for r in rows] == [[p.start, p.end] for p in parts[1:]]
    for k, r in enumerate(rows):
        fit, _ = run_search(parts[k], ["z_entry=2:3"], loss="net_pnl", trials=2,
                            backend="threading")
        assert r["params"] == fit[0].params and r["in_sample"] == fit[0].score
        assert r["stats"] == run_one(parts[k + 1], "meanrev", r["params"])
        assert r["out_of_sample"] == float(r["stats"]["net_pnl"])
    assert cli(["backtest", "--db", str(DB), "--search", "--param-range", "z_entry=2:3",
                "--walk-forward", "3"]) == 2  # no --from/--to to split
    assert "--walk-forward needs --from and --to" in capsys.readouterr().err
