"""Injected clocks. Strategy, risk and execution never read the wall clock directly.

All times are timezone-aware UTC ``datetime`` values.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from kalshibot.errors import BugError


class Clock(Protocol):
    """Source of the current time. ``sleep`` lets simulated clocks jump instead of waiting."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


def ensure_utc(ts: datetime) -> datetime:
    """Return ``ts`` as aware UTC; naive datetimes are rejected (they are a bug)."""
    if ts.tzinfo is None:
        raise BugError(f"naive datetime {ts!r}: all times must be timezone-aware UTC")
    return ts.astimezone(UTC)


class SystemClock:
    """The wall clock (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimClock:
    """A clock that only moves when told to; ``sleep`` advances it instantly."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(timedelta(seconds=seconds))

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise BugError("SimClock cannot go backwards")
        self._now += delta
        return self._now

    def set(self, ts: datetime) -> None:
        """Jump to ``ts`` (not earlier than now)."""
        ts = ensure_utc(ts)
        if ts < self._now:
            raise BugError(f"SimClock cannot go backwards from {self._now} to {ts}")
        self._now = ts


def to_epoch_ms(ts: datetime) -> int:
    """Unix time in whole milliseconds."""
    return int(ensure_utc(ts).timestamp() * 1000)


def from_epoch_s(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
