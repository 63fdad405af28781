"""Alerts: to a Slack/Discord-compatible webhook and Telegram, and always to the log.

``Alerter.alert(key, text)``:

- writes an ``alert`` event to the log (always, also when no target is configured);
- suppresses a repeat of the same ``key`` within ``min_interval_s`` seconds of the injected
  clock (logged as ``alert_suppressed`` at debug level, counted, and reported with the next
  alert of that key that goes out);
- sends to every target with a short timeout. A delivery failure never raises: it is logged
  once (one ``alert_delivery_failed`` warning per target until that target works again, then
  one ``alert_delivery_recovered``).

Targets use ``requests``; the webhook body is ``{"text": ..., "content": ...}`` (Slack reads
``text``, Discord ``content``); Telegram uses ``sendMessage``. Target URLs and tokens are
secrets and never logged (see ``kalshibot.monitor.logging``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import requests

from kalshibot.clock import Clock, SystemClock
from kalshibot.config import Settings
from kalshibot.monitor.logging import REDACTOR, log_event

log = logging.getLogger("kalshibot.monitor.alerts")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


_LEVEL = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING,
          Severity.CRITICAL: logging.ERROR}
_ICON = {Severity.INFO: "i", Severity.WARNING: "!", Severity.CRITICAL: "!!"}


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # rate-limit key, e.g. "breaker", "kill_switch", "fill"
    text: str
    severity: Severity = Severity.WARNING
    ts: datetime | None = None
    suppressed_before: int = 0  # repeats of this key suppressed since the last one sent

    def render(self, prefix: str = "kalshibot") -> str:
        more = f" (+{self.suppressed_before} similar suppressed)" if self.suppressed_before else ""
        return f"[{prefix}] {_ICON[self.severity]} {self.text}{more}"


class AlertTarget(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver or raise (the ``Alerter`` catches everything)."""


@dataclass
class WebhookTarget:
    """Slack/Discord-compatible incoming webhook (JSON POST, timeout in seconds)."""

    url: str
    session: requests.Session = field(default_factory=requests.Session)
    timeout_s: float = 5.0
    name: str = "webhook"

    def send(self, alert: Alert) -> None:
        text = alert.render()
        resp = self.session.post(self.url, json={"text": text, "content": text},
                                 timeout=self.timeout_s)
        if resp.status_code >= 300:
            raise RuntimeError(f"HTTP {resp.status_code}")


@dataclass
class TelegramTarget:
    """Telegram Bot API ``sendMessage`` (timeout in seconds)."""

    token: str
    chat_id: str
    session: requests.Session = field(default_factory=requests.Session)
    timeout_s: float = 5.0
    base_url: str = "https://api.telegram.org"
    name: str = "telegram"

    def send(self, alert: Alert) -> None:
        resp = self.session.post(f"{self.base_url}/bot{self.token}/sendMessage",
                                 json={"chat_id": self.chat_id, "text": alert.render(),
                                       "disable_web_page_preview": True},
                                 timeout=self.timeout_s)
        if resp.status_code >= 300:
            raise RuntimeError(f"HTTP {resp.status_code}")


def _describe(exc: BaseException) -> str:
    """A short, secret-free description of a delivery failure (never the URL)."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    if isinstance(exc, RuntimeError):
        return REDACTOR.redact(str(exc))
    return type(exc).__name__


@dataclass
class Alerter:
    """Rate-limited fan-out of alerts; never raises (see module docstring)."""

    targets: Sequence[AlertTarget] = ()
    clock: Clock = field(default_factory=SystemClock)
    min_interval_s: float = 900.0
    logger: logging.Logger = log
    _last_sent: dict[str, datetime] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)
    _failing: dict[str, int] = field(default_factory=dict)  # target -> failures in a row
    sent: list[Alert] = field(default_factory=list)  # alerts that went out (for views/tests)

    @classmethod
    def from_settings(cls, s: Settings, *, clock: Clock | None = None,
                      session: requests.Session | None = None) -> Alerter:
        http = session or requests.Session()
        targets: list[AlertTarget] = []
        if s.alert_webhook_url is not None:
            targets.append(WebhookTarget(s.alert_webhook_url.get_secret_value(), http,
                                         s.alert_timeout_s))
        if s.telegram_bot_token is not None and s.telegram_chat_id:
            targets.append(TelegramTarget(s.telegram_bot_token.get_secret_value(),
                                          s.telegram_chat_id, http, s.alert_timeout_s))
        REDACTOR.add(s.alert_webhook_url, s.telegram_bot_token)
        return cls(targets, clock or SystemClock(), s.alert_min_interval_s)

    def alert(self, key: str, text: str, severity: Severity = Severity.WARNING,
              **fields: Any) -> bool:
        """Log and (unless rate limited) deliver one alert; True when it was delivered/sent."""
        try:
            return self._alert(key, text, severity, fields)
        except Exception as exc:  # alerting must never stop trading
            self.logger.error("alerting failed: %s", type(exc).__name__)
            return False

    def _alert(self, key: str, text: str, severity: Severity, fields: dict[str, Any]) -> bool:
        now = self.clock.now()
        last = self._last_sent.get(key)
        if last is not None and (now - last).total_seconds() < self.min_interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            log_event(self.logger, "alert_suppressed", f"alert {key} rate limited: {text}",
                      level=logging.DEBUG, key=key, severity=severity.value,
                      repeats=self._suppressed[key], **fields)
            return False
        a = Alert(key, text, severity, now, self._suppressed.pop(key, 0))
        self._last_sent[key] = now
        log_event(self.logger, "alert", f"ALERT {key}: {text}", level=_LEVEL[severity],
                  key=key, severity=severity.value, suppressed_before=a.suppressed_before,
                  targets=[t.name for t in self.targets], **fields)
        self.sent.append(a)
        for target in self.targets:
            self._deliver(target, a)
        return True

    def _deliver(self, target: AlertTarget, a: Alert) -> None:
        try:
            target.send(a)
        except Exception as exc:  # never raise; log the first failure of a streak only
            n = self._failing.get(target.name, 0) + 1
            self._failing[target.name] = n
            if n == 1:
                log_event(self.logger, "alert_delivery_failed",
                          f"alert delivery to {target.name} failed: {_describe(exc)} "
                          "(further failures are not logged until it works again)",
                          level=logging.WARNING, target=target.name, key=a.key,
                          reason=_describe(exc))
            return
        failures = self._failing.pop(target.name, 0)
        if failures:
            log_event(self.logger, "alert_delivery_recovered",
                      f"alert delivery to {target.name} works again after {failures} failures",
                      target=target.name, failures=failures)
