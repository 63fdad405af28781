"""Issue 15 case 9: the trading day (daily loss limit, breaker peak) starts at a documented,
configurable boundary (``KALSHIBOT_DAY_BOUNDARY``), shown in ``status``; UTC midnight by
default."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from kalshibot.config import inspect_settings, load_settings
from kalshibot.domain.day import DayBoundary
from kalshibot.domain.money import Money
from kalshibot.risk import CircuitBreaker, RiskLimits

D = Decimal


class DictKV(dict):  # type: ignore[type-arg]
    def get(self, key: str) -> str | None:  # type: ignore[override]
        return super().get(key)

    def set(self, key: str, value: str) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def test_parse_and_name_the_trading_day() -> None:
    ny = DayBoundary.parse("17:00 America/New_York")
    assert str(ny) == "17:00 America/New_York"
    # 2026-11-19 23:30Z = 18:30 New York (EST): the day that started 17:00 on the 19th
    assert ny.day_of(datetime(2026, 11, 19, 23, 30, tzinfo=UTC)) == date(2026, 11, 19)
    assert ny.day_of(datetime(2026, 11, 20, 21, 59, tzinfo=UTC)) == date(2026, 11, 19)
    assert ny.day_of(datetime(2026, 11, 20, 22, 0, tzinfo=UTC)) == date(2026, 11, 20)
    assert ny.start_of(datetime(2026, 11, 20, 3, 0, tzinfo=UTC)) == datetime(
        2026, 11, 19, 22, 0, tzinfo=UTC)
    # summer (EDT): 17:00 New York is 21:00Z
    assert ny.start_of(datetime(2026, 7, 1, 21, 30, tzinfo=UTC)) == datetime(
        2026, 7, 1, 21, 0, tzinfo=UTC)
    utc = DayBoundary.parse("00:00")
    assert str(utc) == "00:00 UTC"
    assert utc.day_of(datetime(2026, 11, 19, 23, 59, tzinfo=UTC)) == date(2026, 11, 19)
    for bad in ("24:00", "7pm", "17:00 Mars/Olympus", ""):
        with pytest.raises(ValueError):
            DayBoundary.parse(bad)


def test_an_invalid_boundary_or_allowance_is_reported() -> None:
    _, problems = inspect_settings(env={"KALSHIBOT_DAY_BOUNDARY": "25:00",
                                        "KALSHIBOT_ADVERSE_SELECTION": "nan"},
                                   dotenv_file=None)
    keys = {p.key for p in problems}
    assert {"KALSHIBOT_DAY_BOUNDARY", "KALSHIBOT_ADVERSE_SELECTION"} <= keys


def test_the_daily_loss_does_not_reset_at_utc_midnight_with_a_new_york_day() -> None:
    """With a 17:00 New York boundary, a loss taken at 23:00Z still counts at 00:30Z (the same
    trading day); with the default the day starts over at UTC midnight. On f6e3055 the day
    always reset at UTC midnight, silently."""
    lim = RiskLimits.from_settings(load_settings(
        env={"KALSHIBOT_DAY_BOUNDARY": "17:00 America/New_York"}, dotenv_file=None))
    for boundary, expect in ((lim.day_boundary, Money(1000)), (DayBoundary(), Money(900))):
        br = CircuitBreaker(DictKV(), D("0.5"), boundary)
        br.update(Money(1000), datetime(2026, 11, 19, 23, 0, tzinfo=UTC))
        after = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)
        br.update(Money(900), after)
        assert br.day_start_equity(after, Money(0)) == expect
