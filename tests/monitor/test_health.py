"""Health document and exit codes from prepared stores (pure functions, injected times)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import jsonschema

from kalshibot.config import Settings, load_settings
from kalshibot.domain.money import Money
from kalshibot.engine import ENTRIES_BLOCKED_KEY, StoreKV
from kalshibot.monitor import health
from kalshibot.risk import CircuitBreaker
from kalshibot.store.connection import atomic
from kalshibot.store.kv import kv_set

from .conftest import T0, Prepared


def doc_of(p: Prepared, now=T0, settings: Settings | None = None, **kw):
    return health.collect_status(p.conn, settings or p.settings, now=now, database=p.path, **kw)


def test_healthy_store_is_exit_0_and_valid(prepared: Callable[..., Prepared]):
    p = prepared()
    doc = doc_of(p)
    assert health.exit_code(doc) == 0, doc["health"]
    assert doc["health"] == {"code": 0, "state": "healthy", "reasons": []}
    jsonschema.Draft202012Validator(health.load_schema()).validate(doc)
    assert doc["run"]["state"] == "running"
    assert doc["run"]["heartbeat"]["age_s"] == 30.0
    # exact money as text; today's P&L from the start-of-day equity
    assert doc["account"]["equity"] == "10001.2500"
    assert doc["pnl"]["today"]["total"] == "0.7500"
    assert doc["pnl"]["all_time"]["total"] == "1.2500"
    pos = doc["positions"][0]
    assert (pos["contracts"], pos["average_cost"], pos["mark"]) == ("10.00", "0.4500", "0.4750")
    assert pos["unrealized_pnl"] == "0.2500"
    assert [o["client_order_id"] for o in doc["resting_orders"]] == ["kb-resting-2"]
    limits = {x["name"]: x for x in doc["risk"]["limits"]}
    assert limits["portfolio_exposure"]["used"] == "6.5000"  # 4.50 held + 5 x 0.40 resting
    assert limits["concurrent_positions"]["used"] == "1"
    reasons = [d["reason"] for d in doc["decisions"]]
    assert "order already resting at this price" in reasons[:2]
    assert reasons[2] == "spread 0.15 > max 0.10"  # newest first


def test_stale_heartbeat_with_injected_clock_is_exit_1(prepared: Callable[..., Prepared]):
    p = prepared()
    stale_s = p.settings.heartbeat_stale_s
    fresh = doc_of(p, now=T0 + timedelta(seconds=stale_s - 31))
    assert health.exit_code(fresh) == 0
    doc = doc_of(p, now=T0 + timedelta(seconds=stale_s))
    assert health.exit_code(doc) == 1
    assert doc["run"]["state"] == "stale" and doc["run"]["heartbeat"]["stale"] is True
    assert any("heartbeat stale" in r for r in doc["health"]["reasons"])


def test_reconciliation_mismatch_is_exit_1(prepared: Callable[..., Prepared]):
    p = prepared()
    with atomic(p.conn):
        kv_set(p.conn, ENTRIES_BLOCKED_KEY, "reconciliation mismatch: KXTEST: local 10 vs "
               "exchange 0", now=T0)
    doc = doc_of(p)
    assert health.exit_code(doc) == 1
    assert doc["risk"]["entries_blocked"].startswith("reconciliation mismatch")
    assert any("entries blocked" in r for r in doc["health"]["reasons"])


def test_recent_errors_are_exit_1(prepared: Callable[..., Prepared]):
    p = prepared(errors=3)
    doc = doc_of(p)
    assert health.exit_code(doc) == 1
    assert doc["errors"]["count"] == 3
    assert doc["errors"]["recent"][0]["message"] == "order books: timeout"
    # below the threshold: still healthy
    lenient = load_settings(env={"KALSHIBOT_STATUS_ERROR_THRESHOLD": "4",
                                 "KALSHIBOT_DATA_DIR": str(p.settings.data_dir)},
                            dotenv_file=None)
    assert health.exit_code(doc_of(p, settings=lenient)) == 0
    # outside the window: healthy again
    later = T0 + timedelta(seconds=p.settings.status_error_window_s + 60)
    assert doc_of(p, now=later)["errors"]["count"] == 0


def test_old_model_is_exit_1_only_when_the_strategy_uses_it(prepared: Callable[..., Prepared]):
    p = prepared(model_age=timedelta(hours=30))
    doc = doc_of(p)
    assert health.exit_code(doc) == 1
    assert doc["model"]["stale"] is True and doc["model"]["age_hours"] == 30.0
    assert any("retrain interval" in r for r in doc["health"]["reasons"])


def test_old_model_ignored_for_strategies_without_model(prepared: Callable[..., Prepared]):
    p = prepared(model_age=timedelta(hours=30), strategy="crypto")
    doc = doc_of(p)
    assert doc["model"]["in_use"] is False
    assert health.exit_code(doc) == 0


def test_stopped_run_is_exit_1(prepared: Callable[..., Prepared]):
    doc = doc_of(prepared(ended=True))
    assert doc["run"]["state"] == "stopped"
    assert health.exit_code(doc) == 1


def test_tripped_breaker_is_exit_2(prepared: Callable[..., Prepared]):
    p = prepared()
    with atomic(p.conn):
        CircuitBreaker(StoreKV(p.conn, T0), Decimal("0.2")).trip("drawdown 21% >= 20%", T0)
    doc = doc_of(p)
    assert health.exit_code(doc) == 2
    assert doc["risk"]["circuit_breaker"]["tripped"] is True
    assert doc["health"]["state"] == "halted"


def test_kill_switch_file_is_exit_2(prepared: Callable[..., Prepared]):
    p = prepared()
    p.settings.kill_switch_file.parent.mkdir(parents=True, exist_ok=True)
    p.settings.kill_switch_file.touch()
    doc = doc_of(p)
    assert health.exit_code(doc) == 2
    assert doc["risk"]["kill_switch"]["on"] is True


def test_daily_loss_limit_is_exit_2(prepared: Callable[..., Prepared]):
    p = prepared(equity_now=Decimal("9500.5000"))  # exactly -500 from the day's start
    doc = doc_of(p)
    assert doc["pnl"]["today"]["total"] == "-500.0000"
    assert doc["risk"]["daily_loss_limit_reached"] is True
    assert health.exit_code(doc) == 2
    limits = {x["name"]: x for x in doc["risk"]["limits"]}
    assert limits["daily_loss"]["used"] == "500.0000"


def test_halted_outranks_degraded(prepared: Callable[..., Prepared]):
    p = prepared(errors=5)
    p.settings.kill_switch_file.parent.mkdir(parents=True, exist_ok=True)
    p.settings.kill_switch_file.touch()
    doc = doc_of(p, now=T0 + timedelta(hours=1))
    assert health.exit_code(doc) == 2
    assert doc["health"]["reasons"][0].startswith("kill switch")


def test_empty_store_is_degraded_not_running(settings: Settings):
    from kalshibot.store.connection import connect

    conn = connect(settings.database_path)
    try:
        doc = health.collect_status(conn, settings, now=T0, database=settings.database_path)
    finally:
        conn.close()
    assert health.exit_code(doc) == 1
    assert doc["run"]["state"] == "never"
    jsonschema.Draft202012Validator(health.load_schema()).validate(doc)


def test_exchange_comparison(prepared: Callable[..., Prepared]):
    from kalshibot.domain.money import Count

    p = prepared()
    agree = health.ExchangeView(Money(Decimal("9995.98")), Money(Decimal("4.75")),
                                {"KXTEST-26NOV19-A": Count(Decimal(10))})
    assert health.exit_code(doc_of(p, exchange=agree)) == 0
    differ = health.ExchangeView(Money(Decimal("9995.98")), Money(Decimal("0")), {})
    doc = doc_of(p, exchange=differ)
    assert health.exit_code(doc) == 1
    assert doc["account"]["exchange"]["position_mismatches"] == [
        "KXTEST-26NOV19-A: local 10 vs exchange 0"]
    down = doc_of(p, exchange=health.ExchangeView(error="timed out"))
    assert health.exit_code(down) == 1
    jsonschema.Draft202012Validator(health.load_schema()).validate(doc)


def test_unavailable_document_is_exit_3_and_valid():
    doc = health.unavailable_status("database x does not exist", now=T0, database="x")
    assert health.exit_code(doc) == 3
    jsonschema.Draft202012Validator(health.load_schema()).validate(doc)
    assert health.quiet_line(doc).startswith("kalshibot UNAVAILABLE (3)")
