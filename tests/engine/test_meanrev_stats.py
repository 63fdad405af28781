"""The mean-reversion strategy's fast mean and standard deviation equal ``statistics``' exactly
(bit for bit), so its decisions are the same as with the exact-Fraction library functions."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from kalshibot.strategy.meanrev import mean_pstdev


def _windows() -> list[list[float]]:
    rng = random.Random(7)
    out: list[list[float]] = [[0.5] * 30, [0.0] * 5, [1.0], [0.01, 0.99], [1e-300, 1e300],
                              [0.1, 0.2, 0.3], [5e-324, 0.0, 1e-310]]
    for _ in range(3000):
        n = rng.choice((1, 2, 3, 10, 30, 31))
        base = rng.randint(1, 99)
        kind = rng.random()
        if kind < 0.6:  # cent and half-cent mids near a level (the strategy's inputs)
            xs = [(base * 100 + rng.choice((-100, -50, 0, 0, 0, 50, 100))) / 10000
                  for _ in range(n)]
        elif kind < 0.8:  # any pip price
            xs = [rng.randint(1, 9999) / 10000 for _ in range(n)]
        else:  # arbitrary floats of mixed magnitude
            xs = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 12) for _ in range(n)]
        out.append(xs)
    return out


def test_mean_pstdev_equals_statistics_bit_for_bit() -> None:
    for xs in _windows():
        mean, sd = mean_pstdev(xs)
        assert mean == statistics.fmean(xs), xs
        assert sd == statistics.pstdev(xs), xs
        assert math.copysign(1, sd) == 1


def test_mean_pstdev_needs_a_value() -> None:
    with pytest.raises(ValueError):
        mean_pstdev([])


def test_rolling_window_equals_statistics_at_every_step() -> None:
    """The strategy's window keeps running exact sums; after every value it reports what
    ``statistics`` gives for the values it holds, bit for bit (mixed magnitudes included, so
    the common denominator grows while old values are still in the window)."""
    from kalshibot.strategy.meanrev import RollingWindow

    rng = random.Random(11)
    for size in (1, 2, 5, 30):
        w = RollingWindow(size)
        held: list[float] = []
        for i in range(600):
            kind = rng.random()
            if kind < 0.6:
                x = rng.randint(1, 9999) / 10000
            elif kind < 0.8:
                x = rng.randint(1, 199) / 200
            else:
                x = rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 12)
            w.append(x)
            held = (held + [x])[-size:]
            mean, sd = w.stats()
            assert mean == statistics.fmean(held), (size, i)
            assert sd == statistics.pstdev(held), (size, i, held)
            assert len(w) == len(held)
