"""Volatility forecasts for the crypto digital, from a one-minute grid of the reference level.

The reference path (index ticks or spot observations, any spacing) is sampled as a step
function on a grid of minutes ending at the decision time (``minute_grid``), so live trading,
backtests and ``kalshibot eval crypto`` feed the forecaster the same thing whatever the data's
resolution. Returns are one-minute log returns; a return whose end point is older than
``max_age_s`` (a data gap) is left out.

``VolSpec.kind``:

- ``"ewma"``: exponentially weighted mean of squared returns (the baseline).
- ``"robust"``: the square of the exponentially weighted mean of absolute returns times
  ``pi / 2`` (exact for Gaussian returns). One jump moves it far less than the squared version,
  so after a jump the forecast is not inflated for the next half-hour. In the walk-forward test
  on the shared BTC weeks it beat ``ewma`` 10 minutes into the window and tied at 1 and 5
  (README, "The 15-minute crypto pricer and `kalshibot eval crypto`").

Both are time-aware in the sense that the weights decay per grid minute with half-life
``halflife_s``; the forecast is a variance **rate** per second (``sigma**2``), causal: the
value at a grid point uses returns up to and including it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from kalshibot.config import VOL_MODELS
from kalshibot.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
STEP_S = 60.0
KINDS = VOL_MODELS


@dataclass(frozen=True)
class VolSpec:
    """A volatility forecaster: ``kind`` (see module doc), half-life in seconds, fewest
    returns needed, and the oldest a grid sample may be (seconds) for its return to count."""

    kind: str = "robust"
    halflife_s: float = 1800.0
    min_returns: int = 10
    max_age_s: float = 180.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown volatility model {self.kind!r} (choose from "
                              f"{', '.join(KINDS)})")
        if not self.halflife_s > 0 or self.min_returns < 1 or not self.max_age_s > 0:
            raise ConfigError("volatility: need halflife_s > 0, min_returns >= 1, "
                              "max_age_s > 0")

    @property
    def name(self) -> str:
        return f"{self.kind}(hl={self.halflife_s / 60:g}m)"


def step_sample(ts: npt.ArrayLike, vals: npt.ArrayLike,
                grid: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Step path (last value at or before each grid time) and its age there (seconds).

    ``ts`` increasing; grid times before the first observation give NaN values and infinite
    ages."""
    t = np.asarray(ts, dtype=np.float64)
    v = np.asarray(vals, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if len(t) == 0:
        return np.full(len(g), np.nan), np.full(len(g), np.inf)
    i = np.searchsorted(t, g, side="right") - 1
    ok = i >= 0
    j = np.where(ok, i, 0)
    return (np.where(ok, v[j], np.nan).astype(np.float64),
            np.where(ok, g - t[j], np.inf).astype(np.float64))


def minute_grid(ts: npt.ArrayLike, vals: npt.ArrayLike, end_s: float,
                n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Grid times ``end_s - (n-1-k)*60`` (epoch s), the step-path log level there, and its age
    in seconds (NaN level / inf age before the first observation). ``ts`` increasing."""
    grid = end_s - STEP_S * np.arange(n - 1, -1, -1, dtype=np.float64)
    v, age = step_sample(ts, vals, grid)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(v)
    return grid, logp, age


def ewm_masked(x: FloatArray, mask: FloatArray,
               halflife_steps: float) -> tuple[FloatArray, FloatArray]:
    """Normalised causal EWMA of ``x`` over the entries where ``mask`` is 1 (NaN before any),
    and the running count of those entries."""
    a = 1.0 - 0.5 ** (1.0 / halflife_steps)
    num = lfilter([a], [1.0, a - 1.0], x * mask)
    den = lfilter([a], [1.0, a - 1.0], mask)
    cnt = np.cumsum(mask).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.asarray(out, dtype=np.float64), cnt


def grid_returns(logp: npt.ArrayLike, age: npt.ArrayLike | None,
                 max_age_s: float) -> tuple[FloatArray, FloatArray]:
    """One-minute log returns on the grid (0 where unknown) and their mask (1 = known): a
    return is unknown before the first level and when its end point is older than
    ``max_age_s``."""
    lp = np.asarray(logp, dtype=np.float64)
    r = np.full(len(lp), np.nan)
    r[1:] = lp[1:] - lp[:-1]
    if age is not None:
        r[np.asarray(age, dtype=np.float64) > max_age_s] = np.nan
    mask = np.isfinite(r).astype(np.float64)
    return np.where(mask > 0, r, 0.0), mask


def variance_rates(logp: npt.ArrayLike, age: npt.ArrayLike | None, spec: VolSpec) -> FloatArray:
    """Per-second variance rate forecast at each point of a one-minute grid (NaN until
    ``min_returns`` returns were seen). ``logp``: log level per grid point (NaN = unknown)."""
    if len(np.asarray(logp)) == 0:
        return np.empty(0)
    x, mask = grid_returns(logp, age, spec.max_age_s)
    hl = spec.halflife_s / STEP_S
    if spec.kind == "ewma":
        m, cnt = ewm_masked(x * x, mask, hl)
        var = m
    else:
        m, cnt = ewm_masked(np.abs(x), mask, hl)
        var = m * m * (math.pi / 2.0)
    out: FloatArray = np.where(cnt >= spec.min_returns, var / STEP_S, np.nan)
    return out


def sigma_at(ts: npt.ArrayLike, vals: npt.ArrayLike, now_s: float, spec: VolSpec,
             lookback_s: float = 3 * 3600.0) -> float | None:
    """Volatility of the log level per sqrt(second) at ``now_s`` from observations
    ``(ts, vals)`` (epoch s, level), or None when there are too few returns."""
    n = int(lookback_s // STEP_S) + 1
    _, logp, age = minute_grid(ts, vals, now_s, n)
    rates = variance_rates(logp, age, spec)
    last = float(rates[-1]) if len(rates) else math.nan
    return math.sqrt(last) if last == last and last > 0 else None
