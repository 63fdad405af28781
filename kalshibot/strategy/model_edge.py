"""The *edge* strategy: the trained model's probability against the market's price.

Each cycle it builds feature rows for the markets in view with the one ``FeatureBuilder`` (the
same code training and backtests use) from history known at the decision time, and asks the
current registry model for P(YES), batched across markets. History comes from a store
connection: the market-data store in the sim venue (restricted to ``ts <= now``), the trading
store in paper/live (the engine records the books it sees); spot history from the store or the
live feed. Results and settlement values are blanked before features are built.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from kalshibot.config import Settings
from kalshibot.errors import KalshibotError
from kalshibot.features.builder import FEATURE_NAMES, FeatureBuilder, HistoryFrames
from kalshibot.strategy.base import FairValue, MarketView


class ModelEdgeStrategy:
    name = "edge"

    def __init__(
        self,
        model: Any,
        history: sqlite3.Connection,
        *,
        lookback: timedelta = timedelta(minutes=45),
        spot_lookback: timedelta = timedelta(hours=2),
        feed: Any = None,
    ) -> None:
        self.model = model
        self.history = history
        self.lookback = lookback
        self.spot_lookback = spot_lookback
        self.feed = feed
        self.builder = FeatureBuilder()

    @classmethod
    def from_settings(cls, settings: Settings, *, history: sqlite3.Connection | None,
                      feed: Any = None) -> ModelEdgeStrategy:
        from kalshibot.models import load_current_model

        if history is None:
            raise KalshibotError("the edge strategy needs a history store")
        return cls(load_current_model(settings.model_dir), history, feed=feed)

    def reload(self, settings: Settings) -> None:
        """Switch to the model currently marked current (after retraining)."""
        from kalshibot.models import load_current_model

        self.model = load_current_model(settings.model_dir)

    def _frames(self, views: Sequence[MarketView]) -> HistoryFrames:
        from kalshibot.store.history import load_markets, load_snapshots, load_spot, load_trades

        now = views[0].now
        tickers = sorted({v.market.ticker for v in views})
        events = {v.market.event_ticker for v in views}
        markets = load_markets(self.history, series=sorted({v.market.series_ticker
                                                           for v in views}))
        markets = markets[markets["event_ticker"].isin(events)].copy()
        markets["result"] = ""  # never let an outcome reach the features
        markets["settlement_value"] = np.nan
        until = now + timedelta(milliseconds=1)
        all_tickers = sorted(set(markets["ticker"]) | set(tickers))
        snaps = load_snapshots(self.history, all_tickers, since=now - self.lookback, until=until)
        trades = load_trades(self.history, all_tickers, since=now - self.lookback, until=until)
        spot = load_spot(self.history, since=now - self.spot_lookback, until=until)
        if len(spot) == 0 and self.feed is not None:
            spot = self._feed_spot(views)
        return HistoryFrames(markets, snaps, trades, spot)

    def _feed_spot(self, views: Sequence[MarketView]) -> pd.DataFrame:
        from kalshibot.feeds import Resolution, series_to_symbol

        rows = []
        now = views[0].now
        for sym in {v.market.series_ticker for v in views}:
            try:
                symbol = series_to_symbol(sym)
                bars = self.feed.history(symbol, Resolution.SECOND,
                                         since=now - self.spot_lookback, until=now)
            except KalshibotError:
                continue
            rows += [(b.start, "feed", symbol, b.close_float) for b in bars]
        return pd.DataFrame(rows, columns=["ts", "source", "symbol", "price"])

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        if not views:
            return []
        try:
            hist = self._frames(views)
            rows = self.builder.live_rows(hist, pd.Timestamp(views[0].now),
                                          [v.market.ticker for v in views])
        except KalshibotError as exc:
            return [FairValue(None, f"features unavailable: {exc}") for _ in views]
        if len(rows) == 0:
            return [FairValue(None, "no feature row (no recent snapshot)") for _ in views]
        p = self.model.predict_proba(rows[list(FEATURE_NAMES)])
        by_ticker = dict(zip(rows["ticker"], p, strict=True))
        out = []
        for v in views:
            pv = by_ticker.get(v.market.ticker)
            if pv is None or not np.isfinite(pv):
                out.append(FairValue(None, "no feature row for this market"))
            else:
                q = float(min(max(pv, 0.001), 0.999))
                out.append(FairValue(q, f"model p={q:.3f}"))
        return out
