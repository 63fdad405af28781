"""Parsing of option values shared by commands: list options, times and durations.

Every value is checked before use: times must fall in [2000-01-01, 2100-01-01) UTC and
durations must be positive and finite (``inf``/``nan`` are refused), so a far date or an
infinite duration is a one-line ``UserInputError`` (exit 2), never an overflow deep inside.
``bounded_numbers(command)`` wraps a command so that no integer option beyond 64 bits, no
NaN/infinite float option and no text that is not valid Unicode (bytes the shell could not
decode arrive as lone surrogates) reaches it (the CLI applies it to every command). Paths may
hold such bytes: file names are bytes on POSIX.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from kalshibot.errors import UserInputError

F = TypeVar("F", bound=Callable[..., Any])
_UNITS = {"m": 60, "h": 3600, "d": 86_400}
INT_LIMIT = 2**63 - 1  # what SQLite and every fixed-size integer downstream can hold
MIN_WHEN = datetime(2000, 1, 1, tzinfo=UTC)
MAX_WHEN = datetime(2100, 1, 1, tzinfo=UTC)
#: The longest duration any option accepts: 100 years, in seconds.
MAX_SECONDS = 100 * 366 * 86_400.0


def split_list(values: list[str] | None) -> tuple[str, ...]:
    """``--tickers A,B --tickers C`` -> ("A", "B", "C"): stripped, de-duplicated, in order."""
    out = [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]
    return tuple(dict.fromkeys(out))


def parse_when(text: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """ISO date/time (UTC when no zone given) -> aware UTC datetime; with ``now``, also
    ``30m`` / ``6h`` / ``7d`` meaning that long before ``now``. A bad or out-of-range value
    (outside 2000-01-01 .. 2100-01-01) is a one-line ``UserInputError`` naming the option."""
    if text is None:
        return None
    t = text.strip()
    if now is not None and len(t) > 1 and t[-1] in _UNITS and t[:-1].isascii() \
            and t[:-1].isdigit():
        seconds = int(t[:-1]) * _UNITS[t[-1]]
        if seconds > MAX_SECONDS:
            raise UserInputError(f"{option} {text!r} is too far back (at most 100 years)")
        return _in_range(now - timedelta(seconds=seconds), option, text)
    try:
        ts = datetime.fromisoformat(t.replace("Z", "+00:00"))
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (ValueError, OverflowError):
        relative = " or 30m/6h/7d" if now is not None else ""
        raise UserInputError(f"{option} {text!r} is not a date/time: use ISO, e.g. "
                             f"2026-11-20T19:00Z{relative}") from None
    return _in_range(ts, option, text)


def _in_range(ts: datetime, option: str, text: str) -> datetime:
    if not MIN_WHEN <= ts < MAX_WHEN:
        raise UserInputError(f"{option} {text!r} is outside {MIN_WHEN:%Y-%m-%d} .. "
                             f"{MAX_WHEN:%Y-%m-%d}")
    return ts


def positive_seconds(value: float | None, option: str) -> float | None:
    """A duration option in seconds: ``None`` stays ``None``; otherwise it must be positive
    and finite (at most 100 years), else a one-line ``UserInputError``."""
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise UserInputError(f"{option} must be a positive, finite number of seconds, "
                             f"got {value}")
    if value > MAX_SECONDS:
        raise UserInputError(f"{option} {value} is longer than 100 years")
    return value


def _flag(name: str, default: Any) -> str:
    """How the user wrote parameter ``name``: its first ``--long`` option, or the name."""
    decls = getattr(default, "param_decls", None) or ()
    longs = [d for d in decls if isinstance(d, str) and d.startswith("--")]
    if longs:
        return longs[0]
    if type(default).__name__ == "ArgumentInfo":
        return name.upper()
    return "--" + name.replace("_", "-")


def check_number(value: Any, flag: str) -> None:
    """``UserInputError`` for an integer beyond 64 bits, a NaN / infinite float or text with
    undecodable bytes (lone surrogates)."""
    if isinstance(value, bool):
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UserInputError(f"{flag} {value!r} is not valid UTF-8 text") from None
        return
    if isinstance(value, int) and not -INT_LIMIT <= value <= INT_LIMIT:
        raise UserInputError(f"{flag} is out of range (at most {INT_LIMIT:,} in size)")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserInputError(f"{flag} must be a finite number, got {value}")
    if isinstance(value, list | tuple):
        for v in value:
            check_number(v, flag)


def bounded_numbers(command: F) -> F:
    """``command`` refusing out-of-range integers and NaN/inf floats in its arguments."""
    sig = inspect.signature(command)
    flags = {n: _flag(n, p.default) for n, p in sig.parameters.items()}

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name, v in sig.bind_partial(*args, **kwargs).arguments.items():
            check_number(v, flags[name])
        return command(*args, **kwargs)

    return checked  # type: ignore[return-value]
