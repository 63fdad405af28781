"""Feature builder: no lookahead, batch vs live parity (bit-identical), event, crypto."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kalshibot.errors import DataError
from kalshibot.features import FEATURE_NAMES, FeatureBuilder, HistoryFrames
from kalshibot.features.builder import spot_symbol_for_series
from kalshibot.models.synthetic import synthetic_history


@pytest.fixture(scope="module")
def hist() -> HistoryFrames:
    return synthetic_history(6_000, seed=11)


@pytest.fixture(scope="module")
def full(hist: HistoryFrames) -> pd.DataFrame:
    return FeatureBuilder().batch(hist)


def _cut(h: HistoryFrames, t: pd.Timestamp) -> HistoryFrames:
    assert h.trades is not None and h.spot is not None
    return HistoryFrames(h.markets, h.snapshots[h.snapshots["ts"] <= t],
                         h.trades[h.trades["ts"] <= t], h.spot[h.spot["ts"] <= t])


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Bit-identical feature values (NaN == NaN)."""
    assert list(a["ticker"]) == list(b["ticker"])
    assert list(a["ts"]) == list(b["ts"])
    for c in FEATURE_NAMES:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        assert np.array_equal(x, y, equal_nan=True), c


def test_every_feature_is_built(full: pd.DataFrame) -> None:
    assert set(FEATURE_NAMES) <= set(full.columns)
    assert len(full) > 5_000
    assert (full["ts"] < full["close_time"]).all()
    crypto = full["is_crypto"] == 1.0
    assert crypto.any() and (~crypto).any()
    assert full.loc[crypto, "p_digital"].between(0, 1).all()
    assert full.loc[~crypto, "p_digital"].isna().all()
    # everything except the crypto block is finite
    other = [c for c in FEATURE_NAMES if not c.startswith(("spot_", "source_", "p_digital"))]
    assert np.isfinite(full[other].to_numpy()).all()


@pytest.mark.parametrize("frac", [0.3, 0.62])
def test_no_lookahead(hist: HistoryFrames, full: pd.DataFrame, frac: float) -> None:
    ts = full["ts"].sort_values()
    t = ts.iloc[int(len(ts) * frac)]
    cut = FeatureBuilder().batch(_cut(hist, t))
    before = full[full["ts"] <= t].reset_index(drop=True)
    assert len(cut) == len(before) > 0
    _same(cut, before)


def test_live_rows_match_batch_bit_for_bit(hist: HistoryFrames, full: pd.DataFrame) -> None:
    fb = FeatureBuilder()
    rng = np.random.default_rng(0)
    picks = full.iloc[rng.choice(len(full), 12, replace=False)]
    for _, row in picks.iterrows():
        live = fb.live_row(hist, row["ticker"], row["ts"])
        _same(live, full[(full["ticker"] == row["ticker"]) & (full["ts"] == row["ts"])]
              .reset_index(drop=True))
    # all markets at once, at one instant: the latest row of each market by then
    at = full["ts"].iloc[len(full) // 2]
    live = fb.live_rows(hist, at)
    expect = (full[full["ts"] <= at].groupby("ticker").tail(1).sort_values("ticker")
              .reset_index(drop=True))
    _same(live, expect)


def test_live_row_without_snapshot_is_a_data_error(hist: HistoryFrames) -> None:
    with pytest.raises(DataError):
        FeatureBuilder().live_row(hist, "NOPE-1", pd.Timestamp("2030-01-01", tz="UTC"))


def test_event_sum_of_mids(full: pd.DataFrame) -> None:
    ev = full[full["series_ticker"] == "KXSYNTH"]
    t = ev["ts"].iloc[len(ev) // 2]
    e = ev.loc[ev["ts"] == t, "event_ticker"].iloc[0]
    rows = ev[(ev["event_ticker"] == e) & (ev["ts"] == t)]
    assert len(rows) == 5
    assert rows["event_mid_sum"].to_numpy() == pytest.approx(rows["mid"].sum())
    assert sorted(rows["strike_rank"]) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (rows["n_event_markets"] == 5).all()


def test_book_features_handle_an_empty_side() -> None:
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    markets = pd.DataFrame([{
        "ticker": "X-1", "event_ticker": "X", "series_ticker": "X", "open_time": t0,
        "close_time": t0 + pd.Timedelta(hours=1), "strike_type": "", "floor_strike": np.nan,
        "cap_strike": np.nan, "result": "", "mutually_exclusive": False}])
    snaps = pd.DataFrame({"ts": [t0, t0 + pd.Timedelta(minutes=1)], "ticker": "X-1",
                          "yes_bid": [0.40, np.nan], "yes_ask": [np.nan, 0.30],
                          "yes_bid_size": [10.0, np.nan], "yes_ask_size": [np.nan, 5.0]})
    f = FeatureBuilder().batch(HistoryFrames(markets, snaps))
    assert f["mid"].tolist() == [0.70, 0.15]
    assert f["one_sided"].tolist() == [1.0, 1.0]
    assert f["depth_imbalance"].tolist() == [1.0, -1.0]
    assert f["label"].isna().all()
    assert f["is_crypto"].tolist() == [0.0, 0.0]


def test_missing_columns_are_a_data_error(hist: HistoryFrames) -> None:
    with pytest.raises(DataError, match="yes_bid"):
        FeatureBuilder().batch(HistoryFrames(hist.markets,
                                             hist.snapshots.drop(columns=["yes_bid"])))


def test_series_to_spot_symbol() -> None:
    assert spot_symbol_for_series("KXBTC15M") == "BTC"
    assert spot_symbol_for_series("KXETHD") == "ETH"
    assert spot_symbol_for_series("KXHIGHNY") is None
    assert spot_symbol_for_series("KXSYNTH") is None
