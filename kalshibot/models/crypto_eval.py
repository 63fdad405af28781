"""Walk-forward evaluation of the 15-minute crypto pricer (``kalshibot eval crypto``).

Data, windows and samples: ``kalshibot.models.crypto_data``. Every forecaster prices a sample
with the product's digital (``kalshibot.features.digital.digital_prob``: P(settlement average
>= strike) with the 60-tick averaging) and differs only in its volatility forecast or in a
post-hoc map of the probability:

- ``coin_flip``: 0.5.
- ``ewma`` (**baseline**): EWMA of squared one-minute returns, half-life 30 min.
- ``pricer``: what ``trade --strategy crypto`` uses (``crypto_vol_model`` settings).
- candidates (research; only the winner is in the product):
  ``robust`` (EWMA of absolute returns, squared, times pi/2; nothing fitted),
  ``seasonal`` (EWMA of deseasonalised squared returns times the UTC hour-of-day profile of
  the minutes left; profile fitted on earlier days),
  ``har`` (non-negative weights on the realised variance of the last 15 min, 1 h, 4 h and 1 day,
  fitted by log loss on earlier days),
  ``student_t`` (the EWMA scale with Student-t tails, degrees of freedom fitted on earlier days),
  ``calibrated`` (Platt scaling of the EWMA digital per horizon, fitted on earlier days),
  ``select`` (each test day uses the candidate with the lowest log loss on the earlier test
  days; EWMA on the first: an honest out-of-sample choice among them).

Walk-forward: the UTC days of the samples are ordered; the first ``min_train_days`` only train;
each later day is a test day whose fitted candidates see only the days before it (fitted per
horizon, so a horizon's scores do not depend on which other horizons are asked for). Forecasters
with nothing fitted are causal by construction (volatility at ``t`` uses returns up to ``t``).
When there are too few days to train, fitted candidates are left out (and said so) and every
day is a test day.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from kalshibot.errors import UserInputError
from kalshibot.features.digital import averaging_variance_factor, digital_prob
from kalshibot.features.volatility import VolSpec, ewm_masked, grid_returns, variance_rates
from kalshibot.models.crypto_data import (
    Grid,
    RefPath,
    Samples,
    build_samples,
    build_windows,
    choose_series,
    coin_of_series,
    load_reference,
)
from kalshibot.models.crypto_scores import (
    DayBootstrap,
    calibration_slope,
    logistic_fit,
    per_sample_log_loss,
)
from kalshibot.models.evaluation import brier, reliability

FloatArray = npt.NDArray[np.float64]
BASELINE = VolSpec("ewma", 1800.0)
RESEARCH = ("robust", "seasonal", "har", "student_t", "calibrated", "select")
HAR_LAGS = (15, 60, 240, 1440)


@dataclass(frozen=True)
class EvalConfig:
    """What to score; see ``kalshibot eval crypto --help``."""

    series: str = "KXBTC15M"
    horizons: tuple[int, ...] = (1, 5, 10)
    windows: str = "auto"
    symbol: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_train_days: int = 3
    warmup_min: int = 60
    n_boot: int = 2000
    seed: int = 17
    pricer: VolSpec = field(default_factory=VolSpec)
    research: bool = True


@dataclass
class Features:
    """Grid arrays the forecasters read (index = grid minute)."""

    grid: Grid
    r: FloatArray  # one-minute log returns (0 where unknown)
    mask: FloatArray
    var: dict[str, FloatArray]  # per-second variance rates by forecaster


def _digital(s: Samples, var_rate: FloatArray) -> FloatArray:
    v = var_rate[s.g]
    out: FloatArray = digital_prob(s.spot, s.strike, np.sqrt(v), s.tau)
    return out


def _rolling_rv(r: FloatArray, mask: FloatArray, k: int) -> FloatArray:
    """Mean squared return over the last ``k`` grid minutes, per second (NaN if < k/2 known)."""
    c2 = np.concatenate([[0.0], np.cumsum(r * r)])
    cm = np.concatenate([[0.0], np.cumsum(mask)])
    i = np.arange(1, len(r) + 1)
    lo = np.maximum(i - k, 0)
    n = cm[i] - cm[lo]
    out: FloatArray = np.where(n >= k / 2, (c2[i] - c2[lo]) / np.maximum(n, 1) / 60.0, np.nan)
    return out


def features(grid: Grid, pricer: VolSpec) -> Features:
    r, mask = grid_returns(grid.logp, grid.age, BASELINE.max_age_s)
    var = {"ewma": variance_rates(grid.logp, grid.age, BASELINE),
           "robust": variance_rates(grid.logp, grid.age, VolSpec("robust", 1800.0)),
           "pricer": variance_rates(grid.logp, grid.age, pricer)}
    for k in HAR_LAGS:
        var[f"rv{k}"] = _rolling_rv(r, mask, k)
    return Features(grid, r, mask, var)


# --- fitted candidates ---------------------------------------------------------------------
def _seasonal(f: Features, train_end: float, test: Samples) -> FloatArray:
    t = f.grid.t
    minute = ((t // 60) % 1440).astype(np.int64)
    hour = minute // 60
    tr = (t < train_end) & (f.mask > 0)
    if tr.sum() < 24 * 60:
        raise _NotEnough("seasonal profile needs a day of training data")
    r2 = f.r * f.r
    prof_h = np.bincount(hour[tr], weights=r2[tr], minlength=24) / np.maximum(
        np.bincount(hour[tr], minlength=24), 1)
    prof_h = np.where(prof_h > 0, prof_h, r2[tr].mean()) / r2[tr].mean()
    prof = prof_h[hour]
    m, cnt = ewm_masked(r2 / prof, f.mask, BASELINE.halflife_s / 60.0)
    base = np.where(cnt >= BASELINE.min_returns, m / 60.0, np.nan)
    # mean profile over the minutes (t, T] of each sample (minute-of-day profile, wrapped)
    pm = np.repeat(prof_h, 60)
    cs = np.concatenate([[0.0], np.cumsum(np.concatenate([pm, pm]))])
    m0 = ((test.t // 60) % 1440).astype(np.int64) + 1
    k = np.maximum(np.round(test.tau / 60.0).astype(np.int64), 1)
    ahead = (cs[m0 + k] - cs[m0]) / k
    v = base[test.g] * ahead
    out: FloatArray = digital_prob(test.spot, test.strike, np.sqrt(v), test.tau)
    return out


def _har_var(f: Features, s: Samples, w: FloatArray) -> FloatArray:
    x = np.stack([f.var[f"rv{k}"][s.g] for k in HAR_LAGS], axis=1)
    x = np.where(np.isfinite(x), x, f.var["ewma"][s.g][:, None])
    out: FloatArray = x @ w
    return out


def _har(f: Features, train: Samples, test: Samples) -> FloatArray:
    def loss(lw: FloatArray) -> float:
        v = _har_var(f, train, np.exp(lw))
        p = digital_prob(train.spot, train.strike, np.sqrt(v), train.tau)
        return float(per_sample_log_loss(p, train.y).mean())

    res = optimize.minimize(loss, np.log(np.full(4, 0.25)), method="Nelder-Mead",
                            options={"maxiter": 600, "xatol": 1e-3, "fatol": 1e-6})
    v = _har_var(f, test, np.exp(res.x))
    out: FloatArray = digital_prob(test.spot, test.strike, np.sqrt(v), test.tau)
    return out


def _t_prob(s: Samples, var_rate: FloatArray, nu: float) -> FloatArray:
    v = var_rate[s.g] * averaging_variance_factor(s.tau)
    sd = np.sqrt(v)
    z = (np.log(s.spot / s.strike) - 0.5 * v) / sd / math.sqrt((nu - 2.0) / nu)
    out: FloatArray = stats.t.cdf(z, nu)
    return out


def _student_t(f: Features, train: Samples, test: Samples) -> FloatArray:
    var = f.var["ewma"]

    def loss(lnu: float) -> float:
        return float(per_sample_log_loss(_t_prob(train, var, 2.05 + math.exp(lnu)),
                                         train.y).mean())

    lnu = optimize.minimize_scalar(loss, bounds=(-3.0, 6.0), method="bounded").x
    return _t_prob(test, var, 2.05 + math.exp(float(lnu)))


def _calibrated(f: Features, train: Samples, test: Samples) -> FloatArray:
    def logit(p: FloatArray) -> FloatArray:
        q = np.clip(p, 1e-4, 1 - 1e-4)
        out: FloatArray = np.log(q / (1 - q))
        return out

    ptr, pte = _digital(train, f.var["ewma"]), _digital(test, f.var["ewma"])
    out = np.empty(len(test))
    for h in np.unique(test.h):
        a, b = logistic_fit(logit(ptr[train.h == h]), train.y[train.h == h]) \
            if (train.h == h).sum() >= 20 else (0.0, 1.0)
        sel = test.h == h
        out[sel] = 1.0 / (1.0 + np.exp(-(a + b * logit(pte[sel]))))
    return out


class _NotEnough(Exception):
    pass


Fitted = Callable[[Features, Samples, Samples], FloatArray]
FITTED: dict[str, Fitted] = {
    "seasonal": lambda f, tr, te: _seasonal(f, float(te.t.min() // 86400 * 86400), te),
    "har": _har, "student_t": _student_t, "calibrated": _calibrated,
}


# --- the walk-forward ----------------------------------------------------------------------
@dataclass
class WalkForward:
    """Predictions per forecaster (NaN where not scored) and the test mask."""

    samples: Samples
    p: dict[str, FloatArray]
    test: npt.NDArray[np.bool_]
    train_days: int
    notes: list[str]


def walk_forward(s: Samples, f: Features, cfg: EvalConfig) -> WalkForward:
    days = np.unique(s.day)
    k = cfg.min_train_days if len(days) > cfg.min_train_days else 0
    test = s.day >= days[k] if len(days) else np.zeros(len(s), dtype=bool)
    notes: list[str] = []
    p: dict[str, FloatArray] = {"coin_flip": np.full(len(s), 0.5),
                                "ewma": _digital(s, f.var["ewma"]),
                                "pricer": _digital(s, f.var["pricer"])}
    if cfg.research:
        p["robust"] = _digital(s, f.var["robust"])
        if k == 0:
            notes.append(f"only {len(days)} day(s): fitted candidates need more than "
                         f"{cfg.min_train_days} and are left out")
        else:
            for name, fit in FITTED.items():
                out = np.full(len(s), np.nan)
                try:
                    for d in days[k:]:
                        for h in np.unique(s.h):
                            tr, te = (s.day < d) & (s.h == h), (s.day == d) & (s.h == h)
                            if te.any():
                                out[te] = fit(f, s.take(tr), s.take(te))
                except _NotEnough as exc:
                    notes.append(f"{name} left out: {exc}")
                    continue
                p[name] = out
            p["select"] = _select(s, p, days[k:], notes)
    for name, arr in p.items():
        p[name] = np.where(test, arr, np.nan)
    return WalkForward(s, p, test, k, notes)


def _select(s: Samples, p: dict[str, FloatArray], test_days: npt.NDArray[np.int64],
            notes: list[str]) -> FloatArray:
    pool = [n for n in ("ewma", "robust", "seasonal", "har", "student_t", "calibrated")
            if n in p]
    out = np.full(len(s), np.nan)
    chosen: list[str] = []
    for d in test_days:
        past = (s.day < d) & (s.day >= test_days[0])
        if past.any():
            ll = {n: float(per_sample_log_loss(p[n][past], s.y[past]).mean()) for n in pool}
            best = min(ll, key=lambda n: ll[n])
        else:
            best = "ewma"
        chosen.append(best)
        out[s.day == d] = p[best][s.day == d]
    notes.append("select chose, per test day: " + ", ".join(chosen))
    return out


# --- the report ----------------------------------------------------------------------------
def _score(name: str, p: FloatArray, s: Samples, sel: npt.NDArray[np.bool_], boot: DayBootstrap,
           base: FloatArray, slope_ci: bool) -> dict[str, Any]:
    y = s.y
    ll = per_sample_log_loss(p, y)
    d_base = ll - per_sample_log_loss(base, y)
    d_flip = ll - math.log(2.0)
    row: dict[str, Any] = {
        "name": name, "n": int(sel.sum()),
        "log_loss": float(ll[sel].mean()), "brier": brier(p[sel], y[sel]),
        "calibration_slope": calibration_slope(p[sel], y[sel]),
        "vs_ewma": {"diff": float(d_base[sel].mean()), "ci95": boot.mean_ci(d_base, sel)},
        "vs_coin_flip": {"diff": float(d_flip[sel].mean()), "ci95": boot.mean_ci(d_flip, sel)},
        "reliability": reliability(p[sel], y[sel]),
    }
    if slope_ci:
        row["calibration_slope_ci95"] = boot.slope_ci(p, y, sel)
    return row


def report(wf: WalkForward, path: RefPath, cfg: EvalConfig, windows_mode: str,
           n_windows: int) -> dict[str, Any]:
    s = wf.samples
    boot = DayBootstrap(s.day, s.day[wf.test], cfg.n_boot, cfg.seed)
    horizons = []
    for h in cfg.horizons:
        sel = wf.test & (s.h == h)
        rows = [_score(n, arr, s, sel, boot, wf.p["ewma"], n in ("pricer", "ewma"))
                for n, arr in wf.p.items() if np.isfinite(arr[sel]).all() and sel.any()]
        horizons.append({"minutes_into_window": h, "models": rows})
    day0 = np.unique(s.day[wf.test])
    return {
        "series": cfg.series, "reference": {
            "symbol": path.symbol, "source": path.source, "is_settlement_index": path.is_index,
            "observations": len(path.ts), "median_spacing_s": path.spacing_s,
            "description": path.describe()},
        "windows": {"mode": windows_mode, "count": n_windows, "skipped": s.skipped},
        "samples": int(len(s)), "test_samples": int(wf.test.sum()),
        "days": int(len(np.unique(s.day))), "train_only_days": wf.train_days,
        "test_days": [str(np.datetime64(int(d), "D")) for d in day0],
        "baseline": BASELINE.name, "pricer": cfg.pricer.name,
        "bootstrap": {"blocks": "UTC day", "draws": cfg.n_boot, "seed": cfg.seed},
        "horizons": horizons, "notes": wf.notes,
    }


def evaluate(conn: sqlite3.Connection, cfg: EvalConfig) -> dict[str, Any]:
    """Load, build samples, walk forward and score (see the module docstring)."""
    coin = coin_of_series(cfg.series)
    symbol, source = choose_series(conn, coin, cfg.symbol, cfg.source)
    path = load_reference(conn, symbol, source, cfg.since, cfg.until)
    if len(path.ts) < 2:
        raise UserInputError(f"{source}/{symbol}: no spot prices in the chosen period")
    windows = build_windows(conn, path, cfg.series, cfg.windows, cfg.warmup_min * 60.0)
    grid = Grid.over(path)
    samples = build_samples(path, grid, windows, cfg.horizons)
    f = features(grid, cfg.pricer)
    ok = np.isfinite(f.var["ewma"][samples.g]) & np.isfinite(f.var["pricer"][samples.g]) & \
        np.isfinite(f.var["robust"][samples.g])
    if (~ok).any():
        samples.skipped["volatility not yet known"] = int((~ok).sum())
    samples = samples.take(ok)
    if len(samples) == 0:
        raise UserInputError("nothing to score: no window has spot data around it",
                             hint="check --series/--symbol/--since/--until")
    wf = walk_forward(samples, f, cfg)
    return report(wf, path, cfg, windows.mode, len(windows.close))
