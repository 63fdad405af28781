"""Token buckets with a fake clock: never more than the configured calls per second."""

from __future__ import annotations

import pytest

from kalshibot.errors import ConfigError
from kalshibot.kalshi.ratelimit import Bucket, RateLimiter, TokenBucket, requests_per_second


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s
        self.slept += s


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window + 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize(("bucket", "rate"), [(Bucket.READ, 20), (Bucket.WRITE, 10)])
def test_burst_of_200_never_exceeds_rate_per_second(bucket: Bucket, rate: int) -> None:
    ft = FakeTime()
    lim = RateLimiter.create(ft.now, ft.sleep, reads_per_s=20, writes_per_s=10)
    times = []
    for _ in range(200):
        lim.acquire(bucket)
        times.append(ft.t)
    assert max_in_any_window(times) <= rate
    # and it is not needlessly slow: 200 calls take about 200/rate seconds
    assert times[-1] - times[0] == pytest.approx(199 / rate, rel=1e-6)


def test_reads_and_writes_are_separate_buckets() -> None:
    ft = FakeTime()
    lim = RateLimiter.create(ft.now, ft.sleep, reads_per_s=20, writes_per_s=10)
    lim.acquire(Bucket.READ)
    lim.acquire(Bucket.WRITE)  # a read does not consume the write budget
    assert ft.slept == 0.0


def test_idle_time_refills_up_to_burst_only() -> None:
    ft = FakeTime()
    b = TokenBucket(10, ft.now, ft.sleep)
    b.acquire()
    ft.t += 60  # long idle: still at most one token banked
    b.acquire()
    assert ft.slept == 0.0
    b.acquire()
    assert ft.slept == pytest.approx(0.1)


def test_rates_from_account_limits_and_validation() -> None:
    assert requests_per_second(200) == 20.0
    assert requests_per_second(100) == 10.0
    with pytest.raises(ConfigError):
        requests_per_second(0)
    ft = FakeTime()
    with pytest.raises(ConfigError):
        TokenBucket(0, ft.now, ft.sleep)
