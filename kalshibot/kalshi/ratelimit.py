"""Client-side token buckets, one for reads and one for writes (``kalshi-api.md`` section 9).

Rates are in *requests per second* (Kalshi's Basic tier: 20 reads/s, 10 writes/s, i.e. 200/100
tokens at the default cost of 10 tokens per request). By default a bucket holds one request
(``burst=1``), which spaces calls ``1/rate`` seconds apart: no 1-second window ever holds more
than ``rate`` calls, which keeps us inside the exchange's own (larger) buckets. Time and sleep are
injected so tests never wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from kalshibot.clock import Clock
from kalshibot.errors import ConfigError

DEFAULT_READS_PER_S = 20.0
DEFAULT_WRITES_PER_S = 10.0
#: Tokens one request costs on the exchange unless ``/account/endpoint_costs`` says otherwise.
DEFAULT_TOKEN_COST = 10


class Bucket(StrEnum):
    READ = "read"
    WRITE = "write"


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst`` tokens; starts full."""

    def __init__(
        self, rate: float, now: Callable[[], float], sleep: Callable[[float], None],
        burst: float = 1.0,
    ) -> None:
        self._now = now
        self._sleep = sleep
        self.set_rate(rate, burst)
        self._tokens = self.burst
        self._last = now()

    def set_rate(self, rate: float, burst: float = 1.0) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigError(f"rate limit must be positive with burst >= 1 (got {rate}, {burst})")
        self.rate = float(rate)
        self.burst = float(burst)

    def _refill(self) -> None:
        t = self._now()
        if t > self._last:
            self._tokens = min(self.burst, self._tokens + (t - self._last) * self.rate)
            self._last = t

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping (injected) until they are available; returns seconds slept."""
        waited = 0.0
        self._refill()
        if self._tokens < tokens:
            waited = (tokens - self._tokens) / self.rate
            self._sleep(waited)
            self._refill()
            # The sleep paid for the shortfall; clocks with coarse ticks may under-report it.
            self._tokens = max(self._tokens, tokens)
        self._tokens -= tokens
        return waited


@dataclass
class RateLimiter:
    """Separate read and write buckets."""

    read: TokenBucket
    write: TokenBucket

    @classmethod
    def create(
        cls, now: Callable[[], float], sleep: Callable[[float], None],
        reads_per_s: float = DEFAULT_READS_PER_S, writes_per_s: float = DEFAULT_WRITES_PER_S,
    ) -> RateLimiter:
        return cls(TokenBucket(reads_per_s, now, sleep), TokenBucket(writes_per_s, now, sleep))

    @classmethod
    def for_clock(cls, clock: Clock, reads_per_s: float = DEFAULT_READS_PER_S,
                  writes_per_s: float = DEFAULT_WRITES_PER_S) -> RateLimiter:
        """Buckets timed by ``clock`` (seconds since creation, exact to the microsecond)."""
        start = clock.now()
        return cls.create(lambda: (clock.now() - start).total_seconds(), clock.sleep,
                          reads_per_s, writes_per_s)

    def acquire(self, bucket: Bucket) -> float:
        return (self.read if bucket is Bucket.READ else self.write).acquire()

    def set_rates(self, reads_per_s: float, writes_per_s: float) -> None:
        self.read.set_rate(reads_per_s)
        self.write.set_rate(writes_per_s)


def requests_per_second(refill_tokens_per_s: int, cost: int = DEFAULT_TOKEN_COST) -> float:
    """Requests per second a bucket refilling ``refill_tokens_per_s`` allows at ``cost`` each."""
    if refill_tokens_per_s <= 0 or cost <= 0:
        raise ConfigError(f"invalid bucket refill rate {refill_tokens_per_s} / cost {cost}")
    return refill_tokens_per_s / cost
