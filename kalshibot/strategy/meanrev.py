"""Mean reversion on the YES mid: z-score against a rolling mean of recent mids.

Entry when ``|z| >= z_entry`` (fair value = the rolling mean, so the edge rule buys the cheap
side only if the reversion pays the fees); exit when ``|z| <= z_exit``; no new entries in the
last ``no_entry_last_s`` seconds before close. State (recent mids) lives in the instance and
only ever sees books up to the decision time.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Sequence

from kalshibot.strategy.base import FairValue, MarketView

#: Bits kept before the final rounding of a square root (as ``statistics`` does).
_SQRT_BITS = 2 * 53 + 3


def _sqrt_of_frac(n: int, m: int) -> float:
    """The square root of ``n / m`` (``n >= 0``, ``m > 0``) as a correctly rounded float:
    the integer square root rounded to odd with enough extra bits, then one rounding."""
    q = (n.bit_length() - m.bit_length() - _SQRT_BITS) // 2
    if q >= 0:
        m <<= 2 * q
        a = math.isqrt(n // m)
        return ((a | (a * a * m != n)) << q) / 1
    n <<= -2 * q
    a = math.isqrt(n // m)
    return (a | (a * a * m != n)) / (1 << -q)


def mean_pstdev(xs: Iterable[float]) -> tuple[float, float]:
    """``(statistics.fmean(xs), statistics.pstdev(xs))``, bit for bit, without Fractions.

    The mean is the correctly rounded sum over n (as ``fmean``). The population standard
    deviation is computed exactly on integers (each float is p / 2**k exactly; scaled to a
    common power of two, n * sum(a**2) - sum(a)**2 is the exact n**2 * variance) and rounded
    once, so it equals ``statistics.pstdev`` (which is also exact, then correctly rounded).
    Equal values are summed once with their multiplicity (a window of mids has few)."""
    vals = list(xs)
    n = len(vals)
    if n < 1:
        raise ValueError("mean_pstdev requires at least one value")
    ratios = [(x.as_integer_ratio(), c) for x, c in Counter(vals).items()]
    den = max(d for (_, d), _ in ratios)
    s1 = s2 = 0
    for (p, d), c in ratios:
        a = p * (den // d)
        s1 += c * a
        s2 += c * a * a
    return math.fsum(vals) / n, _sqrt_of_frac(n * s2 - s1 * s1, n * n * den * den)


class RollingWindow:
    """The last ``size`` floats, with the exact integer sums ``mean_pstdev`` needs kept up to
    date as values come and go (O(1) per value instead of O(window) per call).

    Each float is p / 2**e exactly; the sums are over the values scaled to the common
    denominator 2**k (k only grows: any common denominator gives the same exact ratio, so
    ``stats()`` equals ``mean_pstdev(window)`` bit for bit)."""

    __slots__ = ("size", "vals", "_parts", "_k", "_s1", "_s2")

    def __init__(self, size: int) -> None:
        self.size = size
        self.vals: deque[float] = deque()
        self._parts: deque[tuple[int, int]] = deque()  # (p, e) per value
        self._k = 0
        self._s1 = 0
        self._s2 = 0

    def __len__(self) -> int:
        return len(self.vals)

    def append(self, x: float) -> None:
        p, d = x.as_integer_ratio()
        e = d.bit_length() - 1
        if e > self._k:
            shift = e - self._k
            self._s1 <<= shift
            self._s2 <<= 2 * shift
            self._k = e
        if len(self.vals) == self.size:
            self.vals.popleft()
            op, oe = self._parts.popleft()
            a = op << (self._k - oe)
            self._s1 -= a
            self._s2 -= a * a
        a = p << (self._k - e)
        self._s1 += a
        self._s2 += a * a
        self.vals.append(x)
        self._parts.append((p, e))

    def extend(self, xs: Iterable[float]) -> None:
        for x in xs:
            self.append(x)

    def stats(self) -> tuple[float, float]:
        """``mean_pstdev`` of the values held (at least one)."""
        n = len(self.vals)
        if n < 1:
            raise ValueError("mean_pstdev requires at least one value")
        num = n * self._s2 - self._s1 * self._s1
        return math.fsum(self.vals) / n, _sqrt_of_frac(num, (n * n) << (2 * self._k))


class MeanReversionStrategy:
    name = "meanrev"

    def __init__(
        self,
        *,
        window: int = 30,
        z_entry: float = 2.0,
        z_exit: float = 0.5,
        min_std: float = 0.005,
        no_entry_last_s: float = 120.0,
    ) -> None:
        self.window = window
        self.z_entry = z_entry
        self.z_exit = z_exit
        self.min_std = min_std
        self.no_entry_last_s = no_entry_last_s
        self._mids: dict[str, RollingWindow] = {}

    def observe(self, ticker: str, mids: Sequence[float]) -> None:
        """Feed ``ticker``'s YES mids (float dollars, oldest first) into its window, as the
        cycles that saw those books would have (fast-path replay of skipped cycles)."""
        if len(mids):
            hist = self._mids.setdefault(ticker, RollingWindow(self.window))
            hist.extend(mids[-self.window:])

    def forget(self, ticker: str) -> None:
        """Drop ``ticker``'s window (its market closed and is never shown again)."""
        self._mids.pop(ticker, None)

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        out = []
        for v in views:
            mid = v.book.mid()
            if mid is None:
                out.append(FairValue(None, "no two-sided book"))
                continue
            hist = self._mids.setdefault(v.market.ticker, RollingWindow(self.window))
            hist.append(mid.to_float())
            if len(hist) < self.window:
                out.append(FairValue(None, f"warming up ({len(hist)}/{self.window} mids)"))
                continue
            mean, sd = hist.stats()
            std = max(sd, self.min_std)
            z = (mid.to_float() - mean) / std
            late = v.market.seconds_to_close(v.now) < self.no_entry_last_s
            if v.position.side is not None and abs(z) <= self.z_exit:
                out.append(
                    FairValue(
                        mean,
                        f"z={z:+.2f} back inside {self.z_exit}: exit",
                        allow_entry=False,
                        force_exit=True,
                    )
                )
            elif abs(z) >= self.z_entry:
                out.append(
                    FairValue(mean, f"z={z:+.2f} beyond {self.z_entry}", allow_entry=not late)
                )
            else:
                out.append(FairValue(None, f"z={z:+.2f} inside the band"))
        return out
