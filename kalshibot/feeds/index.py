"""Which CF Benchmarks index settles a crypto series, and a tape of that index's ticks.

Kalshi settles ``KX<COIN>15M`` on the simple average of the coin's CF Benchmarks Real-Time
Index over the 60 seconds before close (``kalshi-api.md`` sections 12 and 14), so the index id
is a property of the series:

- ``index_for_series(series, settlement_sources=..., rules=...)`` reads it from what Kalshi
  states in the series' metadata: an index id in a settlement-source URL
  (``.../indices/BRTI``) or in the rules text (``SOLUSD_RTI``), else the coin named in the rules
  ("CF Benchmarks SOL real-time index"), and only then the coin in the ticker. The coin is
  mapped through ``CF_INDEX_IDS``, the table of Kalshi's AsyncAPI 3.34 ``cfbenchmarks_value``
  channel (the channel's ``indexlist`` action is the live authority). Metadata that names a
  source other than CF Benchmarks is refused (``DataError``): that series does not settle on
  an RTI and must not be priced as if it did.
- ``IndexTape`` keeps the per-second index ticks (USD per coin) by index id, fed by the
  ``cfbenchmarks_value`` socket (live) or by stored rows (replay); every query takes ``now`` and
  sees only ticks received at or before it. It also keeps Kalshi's own running settlement
  average (``last_60s_windowed_average_15min``) per close. Thread-safe (the socket thread
  writes, the trading cycle reads).
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from kalshibot.clock import ensure_utc
from kalshibot.errors import DataError
from kalshibot.feeds.symbols import series_to_symbol

#: Coin -> CF Benchmarks index id (Kalshi AsyncAPI 3.34, channel ``cfbenchmarks_value``).
CF_INDEX_IDS: Mapping[str, str] = MappingProxyType({
    "AAVE": "AAVEUSD_RTI", "ADA": "ADAUSD_RTI", "BCH": "BCHUSD_RTI", "BNB": "BNBUSD_RTI",
    "BTC": "BRTI", "DOGE": "DOGEUSD_RTI", "DOT": "DOTUSD_RTI", "ETH": "ETHUSD_RTI",
    "HBAR": "HBARUSD_RTI", "HYPE": "HYPEUSD_RTI", "LINK": "LINKUSD_RTI", "LTC": "LTCUSD_RTI",
    "NEAR": "NEARUSD_RTI", "SHIB": "SHIBUSD_RTI", "KSHIB": "SHIBUSD_RTI", "SOL": "SOLUSD_RTI",
    "SUI": "SUIUSD_RTI", "VVV": "VVVUSD_RTI", "WLD": "WLDUSD_RTI", "XLM": "XLMUSD_RTI",
    "XRP": "XRPUSD_RTI", "ZEC": "ZECUSD_RTI",
})
#: Index id -> coin (``SHIBUSD_RTI`` -> ``SHIB``).
COIN_FOR_INDEX: Mapping[str, str] = MappingProxyType(
    {v: k for k, v in reversed(list(CF_INDEX_IDS.items()))})
#: Indices on the 5 Hz channel ``cfbenchmarks_value_5hz`` (the others tick once a second).
CF_5HZ_INDEX_IDS = frozenset({"BRTI", "ETHUSD_RTI", "SOLUSD_RTI", "XRPUSD_RTI", "DOGEUSD_RTI"})
#: Tape key suffix of an index's 5 Hz ticks (``BRTI@5hz``): fresher levels, not settlement ticks.
FIVE_HZ = "@5hz"
#: The 15-minute crypto series listed in spec 3.34 / seen in 2026 data (all map to an index).
FIFTEEN_MIN_SERIES: tuple[str, ...] = (
    "KXBTC15M", "KXETH15M", "KXSOL15M", "KXXRP15M", "KXDOGE15M", "KXBNB15M", "KXHYPE15M",
    "KXNEAR15M", "KXZEC15M",
)

_ID_IN_URL = re.compile(r"/indices/([A-Za-z0-9_]+)")
_ID_IN_TEXT = re.compile(r"\b(BRTI|[A-Z0-9]+USD_RTI)\b")
_COIN_IN_RULES = re.compile(
    r"CF Benchmarks(?:'s)?\s+(?:the\s+)?([A-Za-z0-9]+)\s+real[- ]time index", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class IndexRef:
    """The index a series settles on; ``how`` says where the id came from."""

    series: str
    index_id: str
    coin: str
    how: str  # "settlement_sources" | "rules" | "table"


def _known(index_id: str) -> str:
    idx = index_id.upper()
    if idx not in COIN_FOR_INDEX:
        raise DataError(f"unknown CF Benchmarks index id {index_id!r}")
    return idx


def index_for_series(series: str, *, settlement_sources: Sequence[Mapping[str, Any]] | None = None,
                     rules: str | Sequence[str] | None = None) -> IndexRef:
    """The CF Benchmarks index settling ``series`` (a series, event or market ticker).

    Reads the series' ``settlement_sources`` (list of ``{name, url}``) and rules text when
    given (see module docstring); ``DataError`` when the metadata names another source or the
    coin has no known index.
    """
    ser = series.strip().upper().split("-", 1)[0]
    sources = list(settlement_sources or [])
    texts = [rules] if isinstance(rules, str) else list(rules or [])
    names = " ".join(str(s.get("name") or "") + " " + str(s.get("url") or "") for s in sources)
    if sources and "cfbenchmarks" not in names.lower().replace(" ", ""):
        raise DataError(f"{ser} settles on {names.strip() or 'an unnamed source'}, "
                        "not a CF Benchmarks index")
    for s in sources:
        m = _ID_IN_URL.search(str(s.get("url") or ""))
        if m and m.group(1).upper() in COIN_FOR_INDEX:
            idx = m.group(1).upper()
            return IndexRef(ser, idx, COIN_FOR_INDEX[idx], "settlement_sources")
    for text in texts:
        m = _ID_IN_TEXT.search(text or "")
        if m and m.group(1) in COIN_FOR_INDEX:
            return IndexRef(ser, m.group(1), COIN_FOR_INDEX[m.group(1)], "rules")
        c = _COIN_IN_RULES.search(text or "")
        if c and c.group(1).upper() in CF_INDEX_IDS:
            coin = c.group(1).upper()
            return IndexRef(ser, CF_INDEX_IDS[coin], coin, "rules")
    coin = series_to_symbol(ser)
    idx = CF_INDEX_IDS.get(coin)
    if idx is None:
        raise DataError(f"{ser}: no CF Benchmarks index known for {coin} "
                        f"(known: {', '.join(sorted(CF_INDEX_IDS))})")
    return IndexRef(ser, idx, coin, "table")


def index_for_symbol(symbol: str) -> str:
    """``'BTC'`` -> ``'BRTI'``; an index id passes through; ``DataError`` if unknown."""
    key = symbol.strip().upper()
    if key in COIN_FOR_INDEX:
        return key
    idx = CF_INDEX_IDS.get(key)
    if idx is None:
        raise DataError(f"no CF Benchmarks index known for {symbol!r}")
    return idx


# --- the tape -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndexTick:
    """One index value (USD per coin, float: a reference level, never money).

    ``ts`` is the index's own timestamp (CF Benchmarks ``time``); ``received`` when it reached
    us (equal to ``ts`` for stored rows). Both aware UTC."""

    index_id: str
    ts: datetime
    value: float
    received: datetime


@dataclass(frozen=True, slots=True)
class RunningAverage:
    """Kalshi's partial settlement average for the window closing at ``close``: the mean of
    ``count`` per-second ticks in ``(close - 60 s, close]`` as of ``received``."""

    value: float
    count: int
    close: datetime
    received: datetime


class _Series:
    """Parallel lists (epoch s; USD), trimmed to the newest ``capacity`` in chunks."""

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.ts: list[float] = []
        self.recv: list[float] = []
        self.val: list[float] = []
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None  # (ts, val), until a change

    def append(self, t: float, r: float, v: float) -> None:
        self._arrays = None
        self.ts.append(t)
        self.recv.append(r)
        self.val.append(v)
        cap = self.capacity
        if cap is not None and len(self.ts) > cap + cap // 2 + 1:
            cut = len(self.ts) - cap
            del self.ts[:cut], self.recv[:cut], self.val[:cut]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``ts`` and ``val`` as float64 arrays (built once per change of the series)."""
        got = self._arrays
        if got is None:
            ts = np.array(self.ts, dtype=np.float64)
            val = np.array(self.val, dtype=np.float64)
            ts.flags.writeable = False
            val.flags.writeable = False
            got = self._arrays = (ts, val)
        return got


class IndexTape:
    """Per-index ticks (about ``capacity`` newest each; None = unbounded, for replays) and
    Kalshi's running settlement averages.

    Ticks must arrive in index-time order per index; a tick not newer than the last one is
    ignored (duplicates across reconnects, out-of-order upstream stamps).
    """

    def __init__(self, capacity: int | None = 6 * 3600) -> None:
        self._lock = threading.Lock()
        self._cap = capacity
        self._s: dict[str, _Series] = {}
        self._avg: dict[tuple[str, float], list[RunningAverage]] = {}

    def add(self, index_id: str, ts: datetime, value: float,
            received: datetime | None = None) -> bool:
        """Record one tick; returns False when it was a duplicate or out of order."""
        t = ensure_utc(ts).timestamp()
        r = ensure_utc(received).timestamp() if received is not None else t
        if not value > 0:
            raise DataError(f"{index_id}: index value must be positive, got {value!r}")
        with self._lock:
            s = self._s.setdefault(index_id, _Series(self._cap))
            if s.ts and t <= s.ts[-1]:
                return False
            # ``received`` is kept non-decreasing so visibility is one bisection
            s.append(t, max(r, t, s.recv[-1] if s.recv else t), float(value))
            return True

    def add_running(self, index_id: str, avg: RunningAverage) -> None:
        """Record Kalshi's running settlement average (kept per close, oldest dropped)."""
        key = (index_id, avg.close.timestamp())
        with self._lock:
            self._avg.setdefault(key, []).append(avg)
            if len(self._avg) > 512:
                for k in sorted(self._avg, key=lambda k: k[1])[:256]:
                    del self._avg[k]

    def load(self, index_id: str, ts_s: Sequence[float], values: Sequence[float]) -> int:
        """Replace ``index_id``'s ticks by stored ones (epoch s, USD; received = ts), sorted,
        de-duplicated by time, non-positive values dropped. Returns how many were kept."""
        rows = sorted((float(t), float(v)) for t, v in zip(ts_s, values, strict=True) if v > 0)
        s = _Series(self._cap)
        for t, v in rows:
            if not s.ts or t > s.ts[-1]:
                s.append(t, t, v)
        with self._lock:
            self._s[index_id] = s
        return len(s.ts)

    def extend(self, ticks: Iterable[IndexTick]) -> int:
        """Add many ticks (e.g. stored rows); returns how many were new."""
        return sum(self.add(t.index_id, t.ts, t.value, t.received) for t in ticks)

    def indices(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._s))

    def _visible(self, s: _Series, now_s: float) -> int:
        """Number of ticks received at or before ``now_s``."""
        return bisect.bisect_right(s.recv, now_s)

    def latest(self, index_id: str, now: datetime) -> IndexTick | None:
        """Newest tick received at or before ``now``."""
        now_s = ensure_utc(now).timestamp()
        with self._lock:
            s = self._s.get(index_id)
            if s is None:
                return None
            n = self._visible(s, now_s)
            if n == 0:
                return None
            return IndexTick(index_id, _dt(s.ts[n - 1]), s.val[n - 1], _dt(s.recv[n - 1]))

    def path(self, index_id: str, since: datetime, now: datetime) -> tuple[list[float],
                                                                           list[float]]:
        """(times in epoch s, values) of the ticks with ``since <= ts`` visible at ``now``;
        the tick just before ``since`` is included too, so a step path is defined from
        ``since`` on."""
        lo_s = ensure_utc(since).timestamp()
        now_s = ensure_utc(now).timestamp()
        with self._lock:
            s = self._s.get(index_id)
            if s is None:
                return [], []
            n = self._visible(s, now_s)
            lo = max(0, bisect.bisect_left(s.ts, lo_s, 0, n) - 1)
            return s.ts[lo:n], s.val[lo:n]

    def path_arrays(self, index_id: str, since: datetime,
                    now: datetime) -> tuple[np.ndarray, np.ndarray]:
        """``path`` as float64 arrays (read-only views of a per-series cache: a replay's tape
        is converted once, not on every call)."""
        lo_s = ensure_utc(since).timestamp()
        now_s = ensure_utc(now).timestamp()
        with self._lock:
            s = self._s.get(index_id)
            if s is None:
                return np.empty(0), np.empty(0)
            n = self._visible(s, now_s)
            lo = max(0, bisect.bisect_left(s.ts, lo_s, 0, n) - 1)
            ts, val = s.arrays()
            return ts[lo:n], val[lo:n]

    def running(self, index_id: str, close: datetime, now: datetime) -> RunningAverage | None:
        """Kalshi's newest running settlement average for ``close`` received by ``now``."""
        now_s = ensure_utc(now).timestamp()
        with self._lock:
            got = self._avg.get((index_id, ensure_utc(close).timestamp()), [])
            seen = [a for a in got if a.received.timestamp() <= now_s]
        return max(seen, key=lambda a: (a.count, a.received)) if seen else None


def _dt(epoch_s: float) -> datetime:
    from kalshibot.clock import from_epoch_s

    return from_epoch_s(epoch_s)
