"""The one feature builder: training, backtests and live trading call the same code.

Rows are order-book snapshots: one row per (ticker, ts) in ``snapshots``, for markets listed in
``markets``, strictly before the market's close. Every feature of a row uses only data with
timestamp ``<= ts`` (no lookahead) and markets-table fields known at listing (strikes, times,
mutual exclusivity). ``result`` only feeds the ``label`` column, never a feature.

Two entry points, one implementation:

- ``FeatureBuilder().batch(hist) -> DataFrame`` vectorised over a whole history in one pass.
- ``FeatureBuilder().live_rows(hist, at, tickers=None) -> DataFrame``: one row per market, the
  latest snapshot at or before ``at``. It restricts the inputs to ``ts <= at`` (and to the
  requested markets' events) and runs the same kernels, so its values are bit-identical to the
  matching ``batch`` rows computed over the same history (tests check this). ``live_row`` is the
  one-market shorthand.

Every kernel is *prefix-stable*: a value at ``t`` depends on the ordered data up to ``t`` only
(shifts, as-of joins, sequential cumulative sums, time-aware EWMA), which is what makes both
properties hold. The EWMA volatility (and cumulative trade volume) depend on where the supplied
history starts: give the live path the same history depth the backtest uses (the spot EWMA
half-life is 30 minutes, so two hours of spot history is plenty).

Columns of the result: the key columns ``KEY_COLUMNS`` (ticker, event_ticker, series_ticker, ts,
close_time, yes_bid, yes_ask, label) then ``FEATURE_NAMES`` (all float64). ``label`` is 1.0 for a
market that settled yes, 0.0 for no, NaN otherwise.

Features (``FEATURE_VERSION`` changes whenever their meaning changes; the model registry refuses
a model built for another version):

- book: ``mid`` (empty YES bid counts as 0, empty YES ask as 1), ``mid_logit``, ``spread``,
  ``one_sided``, ``depth_imbalance`` = (bid size - ask size) / total, ``log_depth``;
- mid dynamics: ``mid_chg_1`` (since the previous snapshot), ``mid_chg_60s``, ``mid_chg_300s``,
  ``mid_rv_10`` (RMS of the last 10 mid changes);
- trades: ``log_volume`` (contracts traded so far), ``log_volume_300s``, ``flow_300s`` (signed
  taker flow: (yes - no) / total over 5 min), ``last_trade_gap`` (last trade price - mid);
- time: ``log_ttc`` (log1p of seconds to close), ``frac_elapsed``, ``hour_sin``, ``hour_cos``,
  ``dow``;
- event: ``event_mid_sum`` (sum of the latest YES mids of the event's markets),
  ``event_excess`` (sum - 1 for mutually exclusive events, else 0), ``mid_share`` (mid / sum),
  ``n_event_markets``, ``strike_rank`` (0 = lowest strike of the event, 1 = highest);
- crypto (NaN for other markets): ``is_crypto``, ``spot_dist_z`` = ln(spot / strike) /
  (sigma sqrt(seconds left)), ``spot_ret_60s``, ``spot_ret_300s``, ``spot_vol_15m`` (EWMA sigma
  scaled to 15 minutes), ``source_div`` ((max - min) / mean of the sources' latest prices),
  ``p_digital`` (``digital.digital_prob`` with the settlement-average formula),
  ``p_digital_logit``, ``p_digital_minus_mid``. Logits clip probabilities to [0.001, 0.999].

Open interest is not in the store's loaders yet, so it is not a feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kalshibot.errors import DataError
from kalshibot.features.digital import (
    SETTLE_TICKS,
    SETTLE_WINDOW_S,
    digital_prob,
    ewma_variance_rate,
)

FEATURE_VERSION = "1"

FEATURE_NAMES: tuple[str, ...] = (
    "mid", "mid_logit", "spread", "one_sided", "depth_imbalance", "log_depth",
    "mid_chg_1", "mid_chg_60s", "mid_chg_300s", "mid_rv_10",
    "log_volume", "log_volume_300s", "flow_300s", "last_trade_gap",
    "log_ttc", "frac_elapsed", "hour_sin", "hour_cos", "dow",
    "event_mid_sum", "event_excess", "mid_share", "n_event_markets", "strike_rank",
    "is_crypto", "spot_dist_z", "spot_ret_60s", "spot_ret_300s", "spot_vol_15m", "source_div",
    "p_digital", "p_digital_logit", "p_digital_minus_mid",
)

KEY_COLUMNS: tuple[str, ...] = (
    "ticker", "event_ticker", "series_ticker", "ts", "close_time", "yes_bid", "yes_ask", "label",
)

_MARKET_COLS = ("ticker", "event_ticker", "series_ticker", "open_time", "close_time",
                "strike_type", "floor_strike", "cap_strike", "result", "mutually_exclusive")
_SNAP_COLS = ("ts", "ticker", "yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size")
_TRADE_COLS = ("ts", "ticker", "yes_price", "count", "taker_side")
_SPOT_COLS = ("ts", "source", "symbol", "price")

_CRYPTO_SERIES = re.compile(r"^KX([A-Z]+?)(15M|D)$")


def spot_symbol_for_series(series: str) -> str | None:
    """``KXBTC15M`` -> ``BTC`` (also ``KXETHD`` -> ``ETH``); None if not a crypto-style series."""
    m = _CRYPTO_SERIES.match(series or "")
    if not m or not m.group(2):
        return None
    return m.group(1)


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the feature kernels (part of the model metadata)."""

    spot_halflife_s: float = 1800.0
    spot_stale_s: float = 300.0
    trade_window_s: float = 300.0
    rv_window: int = 10
    settle_window_s: float = SETTLE_WINDOW_S
    settle_ticks: int = SETTLE_TICKS

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class HistoryFrames:
    """The inputs, as returned by ``kalshibot.store.history`` (``trades``/``spot`` optional)."""

    markets: pd.DataFrame
    snapshots: pd.DataFrame
    trades: pd.DataFrame | None = None
    spot: pd.DataFrame | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _need(df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{what} frame lacks column(s) {', '.join(missing)}")


def _utc(s: pd.Series) -> pd.Series:
    out = pd.to_datetime(s, utc=True)
    return out.astype("datetime64[ns, UTC]")


def _asof(left_ts: pd.Series, left_by: pd.Series, right: pd.DataFrame, by: str,
          cols: list[str], *, tolerance: pd.Timedelta | None = None) -> pd.DataFrame:
    """Backward as-of join (``right.ts <= left ts``) per ``by``; result aligned to left's index.

    ``right`` must be sorted by ts. Values are copied, never combined, so the result at a row
    depends only on the right rows at or before that row's time.
    """
    left = pd.DataFrame({"_t": _ns(left_ts), by: left_by.to_numpy(),
                         "_pos": np.arange(len(left_ts))})
    left = left.sort_values("_t", kind="mergesort")
    if len(right) == 0:
        out = pd.DataFrame({c: np.full(len(left_ts), np.nan) for c in cols})
        out.index = left_ts.index
        return out
    rt = pd.DataFrame({"_t": _ns(right["ts"]), by: right[by].to_numpy()})
    for c in cols:
        rt[c] = right[c].to_numpy()
    tol = None if tolerance is None else int(tolerance.value)
    merged = pd.merge_asof(left, rt, on="_t", by=by, direction="backward",
                           allow_exact_matches=True, tolerance=tol)
    merged = merged.sort_values("_pos", kind="mergesort")
    out = merged[cols].reset_index(drop=True)
    out.index = left_ts.index
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-3, 1 - 1e-3)
    out: np.ndarray = np.log(q / (1 - q))
    return out


def _ns(ts: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds (fast, exact)."""
    return pd.DatetimeIndex(ts).asi8


class FeatureBuilder:
    """Builds ``FEATURE_NAMES`` for snapshot rows. Stateless; safe to share."""

    version = FEATURE_VERSION
    names = FEATURE_NAMES

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()

    # public API -------------------------------------------------------------------------
    def batch(self, hist: HistoryFrames) -> pd.DataFrame:
        """Features for every snapshot row before its market's close (one vectorised pass)."""
        rows = self._rows(hist)
        if len(rows) == 0:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in
                                 (*KEY_COLUMNS, *FEATURE_NAMES)})
        self._book(rows)
        self._trades(rows, hist.trades)
        self._time(rows)
        self._event(rows, hist.markets)
        self._crypto(rows, hist.spot)
        out = rows[list(KEY_COLUMNS)].copy()
        for name in FEATURE_NAMES:
            out[name] = rows[name].astype(np.float64)
        return out.reset_index(drop=True)

    def live_rows(self, hist: HistoryFrames, at: pd.Timestamp,
                  tickers: list[str] | None = None) -> pd.DataFrame:
        """One row per market: features of its latest snapshot at or before ``at``.

        Markets with no snapshot by ``at`` (or already closed) are absent from the result.
        """
        at = pd.Timestamp(at)
        at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
        markets = hist.markets
        if tickers is not None:
            wanted = set(tickers)
            events = set(markets.loc[markets["ticker"].isin(wanted), "event_ticker"])
            markets = markets[markets["event_ticker"].isin(events)]
        keep = set(markets["ticker"])
        snaps = hist.snapshots
        snaps = snaps[(_utc(snaps["ts"]) <= at) & snaps["ticker"].isin(keep)]
        trades = hist.trades
        if trades is not None:
            trades = trades[(_utc(trades["ts"]) <= at) & trades["ticker"].isin(keep)]
        spot = hist.spot
        if spot is not None:
            spot = spot[_utc(spot["ts"]) <= at]
        full = self.batch(HistoryFrames(markets, snaps, trades, spot))
        if tickers is not None:
            full = full[full["ticker"].isin(set(tickers))]
        last = full.groupby("ticker", sort=True).tail(1)
        return last.sort_values("ticker", kind="mergesort").reset_index(drop=True)

    def live_row(self, hist: HistoryFrames, ticker: str, at: pd.Timestamp) -> pd.DataFrame:
        """``live_rows`` for one market; ``DataError`` if it has no usable snapshot by ``at``."""
        out = self.live_rows(hist, at, [ticker])
        if len(out) == 0:
            raise DataError(f"{ticker}: no order-book snapshot at or before {at} (or closed)")
        return out

    # kernels ----------------------------------------------------------------------------
    def _rows(self, hist: HistoryFrames) -> pd.DataFrame:
        _need(hist.markets, _MARKET_COLS, "markets")
        _need(hist.snapshots, _SNAP_COLS, "snapshots")
        m = hist.markets[list(_MARKET_COLS)].drop_duplicates("ticker", keep="last").copy()
        m["open_time"] = _utc(m["open_time"])
        m["close_time"] = _utc(m["close_time"])
        s = hist.snapshots[list(_SNAP_COLS)].copy()
        s["ts"] = _utc(s["ts"])
        rows = s.merge(m, on="ticker", how="inner")
        rows = rows[rows["ts"] < rows["close_time"]]
        rows = rows.sort_values(["ticker", "ts"], kind="mergesort")
        rows = rows.drop_duplicates(["ticker", "ts"], keep="last").reset_index(drop=True)
        res = rows["result"].fillna("").astype(str).str.lower()
        rows["label"] = np.where(res == "yes", 1.0, np.where(res == "no", 0.0, np.nan))
        for c in ("yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size", "floor_strike",
                  "cap_strike"):
            rows[c] = pd.to_numeric(rows[c], errors="coerce").astype(np.float64)
        return rows

    def _book(self, r: pd.DataFrame) -> None:
        bid_nan = r["yes_bid"].isna().to_numpy()
        ask_nan = r["yes_ask"].isna().to_numpy()
        bid = np.where(bid_nan, 0.0, r["yes_bid"].to_numpy())
        ask = np.where(ask_nan, 1.0, r["yes_ask"].to_numpy())
        mid = (bid + ask) / 2.0
        r["mid"] = mid
        r["mid_logit"] = _logit(mid)
        r["spread"] = ask - bid
        r["one_sided"] = (bid_nan | ask_nan).astype(np.float64)
        bs = np.where(bid_nan, 0.0, np.nan_to_num(r["yes_bid_size"].to_numpy()))
        asz = np.where(ask_nan, 0.0, np.nan_to_num(r["yes_ask_size"].to_numpy()))
        tot = bs + asz
        with np.errstate(invalid="ignore", divide="ignore"):
            r["depth_imbalance"] = np.where(tot > 0, (bs - asz) / tot, 0.0)
        r["log_depth"] = np.log1p(tot)
        g = r.groupby("ticker", sort=False)["mid"]
        dmid = (r["mid"] - g.shift(1)).fillna(0.0)
        r["mid_chg_1"] = dmid
        gd = dmid.groupby(r["ticker"], sort=False)
        acc = np.zeros(len(r))
        cnt = np.zeros(len(r))
        for k in range(self.config.rv_window):
            x = gd.shift(k).to_numpy() if k else dmid.to_numpy()
            ok = ~np.isnan(x)
            acc = acc + np.where(ok, x * x, 0.0)
            cnt = cnt + ok
        r["mid_rv_10"] = np.sqrt(acc / np.maximum(cnt, 1.0))
        snap = r[["ts", "ticker", "mid"]].sort_values("ts", kind="mergesort")
        for secs, name in ((60, "mid_chg_60s"), (300, "mid_chg_300s")):
            past = _asof(r["ts"] - pd.Timedelta(seconds=secs), r["ticker"], snap, "ticker",
                         ["mid"])["mid"].to_numpy()
            r[name] = np.where(np.isnan(past), 0.0, mid - past)

    def _trades(self, r: pd.DataFrame, trades: pd.DataFrame | None) -> None:
        w = pd.Timedelta(seconds=self.config.trade_window_s)
        if trades is None or len(trades) == 0:
            for c in ("log_volume", "log_volume_300s", "flow_300s", "last_trade_gap"):
                r[c] = 0.0
            return
        _need(trades, _TRADE_COLS, "trades")
        t = trades[list(_TRADE_COLS)].copy()
        t["ts"] = _utc(t["ts"])
        t = t[t["ticker"].isin(set(r["ticker"]))]
        t = t.sort_values(["ticker", "ts"], kind="mergesort").reset_index(drop=True)
        cnt = pd.to_numeric(t["count"], errors="coerce").fillna(0.0).astype(np.float64)
        side = np.where(t["taker_side"].astype(str).str.lower() == "yes", 1.0, -1.0)
        t["cum_vol"] = cnt.groupby(t["ticker"], sort=False).cumsum()
        t["cum_flow"] = pd.Series(cnt.to_numpy() * side).groupby(t["ticker"], sort=False).cumsum()
        t["last_px"] = pd.to_numeric(t["yes_price"], errors="coerce").astype(np.float64)
        # several trades in one instant: the as-of join must see the last of them
        t = t.drop_duplicates(["ticker", "ts"], keep="last").sort_values("ts", kind="mergesort")
        now = _asof(r["ts"], r["ticker"], t, "ticker", ["cum_vol", "cum_flow", "last_px"])
        past = _asof(r["ts"] - w, r["ticker"], t, "ticker", ["cum_vol", "cum_flow"])
        vol_now = now["cum_vol"].fillna(0.0).to_numpy()
        flow_now = now["cum_flow"].fillna(0.0).to_numpy()
        vol_w = vol_now - past["cum_vol"].fillna(0.0).to_numpy()
        flow_w = flow_now - past["cum_flow"].fillna(0.0).to_numpy()
        r["log_volume"] = np.log1p(np.maximum(vol_now, 0.0))
        r["log_volume_300s"] = np.log1p(np.maximum(vol_w, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            r["flow_300s"] = np.where(vol_w > 0, flow_w / vol_w, 0.0)
        lp = now["last_px"].to_numpy()
        r["last_trade_gap"] = np.where(np.isnan(lp), 0.0, lp - r["mid"].to_numpy())

    def _time(self, r: pd.DataFrame) -> None:
        ttc = (r["close_time"] - r["ts"]).dt.total_seconds().to_numpy()
        life = (r["close_time"] - r["open_time"]).dt.total_seconds().to_numpy()
        el = (r["ts"] - r["open_time"]).dt.total_seconds().to_numpy()
        r["ttc_s"] = ttc
        r["log_ttc"] = np.log1p(np.maximum(ttc, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            r["frac_elapsed"] = np.clip(np.where(life > 0, el / life, 0.0), 0.0, 1.0)
        ts = r["ts"].dt
        hour = ts.hour.to_numpy() + ts.minute.to_numpy() / 60.0
        r["hour_sin"] = np.sin(2 * np.pi * hour / 24.0)
        r["hour_cos"] = np.cos(2 * np.pi * hour / 24.0)
        r["dow"] = ts.day_of_week.to_numpy().astype(np.float64)

    def _event(self, r: pd.DataFrame, markets: pd.DataFrame) -> None:
        # sum of the event's latest mids: running sum of per-market mid changes in event order
        e = r[["event_ticker", "ts", "ticker", "mid"]].copy()
        e["_pos"] = np.arange(len(e))
        e = e.sort_values(["event_ticker", "ts", "ticker"], kind="mergesort")
        prev = e.groupby("ticker", sort=False)["mid"].shift(1).fillna(0.0)
        e["delta"] = e["mid"] - prev
        e["run"] = e.groupby("event_ticker", sort=False)["delta"].cumsum()
        e["run"] = e.groupby(["event_ticker", "ts"], sort=False)["run"].transform("last")
        e = e.sort_values("_pos", kind="mergesort")
        total = e["run"].to_numpy()
        mid = r["mid"].to_numpy()
        me = r["mutually_exclusive"].fillna(False).astype(bool).to_numpy()
        r["event_mid_sum"] = total
        r["event_excess"] = np.where(me, total - 1.0, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r["mid_share"] = np.where(total > 1e-9, mid / total, 0.0)
        # static listing facts: size of the event, rank of this market's strike
        m = markets[["ticker", "event_ticker", "floor_strike", "cap_strike"]]
        m = m.drop_duplicates("ticker", keep="last").copy()
        fs = pd.to_numeric(m["floor_strike"], errors="coerce")
        cs = pd.to_numeric(m["cap_strike"], errors="coerce")
        m["strike"] = fs.where(fs.notna(), cs).astype(np.float64)
        g = m.groupby("event_ticker", sort=False)
        m["n"] = g["ticker"].transform("size").astype(np.float64)
        m["nk"] = g["strike"].transform("count").astype(np.float64)
        rank = g["strike"].rank(method="average")
        with np.errstate(invalid="ignore", divide="ignore"):
            m["strike_rank"] = np.where((m["nk"] > 1) & rank.notna(),
                                        (rank - 1.0) / (m["nk"] - 1.0), 0.5)
        lk = m.set_index("ticker")
        r["n_event_markets"] = r["ticker"].map(lk["n"]).astype(np.float64).to_numpy()
        r["strike_rank"] = r["ticker"].map(lk["strike_rank"]).astype(np.float64).to_numpy()

    def _crypto(self, r: pd.DataFrame, spot: pd.DataFrame | None) -> None:
        cfg = self.config
        n = len(r)
        nan = np.full(n, np.nan)
        sym = r["series_ticker"].astype(str).map(spot_symbol_for_series)
        stype = r["strike_type"].fillna("").astype(str)
        strike = r["floor_strike"].to_numpy()
        eligible = (sym.notna() & stype.isin(["greater_or_equal", "greater"])).to_numpy()
        eligible = eligible & np.isfinite(strike) & (strike > 0)
        cols = ("spot_dist_z", "spot_ret_60s", "spot_ret_300s", "spot_vol_15m", "source_div",
                "p_digital", "p_digital_logit", "p_digital_minus_mid")
        if spot is None or len(spot) == 0 or not eligible.any():
            r["is_crypto"] = np.zeros(n)
            for c in cols:
                r[c] = nan
            return
        _need(spot, _SPOT_COLS, "spot")
        sp = spot[list(_SPOT_COLS)].copy()
        sp["ts"] = _utc(sp["ts"])
        sp["price"] = pd.to_numeric(sp["price"], errors="coerce").astype(np.float64)
        sp = sp[np.isfinite(sp["price"]) & (sp["price"] > 0)]
        sp["symbol"] = sp["symbol"].astype(str).str.upper()
        sym_s = sym.fillna("")
        stale = pd.Timedelta(seconds=cfg.spot_stale_s)
        win_start = r["close_time"] - pd.Timedelta(seconds=cfg.settle_window_s)
        # per source: price now / 60 s / 300 s ago, EWMA variance, running sums for the window
        sum_p = np.zeros(n)
        sum_var = np.zeros(n)
        n_var = np.zeros(n)
        n_src = np.zeros(n)
        sum_r60 = np.zeros(n)
        n_r60 = np.zeros(n)
        sum_r300 = np.zeros(n)
        n_r300 = np.zeros(n)
        sum_obs = np.zeros(n)
        n_obs = np.zeros(n)
        p_max = np.full(n, -np.inf)
        p_min = np.full(n, np.inf)
        for source in sorted(sp["source"].astype(str).unique()):
            parts = []
            for symbol, g in sp[sp["source"].astype(str) == source].groupby("symbol", sort=True):
                g = g.sort_values("ts", kind="mergesort").drop_duplicates("ts", keep="last")
                g = g.copy()
                g["var"] = ewma_variance_rate(g["ts"], g["price"].to_numpy(),
                                              halflife_s=cfg.spot_halflife_s)
                g["cum_p"] = g["price"].cumsum()
                g["cum_n"] = np.arange(1, len(g) + 1, dtype=np.float64)
                g["symbol"] = symbol
                parts.append(g)
            src = pd.concat(parts).sort_values("ts", kind="mergesort")
            now = _asof(r["ts"], sym_s, src, "symbol", ["price", "var", "cum_p", "cum_n"],
                        tolerance=stale)
            p_now = now["price"].to_numpy()
            ok = ~np.isnan(p_now)
            sum_p += np.where(ok, p_now, 0.0)
            n_src += ok
            p_max = np.where(ok, np.maximum(p_max, np.where(ok, p_now, 0.0)), p_max)
            p_min = np.where(ok, np.minimum(p_min, np.where(ok, p_now, 0.0)), p_min)
            v = now["var"].to_numpy()
            okv = ok & ~np.isnan(v)
            sum_var += np.where(okv, v, 0.0)
            n_var += okv
            for secs, acc, cnt in ((60, sum_r60, n_r60), (300, sum_r300, n_r300)):
                past = _asof(r["ts"] - pd.Timedelta(seconds=secs), sym_s, src, "symbol",
                             ["price"])["price"].to_numpy()
                okr = ok & ~np.isnan(past)
                with np.errstate(invalid="ignore", divide="ignore"):
                    acc += np.where(okr, np.log(np.where(okr, p_now / past, 1.0)), 0.0)
                cnt += okr
            # observations inside the settlement window so far: (close - w, ts]
            before = _asof(win_start, sym_s, src, "symbol", ["cum_p", "cum_n"])
            cp0 = before["cum_p"].fillna(0.0).to_numpy()
            cn0 = before["cum_n"].fillna(0.0).to_numpy()
            cp1 = now["cum_p"].to_numpy()
            cn1 = now["cum_n"].to_numpy()
            k = np.where(ok, cn1 - cn0, 0.0)
            okw = ok & (k > 0)
            sum_obs += np.where(okw, (np.where(okw, cp1, 0.0) - cp0) / np.where(okw, k, 1.0), 0.0)
            n_obs += okw
        nv = np.maximum(n_src, 1.0)
        has = eligible & (n_src > 0)
        s_now = np.where(has, sum_p / nv, np.nan)
        sigma = np.sqrt(np.where(has & (n_var > 0), sum_var / np.maximum(n_var, 1.0), np.nan))
        sigma = np.where(np.isfinite(sigma), np.maximum(sigma, 1e-9), np.nan)
        ttc = r["ttc_s"].to_numpy()
        obs = np.where(n_obs > 0, sum_obs / np.maximum(n_obs, 1.0), np.nan)
        in_window = ttc < cfg.settle_window_s
        obs = np.where(in_window, obs, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            r["spot_dist_z"] = np.log(s_now / strike) / (sigma * np.sqrt(np.maximum(ttc, 1.0)))
            r["spot_ret_60s"] = np.where(has, np.where(n_r60 > 0, sum_r60 / np.maximum(n_r60, 1),
                                                       0.0), np.nan)
            r["spot_ret_300s"] = np.where(has, np.where(n_r300 > 0,
                                                        sum_r300 / np.maximum(n_r300, 1), 0.0),
                                          np.nan)
            r["spot_vol_15m"] = sigma * np.sqrt(900.0)
            r["source_div"] = np.where(has, (p_max - p_min) / s_now, np.nan)
        p = digital_prob(s_now, strike, sigma, ttc, observed_avg=obs,
                         window=cfg.settle_window_s, n_ticks=cfg.settle_ticks)
        r["p_digital"] = p
        r["p_digital_logit"] = _logit(p)
        r["p_digital_minus_mid"] = p - r["mid"].to_numpy()
        r["is_crypto"] = has.astype(np.float64)
