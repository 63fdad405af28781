"""The reference a 15-minute crypto market is priced on: the settlement index first.

Kalshi settles ``KX<COIN>15M`` on the mean of the coin's CF Benchmarks RTI over the per-second
ticks in ``(T - 60 s, T]``. ``ReferenceFeed.reference(symbol, close)`` answers, at the clock's
time, with a ``Reference``:

- **index** (primary): the newest RTI tick on the ``IndexTape`` (its 5 Hz line when that is
  newer), if younger than ``index_stale_s`` seconds.
- **spot** (fallback): the combined exchange spot (``SpotFeedLike``: Coinbase, Kraken, ...),
  if younger than ``spot_stale_s``, times ``exp(basis)``, where ``basis`` = log(index / spot)
  is estimated online (``BasisTracker``: time-aware exponentially weighted mean and variance,
  half-life ``basis_halflife_s``) from index ticks and spot quotes observed within
  ``basis_max_skew_s`` of each other. The reference carries ``extra_sd``, the log standard
  deviation of the basis error (at least ``basis_sd_floor_bps``; ``basis_unknown_sd_bps``
  while no recent basis is known), which the pricer adds to the variance of the settlement
  average: a wider distribution while on fallback.
- neither fresh: ``SpotUnavailableError`` with the reason (stale index, stale spot).

``observed_avg`` is the mean of the settlement ticks already in ``(T - 60 s, now]``: Kalshi's
own running average (``last_60s_windowed_average_15min``) when on the index, completed with the
latest level for any whole second it has not counted yet; otherwise one sample per whole second
from the step path of the index ticks (where fresh) or of basis-corrected spot. A 5-second spot
poll therefore still gives 60 per-second samples, each the level known at that second.

Prices are USD per coin as floats (reference levels, never money); times aware UTC; ages in
seconds; basis in log units (``*_bps`` = 1e-4).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kalshibot.clock import Clock, ensure_utc
from kalshibot.errors import ConfigError, KalshibotError
from kalshibot.features.volatility import step_sample
from kalshibot.feeds.index import CF_INDEX_IDS, FIVE_HZ, IndexTape
from kalshibot.feeds.symbols import normalize_symbol
from kalshibot.feeds.types import Resolution, SpotFeedLike, SpotUnavailableError

if TYPE_CHECKING:
    from kalshibot.config import Settings

BPS = 1e-4
#: Stored spot sources that *are* the settlement index of the markets stored with them:
#: ``cfbenchmarks`` (the RTI recorded from Kalshi's socket) and ``sample`` (the generated path
#: the sample markets settle on, ``kalshibot.sim.sample``). Everything else is exchange spot.
INDEX_SOURCES = ("cfbenchmarks", "sample")


@dataclass(frozen=True)
class ReferenceConfig:
    """Stale limits (seconds) per source and the fallback's basis model; see module doc."""

    use_index: bool = True
    index_stale_s: float = 5.0
    spot_stale_s: float = 5.0
    basis_halflife_s: float = 900.0
    basis_max_skew_s: float = 2.0
    basis_max_age_s: float = 3600.0
    basis_sd_floor_bps: float = 1.0
    basis_unknown_sd_bps: float = 10.0
    window_s: int = 60

    def __post_init__(self) -> None:
        for name in ("index_stale_s", "spot_stale_s", "basis_halflife_s", "basis_max_skew_s",
                     "basis_max_age_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"reference feed: {name} must be > 0")
        if self.basis_sd_floor_bps < 0 or self.basis_unknown_sd_bps < self.basis_sd_floor_bps:
            raise ConfigError("reference feed: need 0 <= basis_sd_floor_bps <= "
                              "basis_unknown_sd_bps")
        if self.window_s < 1:
            raise ConfigError("reference feed: window_s must be >= 1")

    @classmethod
    def from_settings(cls, s: Settings) -> ReferenceConfig:
        """The ``crypto_*`` settings (issue 17 block of ``kalshibot.config``)."""
        return cls(use_index=s.crypto_use_index, index_stale_s=s.crypto_index_stale_s,
                   spot_stale_s=s.crypto_spot_stale_s,
                   basis_halflife_s=s.crypto_basis_halflife_s,
                   basis_sd_floor_bps=s.crypto_basis_sd_floor_bps,
                   basis_unknown_sd_bps=s.crypto_basis_unknown_sd_bps)


@dataclass(frozen=True)
class Reference:
    """What a market is priced on at ``as_of`` (see module docstring)."""

    symbol: str
    index_id: str
    source: str  # "index" | "spot"
    detail: str  # index id, or the spot sources used
    price: float  # USD per coin, index terms (basis applied on fallback)
    age_s: float
    as_of: datetime
    basis: float = 0.0  # log(index / spot) applied on fallback
    extra_sd: float = 0.0  # log sd of the level's error vs the index (0 on the index)
    observed_avg: float = math.nan  # mean of the settlement ticks in (T-60, now]
    observed_n: int = 0

    @property
    def on_fallback(self) -> bool:
        return self.source != "index"

    def describe(self) -> str:
        """One line for the decision log / live view: source, age, basis."""
        if not self.on_fallback:
            return f"index {self.detail} {self.age_s:.1f}s"
        return (f"spot fallback {self.detail} {self.age_s:.1f}s basis "
                f"{self.basis / BPS:+.1f}bp ±{self.extra_sd / BPS:.1f}bp")


@dataclass
class BasisTracker:
    """Online log(index / spot): time-aware EW mean and variance (half-life in seconds)."""

    halflife_s: float
    mean: float = math.nan
    var: float = 0.0
    last: float | None = None  # epoch s of the last observation
    n: int = 0

    def update(self, t: float, x: float) -> None:
        if self.last is None or math.isnan(self.mean):
            self.mean, self.var, self.last, self.n = x, 0.0, t, 1
            return
        dt = max(t - self.last, 0.0)
        w = 1.0 - 0.5 ** (dt / self.halflife_s) if dt > 0 else 1.0 / (self.n + 1)
        d = x - self.mean
        self.mean += w * d
        self.var = (1.0 - w) * (self.var + w * d * d)
        self.last = max(self.last, t)
        self.n += 1


@dataclass
class _SymbolState:
    basis: BasisTracker
    last_pair: float | None = None  # spot time of the last pair used (epoch s)
    backfilled: bool = False
    notes: list[str] = field(default_factory=list)


class ReferenceFeed:
    """Index-first reference levels for the 15-minute crypto markets (see module docstring).

    ``spot``: exchange spot feed (live ``SpotFeed`` or ``ReplaySpotFeed``), or None;
    ``tape``: index ticks, or None (spot only, always on fallback); ``poll``: call
    ``spot.refresh`` in ``refresh()`` (live polling) and back-fill its minute history once.
    """

    def __init__(self, spot: SpotFeedLike | None, tape: IndexTape | None, clock: Clock,
                 config: ReferenceConfig | None = None, *,
                 index_ids: Mapping[str, str] | None = None, poll: bool = False) -> None:
        if spot is None and tape is None:
            raise ConfigError("reference feed needs an index tape, a spot feed or both")
        self.spot = spot
        self.tape = tape
        self.clock = clock
        self.config = config or ReferenceConfig()
        self.index_ids = dict(index_ids or CF_INDEX_IDS)
        self.poll = poll
        self._state: dict[str, _SymbolState] = {}

    # -- helpers -----------------------------------------------------------------------------
    def index_id(self, symbol: str) -> str:
        return self.index_ids.get(normalize_symbol(symbol), normalize_symbol(symbol))

    def _st(self, sym: str) -> _SymbolState:
        st = self._state.get(sym)
        if st is None:
            st = self._state[sym] = _SymbolState(BasisTracker(self.config.basis_halflife_s))
        return st

    def basis(self, symbol: str) -> BasisTracker:
        """The basis tracker of ``symbol`` (read-only use)."""
        return self._st(normalize_symbol(symbol)).basis

    def refresh(self, symbols: tuple[str, ...]) -> None:
        """Poll spot (when ``poll``) and update the basis of each symbol."""
        syms = tuple(dict.fromkeys(normalize_symbol(s) for s in symbols))
        if self.spot is not None and self.poll and syms:
            now = self.clock.now()
            for sym in syms:
                st = self._st(sym)
                backfill = getattr(self.spot, "backfill", None)
                if not st.backfilled and callable(backfill):
                    st.backfilled = True
                    try:
                        backfill(sym, now - timedelta(hours=3))
                    except KalshibotError as exc:
                        st.notes.append(f"spot back-fill failed: {exc}")
            with contextlib.suppress(KalshibotError):  # recorded per source; status() says why
                self.spot.refresh(syms)
        for sym in syms:
            self._update_basis(sym)

    def _index_level(self, idx: str, now: datetime) -> tuple[float, float, datetime] | None:
        """(value, age s, tick time) of the newest 1 Hz or 5 Hz tick seen by ``now``."""
        if self.tape is None or not self.config.use_index:
            return None
        best = None
        for key in (idx, idx + FIVE_HZ):
            t = self.tape.latest(key, now)
            if t is not None and (best is None or t.ts > best.ts):
                best = t
        if best is None:
            return None
        return best.value, max(0.0, (now - best.ts).total_seconds()), best.ts

    def _spot_level(self, sym: str) -> tuple[float, float, str] | None | str:
        """(price, age s, sources) of fresh combined spot, else the refusal reason."""
        if self.spot is None:
            return "no spot feed"
        try:
            st = self.spot.status(sym)
        except KalshibotError as exc:
            return str(exc)
        if not st.ok or st.price is None:
            return st.reason or "spot refused"
        age = float(st.age_s or 0.0)
        if age > self.config.spot_stale_s:
            return f"spot {age:.1f}s old > {self.config.spot_stale_s:g}s"
        return float(st.price), age, "+".join(st.used) or "spot"

    def _update_basis(self, sym: str) -> None:
        if self.tape is None or self.spot is None or not self.config.use_index:
            return
        now = self.clock.now()
        spot = self._spot_level(sym)
        if not isinstance(spot, tuple):
            return
        price, age, _ = spot
        t_spot = now.timestamp() - age
        st = self._st(sym)
        if st.last_pair is not None and t_spot <= st.last_pair:
            return
        ts, vals = self.tape.path_arrays(self.index_id(sym), now - timedelta(seconds=60), now)
        if not len(ts):
            return
        v, a = step_sample(ts, vals, np.asarray([t_spot]))
        if not (a[0] <= self.config.basis_max_skew_s) or not v[0] > 0:
            return
        st.last_pair = t_spot
        st.basis.update(t_spot, math.log(float(v[0]) / price))

    def basis_estimate(self, symbol: str, now: datetime) -> tuple[float, float]:
        """(mean log basis, sd) to apply on fallback at ``now`` (0 and the unknown sd when no
        recent pair was seen)."""
        cfg = self.config
        b = self._st(normalize_symbol(symbol)).basis
        floor = cfg.basis_sd_floor_bps * BPS
        if b.last is None or now.timestamp() - b.last > cfg.basis_max_age_s:
            return (0.0 if b.last is None else b.mean), cfg.basis_unknown_sd_bps * BPS
        return b.mean, math.sqrt(b.var + floor * floor)

    # -- the answer ---------------------------------------------------------------------------
    def reference(self, symbol: str, close: datetime | None = None) -> Reference:
        """The reference now (see module docstring); ``close`` enables ``observed_avg``.

        Raises ``SpotUnavailableError`` when no source is fresh enough."""
        sym = normalize_symbol(symbol)
        idx = self.index_id(sym)
        now = self.clock.now()
        cfg = self.config
        self._update_basis(sym)
        level = self._index_level(idx, now)
        why_index = "index off" if not cfg.use_index else (
            "no index tape" if self.tape is None else f"no {idx} tick")
        if level is not None and level[1] <= cfg.index_stale_s:
            ref = Reference(sym, idx, "index", idx, level[0], level[1], now)
        else:
            if level is not None:
                why_index = f"{idx} {level[1]:.1f}s old > {cfg.index_stale_s:g}s"
            spot = self._spot_level(sym)
            if not isinstance(spot, tuple):
                raise SpotUnavailableError(sym, f"{why_index}; {spot}")
            b, sd = self.basis_estimate(sym, now)
            ref = Reference(sym, idx, "spot", spot[2], spot[0] * math.exp(b), spot[1], now,
                            basis=b, extra_sd=sd)
        if close is None:
            return ref
        avg, n = self._observed(ref, ensure_utc(close), now)
        return Reference(ref.symbol, ref.index_id, ref.source, ref.detail, ref.price,
                         ref.age_s, ref.as_of, ref.basis, ref.extra_sd, avg, n)

    def _observed(self, ref: Reference, close: datetime, now: datetime) -> tuple[float, int]:
        """Mean and count of the settlement ticks in ``(close - window, now]``."""
        w = self.config.window_s
        start = close.timestamp() - w
        last = min(math.floor(now.timestamp()), close.timestamp())
        n = int(last - start)  # whole seconds start+1 .. last
        if n <= 0:
            return math.nan, 0
        if not ref.on_fallback and self.tape is not None:
            run = self.tape.running(ref.index_id, close, now)
            if run is not None and run.count > 0:
                k = min(run.count, n)
                return (k * run.value + (n - k) * ref.price) / n, n
        grid = start + np.arange(1, n + 1, dtype=np.float64)
        vals = np.full(n, np.nan)
        cfg = self.config
        since = datetime.fromtimestamp(start, close.tzinfo) - timedelta(seconds=1)
        if self.tape is not None and cfg.use_index:
            ts, vs = self.tape.path_arrays(ref.index_id, since, now)
            if len(ts):
                v, age = step_sample(ts, vs, grid)
                vals = np.where(age <= cfg.index_stale_s, v, np.nan)
        if np.isnan(vals).any() and self.spot is not None:
            sv, sage = self._spot_path(ref.symbol, since, now, grid)
            b, _ = self.basis_estimate(ref.symbol, now)
            fill = np.isnan(vals) & (sage <= cfg.spot_stale_s)
            vals = np.where(fill, sv * math.exp(b), vals)
        if np.isnan(vals).all():
            return math.nan, 0
        # a second with no fresh source holds the last good level (the first good one before)
        good = ~np.isnan(vals)
        idx = np.where(good, np.arange(n), -1)
        idx = np.maximum.accumulate(idx)
        first = int(np.argmax(good))
        idx = np.where(idx < 0, first, idx)
        return float(vals[idx].mean()), n

    def _spot_path(self, sym: str, since: datetime, now: datetime,
                   grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.spot is not None
        try:
            bars = self.spot.history(sym, Resolution.SECOND, since=since, until=now)
        except KalshibotError:
            bars = []
        if not bars:
            return np.full(len(grid), np.nan), np.full(len(grid), np.inf)
        # a 1-second bar's close is known at the end of its second at the latest
        ts = np.array([b.start.timestamp() for b in bars], dtype=np.float64)
        vals = np.array([b.close_float for b in bars], dtype=np.float64)
        return step_sample(ts, vals, grid)

    # -- history for volatility -----------------------------------------------------------------
    def path(self, symbol: str, since: datetime, now: datetime | None = None,
             ) -> tuple[np.ndarray, np.ndarray, str]:
        """(epoch s, USD) observations of the reference between ``since`` and ``now`` for
        volatility, and their source: the index ticks unless exchange spot reaches further
        back (by more than 5 minutes), e.g. just after the socket connected."""
        sym = normalize_symbol(symbol)
        now = now or self.clock.now()
        it: np.ndarray = np.empty(0)
        iv: np.ndarray = np.empty(0)
        if self.tape is not None and self.config.use_index:
            it, iv = self.tape.path_arrays(self.index_id(sym), since, now)
            if len(it) and it[0] <= since.timestamp() + 300:
                return it, iv, "index"
        st, sv = self._spot_history(sym, since, now)
        if len(st) and (not len(it) or st[0] + 300 < it[0]):
            return st, sv, "spot"
        return (it, iv, "index") if len(it) else (st, sv, "none")

    def _spot_history(self, sym: str, since: datetime,
                      now: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Spot observations for volatility: 1-minute bars, then the 1-second bars after the
        last whole minute (a bar's close is known at its end)."""
        if self.spot is None:
            return np.empty(0), np.empty(0)
        out_t: list[float] = []
        out_v: list[float] = []
        for res, width in ((Resolution.MINUTE, 60.0), (Resolution.SECOND, 1.0)):
            try:
                bars = self.spot.history(sym, res, since=since, until=now)
            except KalshibotError:
                bars = []
            cut = out_t[-1] if out_t else -math.inf
            for b in bars:
                t = b.start.timestamp() + width
                if t > cut and t <= now.timestamp() + 1e-9:
                    out_t.append(t)
                    out_v.append(b.close_float)
        return np.asarray(out_t, dtype=np.float64), np.asarray(out_v, dtype=np.float64)


def replay_reference(frame: pd.DataFrame, clock: Clock,
                     config: ReferenceConfig | None = None) -> ReferenceFeed:
    """A ``ReferenceFeed`` over stored spot rows (columns ``ts, source, symbol, price``, as
    ``store.history.load_spot``): rows of an ``INDEX_SOURCES`` source become index ticks of the
    symbol's CF Benchmarks index, the rest exchange spot (``ReplaySpotFeed``). Nothing after
    the clock's time is visible."""
    from kalshibot.feeds.replay import ReplaySpotFeed

    is_index = frame["source"].isin(INDEX_SOURCES).to_numpy() if len(frame) else np.array([],
                                                                                          bool)
    tape = IndexTape(capacity=None)
    idx_rows = frame[is_index]
    if len(idx_rows):
        ns = pd.to_datetime(idx_rows["ts"], utc=True).dt.as_unit("ns").astype("int64")
        secs = ns.to_numpy() / 1e9
        prices = pd.to_numeric(idx_rows["price"]).to_numpy(np.float64)
        syms = idx_rows["symbol"].astype(str).str.strip().str.upper().to_numpy()
        for sym in np.unique(syms):
            sel = syms == sym
            tape.load(CF_INDEX_IDS.get(sym, sym), secs[sel].tolist(), prices[sel].tolist())
    rest = frame[~is_index]
    spot = ReplaySpotFeed(rest.reset_index(drop=True), clock) if len(rest) else None
    return ReferenceFeed(spot, tape if len(idx_rows) else None, clock, config)
