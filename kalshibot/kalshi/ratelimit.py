"""Client-side token buckets, one for reads and one for writes (``kalshi-api.md`` section 9).

Rates are in *requests per second* (Kalshi's Basic tier: 20 reads/s, 10 writes/s, i.e. 200/100
tokens at the default cost of 10 tokens per request). By default a bucket holds one request
(``burst=1``), which spaces calls ``1/rate`` seconds apart: no 1-second window ever holds more
than ``rate`` calls, which keeps us inside the exchange's own (larger) buckets. Time and sleep are
injected so tests never wait.

Requests do not all cost the same (``kalshi-api.md`` sections 9 and 14): a request takes
``cost / DEFAULT_TOKEN_COST`` request units from its bucket, where ``cost`` comes from
``EndpointCosts``: built-in values from spec 3.34 (cancels 2 tokens, batch cancels 2 per item,
batch creates 10 per item) replaced by ``GET /account/endpoint_costs`` when it is read. The
balance endpoint also has its own 1 request/s limit at the Basic tier: the bot reads it once at
start-up only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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

    def acquire(self, bucket: Bucket, units: float = 1.0) -> float:
        """Take ``units`` requests' worth (1 = one request at the default token cost)."""
        return (self.read if bucket is Bucket.READ else self.write).acquire(units)

    def set_rates(self, reads_per_s: float, writes_per_s: float) -> None:
        self.read.set_rate(reads_per_s)
        self.write.set_rate(writes_per_s)


def requests_per_second(refill_tokens_per_s: int, cost: int = DEFAULT_TOKEN_COST) -> float:
    """Requests per second a bucket refilling ``refill_tokens_per_s`` allows at ``cost`` each."""
    if refill_tokens_per_s <= 0 or cost <= 0:
        raise ConfigError(f"invalid bucket refill rate {refill_tokens_per_s} / cost {cost}")
    return refill_tokens_per_s / cost


API_PREFIX = "/trade-api/v2"
#: Non-default costs in spec 3.34 (method, path template, tokens per request or batch item).
BUILTIN_COSTS: tuple[tuple[str, str, int], ...] = (
    ("DELETE", "/portfolio/events/orders/{order_id}", 2),
    ("DELETE", "/portfolio/events/orders/batched", 2),
    ("DELETE", "/portfolio/events/orders", 2),
)
_BATCHED = ("/batched",)


def _template_re(path: str) -> re.Pattern[str]:
    p = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else path
    parts = [("[^/]+" if seg.startswith("{") and seg.endswith("}") else re.escape(seg))
             for seg in p.rstrip("/").split("/")]
    return re.compile("/".join(parts) + "$")


@dataclass
class EndpointCosts:
    """Token cost per endpoint (``GET /account/endpoint_costs``); ``units`` converts a request
    (``items`` for a batch, billed per item) into request units of ``DEFAULT_TOKEN_COST``."""

    default_cost: int = DEFAULT_TOKEN_COST
    _rules: list[tuple[str, re.Pattern[str], int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self._rules:
            self.set(self.default_cost, BUILTIN_COSTS)

    def set(self, default_cost: int, costs: Iterable[tuple[str, str, int]]) -> None:
        """Replace every rule: ``costs`` are (method, path template, tokens)."""
        if default_cost <= 0:
            raise ConfigError(f"invalid default endpoint cost {default_cost}")
        rules = [(m.upper(), _template_re(p), int(c)) for m, p, c in costs if p and c >= 0]
        # exact paths before templates, longer before shorter: "/batched" beats "/{order_id}"
        rules.sort(key=lambda r: (r[1].pattern.count("[^/]+"), -len(r[1].pattern)))
        self.default_cost, self._rules = default_cost, rules

    def cost(self, method: str, path: str) -> int:
        """Tokens of one request (or one batch item) to ``path`` (relative to the API base)."""
        p = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else path
        m = method.upper()
        for rm, rx, c in self._rules:
            if (not rm or rm == m) and rx.match(p):
                return c
        return self.default_cost

    def units(self, method: str, path: str, items: int = 1) -> float:
        per_item = path.rstrip("/").endswith(_BATCHED)
        n = max(1, items) if per_item else 1
        return n * self.cost(method, path) / DEFAULT_TOKEN_COST
