"""Scores for probability forecasts of binary outcomes, with day-block bootstrap intervals.

- ``log_loss`` / ``brier`` / ``reliability``: ``kalshibot.models.evaluation`` (probabilities
  clipped to [1e-4, 1 - 1e-4] for the log loss; 10 equal-width reliability bins).
- ``calibration_slope``: ``b`` of the logistic regression ``y ~ a + b * logit(p)``; 1 is
  calibrated, > 1 under-confident (the forecasts should be more extreme), < 1 over-confident.
- ``DayBootstrap``: paired bootstrap over **day blocks**. The test days are resampled with
  replacement ``n_boot`` times (seeded); a statistic is recomputed on all samples of the drawn
  days (a day drawn twice counts twice). The same draws serve every model, so differences are
  paired. Intervals are the 2.5 % and 97.5 % percentiles.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kalshibot.models.evaluation import EPS

FloatArray = npt.NDArray[np.float64]


def per_sample_log_loss(p: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    pa = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    ya = np.asarray(y, dtype=np.float64)
    out: FloatArray = -(ya * np.log(pa) + (1 - ya) * np.log(1 - pa))
    return out


def _logit(p: npt.ArrayLike) -> FloatArray:
    pa = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    out: FloatArray = np.log(pa / (1 - pa))
    return out


def logistic_fit(x: FloatArray, y: FloatArray, w: FloatArray | None = None,
                 iters: int = 25) -> FloatArray:
    """(a, b) of ``P(y=1) = sigmoid(a + b x)`` by Newton's method, for one weight vector
    (``w`` shape (N,)) or many at once (``w`` shape (B, N) -> result (B, 2)). A tiny ridge
    keeps separable data finite."""
    ww = np.ones((1, len(x))) if w is None else np.atleast_2d(np.asarray(w, dtype=np.float64))
    nb = ww.shape[0]
    theta = np.zeros((nb, 2))
    for _ in range(iters):
        z = theta[:, :1] + theta[:, 1:2] * x[None, :]
        p = 1.0 / (1.0 + np.exp(-z))
        r = ww * (y[None, :] - p)
        s = ww * p * (1 - p)
        g = np.stack([r.sum(1), (r * x).sum(1)], axis=1) - 1e-6 * theta
        h00 = s.sum(1) + 1e-6
        h01 = (s * x).sum(1)
        h11 = (s * x * x).sum(1) + 1e-6
        det = h00 * h11 - h01 * h01
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        step = np.stack([(h11 * g[:, 0] - h01 * g[:, 1]) / det,
                         (h00 * g[:, 1] - h01 * g[:, 0]) / det], axis=1)
        theta = theta + step
        if np.max(np.abs(step)) < 1e-9:
            break
    return theta if w is not None and np.ndim(w) == 2 else theta[0]


def calibration_slope(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Slope ``b`` of ``y ~ a + b * logit(p)`` (module docstring); NaN with < 10 samples."""
    x, ya = _logit(p), np.asarray(y, dtype=np.float64)
    if len(x) < 10 or ya.min() == ya.max():
        return float("nan")
    return float(logistic_fit(x, ya)[1])


class DayBootstrap:
    """Day-block resampling shared by every statistic (module docstring)."""

    def __init__(self, day: npt.ArrayLike, blocks: npt.ArrayLike, n_boot: int = 2000,
                 seed: int = 17) -> None:
        """``day``: block label of every sample; ``blocks``: the labels to resample (samples
        of other days never enter a statistic)."""
        d = np.asarray(day)
        self.days = np.unique(np.asarray(blocks))
        pos = np.clip(np.searchsorted(self.days, d), 0, max(len(self.days) - 1, 0))
        self.inv = pos
        self.member = (len(self.days) > 0) & (self.days[pos] == d) if len(self.days) \
            else np.zeros(len(d), dtype=bool)
        rng = np.random.default_rng(seed)
        nd = len(self.days)
        self.draws = rng.integers(0, nd, size=(n_boot, nd)) if nd > 1 and n_boot > 0 \
            else np.zeros((0, nd), dtype=np.int64)
        # multiplicity of each day in each draw: (B, D)
        self.mult = np.zeros((len(self.draws), nd))
        for b, row in enumerate(self.draws):
            np.add.at(self.mult[b], row, 1.0)

    @property
    def ok(self) -> bool:
        return len(self.draws) > 0

    def mean_ci(self, x: npt.ArrayLike, sel: npt.NDArray[np.bool_]) -> tuple[float, float] | None:
        """95 % interval of the pooled mean of ``x[sel]`` (``x`` per sample)."""
        sel = sel & self.member
        if not self.ok or not sel.any():
            return None
        xa = np.asarray(x, dtype=np.float64)
        nd = len(self.days)
        sums = np.bincount(self.inv[sel], weights=xa[sel], minlength=nd)
        cnts = np.bincount(self.inv[sel], minlength=nd).astype(np.float64)
        tot = self.mult @ cnts
        means = np.where(tot > 0, (self.mult @ sums) / np.where(tot > 0, tot, 1.0), np.nan)
        lo, hi = np.nanpercentile(means, [2.5, 97.5])
        return float(lo), float(hi)

    def slope_ci(self, p: npt.ArrayLike, y: npt.ArrayLike, sel: npt.NDArray[np.bool_],
                 max_draws: int = 500) -> tuple[float, float] | None:
        """95 % interval of the calibration slope on ``sel`` (at most ``max_draws`` draws)."""
        sel = sel & self.member
        if not self.ok or sel.sum() < 10:
            return None
        x = _logit(np.asarray(p)[sel])
        ya = np.asarray(y, dtype=np.float64)[sel]
        w = self.mult[:max_draws][:, self.inv[sel]]
        slopes = logistic_fit(x, ya, w)[:, 1]
        lo, hi = np.nanpercentile(slopes, [2.5, 97.5])
        return float(lo), float(hi)
