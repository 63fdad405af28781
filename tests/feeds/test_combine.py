"""Combining quotes: median, stale and diverging flags, refusals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kalshibot.errors import ConfigError
from kalshibot.feeds import SpotFeedConfig, SpotQuote, combine
from tests.feeds.conftest import T0

CFG = SpotFeedConfig(stale_after_s=10, divergence_flag=0.002, divergence_max=0.01)


def q(source: str, price: str, age_s: float = 0.0) -> SpotQuote:
    return SpotQuote(source, "BTC", Decimal(price), T0 - timedelta(seconds=age_s))


def quotes(*qs: SpotQuote) -> dict[str, SpotQuote]:
    return {x.source: x for x in qs}


def test_median_of_three_is_middle() -> None:
    st = combine("BTC", quotes(q("a", "100.00"), q("b", "100.10"), q("c", "100.05")), T0, CFG)
    assert st.ok and st.price == Decimal("100.05")
    assert st.used == ("a", "b", "c") and st.stale == () and st.diverging == ()
    assert st.price_float == pytest.approx(100.05)


def test_median_of_two_is_exact_mean() -> None:
    st = combine("BTC", quotes(q("a", "64152.43"), q("b", "64158.00")), T0, CFG)
    assert st.price == Decimal("64155.215")


def test_stale_source_is_flagged_and_not_used() -> None:
    st = combine("BTC", quotes(q("a", "100", age_s=3), q("b", "200", age_s=10.5)), T0, CFG)
    assert st.ok and st.price == Decimal("100")
    assert st.stale == ("b",) and st.used == ("a",)
    assert st.age_s == pytest.approx(3.0)
    assert "b" not in st.prices


def test_exactly_at_threshold_is_fresh() -> None:
    st = combine("BTC", quotes(q("a", "100", age_s=10)), T0, CFG)
    assert st.ok and st.stale == ()


def test_no_fresh_source_refuses() -> None:
    st = combine("BTC", quotes(q("a", "100", age_s=11)), T0, CFG, failed={"b": "timeout"})
    assert not st.ok and st.price is None and st.price_float is None
    assert st.reason is not None and "no fresh source" in st.reason
    assert st.stale == ("a",) and st.failed == {"b": "timeout"}


def test_no_source_at_all_refuses() -> None:
    st = combine("BTC", {}, T0, CFG)
    assert not st.ok and st.reason is not None and st.reason.startswith("no source")


def test_small_divergence_is_flagged_but_used() -> None:
    # 0.5 % apart: each is 0.25 % from the mean-median: flagged (> 0.2 %), used (< 1 %)
    st = combine("BTC", quotes(q("a", "100.0"), q("b", "100.5")), T0, CFG)
    assert st.ok and st.diverging == ("a", "b") and st.excluded == ()
    assert st.deviations["a"] == pytest.approx(0.25 / 100.25)


def test_two_sources_too_far_apart_refuse() -> None:
    st = combine("BTC", quotes(q("a", "100"), q("b", "103")), T0, CFG)
    assert not st.ok and st.reason is not None and "diverge" in st.reason
    assert st.excluded == ("a", "b")


def test_outlier_excluded_when_majority_agrees() -> None:
    st = combine("BTC", quotes(q("a", "100.0"), q("b", "100.1"), q("c", "95.0")), T0, CFG)
    assert st.ok and st.excluded == ("c",) and st.used == ("a", "b")
    assert st.price == Decimal("100.05")
    assert "c" in st.diverging


def test_no_majority_refuses() -> None:
    st = combine("BTC", quotes(q("a", "100"), q("b", "100"), q("c", "90"), q("d", "110")), T0, CFG)
    assert not st.ok and set(st.excluded) == {"c", "d"}


def test_min_sources() -> None:
    cfg = SpotFeedConfig(min_sources=2)
    st = combine("BTC", quotes(q("a", "100"), q("b", "100", age_s=60)), T0, cfg)
    assert not st.ok and st.reason is not None and "need 2" in st.reason


@pytest.mark.parametrize(
    "kw",
    [
        {"stale_after_s": 0},
        {"divergence_flag": 0.02, "divergence_max": 0.01},
        {"min_sources": 0},
        {"history_1s": 0},
    ],
)
def test_config_validation(kw: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        SpotFeedConfig(**kw)  # type: ignore[arg-type]
