from datetime import UTC, datetime, timedelta

import pytest

from kalshibot.clock import SimClock, SystemClock, ensure_utc, to_epoch_ms
from kalshibot.errors import BugError

T0 = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)


def test_sim_clock_moves_only_forward():
    c = SimClock(T0)
    c.sleep(1.5)
    assert c.now() == T0 + timedelta(seconds=1.5)
    c.set(T0 + timedelta(minutes=1))
    with pytest.raises(BugError):
        c.set(T0)
    with pytest.raises(BugError):
        c.advance(timedelta(seconds=-1))


def test_naive_datetimes_are_bugs():
    with pytest.raises(BugError):
        SimClock(datetime(2026, 1, 1))
    with pytest.raises(BugError):
        ensure_utc(datetime(2026, 1, 1))


def test_system_clock_is_utc_and_epoch_ms():
    assert SystemClock().now().tzinfo is not None
    assert to_epoch_ms(T0) == 1795201200000
