"""Volatility forecasts on the one-minute grid, and the digital's extra (basis) variance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kalshibot.errors import ConfigError
from kalshibot.features.digital import SETTLE_TICKS, digital_prob
from kalshibot.features.volatility import VolSpec, minute_grid, sigma_at, variance_rates


def gbm(n: int, sigma_min: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0, sigma_min, n))


def test_minute_grid_is_a_step_path_with_ages() -> None:
    ts = np.array([0.0, 30.0, 150.0])
    vals = np.array([1.0, 2.0, 4.0])
    grid, logp, age = minute_grid(ts, vals, 180.0, 4)
    assert grid.tolist() == [0.0, 60.0, 120.0, 180.0]
    assert np.exp(logp).tolist() == pytest.approx([1.0, 2.0, 2.0, 4.0])
    assert age.tolist() == [0.0, 30.0, 90.0, 30.0]
    _, logp2, age2 = minute_grid(ts, vals, 0.0, 2)  # before the first observation
    assert math.isnan(logp2[0]) and math.isinf(age2[0])


@pytest.mark.parametrize("kind", ["ewma", "robust"])
def test_forecasts_recover_a_constant_volatility(kind: str) -> None:
    lp = gbm(20_000, 8e-4)
    rates = variance_rates(lp, None, VolSpec(kind, 3600.0))
    assert math.isnan(rates[5])  # fewer than min_returns
    assert np.sqrt(np.nanmean(rates[2000:]) * 60) == pytest.approx(8e-4, rel=0.05)


def test_causal_and_gaps_left_out() -> None:
    lp = gbm(3000, 8e-4)
    spec = VolSpec("robust")
    full = variance_rates(lp, None, spec)
    part = variance_rates(lp[:1000], None, spec)
    np.testing.assert_array_equal(full[:1000], part)
    # a 10-minute gap: the returns into stale grid points do not count
    age = np.zeros(3000)
    age[1500:1510] = 600.0
    lp_gap = lp.copy()
    lp_gap[1500:1510] = lp[1499]  # flat while nothing arrived
    gapped = variance_rates(lp_gap, age, spec)
    assert gapped[1509] == pytest.approx(gapped[1499])


def test_robust_shrugs_off_one_jump() -> None:
    """A 1 % jump in a quiet market: 10 minutes later the squared-return EWMA is inflated far
    more than the absolute-return one (the reason `robust` won out of sample)."""
    lp = gbm(600, 5e-4)
    lp[400:] += 0.01
    e = variance_rates(lp, None, VolSpec("ewma"))
    r = variance_rates(lp, None, VolSpec("robust"))
    assert e[410] / e[399] > 6.0
    assert r[410] / r[399] < 3.0


def test_sigma_at_and_spec_validation() -> None:
    t = 60.0 * np.arange(200)
    v = 100 * np.exp(gbm(200, 8e-4))
    s = sigma_at(t, v, t[-1], VolSpec())
    assert s is not None and s == pytest.approx(8e-4 / math.sqrt(60), rel=0.3)
    assert sigma_at(t[:5], v[:5], t[4], VolSpec()) is None
    assert sigma_at([], [], 0.0, VolSpec()) is None
    with pytest.raises(ConfigError):
        VolSpec("garch")
    with pytest.raises(ConfigError):
        VolSpec("ewma", -1.0)


def mc_with_basis(spot: float, strike: float, sigma: float, tau: float, obs: float,
                  basis_sd: float, rng: np.random.Generator, n: int = 40_000) -> float:
    """P(e^b * A >= K) where A averages 60 per-second ticks of a martingale path and the
    ticks already seen (obs) as well as the future share the same basis error b."""
    m = int(min(SETTLE_TICKS, math.ceil(tau)))
    first = tau - (m - 1)
    z0 = rng.standard_normal(n)
    log0 = math.log(spot) + sigma * math.sqrt(first) * z0 - 0.5 * sigma**2 * first
    steps = rng.standard_normal((n, m - 1)) * sigma - 0.5 * sigma**2
    logp = np.concatenate([log0[:, None], log0[:, None] + np.cumsum(steps, axis=1)], axis=1)
    avg = ((SETTLE_TICKS - m) * obs + m * np.exp(logp).mean(axis=1)) / SETTLE_TICKS
    b = rng.normal(0, basis_sd, n)
    return float((avg * np.exp(b) >= strike).mean())


@pytest.mark.parametrize("tau", [300.0, 45.0, 15.0])
def test_extra_variance_matches_a_common_basis_error(tau: float) -> None:
    rng = np.random.default_rng(9)
    spot, sigma, sd = 100_000.0, 9e-5, 5e-4
    obs = spot * 1.0003
    for strike in (spot * 0.9996, spot, spot * 1.0005):
        p = float(digital_prob(spot, strike, sigma, tau, observed_avg=obs, extra_var=sd * sd))
        assert abs(p - mc_with_basis(spot, strike, sigma, tau, obs, sd, rng)) < 0.015
        p0 = float(digital_prob(spot, strike, sigma, tau, observed_avg=obs))
        if strike != spot:  # (at the money only the -var/2 drift term moves it)
            assert abs(p - 0.5) < abs(p0 - 0.5)  # wider: closer to a coin flip
