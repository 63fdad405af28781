"""The engine reports decisions, orders, fills, errors and heartbeats to its monitor;
alert-worthy conditions alert once when they start."""

from __future__ import annotations

from pathlib import Path

from kalshibot.clock import SimClock
from kalshibot.config import load_settings
from kalshibot.domain.money import Money
from kalshibot.monitor.alerts import Alerter
from kalshibot.monitor.logging import read_events, setup_logging
from kalshibot.monitor.trading import TradingMonitor
from tests.engine.conftest import FnStrategy, build_engine
from tests.engine.helpers import T0, FakeExchange, book, market


def test_engine_cycle_events_and_kill_switch_alert_once(tmp_path: Path):
    s = load_settings(env={"KALSHIBOT_LOG_DIR": str(tmp_path / "logs"),
                           "KALSHIBOT_ALERT_ON_FILLS": "true"}, dotenv_file=None)
    log_file = setup_logging(s, console=False)
    m = market()
    ex = FakeExchange([m], {m.ticker: book(m.ticker)})
    eng = build_engine(tmp_path, ex, FnStrategy(lambda v: 0.9), T0, series=())
    mon = TradingMonitor(Alerter((), SimClock(T0), 900), Money(500), alert_on_fills=True,
                         run_id="r1")
    eng.monitor = mon
    eng.start(T0)
    eng.run_cycle(T0)
    (tmp_path / "KILL").touch()
    eng.run_cycle(T0)
    eng.run_cycle(T0)
    events = list(read_events(log_file))
    kinds = [e["event"] for e in events]
    assert "reconcile" in kinds
    assert kinds.count("heartbeat") == 3
    decision = next(e for e in events if e["event"] == "decision")
    assert decision["fields"]["ticker"] == m.ticker and decision["fields"]["verdict"]
    order = next(e for e in events if e["event"] == "order")
    assert order["fields"]["client_order_id"].startswith("kb-")
    assert order["fields"]["price"] and isinstance(order["fields"]["price"], str)  # exact text
    fills = [e for e in events if e["event"] == "fill"]
    assert fills and fills[0]["fields"]["fee"] == "1.7500"  # exact dollars as text
    alerts = [e["fields"]["key"] for e in events if e["event"] == "alert"]
    assert alerts.count("kill_switch") == 1  # alerted when it started, not every cycle
    assert any(k.startswith("fill:") for k in alerts)


def test_repeated_errors_alert_after_n_cycles_and_broken_monitor_is_harmless(tmp_path: Path):
    m = market()
    ex = FakeExchange([m], {m.ticker: book(m.ticker)})

    def boom(tickers):  # noqa: ANN001
        from kalshibot.errors import ExchangeUnavailableError

        raise ExchangeUnavailableError("GET /markets/orderbooks: timed out")

    ex.get_orderbooks = boom  # type: ignore[method-assign]
    eng = build_engine(tmp_path, ex, FnStrategy(lambda v: 0.9), T0, series=())
    alerter = Alerter((), SimClock(T0), 900)
    eng.monitor = TradingMonitor(alerter, Money(500), error_cycles=3, run_id="r1")
    for _ in range(2):
        eng.run_cycle(T0)
    assert [a.key for a in alerter.sent] == []
    eng.run_cycle(T0)
    assert [a.key for a in alerter.sent] == ["errors"]

    class Broken:
        def __getattr__(self, name):  # noqa: ANN001
            raise RuntimeError("monitor bug")

    eng.monitor = Broken()  # type: ignore[assignment]
    report = eng.run_cycle(T0)  # still runs
    assert report.cycle == 4
