"""Audit records: commands that change risk state or orders must not succeed without them.

``audit_event(settings, event, msg, **fields)`` writes one JSON-lines event to
``<log_dir>/kalshibot.jsonl`` (the trading log), flushed and fsynced, with the OS user. When it
cannot (the folder is read-only or missing, the disk is full), it raises ``ConfigError``
(exit 3, one line) instead of losing the record: a command writes its audit record *before*
it commits its change (``risk reset`` inside its transaction), so a failed audit leaves
nothing changed. ``audit_ready(settings)`` checks early that the log can be opened, for
commands whose action (an exchange cancel) cannot be rolled back.
"""

from __future__ import annotations

import getpass
import logging
from typing import Any

from kalshibot.config import Settings
from kalshibot.errors import ConfigError
from kalshibot.monitor.logging import file_handler, jsonable, setup_logging

AUDIT_LOGGER = "kalshibot.audit"
_HINT = "set KALSHIBOT_LOG_DIR to a writable folder with free space"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): still audit
        return "unknown"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def audit_ready(settings: Settings) -> None:
    """Open the audit log now; ``ConfigError`` (exit 3) when it cannot be opened."""
    try:
        path = setup_logging(settings, console=False)
    except OSError as exc:
        raise ConfigError(f"cannot open the audit log under {settings.log_dir}: {_why(exc)}; "
                          "nothing was done", hint=_HINT) from exc
    if file_handler() is None:  # pragma: no cover - setup_logging always installs it
        raise ConfigError(f"no audit log handler for {path}")


def audit_event(settings: Settings, event: str, msg: str, *, level: int = logging.INFO,
                **fields: Any) -> None:
    """Write one audit event durably, or raise ``ConfigError`` (exit 3)."""
    audit_ready(settings)
    handler = file_handler()
    assert handler is not None
    logger = logging.getLogger(AUDIT_LOGGER)
    record = logger.makeRecord(AUDIT_LOGGER, level, "(audit)", 0, msg, (), None,
                               extra={"event": event,
                                      "fields": jsonable({"user": _user(), **fields})})
    try:
        handler.write_strict(record)
    except OSError as exc:
        raise ConfigError(f"cannot write the audit record {event!r} to "
                          f"{handler.baseFilename}: {_why(exc)}", hint=_HINT) from exc
