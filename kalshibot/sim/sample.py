"""Seeded synthetic market data, written into the same store tables as real data.

``generate_sample(conn, SampleConfig(...))`` builds, for ``days`` days ending at ``end``:

**(a) 15-minute crypto up/down markets** (default ``KXBTC15M``, ``KXETH15M``; also KXSOL15M,
KXXRP15M, KXDOGE15M):

- a 1-second spot path per asset with stochastic volatility (log-vol is an AR(1)/OU process
  around the asset's base volatility) and Poisson jumps; stored in ``spot_prices`` with
  ``source='sample'``, ``symbol`` = the asset (``BTC``...), price rounded to the asset's ticks;
- one market per 15-minute window aligned to :00/:15/:30/:45 UTC. Tickers follow Kalshi:
  event ``KXBTC15M-26SEP302015`` (window close in US Eastern time), market ``...-15``;
  ``strike_type='greater_or_equal'``, ``floor_strike`` = the 60-second average of spot up to the
  window open; settlement = the 60-second average before close; YES iff it is >= the strike.
  Windows closed by ``end`` are ``finalized`` with ``result`` and ``settlement_value``; the
  window open at ``end`` (if any) is ``active``; Eastern wall-clock time repeats an hour each
  November, so windows closing in the repeated hour's second pass are not listed (one market
  per ticker);
- a market maker quoting a **lagged, noisy** digital-option fair value: spot seen 1-5 s late,
  volatility from a 5-minute realised estimate with multiplicative noise, the known part of the
  settlement average accounted for in the last minute, plus quote noise. Spreads of 1-4 cents,
  three price levels a side with finite sizes (``depth``), a snapshot every ``snapshot_s``
  seconds (default 10) in ``book_snapshots``;
- public trades (Poisson arrivals; the taker lifts the ask or hits the bid) in ``trades``;
  market ``volume`` is the sum of its trades.

**(b) event markets with mutually exclusive brackets** (``KXHIGHNY``, "Highest temperature in
NYC"): one event per day, six brackets (two tails + four 2-degree bins), open 10:00 UTC to
04:00 UTC the next day. A latent forecast follows a Brownian bridge to the realised temperature
while its uncertainty shrinks to zero, so bracket probabilities (which sum to 1) drift to the
outcome. Quotes every ``event_snapshot_s`` seconds (default 60) and sparse trades.

Series rows carry ``fee_type`` (crypto: ``quadratic``; KXHIGHNY: ``quadratic_with_maker_fees``).
The same ``seed``, ``days``, ``end`` and ``series`` give byte-identical data. Floats are used
for the simulation; every stored price is converted exactly to integer units or decimal text.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from scipy.signal import lfilter
from scipy.special import ndtr

from kalshibot.domain.fees import FeeType
from kalshibot.domain.market import Event, Market, MarketStatus, Result, Series
from kalshibot.domain.money import Price
from kalshibot.domain.ticks import TickGrid
from kalshibot.errors import UserInputError
from kalshibot.store.books import insert_snapshot_rows
from kalshibot.store.connection import atomic
from kalshibot.store.markets import upsert_events, upsert_markets, upsert_series
from kalshibot.store.spot import insert_spot_rows
from kalshibot.store.trades import insert_trade_rows
from kalshibot.store.units import ts_ms

ET = ZoneInfo("America/New_York")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
SECONDS_PER_YEAR = 365.0 * 86_400


@dataclass(frozen=True)
class Asset:
    symbol: str
    start_price: float  # USD
    annual_vol: float  # base volatility
    decimals: int  # spot price decimals stored
    jumps_per_day: float


ASSETS: dict[str, Asset] = {
    "BTC": Asset("BTC", 104_000.0, 0.45, 2, 2.0),
    "ETH": Asset("ETH", 3_900.0, 0.60, 2, 2.5),
    "SOL": Asset("SOL", 210.0, 0.75, 3, 3.0),
    "XRP": Asset("XRP", 2.6, 0.80, 4, 3.0),
    "DOGE": Asset("DOGE", 0.27, 0.90, 5, 3.0),
}
CRYPTO_SERIES: dict[str, str] = {f"KX{a}15M": a for a in ASSETS}
EVENT_SERIES = ("KXHIGHNY",)
DEFAULT_SERIES = ("KXBTC15M", "KXETH15M", "KXHIGHNY")
SOURCE = "sample"


@dataclass(frozen=True)
class SampleConfig:
    """What to generate. ``end`` defaults to now rounded down to the minute (pass it for a
    reproducible dataset)."""

    days: float = 3.0
    seed: int = 7
    series: Sequence[str] = DEFAULT_SERIES
    end: datetime | None = None
    snapshot_s: int = 10
    event_snapshot_s: int = 60
    depth_levels: int = 3


@dataclass
class SampleSummary:
    start: datetime
    end: datetime
    rows: dict[str, int] = field(default_factory=dict)
    markets_by_series: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str], None]


def _fmt_event_close(close: datetime) -> str:
    et = close.astimezone(ET)
    return f"{et:%y}{MONTHS[et.month - 1]}{et:%d}{et:%H%M}"


def _ticker_unique(close: datetime) -> bool:
    """False for a close in the second pass of the US Eastern fall-back hour.

    Tickers name the close in Eastern wall-clock time, which repeats for one hour each November;
    a ticker can name only one market, so the repeated hour's second windows are not listed.
    """
    return close.astimezone(ET).fold == 0


def _fmt_day(day: datetime) -> str:
    return f"{day:%y}{MONTHS[day.month - 1]}{day:%d}"


def _dec(x: float, places: int) -> Decimal:
    return Decimal(f"{x:.{places}f}")


#: The span sample data may cover (``--end`` outside it is refused before any date arithmetic).
SANE_START = datetime(2000, 3, 1, tzinfo=UTC)  # leaves room for --days 60 before it
SANE_END = datetime(2100, 1, 1, tzinfo=UTC)


def validate(cfg: SampleConfig) -> None:
    if not 0 < cfg.days <= 60:
        raise UserInputError(f"--days must be in (0, 60], got {cfg.days}")
    unknown = [s for s in cfg.series if s not in CRYPTO_SERIES and s not in EVENT_SERIES]
    if unknown:
        known = ", ".join([*CRYPTO_SERIES, *EVENT_SERIES])
        raise UserInputError(f"unknown sample series {', '.join(unknown)} (known: {known})")
    if not cfg.series:
        raise UserInputError("no series to generate")
    if cfg.snapshot_s <= 0 or 900 % cfg.snapshot_s:
        raise UserInputError("--snapshot-seconds must divide 900")
    if cfg.seed < 0:
        raise UserInputError(f"--seed must be 0 or more, got {cfg.seed}")
    if cfg.end is not None and not SANE_START <= cfg.end.astimezone(UTC) < SANE_END:
        raise UserInputError(f"--end {cfg.end.isoformat()} is outside "
                             f"{SANE_START:%Y-%m-%d} .. {SANE_END:%Y-%m-%d}")


def generate_sample(conn: sqlite3.Connection, cfg: SampleConfig, *,
                    now: datetime | None = None, progress: Progress | None = None
                    ) -> SampleSummary:
    """Generate the dataset into ``conn``; idempotent for the same config."""
    validate(cfg)
    end = cfg.end or (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    end = end.astimezone(UTC)
    start = end - timedelta(days=cfg.days)
    summary = SampleSummary(start, end)
    written = now or end
    say = progress or (lambda _msg: None)
    series_rows: list[Series] = []
    for i, name in enumerate(cfg.series):
        rng = np.random.default_rng([cfg.seed, i, _stable_hash(name)])
        if name in CRYPTO_SERIES:
            say(f"{name}: simulating spot and 15-minute markets")
            asset = ASSETS[CRYPTO_SERIES[name]]
            series_rows.append(Series(name, f"{asset.symbol} price up or down in 15 minutes",
                                      FeeType.QUADRATIC, Decimal(1), "fifteen_min"))
            counts = _crypto(conn, rng, name, asset, start, end, cfg, written)
        else:
            say(f"{name}: simulating bracket events")
            series_rows.append(Series(name, "Highest temperature in NYC today",
                                      FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal(1), "daily"))
            counts = _brackets(conn, rng, name, start, end, cfg, written)
        summary.markets_by_series[name] = counts.pop("markets")
        for k, v in counts.items():
            summary.rows[k] = summary.rows.get(k, 0) + v
    with atomic(conn):
        summary.rows["series"] = upsert_series(conn, series_rows, now=written,
                                               category="sample")
    summary.rows["markets"] = sum(summary.markets_by_series.values())
    return summary


def _stable_hash(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")


# --- (a) crypto ---------------------------------------------------------------------------
def simulate_spot(rng: np.random.Generator, asset: Asset, n: int) -> np.ndarray:
    """A 1-second price path of length ``n``: stochastic volatility plus Poisson jumps."""
    sigma_s = asset.annual_vol / math.sqrt(SECONDS_PER_YEAR)
    kappa = 1.0 / 1800.0  # log-vol mean reversion ~30 min
    xi = 0.6 * math.sqrt(2 * kappa)  # stationary log-vol sd 0.6
    h = lfilter([xi], [1.0, -(1.0 - kappa)], rng.standard_normal(n))
    sig = sigma_s * np.exp(h - 0.18)  # E[exp(h)] ~ exp(0.18)
    jumps = rng.random(n) < asset.jumps_per_day / 86_400
    jump_sizes = np.where(jumps, rng.normal(0.0, 0.004, n), 0.0)
    ret = sig * rng.standard_normal(n) - 0.5 * sig**2 + jump_sizes
    ret[0] = 0.0
    path = asset.start_price * np.exp(np.cumsum(ret))
    return np.round(path, asset.decimals)


def _window_mean(cs: np.ndarray, last: np.ndarray, width: int = 60) -> np.ndarray:
    """Mean of path[last - width + 1 .. last] using prefix sums ``cs`` (cs[0] = 0)."""
    return (cs[last + 1] - cs[last + 1 - width]) / width


def _crypto(conn: sqlite3.Connection, rng: np.random.Generator, series: str, asset: Asset,
            start: datetime, end: datetime, cfg: SampleConfig, written: datetime
            ) -> dict[str, int]:
    first_open = _ceil_to(start, 900)
    t0 = first_open - timedelta(seconds=360)
    n = int((end - t0).total_seconds()) + 1
    path = simulate_spot(rng, asset, n)
    cs = np.concatenate([[0.0], np.cumsum(path)])
    logp = np.log(path)
    r2 = np.concatenate([[0.0], np.cumsum(np.diff(logp, prepend=logp[0]) ** 2)])
    t0_ms = ts_ms(t0)
    end_idx = n - 1

    opens = np.arange(360, end_idx + 1, 900)  # index of each window open (one may open at end)
    opens = opens[[_ticker_unique(t0 + timedelta(seconds=int(o) + 900)) for o in opens]]
    if len(opens) == 0:
        return {"markets": 0}
    closes = opens + 900
    strike = np.round(_window_mean(cs, opens), asset.decimals)
    closed = closes <= end_idx
    settle = np.full(len(opens), np.nan)
    settle[closed] = _window_mean(cs, closes[closed])
    yes = settle >= strike

    # snapshots: windows x steps
    step = cfg.snapshot_s
    k = np.arange(900 // step)
    t = opens[:, None] + step * k[None, :]
    valid = t <= end_idx
    t = np.minimum(t, end_idx)
    tau = (closes[:, None] - t).astype(float)
    lag = rng.integers(1, 6, size=t.shape)
    tl = np.maximum(t - lag, 1)
    s_l = path[tl]
    rv = np.sqrt(np.maximum((r2[tl + 1] - r2[np.maximum(tl + 1 - 300, 0)]) / 300, 1e-14))
    sig = rv * np.exp(rng.normal(0.0, 0.2, size=t.shape))
    in_avg = tau < 60
    obs_n = np.where(in_avg, 60 - tau, 1.0)
    first_avg = closes[:, None] - 59
    m_obs = np.where(in_avg, (cs[t + 1] - cs[np.minimum(first_avg, t)]) / obs_n, s_l)
    w = np.where(in_avg, tau / 60.0, 1.0)
    mean = (1 - w) * m_obs + w * s_l
    var = np.where(in_avg, w**2 * sig**2 * tau / 3.0, sig**2 * (tau - 40.0))
    z = (mean - strike[:, None]) / (s_l * np.sqrt(np.maximum(var, 1e-16)))
    fair = np.clip(ndtr(z) + rng.normal(0.0, 0.01, size=t.shape), 0.001, 0.999)

    tickers, markets, events = [], [], []
    for j in range(len(opens)):
        o = t0 + timedelta(seconds=int(opens[j]))
        c = o + timedelta(minutes=15)
        ev = f"{series}-{_fmt_event_close(c)}"
        tickers.append(f"{ev}-{c.astimezone(ET):%M}")
        events.append(Event(ev, series, f"{asset.symbol} price up in next 15 mins?", False))
    snap_rows, trade_rows, vols = _quotes_and_trades(
        rng, tickers, t, valid, fair, t0_ms, opens, np.minimum(closes, end_idx), step,
        cfg.depth_levels)
    for j in range(len(opens)):
        o = t0 + timedelta(seconds=int(opens[j]))
        c = o + timedelta(minutes=15)
        done = bool(closed[j])
        res = (Result.YES if yes[j] else Result.NO) if done else Result.NONE
        markets.append(Market(
            ticker=tickers[j], event_ticker=events[j].event_ticker, series_ticker=series,
            title=f"{asset.symbol} price up in next 15 mins?",
            status=MarketStatus.FINALIZED if done else MarketStatus.ACTIVE,
            open_time=o, close_time=c, tick_grid=TickGrid.linear_cent(),
            strike_type="greater_or_equal",
            floor_strike=_dec(float(strike[j]), asset.decimals), result=res,
            settlement_value=(Price(1) if yes[j] else Price(0)) if done else None,
            fractional_trading=True, volume=Decimal(vols[j]) / 100,
            fee_type=FeeType.QUADRATIC))
    spot_rows = _spot_rows(path, t0_ms, asset)
    out = {"markets": len({m.ticker for m in markets})}
    with atomic(conn):
        out["events"] = upsert_events(conn, events, now=written)
        upsert_markets(conn, markets, now=written, source=SOURCE)
        out["book_snapshots"] = insert_snapshot_rows(conn, snap_rows)
        out["trades"] = insert_trade_rows(conn, trade_rows)
        out["spot_prices"] = insert_spot_rows(conn, spot_rows)
    return out


def _spot_rows(path: np.ndarray, t0_ms: int, asset: Asset) -> list[tuple]:
    texts = np.char.mod(f"%.{asset.decimals}f", path).tolist()
    ts = (t0_ms + 1000 * np.arange(len(path))).tolist()
    return [(SOURCE, asset.symbol, tsv, p, None, None, None, None) for tsv, p in zip(ts, texts,
                                                                                   strict=True)]


def _quotes_and_trades(
    rng: np.random.Generator, tickers: list[str], t: np.ndarray, valid: np.ndarray,
    fair: np.ndarray, t0_ms: int, opens: np.ndarray, last_idx: np.ndarray, step: int,
    levels: int, trades_per_market: float = 30.0,
) -> tuple[list[tuple], list[tuple], list[int]]:
    """Book snapshot rows and trade rows from a fair-value grid (markets x steps)."""
    shape = fair.shape
    spread = rng.choice(np.array([1, 2, 2, 3, 4]), size=shape)
    bid_c = np.floor(fair * 100 - spread / 2).astype(int)
    ask_c = bid_c + spread
    has_bid = bid_c >= 1
    has_ask = ask_c <= 99
    top = np.clip(np.round(rng.lognormal(math.log(150), 0.8, size=shape)), 1, 5000).astype(int)
    top_a = np.clip(np.round(rng.lognormal(math.log(150), 0.8, size=shape)), 1, 5000).astype(int)
    mult = np.arange(1, levels + 1)
    ts_all = (t0_ms + 1000 * t).tolist()
    bid_l, ask_l, top_l, topa_l = bid_c.tolist(), ask_c.tolist(), top.tolist(), top_a.tolist()
    hb_l, ha_l, valid_l = has_bid.tolist(), has_ask.tolist(), valid.tolist()
    snaps: list[tuple] = []
    for j, ticker in enumerate(tickers):
        for k in range(shape[1]):
            if not valid_l[j][k]:
                break
            b, a = bid_l[j][k], ask_l[j][k]
            yes = [[(b - i) * 100, top_l[j][k] * int(mult[i]) * 100]
                   for i in range(levels) if b - i >= 1] if hb_l[j][k] else []
            no = [[(100 - a - i) * 100, topa_l[j][k] * int(mult[i]) * 100]
                  for i in range(levels) if 100 - a - i >= 1] if ha_l[j][k] else []
            depth = json.dumps({"yes": yes, "no": no}, separators=(",", ":"))
            snaps.append((ticker, ts_all[j][k],
                          b * 100 if yes else None, yes[0][1] if yes else None,
                          a * 100 if no else None, no[0][1] if no else None, depth))
    # trades: Poisson arrivals over each market's quoted life
    trades: list[tuple] = []
    vols = [0] * len(tickers)
    counts = rng.poisson(trades_per_market, size=len(tickers))
    for j, ticker in enumerate(tickers):
        life = int(last_idx[j] - opens[j])
        if life <= 0 or counts[j] == 0:
            continue
        offs_ms = np.sort(rng.integers(0, life * 1000, size=counts[j]))
        taker_yes = rng.random(counts[j]) < 0.5
        size = np.clip(np.round(rng.lognormal(math.log(8), 1.0, size=counts[j])), 1, 2000)
        for n_, (off, ty, sz) in enumerate(zip(offs_ms.tolist(), taker_yes.tolist(),
                                               size.astype(int).tolist(), strict=True)):
            k = min(off // 1000 // step, shape[1] - 1)
            if ty and not ha_l[j][k] or (not ty and not hb_l[j][k]):
                continue
            price = ask_l[j][k] * 100 if ty else bid_l[j][k] * 100
            ts = t0_ms + int(opens[j]) * 1000 + off
            trades.append((f"s-{ticker}-{n_}", ticker, ts, price, sz * 100,
                           "yes" if ty else "no"))
            vols[j] += sz * 100
    return snaps, trades, vols


def _ceil_to(ts: datetime, seconds: int) -> datetime:
    epoch = int(ts.timestamp())
    up = -(-epoch // seconds) * seconds
    return datetime.fromtimestamp(up, UTC)


# --- (b) bracket events ---------------------------------------------------------------------
def _brackets(conn: sqlite3.Connection, rng: np.random.Generator, series: str,
              start: datetime, end: datetime, cfg: SampleConfig, written: datetime
              ) -> dict[str, int]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    markets: list[Market] = []
    events: list[Event] = []
    snap_rows: list[tuple] = []
    trade_rows: list[tuple] = []
    step = cfg.event_snapshot_s
    while day < end:
        o = day + timedelta(hours=10)
        c = day + timedelta(hours=28)
        day += timedelta(days=1)
        if o < start or o >= end:
            continue
        ev = f"{series}-{_fmt_day(o)}"
        climate = 65.0 + 12.0 * math.sin(2 * math.pi * (o.timetuple().tm_yday - 110) / 365)
        forecast0 = climate + rng.normal(0, 3)
        actual = float(np.round(forecast0 + rng.normal(0, 3.0)))
        centre = int(round(forecast0))
        lo = centre - 4  # tails: < lo and > lo + 7; bins [lo,lo+1], [lo+2,lo+3], ...
        edges = [(-np.inf, lo - 0.5)] + [(lo + 2 * i - 0.5, lo + 2 * i + 1.5) for i in range(4)] \
            + [(lo + 7.5, np.inf)]
        names = [f"T{lo}"] + [f"B{lo + 2 * i + 0.5:g}" for i in range(4)] + [f"T{lo + 7}"]
        n = int((c - o).total_seconds() // step)
        frac = 1.0 - np.arange(n) / n  # remaining fraction of the forecast horizon
        bridge = np.cumsum(rng.normal(0, 1, n)) / math.sqrt(n)
        bridge = (bridge - np.arange(n) / n * bridge[-1]) * 2.0
        m = actual + frac * (forecast0 - actual) + bridge
        sd = 0.35 + 3.2 * np.sqrt(frac)
        probs = np.stack([ndtr((hi - m) / sd) - ndtr((lo_ - m) / sd) for lo_, hi in edges])
        closed = c <= end
        limit = n if closed else int((end - o).total_seconds() // step) + 1
        t_idx = np.arange(n)[None, :].repeat(len(edges), 0) * step
        valid_mask = np.arange(n)[None, :].repeat(len(edges), 0) < limit
        fair = np.clip(probs + rng.normal(0, 0.01, probs.shape), 0.001, 0.999)
        tickers = [f"{ev}-{nm}" for nm in names]
        opens_arr = np.zeros(len(edges), dtype=int)
        last = np.full(len(edges), min(n, limit) * step)
        s, tr, vols = _quotes_and_trades(rng, tickers, t_idx, valid_mask, fair, ts_ms(o),
                                         opens_arr, last, step, cfg.depth_levels,
                                         trades_per_market=25.0)
        snap_rows += s
        trade_rows += tr
        events.append(Event(ev, series, f"Highest temperature in NYC on {o:%b %d, %Y}?", True))
        win = next(i for i, (a, b) in enumerate(edges) if a <= actual < b)
        for i, nm in enumerate(names):
            if i == 0:
                stype, fl, cp, title = "less", None, Decimal(lo), f"{lo - 1}° or below"
            elif i == len(edges) - 1:
                stype, fl, cp, title = "greater", Decimal(lo + 7), None, f"{lo + 8}° or above"
            else:
                x = lo + 2 * (i - 1)
                stype, fl, cp, title = "between", Decimal(x), Decimal(x + 1), f"{x}° to {x + 1}°"
            res = (Result.YES if i == win else Result.NO) if closed else Result.NONE
            markets.append(Market(
                ticker=f"{ev}-{nm}", event_ticker=ev, series_ticker=series,
                title=f"Highest temperature in NYC: {title}",
                status=MarketStatus.FINALIZED if closed else MarketStatus.ACTIVE,
                open_time=o, close_time=c, tick_grid=TickGrid.linear_cent(),
                strike_type=stype, floor_strike=fl, cap_strike=cp, result=res,
                settlement_value=(Price(1) if i == win else Price(0)) if closed else None,
                volume=Decimal(vols[i]) / 100, fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES))
    out = {"markets": len(markets)}
    with atomic(conn):
        out["events"] = upsert_events(conn, events, now=written)
        upsert_markets(conn, markets, now=written, source=SOURCE)
        out["book_snapshots"] = insert_snapshot_rows(conn, snap_rows)
        out["trades"] = insert_trade_rows(conn, trade_rows)
    return out
