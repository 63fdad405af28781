"""`kalshibot status` / `risk` / `history` / `orders` through the CLI entry point.

The store is prepared with the store repositories on a real SQLite file (tests/monitor/
conftest.py); the commands' clock is an injected ``SimClock``. Set ``UPDATE_GOLDEN=1`` to
rewrite the golden file after an intended change of the document.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from kalshibot.cli import risk_cmd
from kalshibot.cli.main import run
from kalshibot.clock import SimClock
from kalshibot.engine import StoreKV
from kalshibot.monitor import health
from kalshibot.monitor.logging import read_events
from kalshibot.risk import CircuitBreaker
from kalshibot.store.connection import atomic
from tests.monitor.conftest import T0, Prepared

GOLDEN = Path(__file__).parent / "golden" / "status.json"


def normalise(text: str, tmp: Path) -> str:
    """Machine-specific paths -> <TMP> (times are fixed by the injected clock)."""
    return text.replace(str(tmp), "<TMP>")


def status_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = run(["status", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out), out


def test_json_validates_and_matches_golden(prepared: Callable[..., Prepared],
                                           clock: SimClock, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]):
    prepared()
    code, doc, out = status_json(capsys)
    assert code == 0
    jsonschema.Draft202012Validator(health.load_schema(),
                                    format_checker=jsonschema.FormatChecker()).validate(doc)
    text = normalise(out, tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    # stable order: the top-level keys come in the documented order
    assert list(doc) == ["schema_version", "generated_at", "health", "database", "run",
                         "account", "pnl", "positions", "resting_orders", "risk", "decisions",
                         "model", "errors"]


@pytest.mark.parametrize("case, expected", [
    ("healthy", 0), ("stale", 1), ("mismatch", 1), ("breaker", 2), ("kill", 2),
])
def test_exit_codes_through_the_cli(case: str, expected: int, prepared: Callable[..., Prepared],
                                    clock: SimClock, capsys: pytest.CaptureFixture[str]):
    p = prepared()
    if case == "stale":
        clock.advance(timedelta(seconds=p.settings.heartbeat_stale_s))
    elif case == "mismatch":
        from kalshibot.store.kv import kv_set

        with atomic(p.conn):
            kv_set(p.conn, "engine.entries_blocked", "reconciliation mismatch: X", now=T0)
    elif case == "breaker":
        with atomic(p.conn):
            CircuitBreaker(StoreKV(p.conn, T0), Decimal("0.2")).trip("drawdown", T0)
    elif case == "kill":
        p.settings.kill_switch_file.touch()
    assert run(["status", "--quiet"]) == expected
    line = capsys.readouterr().out
    assert line.count("\n") == 1
    assert line.startswith(f"kalshibot {health.STATE_NAMES[expected].upper()} ({expected})")


def test_missing_database_is_exit_3(env: dict[str, str], clock: SimClock,
                                    capsys: pytest.CaptureFixture[str]):
    code, doc, _ = status_json(capsys)
    assert code == 3
    assert "does not exist" in doc["health"]["reasons"][0]
    jsonschema.Draft202012Validator(health.load_schema()).validate(doc)
    assert run(["status", "--quiet"]) == 3
    assert "UNAVAILABLE" in capsys.readouterr().out


def test_bad_config_is_exit_3(env: dict[str, str], clock: SimClock,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("KALSHIBOT_MAX_DAILY_LOSS", "lots")
    assert run(["status"]) == 3
    assert "KALSHIBOT_MAX_DAILY_LOSS" in capsys.readouterr().out


def test_not_a_database_is_exit_3(settings, clock: SimClock,
                                  capsys: pytest.CaptureFixture[str]):
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    settings.database_path.write_text("this is not sqlite\n" * 100)
    assert run(["status", "--quiet"]) == 3


def test_table_output_shows_every_section(prepared: Callable[..., Prepared], clock: SimClock,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]):
    from kalshibot.cli import context

    monkeypatch.setattr(context.console, "width", 220)
    prepared()
    assert run(["status"]) == 0
    out = capsys.readouterr().out
    for needle in ("HEALTHY", "Run", "Balance and equity", "P&L", "Open positions",
                   "Resting and unresolved orders", "Risk", "Limits used vs allowed",
                   "Recent decisions", "skipped", "denied", "Model", "Errors",
                   "KXTEST-26NOV19-A", "$10,001.25"):
        assert needle in out, needle


_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? '
                     r'-?[0-9]+(\.[0-9]+)?$')


def test_prometheus_text_format(prepared: Callable[..., Prepared], clock: SimClock,
                                tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    prepared()
    assert run(["status", "--format", "prometheus"]) == 0
    text = capsys.readouterr().out
    assert text.endswith("\n")
    helps, types, samples = set(), {}, []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            assert typ == "gauge"
            types[name] = typ
        else:
            assert _SAMPLE.match(line), line
            samples.append(line)
    names = {re.split(r"[{ ]", s)[0] for s in samples}
    assert names <= set(types) and set(types) == helps
    assert "kalshibot_health_code 0" in samples
    assert "kalshibot_equity_dollars 10001.2500" in samples
    assert 'kalshibot_pnl_dollars{period="today",part="total"} 0.7500' in samples
    assert "kalshibot_heartbeat_age_seconds 30.0" in samples
    assert 'kalshibot_limit_allowed{limit="daily_loss",unit="dollars"} 500.0000' in samples
    # --output writes the same text atomically (for the textfile collector)
    target = tmp_path / "textfile" / "kalshibot.prom"
    assert run(["status", "--format", "prometheus", "--output", str(target)]) == 0
    assert target.read_text() == text
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_sim_shortcut_reads_sim_database(settings, clock: SimClock,
                                         capsys: pytest.CaptureFixture[str]):
    from tests.monitor.conftest import build_store

    build_store(settings.data_dir / "sim.sqlite").close()
    code, doc, _ = status_json(capsys, "--sim")
    assert code == 0 and doc["database"].endswith("sim.sqlite")
    assert run(["status", "--sim", "--db", "x.sqlite"]) == 2


# --- risk ---------------------------------------------------------------------------------
def _trip(p: Prepared) -> None:
    with atomic(p.conn):
        CircuitBreaker(StoreKV(p.conn, T0), Decimal("0.2")).trip("drawdown 25% >= 20%", T0)


def _breaker_tripped(p: Prepared) -> bool:
    return CircuitBreaker(StoreKV(p.conn, T0), Decimal("0.2")).state().tripped


def test_risk_reset_requires_confirmation(prepared: Callable[..., Prepared], clock: SimClock,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]):
    p = prepared()
    _trip(p)
    # no terminal and no --yes: refused, nothing changes
    assert run(["risk", "reset"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert _breaker_tripped(p)
    # asked and declined: nothing changes
    asked: list[str] = []
    monkeypatch.setattr(risk_cmd, "ask", lambda q: asked.append(q) or False)
    assert run(["risk", "reset"]) == 1
    assert asked and _breaker_tripped(p)
    # confirmed
    monkeypatch.setattr(risk_cmd, "ask", lambda q: True)
    assert run(["risk", "reset"]) == 0
    assert not _breaker_tripped(p)
    assert run(["status", "--quiet"]) == 0
    events = [e for e in read_events(p.settings.log_dir / "kalshibot.jsonl")
              if e["event"] == "risk_reset"]
    assert [e["fields"]["outcome"] for e in events] == ["declined", "reset"]
    assert events[-1]["fields"]["breaker_reason"] == "drawdown 25% >= 20%"
    assert events[-1]["fields"]["user"]


def test_risk_reset_yes_and_show_are_audited(prepared: Callable[..., Prepared],
                                             clock: SimClock,
                                             capsys: pytest.CaptureFixture[str]):
    p = prepared()
    _trip(p)
    assert run(["risk", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["circuit_breaker"]["tripped"] is True
    assert run(["risk", "reset", "--yes"]) == 0
    assert not _breaker_tripped(p)
    kinds = [e["event"] for e in read_events(p.settings.log_dir / "kalshibot.jsonl")]
    assert kinds == ["risk_show", "risk_reset"]


# --- history and orders -------------------------------------------------------------------
def test_history_filters_and_csv(prepared: Callable[..., Prepared], clock: SimClock,
                                 capsys: pytest.CaptureFixture[str]):
    prepared()
    assert run(["history", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ts,fill_id,order_id")
    assert len(lines) == 2
    assert ",KXTEST-26NOV19-A,KXTEST,edge,yes,buy,0.4500,10.00,4.50000000,0.0173,1" in lines[1] \
        or ",KXTEST-26NOV19-A,KXTEST,edge,yes,buy,0.4500,10.00,4.5000,0.0173,1" in lines[1]
    for args, n in ((["--side", "no"], 0), (["--series", "KXTEST"], 1),
                    (["--strategy", "crypto"], 0), (["--ticker", "KXTEST-26NOV19-A"], 1),
                    (["--since", "10m"], 0), (["--since", "1h"], 1),
                    (["--until", "2026-11-19T11:00Z"], 0)):
        assert run(["history", "--csv", *args]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 1 + n, args
    assert run(["history"]) == 0
    assert "1 fills, 10 contracts" in capsys.readouterr().out
    assert run(["history", "--side", "maybe"]) == 2


def test_orders_list_and_local_cancel(prepared: Callable[..., Prepared], clock: SimClock,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]):
    p = prepared()
    assert run(["orders", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [o["client_order_id"] for o in listed] == ["kb-resting-2"]
    # preview, no terminal: refused
    assert run(["orders", "cancel", "ord-2"]) == 2
    out = capsys.readouterr()
    assert "Cancel preview" in out.out and "--yes" in out.err
    assert run(["orders", "cancel", "kb-resting-2", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "simulated inside a running" in out
    from kalshibot.store.orders import get_order

    rec = get_order(p.conn, "kb-resting-2")
    assert rec is not None and rec.status.value == "cancelled"
    assert run(["orders", "cancel", "kb-resting-2", "--yes"]) == 2  # already final
    assert run(["orders", "cancel", "nope", "--yes"]) == 2
    events = [e for e in read_events(p.settings.log_dir / "kalshibot.jsonl")
              if e["event"] == "order_cancel"]
    assert events[-1]["fields"]["outcome"] == "cancelled"


def test_orders_cancel_kalshi_calls_the_exchange(prepared: Callable[..., Prepared],
                                                 clock: SimClock,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]):
    p = prepared()
    p.conn.execute("UPDATE runs SET exchange = 'kalshi', mode = 'live'")
    calls: list[tuple[str, str | None]] = []

    class FakeKalshi:
        def cancel_order(self, order_id: str, ticker: str | None = None) -> None:
            calls.append((order_id, ticker))

    from kalshibot.kalshi.exchange import KalshiExchange

    monkeypatch.setattr(KalshiExchange, "from_settings",
                        classmethod(lambda cls, s, c=None, **kw: FakeKalshi()))
    # The live gate first: without --live, live mode and keys, nothing reaches the exchange.
    assert run(["orders", "cancel", "kb-resting-2", "--yes", "--db", str(p.path)]) == 3
    assert calls == []
    from tests.reliability.fake_kalshi import make_rsa_key

    make_rsa_key(p.path.parent / "key.pem")
    monkeypatch.setenv("KALSHIBOT_MODE", "live")
    monkeypatch.setenv("KALSHIBOT_API_KEY_ID", "key-id")
    monkeypatch.setenv("KALSHIBOT_PRIVATE_KEY_PATH", str(p.path.parent / "key.pem"))
    assert run(["orders", "cancel", "kb-resting-2", "--yes", "--live", "--db",
                str(p.path)]) == 0
    assert calls == [("ord-2", "KXTEST-26NOV19-A")]
    assert "at the exchange" in capsys.readouterr().out
