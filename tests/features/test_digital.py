"""Digital pricer vs a seeded Monte Carlo of the 60-tick settlement average; EWMA volatility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kalshibot.features.digital import (
    SETTLE_TICKS,
    averaging_variance_factor,
    digital_prob,
    digital_prob_one,
    ewma_variance_rate,
)


def mc_prob(rng: np.random.Generator, spot: float, strike: float, sigma: float, tau: float,
            observed_avg: float, n_paths: int = 20_000) -> float:
    """P(mean of the 60 one-second ticks in (T-60, T] >= strike) under dS/S = sigma dW."""
    n = SETTLE_TICKS
    m = int(min(n, np.ceil(tau)))  # future ticks (tau > 0)
    first = tau - (m - 1)  # seconds from now to the first future tick
    z0 = rng.standard_normal(n_paths)
    log0 = np.log(spot) + sigma * np.sqrt(first) * z0 - 0.5 * sigma**2 * first
    steps = rng.standard_normal((n_paths, m - 1)) * sigma - 0.5 * sigma**2
    logp = np.concatenate([log0[:, None], log0[:, None] + np.cumsum(steps, axis=1)], axis=1)
    fut = np.exp(logp).mean(axis=1)
    avg = ((n - m) * (observed_avg if m < n else 0.0) + m * fut) / n
    return float((avg >= strike).mean())


@pytest.mark.parametrize("tau", [900.0, 300.0, 61.0, 60.0, 45.0, 20.0, 5.0, 1.0])
def test_matches_monte_carlo_of_the_60s_average(tau: float) -> None:
    rng = np.random.default_rng(12345)
    spot = 60_000.0
    for sigma in (3e-5, 1.2e-4):
        v = float(averaging_variance_factor(tau))
        sd = sigma * np.sqrt(v)
        # partly observed window: the average so far sits a little above spot
        obs = spot * (1 + 0.5 * sigma * np.sqrt(60.0)) if tau < 60 else np.nan
        for z in (-1.5, -0.5, 0.0, 0.3, 1.0):
            strike = spot * np.exp(-z * sd)
            p = float(digital_prob(spot, strike, sigma, tau, observed_avg=obs))
            mc = mc_prob(rng, spot, strike, sigma, tau, obs)
            assert abs(p - mc) < 0.01, (tau, sigma, z, p, mc)


def test_variance_factor_limits() -> None:
    # continuous limit: tau - 2w/3 before the window, tau/3 inside it
    v = averaging_variance_factor(np.array([900.0, 60.0, 30.0]), window=60.0, n_ticks=60_000)
    np.testing.assert_allclose(v, [900 - 40, 20, 10], rtol=1e-3)
    # discrete 60 ticks: (n+1)(2n+1)/(6n) seconds for tau = w
    assert float(averaging_variance_factor(60.0)) == pytest.approx(61 * 121 / 360)
    assert float(averaging_variance_factor(0.0)) == 0.0


def test_edge_cases() -> None:
    # after close: settled on the observed average
    assert digital_prob(100.0, 100.0, 1e-4, 0.0, observed_avg=100.0) == 1.0
    assert digital_prob(100.0, 100.0, 1e-4, -5.0, observed_avg=99.9) == 0.0
    # locked in: the observed part alone already exceeds the strike
    assert digital_prob(100.0, 50.0, 1e-4, 10.0, observed_avg=100.0) == 1.0
    # zero volatility: a step at the strike
    assert digital_prob(101.0, 100.0, 0.0, 300.0) == 1.0
    assert digital_prob(99.0, 100.0, 0.0, 300.0) == 0.0
    # NaN in, NaN out; broadcasting
    assert np.isnan(digital_prob(np.nan, 100.0, 1e-4, 300.0))
    out = digital_prob(np.array([99.0, 100.0, 101.0]), 100.0, 1e-4, 300.0)
    assert out.shape == (3,) and np.all(np.diff(out) > 0)


def test_ewma_variance_recovers_sigma() -> None:
    rng = np.random.default_rng(3)
    sigma, dt, n = 1e-4, 5.0, 20_000
    logp = np.cumsum(rng.standard_normal(n) * sigma * np.sqrt(dt))
    ts = pd.date_range("2026-01-01", periods=n, freq=f"{int(dt)}s", tz="UTC")
    var = ewma_variance_rate(ts, 100 * np.exp(logp), halflife_s=3600.0)
    assert np.isnan(var[0])
    assert np.sqrt(np.nanmean(var[2000:])) == pytest.approx(sigma, rel=0.05)
    # causal: the values up to i do not change when later data is dropped
    var_half = ewma_variance_rate(ts[:5000], 100 * np.exp(logp[:5000]), halflife_s=3600.0)
    np.testing.assert_array_equal(var_half, var[:5000])


def test_one_market_pricer_equals_the_vector_pricer_bit_for_bit() -> None:
    """``digital_prob_one`` is the per-market fast path of ``digital_prob``: same bits."""
    rng = np.random.default_rng(22)
    n = 4000
    spot = 100_000 * np.exp(rng.normal(0, 0.003, n))
    strike = 100_000 * np.exp(rng.normal(0, 0.003, n))
    sigma = np.exp(rng.normal(np.log(8e-5), 0.5, n))
    tau = rng.choice(np.array([900.0, 600.5, 61.0, 60.0, 59.9, 30.0, 1.0, 0.4, 0.0, -3.0]), n)
    tau = np.where(rng.random(n) < 0.5, rng.uniform(-5, 905, n), tau)
    obs = np.where(rng.random(n) < 0.5, np.nan, spot * np.exp(rng.normal(0, 1e-3, n)))
    extra = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0, 1e-5, n))
    edge = [(100.0, 100.0, 0.0, 30.0, np.nan, 0.0), (100.0, 100.0, 1e-4, 30.0, 1e9, 0.0),
            (0.0, 100.0, 1e-4, 30.0, np.nan, 0.0), (np.nan, 100.0, 1e-4, 30.0, np.nan, 0.0),
            (100.0, np.nan, 1e-4, 30.0, 100.0, 0.0), (100.0, 100.0, np.nan, 30.0, np.nan, 0.0),
            (100.0, 100.0, 1e-4, np.nan, np.nan, 0.0), (100.0, 100.0, 1e-4, 30.0, np.inf, 0.0),
            (100.0, 100.0, 1e-4, np.inf, np.nan, 0.0), (100.0, 100.0, 1e-4, 30.0, 99.0, np.nan),
            (100.0, 100.0, 1e-4, 30.0, 99.0, -1.0), (100.0, -5.0, 1e-4, 300.0, np.nan, 0.0),
            (100.0, 100.0, 0.0, 0.0, 100.0, 0.0), (100.0, 100.0, 0.0, 0.0, 99.0, 0.0)]
    cols = [np.concatenate([c, np.array([e[i] for e in edge])])
            for i, c in enumerate((spot, strike, sigma, tau, obs, extra))]
    with np.errstate(all="ignore"):
        want = digital_prob(cols[0], cols[1], cols[2], cols[3], observed_avg=cols[4],
                            extra_var=cols[5])
        got = np.array([digital_prob_one(*row[:4], observed_avg=row[4], extra_var=row[5])
                        for row in zip(*(c.tolist() for c in cols), strict=True)])
    np.testing.assert_array_equal(got, want)  # NaN == NaN here, else exact equality
