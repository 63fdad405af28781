"""Issue 19 item 8: `markets` right after `data sample`, and honest status of stale markets.

Both fail on f6e3055: a sample ending on a quarter hour had no open market (the window opening
at the end was not generated), and a stored ``active`` market whose close time had passed was
listed as ``active``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kalshibot.cli.main import run
from kalshibot.domain.market import Market, MarketStatus
from kalshibot.domain.ticks import TickGrid
from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store import open_store
from kalshibot.store.markets import market_quotes, upsert_markets

QUARTER = datetime(2026, 10, 1, 0, 15, tzinfo=UTC)


def test_sample_ending_on_a_quarter_hour_has_an_open_market(tmp_path):
    conn = open_store(tmp_path / "s.sqlite")
    generate_sample(conn, SampleConfig(days=0.1, seed=1, series=("KXBTC15M",), end=QUARTER),
                    now=QUARTER)
    rows = market_quotes(conn, series=["KXBTC15M"], status="open")
    assert [q.market.ticker for q in rows] == ["KXBTC15M-26SEP302030-30"]
    assert rows[0].market.open_time == QUARTER
    assert rows[0].yes_bid is not None or rows[0].yes_ask is not None  # quoted at the open


def _stale(ticker: str) -> Market:
    return Market(ticker=ticker, event_ticker="KXCPI-20JAN", series_ticker="KXCPI",
                  title="CPI in January 2020?", status=MarketStatus.ACTIVE,
                  open_time=datetime(2019, 12, 1, tzinfo=UTC),
                  close_time=datetime(2020, 1, 15, tzinfo=UTC), tick_grid=TickGrid.linear_cent(),
                  volume=Decimal(5))


def test_active_market_past_its_close_is_not_shown_active(tmp_path, capsys, monkeypatch):
    db = tmp_path / "m.sqlite"
    conn = open_store(db)
    upsert_markets(conn, [_stale("KXCPI-20JAN-T0.3")], now=datetime(2020, 1, 1, tzinfo=UTC))
    conn.commit()
    conn.close()
    monkeypatch.setenv("KALSHIBOT_DB_PATH", str(db))
    assert run(["markets", "--status", "all", "--json", "--db", str(db)]) == 0
    (m,) = json.loads(capsys.readouterr().out)["markets"]
    assert m["status"] == "closed"
    assert run(["markets", "--json", "--db", str(db)]) == 0  # default: open markets only
    assert json.loads(capsys.readouterr().out)["markets"] == []


@pytest.mark.parametrize("status", ["open", "closed"])
def test_status_groups_use_close_time_when_now_is_given(tmp_path, status):
    conn = open_store(tmp_path / "m.sqlite")
    upsert_markets(conn, [_stale("A")], now=datetime(2020, 1, 1, tzinfo=UTC))
    before = market_quotes(conn, status=status, now=datetime(2020, 1, 2, tzinfo=UTC))
    after = market_quotes(conn, status=status, now=datetime(2020, 2, 1, tzinfo=UTC))
    assert (len(before), len(after)) == ((1, 0) if status == "open" else (0, 1))
