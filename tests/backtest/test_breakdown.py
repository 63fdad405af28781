"""``backtest --breakdown day|week|month`` (issue 18 item 4; no such option on f6e3055)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kalshibot.backtest import BacktestConfig, backtest
from kalshibot.backtest.breakdown import breakdown, period_of
from kalshibot.cli.main import run as cli
from kalshibot.errors import UserInputError
from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store.connection import connect
from tests.backtest.make_golden import DB


def test_period_labels_are_utc_calendar_days_iso_weeks_and_months() -> None:
    t = datetime(2026, 9, 1, 1, 0, tzinfo=timezone(timedelta(hours=5)))  # 2026-08-31 20:00 UTC
    assert period_of(t, "day") == "2026-08-31"
    assert period_of(t, "week") == "2026-W36"  # Monday 31 August opens ISO week 36
    assert period_of(datetime(2026, 9, 6, 23, 59, tzinfo=UTC), "week") == "2026-W36"  # Sunday
    assert period_of(datetime(2026, 9, 7, tzinfo=UTC), "week") == "2026-W37"
    assert period_of(datetime(2027, 1, 1, tzinfo=UTC), "week") == "2026-W53"  # ISO year
    assert period_of(t, "month") == "2026-08"
    with pytest.raises(UserInputError):
        period_of(t, "hour")


@pytest.fixture(scope="module")
def two_day_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bd") / "two-days.sqlite"
    conn = connect(path)
    generate_sample(conn, SampleConfig(days=0.5, seed=11, series=("KXBTC15M",),
                                       end=datetime(2026, 9, 1, 6, 0, tzinfo=UTC)))
    conn.close()
    return path


def test_days_add_up_to_the_run_exactly(two_day_db: Path) -> None:
    rep = backtest(BacktestConfig(data=two_day_db, strategies=("meanrev",)))[0]
    rows = breakdown(rep.run, "day")
    assert [r.period for r in rows] == ["2026-08-31", "2026-09-01"]
    assert sum(r.pnl for r in rows) == rep.stats.net_pnl  # exact Decimal dollars
    assert sum(r.fees for r in rows) == rep.stats.fees
    assert sum(r.fills for r in rows) == rep.stats.trades
    assert rows[0].start_equity == rep.stats.starting_cash
    assert rows[1].start_equity == rows[0].end_equity
    assert rows[-1].end_equity == rep.stats.final_equity
    assert all(r.max_drawdown >= 0 and r.max_drawdown <= rep.stats.max_drawdown for r in rows)
    assert any(r.max_drawdown > 0 for r in rows) and all(r.fills for r in rows)
    (week,) = breakdown(rep.run, "week")  # both days fall in ISO week 36
    assert (week.period, week.pnl, week.fills) == ("2026-W36", rep.stats.net_pnl,
                                                   rep.stats.trades)
    assert week.max_drawdown == rep.stats.max_drawdown
    months = breakdown(rep.run, "month")  # 31 August and 1 September: two months
    assert [(m.period, m.pnl) for m in months] == [("2026-08", rows[0].pnl),
                                                   ("2026-09", rows[1].pnl)]


def test_cli_json_and_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["backtest", "--db", str(DB), "--breakdown", "week", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["runs"][0]
    assert doc["breakdown"]["period"] == "week"
    assert [r["period"] for r in doc["breakdown"]["rows"]] == ["2026-W36"]
    assert doc["breakdown"]["rows"][0]["pnl"] == doc["stats"]["net_pnl"]
    assert cli(["backtest", "--db", str(DB), "--breakdown", "hour"]) == 2
    assert "choose from day, week, month" in capsys.readouterr().err
    assert cli(["backtest", "--db", str(DB), "--breakdown", "day", "--sweep", "z_entry=2,3"]) == 2
