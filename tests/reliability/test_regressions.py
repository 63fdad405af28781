"""Regression tests for the bugs the reliability suite found (one per bug), plus the clock-skew
checks (issue 10 part 5)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kalshibot.clock import SystemClock
from kalshibot.config import Environment
from kalshibot.errors import ClockSkewError, DataError
from kalshibot.kalshi.auth import Signer
from kalshibot.kalshi.exchange import KalshiExchange
from kalshibot.kalshi.http import date_header_skew
from tests.engine.conftest import FnStrategy, build_engine
from tests.engine.helpers import T0, FakeExchange, book, market
from tests.reliability.fake_kalshi import FakeKalshi, make_rsa_key
from tests.reliability.harness import BotRig


def test_startup_sync_failure_does_not_end_the_session(tmp_path: Path) -> None:
    """Bug: a malformed answer (DataError) during Engine.start's fill sync ended
    `kalshibot trade` with exit 1. Now the start-up sync is retried each cycle and entries
    wait until it succeeds."""
    m = market()
    ex = FakeExchange([m], {m.ticker: book(m.ticker)})
    real = ex.get_fills
    calls = {"n": 0}

    def flaky(since: Any = None) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise DataError("GET /historical/cutoff: malformed WireHistoricalCutoff")
        return real(since)

    ex.get_fills = flaky  # type: ignore[method-assign]
    eng = build_engine(tmp_path, ex, FnStrategy(lambda v: 0.9), T0)
    assert eng.start(T0) == []  # no exception
    r1 = eng.run_cycle(T0 + timedelta(seconds=5))
    assert any("start-up sync failed" in e for e in r1.errors)
    assert eng._startup_sync == ""  # retried and done in that cycle
    r2 = eng.run_cycle(T0 + timedelta(seconds=10))
    assert not any("start-up" in e for e in r2.errors)  # entries no longer held back


def test_date_header_skew() -> None:
    now = SystemClock().now().replace(microsecond=0)
    from email.utils import format_datetime

    assert date_header_skew(format_datetime(now + timedelta(seconds=90), usegmt=True),
                            now) == pytest.approx(90)
    assert date_header_skew("garbage", now) is None
    assert date_header_skew(None, now) is None


@pytest.fixture
def fake_url() -> Any:
    with tempfile.TemporaryDirectory() as d:
        pem = make_rsa_key(Path(d) / "k.pem")
        fake = FakeKalshi(Path(d) / "s.json", pem, key_id="kid")
        url = fake.serve()
        yield fake, url, pem
        fake.stop()


def test_clock_skew_refused_and_401_blamed_on_skew(fake_url: Any) -> None:
    fake, url, pem = fake_url
    fake.date_offset_s = 120.0  # the exchange is two minutes ahead of us
    clock = SystemClock()
    ex = KalshiExchange.create(Environment.DEMO, clock, base_url=url, refresh_limits=False,
                               signer=Signer.from_pem("kid", pem, clock))
    with pytest.raises(ClockSkewError, match="behind the exchange"):
        ex.check_clock(30.0)
    assert ex.check_clock(300.0) == pytest.approx(120, abs=2)
    # The fake refuses signatures whose timestamp is outside its window: say it's the clock.
    with pytest.raises(ClockSkewError, match="signature refused and the local clock"):
        ex.get_balance()
    fake.date_offset_s = 0.0
    assert abs(ex.check_clock(30.0) or 0) < 2
    assert ex.get_balance().cash.amount == 1000


def test_live_session_sizes_from_the_exchange_balance(tmp_path: Path) -> None:
    """Bug: a live session started with equity $0 (no starting cash), so Kelly sizing never
    proposed an order. Now the balance read at the first start is the starting cash."""
    rig = BotRig(tmp_path)
    try:
        res = rig.run_to_end(3, 6)
        assert res.returncode == 0, res.stderr
        assert rig.fake.snapshot()["create_log"], "a live session never sent an order"
    finally:
        rig.fake.stop()


def test_live_start_refused_on_skew(tmp_path: Path) -> None:
    rig = BotRig(tmp_path)
    try:
        rig.fake.date_offset_s = -600.0
        res = rig.run_to_end(3, 2)
        assert res.returncode == 4
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and "ahead of the exchange" in lines[0], res.stderr
        assert not rig.fake.snapshot()["create_log"]
    finally:
        rig.fake.stop()
