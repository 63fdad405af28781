"""Data for evaluating the 15-minute crypto pricer: the reference path, windows, samples.

**Reference path** (``load_reference``): one (symbol, source) of ``spot_prices``. For coin
``BTC`` the preference is the settlement index itself (source ``cfbenchmarks``, recorded by
``data record --ws``), else the longest stored series among the symbols ``BTC``,
``BTCUSD``, ``BTCUSDT``, ``BTCUSDC`` (ties in that order; e.g. Binance.US bars from
``data import``: **not** the index Kalshi settles on). ``RefPath.is_index`` says which.

**Windows** (``build_windows``): 15-minute windows closing at ``T`` (rounded to the minute).

- ``markets``: settled markets of the series in the store (``result`` yes/no): outcome = the
  market's result; strike = ``floor_strike`` when stored, else the settlement proxy at the
  window's open ``T - 15 min`` (Kalshi's strike is the reference's 60-second average then).
- ``spot``: every quarter-hour covered by the path, outcome derived from the path itself:
  YES when the settlement proxy at ``T`` >= the proxy at ``T - 15 min``.
- ``auto``: ``markets`` when any settled market has path data around it, else ``spot``.

**Settlement proxy** (``settlement_proxy``) of the mean over ``(T - 60 s, T]``: with
second-level data (median spacing <= 5 s) the mean of the step path at the 60 whole seconds;
with bars that carry OHLC and end at ``T``, the bar's (O + H + L + C) / 4; otherwise the mean of
the levels at ``T - 60 s`` and ``T``.

**Samples** (``build_samples``): for each window and horizon ``h`` minutes into it (decision
time ``t = T - 15 min + h``): spot = the path's level at ``t`` (skipped when older than
``max_spot_age_s``), ``tau = T - t`` seconds, the one-minute grid position of ``t`` (for the
volatility forecasts), and the UTC day (the bootstrap block).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from kalshibot.clock import ensure_utc
from kalshibot.errors import DataError, UserInputError
from kalshibot.features.volatility import minute_grid, step_sample
from kalshibot.feeds.symbols import series_to_symbol
from kalshibot.store.history import load_markets
from kalshibot.store.units import ts_ms

FloatArray = npt.NDArray[np.float64]
INDEX_SOURCE = "cfbenchmarks"
WINDOW_S = 900
SETTLE_S = 60
QUOTES = ("USD", "USDT", "USDC")


@dataclass(frozen=True)
class RefPath:
    """One stored reference series: observation times (epoch s), levels (USD), optional OHLC."""

    symbol: str
    source: str
    ts: FloatArray
    price: FloatArray
    open: FloatArray | None
    high: FloatArray | None
    low: FloatArray | None

    @property
    def is_index(self) -> bool:
        return self.source == INDEX_SOURCE

    @property
    def spacing_s(self) -> float:
        return float(np.median(np.diff(self.ts))) if len(self.ts) > 1 else float("nan")

    def describe(self) -> str:
        what = "the CF Benchmarks index Kalshi settles on" if self.is_index else \
            "NOT the settlement index (a proxy for it)"
        return (f"{self.source}/{self.symbol}: {len(self.ts)} observations, "
                f"median spacing {self.spacing_s:g} s; {what}")


def _candidates(coin: str) -> list[str]:
    return [coin] + [coin + q for q in QUOTES]


def choose_series(conn: sqlite3.Connection, coin: str, symbol: str | None = None,
                  source: str | None = None) -> tuple[str, str]:
    """(symbol, source) to evaluate on; ``UserInputError`` when none is stored."""
    rows = conn.execute("SELECT symbol, source, count(*) FROM spot_prices "
                        "GROUP BY symbol, source").fetchall()
    have = {(str(s), str(src)): int(n) for s, src, n in rows}
    if symbol is not None or source is not None:
        hits = [k for k in have if (symbol is None or k[0] == symbol.upper())
                and (source is None or k[1] == source)]
        if not hits:
            raise UserInputError(f"no spot prices stored for symbol {symbol or '*'} / source "
                                 f"{source or '*'}", hint="see `kalshibot data import`")
        return max(hits, key=lambda k: (k[1] == INDEX_SOURCE, have[k]))
    for sym in _candidates(coin):
        if (sym, INDEX_SOURCE) in have:
            return sym, INDEX_SOURCE
    rank = {sym: i for i, sym in enumerate(_candidates(coin))}
    hits = [k for k in have if k[0] in rank]
    if hits:  # the longest series; ties go to the coin itself, then USD, USDT, USDC
        return max(hits, key=lambda k: (have[k], -rank[k[0]]))
    raise UserInputError(f"no spot prices stored for {coin} (looked for "
                         f"{', '.join(_candidates(coin))})",
                         hint="import some with `kalshibot data import` or record the index "
                              "with `kalshibot data record --ws --series KXBTC15M`")


def load_reference(conn: sqlite3.Connection, symbol: str, source: str,
                   since: datetime | None = None, until: datetime | None = None) -> RefPath:
    """The stored series (time-ordered; non-positive prices dropped)."""
    sql = ("SELECT ts, price, open, high, low FROM spot_prices WHERE symbol = ? AND source = ?")
    args: list[object] = [symbol, source]
    if since is not None:
        sql += " AND ts >= ?"
        args.append(ts_ms(ensure_utc(since)))
    if until is not None:
        sql += " AND ts <= ?"
        args.append(ts_ms(ensure_utc(until)))
    df = pd.read_sql_query(sql + " ORDER BY ts", conn, params=args)
    ts = df["ts"].to_numpy(np.float64) / 1000.0
    price = pd.to_numeric(df["price"], errors="coerce").to_numpy(np.float64)
    cols = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64)
            for c in ("open", "high", "low")}
    ok = np.isfinite(price) & (price > 0)
    ohlc = all(np.isfinite(v[ok]).all() and len(v[ok]) for v in cols.values())
    return RefPath(symbol, source, ts[ok], price[ok],
                   cols["open"][ok] if ohlc else None, cols["high"][ok] if ohlc else None,
                   cols["low"][ok] if ohlc else None)


def _step(path: RefPath, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Level (NaN before the first observation) and age in seconds at times ``t``."""
    return step_sample(path.ts, path.price, t)


def settlement_proxy(path: RefPath, close: FloatArray) -> FloatArray:
    """Proxy of the mean over ``(T - 60 s, T]`` for each close ``T`` (module docstring);
    NaN when the path has nothing recent enough (older than 120 s at ``T``)."""
    close = np.asarray(close, dtype=np.float64)
    _, age_end = _step(path, close)
    if path.spacing_s <= 5.0:
        secs = close[:, None] - SETTLE_S + np.arange(1, SETTLE_S + 1)[None, :]
        lv, _ = _step(path, secs.ravel())
        out = lv.reshape(secs.shape).mean(axis=1)
    elif path.open is not None and path.high is not None and path.low is not None:
        i = np.searchsorted(path.ts, close)
        i = np.clip(i, 0, len(path.ts) - 1)
        at = path.ts[i] == close
        typ = (path.open[i] + path.high[i] + path.low[i] + path.price[i]) / 4.0
        out = np.where(at, typ, np.nan)
    else:
        a, _ = _step(path, close - SETTLE_S)
        b, _ = _step(path, close)
        out = (a + b) / 2.0
    return np.where(age_end <= 120.0, out, np.nan)


@dataclass
class Windows:
    """Windows to score: close times (epoch s), strikes, outcomes (1 = YES), and labels."""

    close: FloatArray
    strike: FloatArray
    y: FloatArray
    mode: str  # "markets" | "spot"
    tickers: list[str]
    skipped: dict[str, int]


def _market_windows(conn: sqlite3.Connection, path: RefPath, series: str,
                    lo: float, hi: float) -> Windows:
    mk = load_markets(conn, series=[series])
    mk = mk[mk["result"].isin(["yes", "no"])]
    skipped: dict[str, int] = {}
    close = (mk["close_time"].astype("int64").to_numpy() // 10**9).astype(np.float64) \
        if len(mk) else np.empty(0)
    close = np.round(close / 60.0) * 60.0
    inside = (close - WINDOW_S >= lo) & (close <= hi)
    if (~inside).any():
        skipped["market outside the path's span"] = int((~inside).sum())
    mk, close = mk[inside], close[inside]
    strike = mk["floor_strike"].to_numpy(np.float64) if len(mk) else np.empty(0)
    proxy = settlement_proxy(path, close - WINDOW_S) if len(close) else np.empty(0)
    strike = np.where(np.isfinite(strike) & (strike > 0), strike, proxy)
    y = (mk["result"] == "yes").to_numpy(np.float64)
    return Windows(close, strike, y, "markets", list(mk["ticker"]), skipped)


def _spot_windows(path: RefPath, lo: float, hi: float) -> Windows:
    first = np.ceil((lo + WINDOW_S) / WINDOW_S) * WINDOW_S
    close = np.arange(first, hi + 1e-9, WINDOW_S, dtype=np.float64)
    a = settlement_proxy(path, close)
    k = settlement_proxy(path, close - WINDOW_S)
    ok = np.isfinite(a) & np.isfinite(k)
    skipped = {"no settlement proxy (data gap)": int((~ok).sum())} if (~ok).any() else {}
    close, a, k = close[ok], a[ok], k[ok]
    return Windows(close, k, (a >= k).astype(np.float64), "spot",
                   [f"{int(c)}" for c in close], skipped)


def build_windows(conn: sqlite3.Connection, path: RefPath, series: str, mode: str,
                  warmup_s: float) -> Windows:
    """Windows whose open is at least ``warmup_s`` after the path starts (module doc)."""
    if mode not in ("auto", "markets", "spot"):
        raise UserInputError(f"--windows must be auto, markets or spot, got {mode!r}")
    if len(path.ts) < 2:
        raise UserInputError(f"{path.source}/{path.symbol}: fewer than 2 observations")
    lo, hi = float(path.ts[0]) + warmup_s, float(path.ts[-1])
    if mode in ("auto", "markets"):
        w = _market_windows(conn, path, series, lo, hi)
        if mode == "markets" or len(w.close):
            return w
    return _spot_windows(path, lo, hi)


@dataclass
class Samples:
    """One row per (window, horizon): see the module docstring. ``g`` indexes the grid."""

    h: npt.NDArray[np.int64]
    close: FloatArray
    t: FloatArray
    tau: FloatArray
    spot: FloatArray
    strike: FloatArray
    y: FloatArray
    day: npt.NDArray[np.int64]  # days since epoch (UTC) of the decision
    g: npt.NDArray[np.int64]
    window: npt.NDArray[np.int64]
    skipped: dict[str, int]

    def __len__(self) -> int:
        return len(self.y)

    def take(self, sel: npt.NDArray[np.bool_]) -> Samples:
        return Samples(self.h[sel], self.close[sel], self.t[sel], self.tau[sel],
                       self.spot[sel], self.strike[sel], self.y[sel], self.day[sel],
                       self.g[sel], self.window[sel], self.skipped)


@dataclass(frozen=True)
class Grid:
    """The one-minute grid over the whole path: times (epoch s), log level, age (s)."""

    t: FloatArray
    logp: FloatArray
    age: FloatArray

    @classmethod
    def over(cls, path: RefPath) -> Grid:
        start = np.floor(path.ts[0] / 60.0) * 60.0
        end = np.floor(path.ts[-1] / 60.0) * 60.0
        n = int(round((end - start) / 60.0)) + 1
        t, logp, age = minute_grid(path.ts, path.price, end, n)
        return cls(t, logp, age)


def build_samples(path: RefPath, grid: Grid, w: Windows, horizons: tuple[int, ...],
                  max_spot_age_s: float = 120.0) -> Samples:
    """Rows for every window and horizon with a fresh spot level (module docstring)."""
    for h in horizons:
        if not 1 <= h <= 14:
            raise UserInputError(f"horizon {h} min is outside 1..14 minutes into the window")
    hs = np.repeat(np.asarray(horizons, dtype=np.int64)[None, :], len(w.close), axis=0).ravel()
    win = np.repeat(np.arange(len(w.close)), len(horizons))
    close = w.close[win]
    t = close - WINDOW_S + 60.0 * hs
    g = np.round((t - grid.t[0]) / 60.0).astype(np.int64)
    ok_g = (g >= 0) & (g < len(grid.t))
    gi = np.where(ok_g, g, 0)
    fresh = ok_g & (grid.age[gi] <= max_spot_age_s) & np.isfinite(grid.logp[gi])
    skipped = dict(w.skipped)
    if (~fresh).any():
        skipped["no fresh spot at the decision time"] = int((~fresh).sum())
    sel = fresh & np.isfinite(w.strike[win]) & (w.strike[win] > 0)
    if (fresh & ~sel).any():
        skipped["no strike"] = int((fresh & ~sel).sum())
    day = (t // 86400).astype(np.int64)
    s = Samples(hs, close, t, close - t, np.exp(grid.logp[gi]), w.strike[win], w.y[win], day,
                gi, win, skipped)
    return s.take(sel)


def coin_of_series(series: str) -> str:
    """``KXBTC15M`` -> ``BTC``; anything else is a ``UserInputError``."""
    try:
        return series_to_symbol(series)
    except DataError as exc:
        raise UserInputError(str(exc)) from None
