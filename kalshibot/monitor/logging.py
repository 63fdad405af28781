"""Structured logs: JSON lines under ``log_dir`` (rotated), rich console output, redaction.

- ``setup_logging(settings)`` installs, on the ``kalshibot`` logger, a size-rotating file
  handler writing one JSON object per line to ``<log_dir>/kalshibot.jsonl`` (rotation at
  ``log_max_bytes`` bytes, ``log_backup_count`` old files kept) and, optionally, a rich console
  handler on stderr. Calling it again replaces the handlers it installed before.
- ``log_event(logger, "fill", ...)`` writes one event: the line carries ``event`` (its kind)
  and ``fields`` (everything needed to reconstruct what happened; money as exact decimal text).
- ``Redactor`` / ``RedactionFilter``: secrets never reach any handler. Configured secret values
  (API key id, key password, webhook URL, Telegram token, the lines of the private key file),
  PEM blocks, ``KALSHI-ACCESS-SIGNATURE`` / ``KALSHI-ACCESS-KEY`` header values, bare
  base64 blobs of signature length (64+ characters with ``+``, ``/`` or ``=``), bearer tokens
  and webhook/bot tokens in URLs are replaced by ``[REDACTED]`` in messages, structured fields
  and tracebacks. The JSON formatter redacts its finished line once more.
- ``LogFileHandler``: the rotating JSON-lines handler. When the disk is full or the file
  cannot be written, trading goes on: one warning line on stderr (not Python's
  "--- Logging error ---" traceback per record), lost lines counted in ``dropped``, and one
  line again when writing works once more. ``write_strict(record)`` is the audited path: it
  writes, flushes and fsyncs, and raises ``OSError`` instead (``kalshibot.monitor.audit``).
- Heartbeat helpers: ``heartbeat_age_s`` (seconds, from an injected ``now``) and
  ``heartbeat_fields`` (a heartbeat as log fields).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from kalshibot.config import Settings
from kalshibot.store.runs import Heartbeat

ROOT_LOGGER = "kalshibot"
LOG_FILE = "kalshibot.jsonl"
MASK = "[REDACTED]"
_OURS = "_kalshibot_monitor"  # attribute marking the handlers setup_logging installed

#: Field names whose values are always masked in structured events.
SENSITIVE_KEYS = re.compile(
    r"(secret|password|passwd|token|signature|private_?key|api_?key|authorization|webhook)",
    re.IGNORECASE,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks, also cut off ones (BEGIN without END up to the end of the text).
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|\Z)"),
     "[REDACTED PEM]"),
    # Kalshi auth headers in dict reprs, JSON (also escaped JSON) and "Header: value" text.
    (re.compile(r"(KALSHI-ACCESS-(?:SIGNATURE|KEY)(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?)"
                r"([^\s\"'\\,}]+)", re.IGNORECASE), r"\1" + MASK),
    (re.compile(r"(Authorization(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?(?:Bearer|Basic)?\s*)"
                r"([^\s\"'\\,}]+)", re.IGNORECASE), r"\1" + MASK),
    # Bare signatures (RSA-PSS: 344 base64 chars, Ed25519: 88): long base64 runs with a
    # '+', '/' or '=' padding (hex digests and ids have none of these and are kept).
    (re.compile(r"(?<![A-Za-z0-9+/=])(?=[A-Za-z0-9+/]*[+/=])[A-Za-z0-9+/]{64,}={0,2}"
                r"(?![A-Za-z0-9+/=])"), "[REDACTED BLOB]"),
    # Telegram bot tokens in API URLs, Slack/Discord webhook paths.
    (re.compile(r"(api\.telegram\.org/bot)[^/\s\"']+"), r"\1" + MASK),
    (re.compile(r"(hooks\.slack\.com/services/)[^\s\"']+"), r"\1" + MASK),
    (re.compile(r"(discord(?:app)?\.com/api/webhooks/)[^\s\"']+"), r"\1" + MASK),
)


@dataclass
class Redactor:
    """Replaces secret values and secret-looking patterns in text and structured values."""

    secrets: set[str] = field(default_factory=set)

    def add(self, *values: str | SecretStr | None) -> None:
        """Register literal secret values (short values under 4 characters are ignored)."""
        for v in values:
            text = v.get_secret_value() if isinstance(v, SecretStr) else v
            if text and len(text.strip()) >= 4:
                self.secrets.add(text.strip())

    def add_key_file(self, path: Path | None) -> None:
        """Register every base64 line of a PEM key file (so a key body never appears)."""
        if path is None:
            return
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("-----") and len(line) >= 16:
                self.secrets.add(line)

    @classmethod
    def from_settings(cls, s: Settings) -> Redactor:
        r = cls()
        r.add(s.api_key_id, s.private_key_password, s.alert_webhook_url, s.telegram_bot_token)
        r.add_key_file(s.private_key_path)
        return r

    def redact(self, text: str) -> str:
        if not text:
            return text
        for value in sorted(self.secrets, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        return text

    def redact_value(self, value: Any, key: str = "") -> Any:
        """Structured values: mask sensitive keys, redact strings, recurse into containers."""
        if key and SENSITIVE_KEYS.search(key) and value not in (None, "", False):
            return MASK
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {str(k): self.redact_value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(v) for v in value]
        return value


#: The process-wide redactor every handler installed here uses.
REDACTOR = Redactor()


class RedactionFilter(logging.Filter):
    """Handler filter: renders and redacts the message, fields and traceback of a record."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            msg = f"{record.msg!r} {record.args!r}"
        record.msg = self.redactor.redact(msg)
        record.args = None
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = self.redactor.redact(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            record.fields = self.redactor.redact_value(dict(fields))
        return True


def jsonable(value: Any) -> Any:
    """Log/JSON form of a value: money and prices as exact text, times ISO-8601 UTC."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    to_str = getattr(value, "to_str", None)  # Money, Price, Count
    if callable(to_str):
        return to_str()
    return str(value)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, msg, fields[, exc]."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or "log",
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            doc["fields"] = jsonable(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info))
        if record.exc_text:
            doc["exc"] = record.exc_text
        return self.redactor.redact(json.dumps(doc, ensure_ascii=False, default=str))


class LogFileHandler(RotatingFileHandler):
    """Size-rotating file handler that degrades to one warning when it cannot write."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self.dropped = 0  # records lost since the last successful write
        self._failed_this_emit = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_this_emit = False
        super().emit(record)
        if not self._failed_this_emit and self.dropped:
            _warn(f"kalshibot: writing the log {self.baseFilename} again "
                  f"({self.dropped} line(s) were lost)")
            self.dropped = 0

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self._failed_this_emit = True
        if self.dropped == 0:
            exc = sys.exc_info()[1]
            why = (exc.strerror if isinstance(exc, OSError) and exc.strerror
                   else f"{type(exc).__name__}: {exc}")
            _warn(f"kalshibot: warning: cannot write the log {self.baseFilename} ({why}); "
                  "going on without it, further log errors are not shown")
        self.dropped += 1

    def write_strict(self, record: logging.LogRecord) -> None:
        """Write ``record`` now, flushed and fsynced; raise ``OSError`` when that fails (the
        unwritten text is dropped, not left in the buffer for a later write)."""
        self.acquire()
        try:
            if not self.filter(record):
                return
            if self.shouldRollover(record):
                self.doRollover()
            if self.stream is None:
                self.stream = self._open()
            try:
                self.stream.write(self.format(record) + self.terminator)
                self.stream.flush()
                if os.path.isfile(self.baseFilename):
                    os.fsync(self.stream.fileno())
            except OSError:
                self._drop_stream()
                raise
        finally:
            self.release()

    def _drop_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()

    def close(self) -> None:
        """Close; text that cannot be flushed any more (full disk) is dropped silently."""
        try:
            super().close()
        except OSError:
            self.stream = None


def _warn(line: str) -> None:
    """One line on stderr, never an exception (the log itself is what failed)."""
    with contextlib.suppress(Exception):  # stderr gone too: nothing left to tell
        print(line, file=sys.stderr, flush=True)


def file_handler(logger: logging.Logger | None = None) -> LogFileHandler | None:
    """The JSON-lines handler ``setup_logging`` installed (None before)."""
    for h in (logger or logging.getLogger(ROOT_LOGGER)).handlers:
        if isinstance(h, LogFileHandler) and getattr(h, _OURS, False):
            return h
    return None


def log_event(logger: logging.Logger, event: str, msg: str = "", *, level: int = logging.INFO,
              **fields: Any) -> None:
    """Write one structured event (``event`` names its kind; ``fields`` its data)."""
    logger.log(level, msg or event, extra={"event": event, "fields": jsonable(fields)})


def _remove_ours(logger: logging.Logger) -> None:
    for h in list(logger.handlers):
        if getattr(h, _OURS, False):
            logger.removeHandler(h)
            h.close()


def setup_logging(settings: Settings, *, console: bool = True,
                  console_level: int = logging.WARNING, level: int = logging.INFO,
                  log_dir: Path | None = None) -> Path:
    """Install the JSON-lines file handler (and the rich console handler); returns the file.

    Secrets from ``settings`` are registered with the shared redactor first. The console
    handler shows ``console_level`` and above (warnings by default) so it does not disturb
    the trade view.
    """
    REDACTOR.secrets |= Redactor.from_settings(settings).secrets
    folder = log_dir or settings.log_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    logger = logging.getLogger(ROOT_LOGGER)
    _remove_ours(logger)
    logger.setLevel(min(level, console_level) if console else level)
    fh = LogFileHandler(path, max_bytes=settings.log_max_bytes,
                        backups=settings.log_backup_count)
    fh.setLevel(level)
    fh.addFilter(RedactionFilter())
    fh.setFormatter(JsonLinesFormatter())
    setattr(fh, _OURS, True)
    logger.addHandler(fh)
    if console:
        from rich.console import Console
        from rich.logging import RichHandler

        ch = RichHandler(console=Console(stderr=True), show_path=False, markup=False,
                         rich_tracebacks=False, log_time_format="%H:%M:%S")
        ch.setLevel(console_level)
        ch.addFilter(RedactionFilter())
        setattr(ch, _OURS, True)
        logger.addHandler(ch)
    return path


def teardown_logging() -> None:
    """Remove (and close) the handlers ``setup_logging`` installed."""
    _remove_ours(logging.getLogger(ROOT_LOGGER))


def read_events(path: Path) -> Iterable[dict[str, Any]]:
    """The JSON events of one log file (unparseable lines are skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


# --- heartbeat helpers ----------------------------------------------------------------------
def heartbeat_age_s(hb: Heartbeat | None, now: datetime) -> float | None:
    """Seconds since the heartbeat (None without one); never negative."""
    if hb is None:
        return None
    return max((now - hb.ts).total_seconds(), 0.0)


def heartbeat_is_stale(hb: Heartbeat | None, now: datetime, stale_after_s: float) -> bool:
    """True when there is no heartbeat or it is older than ``stale_after_s`` seconds."""
    age = heartbeat_age_s(hb, now)
    return age is None or age > stale_after_s


def heartbeat_fields(hb: Heartbeat) -> dict[str, Any]:
    """A heartbeat as log fields (``cycle_ms`` in milliseconds)."""
    return {"run_id": hb.run_id, "ts": hb.ts, "cycle": hb.cycle, "cycle_ms": hb.cycle_ms,
            "markets_seen": hb.markets_seen, "orders_sent": hb.orders_sent,
            "errors": hb.errors, "note": hb.note}
