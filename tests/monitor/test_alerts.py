"""Alerts: delivery failures never raise and are logged once; duplicates are rate limited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import responses

from kalshibot.clock import SimClock
from kalshibot.config import Settings, load_settings
from kalshibot.monitor.alerts import Alerter, Severity
from kalshibot.monitor.logging import read_events, setup_logging

from .conftest import T0

HOOK = "https://hooks.slack.com/services/T000/B000/hook-secret-xyz"
TOKEN = "123456:telegram-secret-token"


def _settings(tmp_path: Path, **extra: str) -> Settings:
    env = {"KALSHIBOT_LOG_DIR": str(tmp_path / "logs"),
           "KALSHIBOT_ALERT_WEBHOOK_URL": HOOK, **extra}
    return load_settings(env=env, dotenv_file=None)


def _events(s: Settings, kind: str | None = None) -> list[dict]:
    ev = list(read_events(s.log_dir / "kalshibot.jsonl"))
    return [e for e in ev if kind is None or e["event"] == kind]


@responses.activate
def test_webhook_500_does_not_raise_and_is_logged_once(tmp_path: Path):
    s = _settings(tmp_path)
    setup_logging(s, console=False)
    responses.post(HOOK, status=500)
    clock = SimClock(T0)
    a = Alerter.from_settings(s, clock=clock)
    assert a.alert("breaker", "circuit breaker tripped", Severity.CRITICAL) is True
    assert a.alert("kill_switch", "kill switch on") is True  # another key, target still down
    clock.advance(timedelta(hours=1))
    assert a.alert("breaker", "circuit breaker tripped again") is True
    assert len(responses.calls) == 3
    failures = _events(s, "alert_delivery_failed")
    assert len(failures) == 1
    assert failures[0]["fields"]["reason"] == "HTTP 500"
    # every alert is in the log even though delivery failed
    assert [e["fields"]["key"] for e in _events(s, "alert")] == ["breaker", "kill_switch",
                                                                   "breaker"]
    body = json.loads(responses.calls[0].request.body)
    assert "circuit breaker tripped" in body["text"] and body["text"] == body["content"]
    # the target recovers: one "recovered" line
    responses.replace(responses.POST, HOOK, status=200)
    assert a.alert("daily_loss", "daily loss limit reached") is True
    assert len(_events(s, "alert_delivery_recovered")) == 1
    assert HOOK not in (s.log_dir / "kalshibot.jsonl").read_text()


@responses.activate
def test_webhook_timeout_does_not_raise_and_is_logged_once(tmp_path: Path):
    s = _settings(tmp_path, KALSHIBOT_ALERT_TIMEOUT_S="0.5")
    setup_logging(s, console=False)
    responses.post(HOOK, body=requests.ConnectTimeout("connect timed out: " + HOOK))
    a = Alerter.from_settings(s, clock=SimClock(T0))
    assert a.alert("errors", "errors in 3 cycles") is True
    assert a.alert("reconciliation", "mismatch") is True
    failures = _events(s, "alert_delivery_failed")
    assert len(failures) == 1 and failures[0]["fields"]["reason"] == "timed out"
    assert "hook-secret-xyz" not in (s.log_dir / "kalshibot.jsonl").read_text()


def test_timeout_is_passed_to_requests(tmp_path: Path):
    seen: list[float] = []

    class Spy(requests.Session):
        def post(self, url, **kw):  # type: ignore[override]
            seen.append(kw["timeout"])
            raise requests.ReadTimeout("read timed out")

    s = _settings(tmp_path, KALSHIBOT_ALERT_TIMEOUT_S="2.5")
    a = Alerter.from_settings(s, clock=SimClock(T0), session=Spy())
    a.alert("x", "y")
    assert seen == [2.5]


@responses.activate
def test_duplicates_are_rate_limited_per_key(tmp_path: Path):
    s = _settings(tmp_path, KALSHIBOT_ALERT_MIN_INTERVAL_S="600")
    setup_logging(s, console=False, level=10)
    responses.post(HOOK, status=200)
    clock = SimClock(T0)
    a = Alerter.from_settings(s, clock=clock)
    assert a.alert("errors", "errors in 3 cycles") is True
    clock.advance(timedelta(seconds=60))
    assert a.alert("errors", "errors in 4 cycles") is False
    assert a.alert("errors", "errors in 5 cycles") is False
    assert a.alert("breaker", "tripped") is True  # other keys are independent
    assert len(responses.calls) == 2
    clock.advance(timedelta(seconds=600))
    assert a.alert("errors", "errors in 15 cycles") is True
    assert len(responses.calls) == 3
    last = json.loads(responses.calls[2].request.body)["text"]
    assert "(+2 similar suppressed)" in last
    assert len(_events(s, "alert_suppressed")) == 2
    assert len(_events(s, "alert")) == 3


@responses.activate
def test_telegram_target_and_token_never_logged(tmp_path: Path):
    s = load_settings(env={"KALSHIBOT_LOG_DIR": str(tmp_path / "logs"),
                           "KALSHIBOT_TELEGRAM_BOT_TOKEN": TOKEN,
                           "KALSHIBOT_TELEGRAM_CHAT_ID": "-1001"}, dotenv_file=None)
    setup_logging(s, console=False)
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    responses.post(url, body=requests.ConnectionError(f"Max retries exceeded with url: {url}"))
    a = Alerter.from_settings(s, clock=SimClock(T0))
    assert a.alert("kill_switch", "kill switch is ON", Severity.CRITICAL) is True
    body = json.loads(responses.calls[0].request.body)
    assert body["chat_id"] == "-1001" and "kill switch is ON" in body["text"]
    text = (s.log_dir / "kalshibot.jsonl").read_text()
    assert TOKEN not in text and "telegram-secret-token" not in text
    assert len(_events(s, "alert_delivery_failed")) == 1


def test_no_targets_still_logs(tmp_path: Path):
    s = load_settings(env={"KALSHIBOT_LOG_DIR": str(tmp_path / "logs")}, dotenv_file=None)
    setup_logging(s, console=False)
    a = Alerter.from_settings(s, clock=SimClock(T0))
    assert a.targets == []
    assert a.alert("fill:1", "fill") is True
    assert _events(s, "alert")[0]["fields"]["key"] == "fill:1"


def test_a_broken_target_never_raises(tmp_path: Path):
    class Boom:
        name = "boom"

        def send(self, alert):  # noqa: ANN001
            raise ValueError("unexpected")

    a = Alerter([Boom()], SimClock(T0), 0)
    assert a.alert("k", "t") is True
    assert a.alert("k", "t") is True


@pytest.mark.parametrize("interval", ["0"])
@responses.activate
def test_zero_interval_disables_rate_limit(tmp_path: Path, interval: str):
    s = _settings(tmp_path, KALSHIBOT_ALERT_MIN_INTERVAL_S=interval)
    responses.post(HOOK, status=204)
    a = Alerter.from_settings(s, clock=SimClock(T0))
    assert a.alert("k", "1") and a.alert("k", "2")
    assert len(responses.calls) == 2
