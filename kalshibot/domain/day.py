"""The trading day: when the daily loss limit and the circuit breaker's peak start over.

A boundary is a wall-clock time in a time zone, written ``"HH:MM Zone"`` (``"00:00 UTC"``, the
default, or e.g. ``"17:00 America/New_York"``; the zone is an IANA name and defaults to UTC). The
trading day that contains an instant is named by the local date on which it *started*: with a
17:00 New York boundary, 2026-11-19 18:00 New York and 2026-11-20 16:59 New York are both in the
trading day ``2026-11-19``. Daylight-saving changes are followed (the boundary stays 17:00 local).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?:\s+(\S+))?\s*$")


@dataclass(frozen=True, slots=True)
class DayBoundary:
    """Start of each trading day: ``hour:minute`` local time in ``zone`` (an IANA name)."""

    hour: int = 0
    minute: int = 0
    zone: str = "UTC"

    @classmethod
    def parse(cls, text: str) -> DayBoundary:
        """``"HH:MM"`` or ``"HH:MM Zone"``; ``ValueError`` with a readable reason otherwise."""
        m = _RE.match(text or "")
        if m is None:
            raise ValueError(f"expected 'HH:MM' or 'HH:MM Zone' (e.g. '00:00 UTC'), got {text!r}")
        hour, minute, zone = int(m.group(1)), int(m.group(2)), m.group(3) or "UTC"
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValueError(f"{m.group(1)}:{m.group(2)} is not a time of day")
        b = cls(hour, minute, zone)
        b.tz()  # unknown zones fail here
        return b

    def tz(self) -> tzinfo:
        if self.zone.upper() in ("UTC", "Z"):
            return UTC
        try:
            return ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.zone!r} (use an IANA name such as "
                             "'America/New_York')") from None

    def day_of(self, now: datetime) -> date:
        """The trading day containing ``now`` (an aware instant): its starting local date."""
        local = now.astimezone(self.tz())
        if (local.hour, local.minute) < (self.hour, self.minute):
            return local.date() - timedelta(days=1)
        return local.date()

    def start_of(self, now: datetime) -> datetime:
        """When the trading day containing ``now`` started (aware, UTC)."""
        d = self.day_of(now)
        start = datetime.combine(d, time(self.hour, self.minute), tzinfo=self.tz())
        return start.astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d} {self.zone}"


UTC_MIDNIGHT = DayBoundary()
