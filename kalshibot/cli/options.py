"""Parsing of option values shared by commands: list options and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kalshibot.errors import UserInputError

_UNITS = {"m": 60, "h": 3600, "d": 86_400}


def split_list(values: list[str] | None) -> tuple[str, ...]:
    """``--tickers A,B --tickers C`` -> ("A", "B", "C"): stripped, de-duplicated, in order."""
    out = [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]
    return tuple(dict.fromkeys(out))


def parse_when(text: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """ISO date/time (UTC when no zone given) -> aware UTC datetime; with ``now``, also
    ``30m`` / ``6h`` / ``7d`` meaning that long before ``now``. A bad value is a one-line
    ``UserInputError`` naming the option."""
    if text is None:
        return None
    t = text.strip()
    if now is not None and len(t) > 1 and t[-1] in _UNITS and t[:-1].isdigit():
        return now - timedelta(seconds=int(t[:-1]) * _UNITS[t[-1]])
    try:
        ts = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        relative = " or 30m/6h/7d" if now is not None else ""
        raise UserInputError(f"{option} {text!r} is not a date/time: use ISO, e.g. "
                             f"2026-11-20T19:00Z{relative}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
