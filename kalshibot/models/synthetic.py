"""Synthetic, seeded history frames shaped like ``kalshibot.store.history``'s loaders.

For tests and ``bench/``: 15-minute crypto markets (series ``KXBTC15M``) over a GBM spot path
whose settlement is the 60-second average, and hourly mutually exclusive bracket events
(series ``KXSYNTH``). Market mids are noisy versions of the true probability, so a model can
at best match them plus a little; this is not a claim about real markets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kalshibot.features.builder import HistoryFrames
from kalshibot.features.digital import digital_prob

_T0 = pd.Timestamp("2026-01-05 00:00:00", tz="UTC")


def _quote(rng: np.random.Generator, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mid = np.clip(np.round(p * 100.0) / 100.0, 0.02, 0.98)
    half = rng.integers(1, 3, size=len(p)) / 100.0
    bid = np.round(np.clip(mid - half, 0.01, 0.98), 2)
    ask = np.round(np.clip(mid + half, 0.02, 0.99), 2)
    return bid, ask


def synthetic_history(n_rows: int = 20_000, *, seed: int = 7, crypto_share: float = 0.7,
                      snap_s: int = 10, spot_s: int = 5, market_noise: float = 0.05,
                      ) -> HistoryFrames:
    """About ``n_rows`` snapshot rows (markets, snapshots, trades, spot), all settled."""
    rng = np.random.default_rng(seed)
    markets: list[dict[str, object]] = []
    snaps: list[pd.DataFrame] = []
    # ---- 15-minute crypto windows -----------------------------------------------------------
    per_window = 900 // snap_s
    n_win = max(2, int(n_rows * crypto_share) // per_window)
    sigma = 9e-5  # per sqrt(second), ~50% a year
    steps = (n_win + 1) * 900 // spot_s + 1
    z = rng.standard_normal(steps) * sigma * np.sqrt(spot_s)
    log_p = np.log(60_000.0) + np.cumsum(z)
    spot_ts = _T0 + pd.to_timedelta(np.arange(steps) * spot_s, unit="s")
    spot_px = np.exp(log_p)
    spot = pd.DataFrame({"ts": spot_ts, "source": "sample", "symbol": "BTC", "price": spot_px})
    per_min = 60 // spot_s
    for w in range(n_win):
        open_i = (w + 1) * 900 // spot_s  # the first window starts after 15 min of spot
        close_i = open_i + 900 // spot_s
        strike = float(np.round(spot_px[open_i - per_min + 1: open_i + 1].mean(), 2))
        settle = float(spot_px[close_i - per_min + 1: close_i + 1].mean())
        t_open = spot_ts[open_i]
        t_close = spot_ts[close_i]
        ticker = f"KXBTC15M-W{w:05d}-00"
        markets.append({
            "ticker": ticker, "event_ticker": f"KXBTC15M-W{w:05d}", "series_ticker": "KXBTC15M",
            "title": "BTC price up in next 15 mins?", "status": "finalized",
            "open_time": t_open, "close_time": t_close, "strike_type": "greater_or_equal",
            "floor_strike": strike, "cap_strike": np.nan,
            "result": "yes" if settle >= strike else "no", "settlement_value": settle,
            "mutually_exclusive": False,
        })
        k = np.arange(per_window)
        idx = open_i + k * (snap_s // spot_s)
        tau = 900.0 - k * snap_s
        p_true = digital_prob(spot_px[idx], strike, sigma, tau)
        p_mkt = np.clip(p_true + rng.normal(0.0, market_noise, per_window), 0.0, 1.0)
        bid, ask = _quote(rng, p_mkt)
        snaps.append(pd.DataFrame({
            "ts": spot_ts[idx], "ticker": ticker, "yes_bid": bid, "yes_ask": ask,
            "yes_bid_size": rng.integers(1, 500, per_window).astype(float),
            "yes_ask_size": rng.integers(1, 500, per_window).astype(float),
            "_p": p_true,
        }))
    # ---- hourly mutually exclusive brackets --------------------------------------------------
    k_mk = 5
    per_event = 60 * k_mk
    n_ev = max(2, int(n_rows * (1.0 - crypto_share)) // per_event)
    for e in range(n_ev):
        t_open = _T0 + pd.Timedelta(hours=e)
        t_close = t_open + pd.Timedelta(hours=1)
        base = rng.dirichlet(np.full(k_mk, 2.0))
        winner = int(rng.choice(k_mk, p=base))
        ev = f"KXSYNTH-E{e:05d}"
        ts = t_open + pd.to_timedelta(np.arange(60) * 60, unit="s")
        f = (np.arange(60) / 60.0) ** 3 * 0.8
        for j in range(k_mk):
            ticker = f"{ev}-B{j}"
            markets.append({
                "ticker": ticker, "event_ticker": ev, "series_ticker": "KXSYNTH",
                "title": f"bracket {j}", "status": "finalized", "open_time": t_open,
                "close_time": t_close, "strike_type": "between", "floor_strike": 10.0 * j,
                "cap_strike": 10.0 * j + 9.99, "result": "yes" if j == winner else "no",
                "settlement_value": 1.0 if j == winner else 0.0, "mutually_exclusive": True,
            })
            p_true = (1 - f) * base[j] + f * (1.0 if j == winner else 0.0)
            p_mkt = np.clip(p_true + rng.normal(0.0, market_noise, 60), 0.0, 1.0)
            bid, ask = _quote(rng, p_mkt)
            snaps.append(pd.DataFrame({
                "ts": ts, "ticker": ticker, "yes_bid": bid, "yes_ask": ask,
                "yes_bid_size": rng.integers(1, 300, 60).astype(float),
                "yes_ask_size": rng.integers(1, 300, 60).astype(float), "_p": p_true,
            }))
    snap = pd.concat(snaps, ignore_index=True)
    # ---- trades: about one snapshot in three prints, taker side leaning to the true side ----
    has = rng.random(len(snap)) < 0.3
    tr = snap[has]
    mid = (tr["yes_bid"].to_numpy() + tr["yes_ask"].to_numpy()) / 2
    yes_taker = rng.random(len(tr)) < np.clip(0.5 + (tr["_p"].to_numpy() - mid), 0.05, 0.95)
    trades = pd.DataFrame({
        "ts": tr["ts"].to_numpy(), "ticker": tr["ticker"].to_numpy(),
        "yes_price": np.where(yes_taker, tr["yes_ask"], tr["yes_bid"]),
        "count": rng.integers(1, 50, len(tr)).astype(float),
        "taker_side": np.where(yes_taker, "yes", "no"),
    })
    trades["ts"] = pd.to_datetime(trades["ts"], utc=True)
    snap = snap.drop(columns="_p").sort_values(["ticker", "ts"], kind="mergesort")
    mk = pd.DataFrame(markets)
    return HistoryFrames(markets=mk, snapshots=snap.reset_index(drop=True),
                         trades=trades.sort_values(["ticker", "ts"]).reset_index(drop=True),
                         spot=spot)
