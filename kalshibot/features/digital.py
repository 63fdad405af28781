"""Crypto digital pricer for the 15-minute markets, and the EWMA volatility it uses.

A KXBTC15M-style market settles YES when the *settlement average* ``A`` is ``>= K``
(``floor_strike``), where ``A`` is the simple average of the reference index (e.g. BRTI) over the
``n`` ticks of the last ``w`` seconds before close ``T``: samples at ``T - i*h`` for
``i = 0 .. n-1`` with ``h = w / n`` (Kalshi: ``w = 60 s``, ``n = 60``, i.e. ``(T - 60 s, T]``).
It is *not* the spot at one instant, and that matters in the last minutes.

Model. Log price is a driftless-in-price Brownian motion with volatility ``sigma`` per
sqrt(second) (``dS/S = sigma dW``, so ``S`` is a martingale). At decision time ``t``, with
``tau = T - t`` seconds left, split the samples into the ``n - m`` already observed
(``s <= t``, average ``a_obs``) and the ``m = min(n, ceil(tau / h))`` still to come. Then

    A = ((n - m) / n) * a_obs + (m / n) * F,        F = average of the m future samples,

and ``A >= K``  <=>  ``F >= K* = (n K - (n - m) a_obs) / m``.

**Variance of the average over the window.** With ``u_j = tau - (m - j) h`` (j = 1..m) the
future sample times measured from ``t``, the log-increments ``X_j = sigma W(u_j)`` satisfy
``Cov(X_i, X_j) = sigma^2 min(u_i, u_j)``, so

    Var(mean_j X_j) = sigma^2 / m^2 * sum_i sum_j min(u_i, u_j)
                    = sigma^2 * [ a + h (m - 1)(2m - 1) / (6 m) ],      a = u_1 = tau - (m - 1) h.

Before the window opens (``tau >= w``, all ``n`` samples ahead) this is
``sigma^2 [ (tau - w + h) + h (n-1)(2n-1)/(6n) ]``, which for ``h -> 0`` is the familiar
``sigma^2 (tau - w + w/3) = sigma^2 (tau - 2w/3)``: the last minute counts for a third of its
length. Inside the window only the remaining part is random: ``~ sigma^2 tau / 3``.

Writing ``V`` for the bracket above, ``F`` is taken lognormal with mean ``S_t`` (martingale) and
log-variance ``sigma^2 V`` (moment matching, exact to O(sigma^2 V) which is ~1e-5 here), so

    P(YES) = P(F >= K*) = Phi( (ln(S_t / K*) - sigma^2 V / 2) / (sigma sqrt(V)) ),

with ``P = 1`` when ``K* <= 0`` (already locked in), and a step function when ``sigma V = 0``.
After close (``tau <= 0``) the answer is ``1{a_obs >= K}``. ``tests/features/test_digital.py``
checks this against a seeded Monte Carlo of the discrete 60-tick average payoff (|diff| < 0.01).

The EWMA volatility (``ewma_variance_rate``) is the time-aware exponentially weighted mean of
``r_i^2 / dt_i`` (squared log return per second between consecutive observations), half-life
in seconds; it is causal (each value uses observations up to and including its own time).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]

#: Kalshi's settlement window for the 15-minute crypto markets (seconds) and its tick count.
SETTLE_WINDOW_S = 60.0
SETTLE_TICKS = 60


def averaging_variance_factor(tau: npt.ArrayLike, *, window: float = SETTLE_WINDOW_S,
                              n_ticks: int = SETTLE_TICKS) -> FloatArray:
    """``V`` (seconds) such that the log-variance of the future part of the average is
    ``sigma^2 V``; see the module docstring. ``tau <= 0`` gives 0."""
    tau_a = np.asarray(tau, dtype=np.float64)
    h = window / n_ticks
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.minimum(float(n_ticks), np.ceil(tau_a / h))
        m = np.where(tau_a > 0, np.maximum(m, 1.0), 0.0)
        a = tau_a - (m - 1.0) * h
        v = a + h * (m - 1.0) * (2.0 * m - 1.0) / (6.0 * np.where(m > 0, m, 1.0))
    return np.where(tau_a > 0, v, 0.0)


def future_tick_count(tau: npt.ArrayLike, *, window: float = SETTLE_WINDOW_S,
                      n_ticks: int = SETTLE_TICKS) -> FloatArray:
    """``m``: how many of the ``n_ticks`` settlement samples are still ahead at ``tau``."""
    tau_a = np.asarray(tau, dtype=np.float64)
    h = window / n_ticks
    with np.errstate(invalid="ignore"):
        m = np.minimum(float(n_ticks), np.ceil(tau_a / h))
    return np.where(tau_a > 0, np.maximum(m, 1.0), 0.0)


def digital_prob(
    spot: npt.ArrayLike,
    strike: npt.ArrayLike,
    sigma: npt.ArrayLike,
    tau: npt.ArrayLike,
    *,
    observed_avg: npt.ArrayLike | None = None,
    extra_var: npt.ArrayLike = 0.0,
    window: float = SETTLE_WINDOW_S,
    n_ticks: int = SETTLE_TICKS,
) -> FloatArray:
    """P(settlement average >= strike), vectorised (inputs broadcast).

    ``spot``: reference price now; ``strike``: floor_strike; ``sigma``: volatility of the log
    price per sqrt(second) (e.g. ``sqrt(ewma_variance_rate)``); ``tau``: seconds to close;
    ``observed_avg``: average of the samples already inside the settlement window (only used
    when ``tau < window``; NaN or None means "use spot"); ``extra_var``: log-variance of an
    error common to the whole average (e.g. the basis of exchange spot to the index, or the
    move since a stale quote), added as ``(n K / (m K*))**2 * extra_var`` (its effect on the
    comparison ``F >= K*``, to first order). NaN inputs give NaN.
    """
    s = np.asarray(spot, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    sig = np.asarray(sigma, dtype=np.float64)
    t = np.asarray(tau, dtype=np.float64)
    obs = s if observed_avg is None else np.asarray(observed_avg, dtype=np.float64)
    obs = np.where(np.isnan(obs), s, obs)
    n = float(n_ticks)
    m = future_tick_count(t, window=window, n_ticks=n_ticks)
    v = averaging_variance_factor(t, window=window, n_ticks=n_ticks)
    with np.errstate(invalid="ignore", divide="ignore"):
        k_star = np.where(m > 0, (n * k - (n - m) * obs) / np.where(m > 0, m, 1.0), k)
        lev = n * k / (np.where(m > 0, m, 1.0) * np.where(k_star > 0, k_star, 1.0))
        sd = np.sqrt(sig * sig * v + np.asarray(extra_var, dtype=np.float64) * lev * lev)
        d = (np.log(s / np.where(k_star > 0, k_star, 1.0)) - 0.5 * sd * sd) / sd
        p_diff = ndtr(d)
        p_step = np.where(s >= k_star, 1.0, 0.0)
        p = np.where(sd > 0, p_diff, p_step)
        p = np.where(k_star <= 0, 1.0, p)
        settled = np.where(obs >= k, 1.0, 0.0)
        p = np.where(t <= 0, settled, p)
    bad = np.isnan(s) | np.isnan(k) | np.isnan(sig) | np.isnan(t)
    out: FloatArray = np.where(bad, np.nan, p)
    return out


def digital_prob_one(spot: float, strike: float, sigma: float, tau: float, *,
                     observed_avg: float = math.nan, extra_var: float = 0.0,
                     window: float = SETTLE_WINDOW_S, n_ticks: int = SETTLE_TICKS) -> float:
    """``digital_prob`` of one market, bit for bit (the same IEEE operations in the same order,
    ``numpy``'s ``log`` and ``scipy``'s ``ndtr``), without the array overhead: a strategy
    pricing a handful of markets per cycle calls this (``tests/features/test_digital.py``
    checks equality with ``digital_prob`` over random and edge inputs)."""
    s, k, sig, t = float(spot), float(strike), float(sigma), float(tau)
    if s != s or k != k or sig != sig or t != t:
        return math.nan
    obs = float(observed_avg)
    if obs != obs:
        obs = s
    n = float(n_ticks)
    h = window / n_ticks
    if t > 0:
        q = t / h
        m = max(min(n, float(math.ceil(q)) if q < math.inf else q), 1.0)
        m1 = m
        a = t - (m - 1.0) * h
        v = a + h * (m - 1.0) * (2.0 * m - 1.0) / (6.0 * m)
    else:
        m, m1, v = 0.0, 1.0, 0.0
    k_star = (n * k - (n - m) * obs) / m1 if m > 0 else k
    kk = k_star if k_star > 0 else 1.0
    lev = n * k / (m1 * kk)
    var = sig * sig * v + float(extra_var) * lev * lev
    sd = math.sqrt(var) if var >= 0 else math.nan
    if t <= 0:
        return 1.0 if obs >= k else 0.0
    if k_star <= 0:
        return 1.0
    if not sd > 0:
        return 1.0 if s >= k_star else 0.0
    x = s / kk
    lg = float(np.log(x)) if x > 0 else (-math.inf if x == 0 else math.nan)
    return float(ndtr((lg - 0.5 * sd * sd) / sd))


def ewma_variance_rate(ts: pd.Series | pd.DatetimeIndex, price: npt.ArrayLike, *,
                       halflife_s: float) -> FloatArray:
    """Causal EWMA of the squared log return per second, at each observation.

    ``ts`` must be increasing. The first value is NaN (no return yet); observations with
    ``dt <= 0`` or a non-positive price are skipped (they carry the previous value).
    """
    t = pd.DatetimeIndex(ts)
    p = np.asarray(price, dtype=np.float64)
    if len(p) == 0:
        return np.empty(0, dtype=np.float64)
    t_ns = t.as_unit("ns").asi8.astype(np.float64)  # pandas 3 may default to microseconds
    dt = np.empty_like(p)
    dt[0] = np.nan
    dt[1:] = np.diff(t_ns) / 1e9
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.empty_like(p)
        r[0] = np.nan
        r[1:] = np.log(p[1:] / p[:-1])
        x = r * r / dt
    x[~(dt > 0) | ~np.isfinite(x)] = np.nan
    ser = pd.Series(x)
    ok = ser.notna().to_numpy()
    out = np.full(len(p), np.nan)
    if ok.any():
        ew = ser[ok].ewm(halflife=pd.Timedelta(seconds=halflife_s), times=t[ok]).mean()
        out[ok] = ew.to_numpy()
        out = pd.Series(out).ffill().to_numpy()
    return out
