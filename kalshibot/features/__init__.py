"""Features: one builder for training, backtests and live trading; the crypto digital pricer.

Public API (what the trading engine calls each cycle)::

    from kalshibot.features import FeatureBuilder, HistoryFrames, FEATURE_NAMES, FEATURE_VERSION

    hist = HistoryFrames(markets=..., snapshots=..., trades=..., spot=...)  # store loaders' frames
    rows = FeatureBuilder().live_rows(hist, at=clock.now(), tickers=[...])  # one row per market
    p_yes = model.predict_proba(rows)                                      # see kalshibot.models

    FeatureBuilder().batch(hist)   # every snapshot row at once (training, backtests)

    from kalshibot.features.digital import digital_prob, ewma_variance_rate
    digital_prob(spot, strike, sigma_per_sqrt_s, seconds_to_close, observed_avg=...)

``live_rows`` equals the matching ``batch`` rows bit for bit given the same history; see
``builder`` for the feature list and the no-lookahead guarantees, ``digital`` for the pricer's
formula (variance of the 60-second settlement average).
"""

from kalshibot.features.builder import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    KEY_COLUMNS,
    FeatureBuilder,
    FeatureConfig,
    HistoryFrames,
    spot_symbol_for_series,
)
from kalshibot.features.digital import digital_prob, ewma_variance_rate

__all__ = [
    "FEATURE_NAMES", "FEATURE_VERSION", "KEY_COLUMNS", "FeatureBuilder", "FeatureConfig",
    "HistoryFrames", "digital_prob", "ewma_variance_rate", "spot_symbol_for_series",
]
