"""``data sync``: download Kalshi market data into the store, resumably and idempotently.

What is fetched, for the markets selected by series / events / tickers (+ status, close-time
window ``since``/``until``):

- **markets** (``GET /markets``, plus ``/historical/markets`` when the window reaches before the
  historical cutoff), with public results (``result``, ``settlement_value``) on the row;
- **series** (fee type and multiplier) and **events** (only those not stored yet);
- **candlesticks**, 1-minute by default (``/series/{s}/markets/{t}/candlesticks``, or
  ``/historical/markets/{t}/candlesticks`` for markets settled before the cutoff), falling back
  to 60-minute periods when the exchange refuses 1-minute ones;
- **trades** (``/markets/trades``, and ``/historical/trades`` for the part of the window before
  the trades cutoff);
- **account settlements** (``/portfolio/settlements``), only when the client is authenticated.

Units: times in requests are Unix **seconds**; the ``kv`` state stores Unix seconds too. Prices
and counts go to the store exactly (see ``kalshibot.store``); nothing is ever a float.

Resume. Per market, ``kv`` keys remember what is stored:
``sync.trades.<ticker>`` = ``{"from": s, "through": s, "pending": {"historical": bool,
"lo": s, "hi": s, "cursor": str}}`` and ``sync.candles.<ticker>`` = ``{"<period>": {"from": s,
"through": s}}``; ``sync.settlements`` = ``{"through": s}``. Each page of trades (or chunk of
candles) is written **in one transaction together with its cursor/watermark**, so an interrupted
sync continues from the next page and never stores a page twice or skips one. A window already
covered is not requested again (a re-run of a finished sync of settled markets sends only the
market listing). The market listing itself is re-read on every run (cheap; upserts are
idempotent).

Errors: a transient failure that outlives the client's retries (``RetryableError``) stops the
sync; what is done stays done and ``report.stopped`` says why (re-run to resume). A malformed
item or a 4xx for one market is recorded in ``report.problems`` and the sync carries on.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kalshibot.clock import Clock, ensure_utc, from_epoch_s
from kalshibot.domain.market import Market, series_of
from kalshibot.errors import (
    DataError,
    ExchangeRejectedError,
    RetryableError,
    UserInputError,
)
from kalshibot.ingest.common import SOURCE, SeriesCache, parse_markets
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.endpoints.client import PAGE_LIMIT, KalshiClient, chunks, epoch_s
from kalshibot.store.candles import Candle, upsert_candles
from kalshibot.store.connection import atomic
from kalshibot.store.kv import kv_get, kv_set
from kalshibot.store.markets import STATUS_GROUPS, count_rows, upsert_events, upsert_markets
from kalshibot.store.quotes import derive_candle_quotes
from kalshibot.store.settlements import upsert_settlements
from kalshibot.store.trades import upsert_trades

log = logging.getLogger(__name__)

#: Tables the summary reports, in order.
TABLES = ("series", "events", "markets", "candles", "trades", "settlements")
#: Request vocabulary of ``--status`` (``GET /markets?status=``).
STATUSES = tuple(STATUS_GROUPS)
#: Periods (minutes) Kalshi serves candlesticks in.
PERIODS = (1, 60, 1440)
#: Most periods asked for in one candlestick request.
CANDLE_CHUNK_PERIODS = 5000
KV_TRADES = "sync.trades."
KV_CANDLES = "sync.candles."
KV_SETTLEMENTS = "sync.settlements"


@dataclass(frozen=True)
class SyncOptions:
    """What to sync. ``since``/``until`` bound market close times and the trade/candle window
    (aware UTC). ``status`` is the request vocabulary: unopened | open | closed | settled."""

    series: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    candles: bool = True
    trades: bool = True
    events_meta: bool = True
    period_minutes: int = 1
    historical: bool = True
    account_settlements: bool = True

    def validate(self) -> None:
        if not (self.series or self.events or self.tickers):
            raise UserInputError("nothing to sync: give --series, --event or --tickers")
        if self.status is not None and self.status not in STATUSES:
            raise UserInputError(f"--status {self.status!r}: use one of {', '.join(STATUSES)}")
        if self.period_minutes not in PERIODS:
            raise UserInputError(f"candle period {self.period_minutes} min: use 1, 60 or 1440")
        for name, ts in (("--since", self.since), ("--until", self.until)):
            if ts is not None and ts.tzinfo is None:
                raise UserInputError(f"{name} must be timezone-aware UTC")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise UserInputError("--since must be before --until")


@dataclass
class SyncReport:
    """Outcome of one sync. ``written``: rows written per table (new or changed); ``added``:
    new rows per table (row-count delta); ``stopped``: why the sync stopped early, if it did."""

    written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    markets: int = 0
    results: int = 0  # markets in scope with a public result (yes/no/scalar)
    resumed: list[str] = field(default_factory=list)
    skipped_covered: int = 0  # trade/candle windows already stored (no request sent)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    requests: int = 0  # HTTP requests sent by this sync, retries included
    candle_quotes: int = 0  # candle-derived quote rows written or changed (store.quotes)

    @property
    def per_1000_settled(self) -> float | None:
        """Requests per 1,000 markets with a result (None when there are none)."""
        return self.requests * 1000 / self.results if self.results else None

    @property
    def ok(self) -> bool:
        return self.stopped is None

    def updated(self, table: str) -> int:
        """Existing rows that changed."""
        return max(0, self.written[table] - self.added[table])

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "stopped": self.stopped, "markets": self.markets,
            "results": self.results,
            "tables": {t: {"added": self.added[t], "updated": self.updated(t)} for t in TABLES},
            "resumed": self.resumed, "skipped_covered": self.skipped_covered,
            "problems": self.problems, "notes": self.notes, "requests": self.requests,
            "requests_per_1000_settled": self.per_1000_settled,
            "candle_quotes": self.candle_quotes,
        }


class SyncProgress:
    """Progress sink (no-op). The CLI subclasses it with rich progress bars."""

    def start(self, phase: str, total: int | None) -> None:
        """A phase begins (``total`` items, or None when unknown)."""

    def advance(self, phase: str, n: int = 1) -> None:
        """``n`` more items of ``phase`` are done."""

    def rows(self, phase: str, n: int) -> None:
        """``n`` rows were stored during ``phase``."""


@dataclass(frozen=True)
class _Item:
    market: Market
    historical: bool  # listed by /historical/markets


def run_sync(client: KalshiClient, conn: sqlite3.Connection, options: SyncOptions, *,
             clock: Clock, progress: SyncProgress | None = None,
             report: SyncReport | None = None) -> SyncReport:
    """Sync ``options`` into ``conn`` through ``client``; returns (and fills) ``report``.

    Pass your own ``report`` to read the partial counts after a ``KeyboardInterrupt``.
    """
    options.validate()
    report = report if report is not None else SyncReport()
    before = {t: count_rows(conn, t) for t in TABLES}
    sent = client.http.sent
    try:
        _Sync(client, conn, options, clock, progress or SyncProgress(), report).run()
    except RetryableError as exc:
        report.stopped = f"{exc}; re-run the same command to resume"
    finally:
        for t in TABLES:
            report.added[t] = count_rows(conn, t) - before[t]
        report.requests = client.http.sent - sent
    return report


# --- covered windows (Unix seconds) -------------------------------------------------------
def todo_window(state: dict[str, Any], lo: int, hi: int) -> tuple[int, int] | None:
    """Part of ``[lo, hi]`` not yet covered by ``state``'s ``[from, through]``; the start
    overlaps the covered end by design (inclusive bounds; stored rows are de-duplicated)."""
    f, t = state.get("from"), state.get("through")
    if not isinstance(f, int) or not isinstance(t, int) or not f <= lo <= t:
        return (lo, hi)
    return None if hi <= t else (t, hi)


def merge_covered(state: dict[str, Any], lo: int, hi: int) -> None:
    """Extend ``state``'s covered window by ``[lo, hi]`` (replace it when not contiguous)."""
    f, t = state.get("from"), state.get("through")
    if isinstance(f, int) and isinstance(t, int) and f <= lo <= t:
        state["through"] = max(t, hi)
    else:
        state["from"], state["through"] = lo, hi


class _Sync:
    def __init__(self, client: KalshiClient, conn: sqlite3.Connection, opts: SyncOptions,
                 clock: Clock, progress: SyncProgress, report: SyncReport) -> None:
        self.client = client
        self.conn = conn
        self.opts = opts
        self.clock = clock
        self.progress = progress
        self.report = report
        self.series = SeriesCache(client)
        self._cutoff: w.WireHistoricalCutoff | None = None
        self._cutoff_known = False
        self.now = ensure_utc(clock.now())

    # -- top level -------------------------------------------------------------------------
    def run(self) -> None:
        items = self.discover()
        self.report.markets = len(items)
        self.report.results = sum(1 for i in items.values() if i.market.result.value)
        if self.opts.events_meta:
            self.sync_events(items)
        todo = [i for i in items.values()
                if i.market.open_time is None or i.market.open_time <= self.now]
        if self.opts.candles:
            self.progress.start("candles", len(todo))
            batched = self._batch_candles(todo)
            for item in todo:
                if item.market.ticker in batched:
                    self.progress.advance("candles")
                else:
                    self._per_market("candles", item, self.sync_candles)
        if self.opts.trades:
            self.progress.start("trades", len(todo))
            for item in todo:
                self._per_market("trades", item, self.sync_trades)
        if self.opts.candles or self.opts.trades:
            with atomic(self.conn):  # candle quotes, sized by the trades now stored
                self.report.candle_quotes += derive_candle_quotes(
                    self.conn, [i.market.ticker for i in todo])
        if self.opts.account_settlements and self.client.authenticated:
            self.sync_account_settlements()
        self.report.problems.extend(self.series.problems)

    def _per_market(self, phase: str, item: _Item, fn: Any) -> None:
        try:
            fn(item)
        except (DataError, ExchangeRejectedError) as exc:
            self.report.problems.append(f"{phase} {item.market.ticker}: {exc}")
        self.progress.advance(phase)

    def _written(self, table: str, n: int, phase: str | None = None) -> None:
        self.report.written[table] += n
        self.progress.rows(phase or table, n)

    def cutoff(self) -> w.WireHistoricalCutoff | None:
        """``/historical/cutoff``, read once; None when unavailable or ``historical`` is off."""
        if not self._cutoff_known:
            self._cutoff_known = True
            if self.opts.historical:
                try:
                    self._cutoff = self.client.get_historical_cutoff()
                except (ExchangeRejectedError, DataError) as exc:
                    self.report.notes.append(f"no historical cutoff ({exc}); "
                                             "historical endpoints not used")
        return self._cutoff

    # -- markets, series, events -------------------------------------------------------------
    def discover(self) -> dict[str, _Item]:
        o = self.opts
        self.progress.start("markets", None)
        items: dict[str, _Item] = {}
        live_kw: dict[str, Any] = {"status": o.status, "min_close_ts": o.since,
                                   "max_close_ts": o.until}
        for s in o.series:
            self._list(items, self.client.iter_markets(series_ticker=s, **live_kw), False)
        for e in o.events:
            self._list(items, self.client.iter_markets(event_ticker=e, **live_kw), False)
        for chunk in chunks(o.tickers):
            self._list(items, self.client.iter_markets(tickers=chunk, status=o.status), False,
                       by_close=False)
        cut = self.cutoff() if (o.status in (None, "settled")) else None
        if cut is not None and (o.since is None or o.since < cut.market_settled_ts):
            for s in o.series:
                self._list(items, self.client.iter_markets(series_ticker=s, historical=True),
                           True)
            for e in o.events:
                self._list(items, self.client.iter_markets(event_ticker=e, historical=True),
                           True)
            missing = [t for t in dict.fromkeys(o.tickers) if t not in items]
            for chunk in chunks(missing):
                self._list(items, self.client.iter_markets(tickers=chunk, historical=True), True,
                           by_close=False)
        for t in o.tickers:
            if t not in items:
                self.report.problems.append(f"market {t}: not found")
        with atomic(self.conn):
            self._written("series", self.series.save(self.conn, now=self.now), "markets")
        return items

    def _keep(self, m: Market, historical: bool, by_close: bool) -> bool:
        """Local filter: close time in ``[since, until]`` (series/event listings; explicit
        tickers are kept) and, for historical listings, the requested status."""
        o = self.opts
        if by_close and o.since is not None and m.close_time < o.since:
            return False
        if by_close and o.until is not None and m.close_time > o.until:
            return False
        return not (historical and o.status is not None
                    and m.status.value not in STATUS_GROUPS[o.status])

    def _list(self, items: dict[str, _Item], wires: Iterable[w.WireMarket],
              historical: bool, *, by_close: bool = True) -> None:
        """Upsert one listing, a page (``PAGE_LIMIT`` markets) per transaction."""
        for batch in _batches(wires, PAGE_LIMIT):
            parsed = parse_markets(batch, self.series, self.report.problems)
            markets = [m for m in parsed if not (historical and m.ticker in items)
                       and self._keep(m, historical, by_close)]
            with atomic(self.conn):
                n = upsert_markets(self.conn, markets, now=self.now, source=SOURCE)
            self._written("markets", n)
            for m in markets:
                items[m.ticker] = _Item(m, historical)
            self.progress.advance("markets", len(markets))

    def sync_events(self, items: dict[str, _Item]) -> None:
        wanted = list(dict.fromkeys(i.market.event_ticker for i in items.values()))
        have: set[str] = set()
        for chunk in chunks(wanted, 500):
            marks = ",".join("?" * len(chunk))
            have |= {r[0] for r in self.conn.execute(
                f"SELECT event_ticker FROM events WHERE event_ticker IN ({marks})", chunk)}
        missing = [e for e in wanted if e not in have]
        self.progress.start("events", len(missing))
        found = self._events_by_series(missing)
        for e in (e for e in missing if e not in found):
            try:
                event = p.parse_event(self.client.get_event(e).event)
            except (ExchangeRejectedError, DataError) as exc:
                self.report.problems.append(f"event {e}: {exc}")
            else:
                with atomic(self.conn):
                    self._written("events", upsert_events(self.conn, [event], now=self.now))
            self.progress.advance("events")

    def _events_by_series(self, missing: list[str]) -> set[str]:
        """Store ``missing`` events from ``GET /events?series_ticker=`` pages (200 a page),
        stopping once a series' events are all found; returns those stored. Series with a
        single missing event, and events the listing lacks, are left to ``GET /events/{e}``."""
        by_series: dict[str, set[str]] = {}
        for e in missing:
            by_series.setdefault(series_of(e), set()).add(e)
        found: set[str] = set()
        for s, want in by_series.items():
            if len(want) < 2:
                continue
            try:
                for we in self.client.iter_events(series_ticker=s):
                    if we.event_ticker not in want or we.event_ticker in found:
                        continue
                    found.add(we.event_ticker)
                    try:
                        event = p.parse_event(we)
                    except DataError as exc:
                        self.report.problems.append(f"event {we.event_ticker}: {exc}")
                    else:
                        with atomic(self.conn):
                            self._written("events",
                                          upsert_events(self.conn, [event], now=self.now))
                    self.progress.advance("events")
                    if want <= found:
                        break
            except (ExchangeRejectedError, DataError) as exc:
                self.report.notes.append(f"events of series {s} not listed ({exc}); "
                                         "fetched one by one")
        return found

    # -- per-market windows ------------------------------------------------------------------
    def window(self, m: Market) -> tuple[int, int] | None:
        """``[lo, hi]`` in Unix seconds to fetch for ``m``: its open..close clipped to
        ``since``/``until`` and now; None when empty."""
        lo_t = max([t for t in (self.opts.since, m.open_time) if t is not None],
                   default=m.close_time - timedelta(days=1))
        hi_t = min(t for t in (self.opts.until, m.close_time, self.now) if t is not None)
        lo, hi = epoch_s(lo_t), epoch_s(hi_t)
        assert lo is not None and hi is not None
        return (lo, hi) if lo < hi else None

    # -- candles -----------------------------------------------------------------------------
    def sync_candles(self, item: _Item) -> None:
        period = self.opts.period_minutes
        try:
            self._candles(item, period)
        except ExchangeRejectedError as exc:
            if period != 1 or exc.status != 400:
                raise
            self.report.notes.append(f"candles {item.market.ticker}: 1-minute refused "
                                     f"({exc.message}); used 60-minute")
            self._candles(item, 60)

    def _fresh_window(self, item: _Item, period: int) -> tuple[int, int] | None:
        """``[lo, hi]`` of a live-listed market with no candles stored yet, when it fits one
        request; None otherwise (left to the per-market path)."""
        win = self.window(item.market)
        if item.historical or win is None:
            return None
        step = 60 * period
        lo, hi = win[0], min(win[1], int(self.now.timestamp()) // step * step)
        state = (kv_get(self.conn, KV_CANDLES + item.market.ticker) or {}).get(str(period))
        if hi <= lo or state or hi - lo > CANDLE_CHUNK_PERIODS * step:
            return None
        return lo, hi

    def _batch_candles(self, todo: list[_Item]) -> set[str]:
        """Candles of fresh live markets through ``GET /markets/candlesticks``: up to 100
        tickers a request, grouped by close time so one ``[start, end]`` covers them all
        within the exchange's 10,000 candles; each market keeps only its own window. Returns
        the tickers done; a refused batch is left to the per-market path."""
        period = self.opts.period_minutes
        step = 60 * period
        fresh = sorted(((w, i) for i in todo if (w := self._fresh_window(i, period))),
                       key=lambda x: x[0][1])
        done: set[str] = set()
        group: list[tuple[tuple[int, int], _Item]] = []

        def flush() -> None:
            if not group:
                return
            lo, hi = min(w[0] for w, _ in group), max(w[1] for w, _ in group)
            try:
                got = self.client.get_candlesticks_batch(
                    [i.market.ticker for _, i in group], from_epoch_s(lo), from_epoch_s(hi),
                    period)
                by_ticker = {g.market_ticker: g.candlesticks for g in got}
                for (wlo, whi), item in group:
                    t = item.market.ticker
                    candles = [store_candle(p.parse_candle(t, c), period)
                               for c in by_ticker.get(t, []) if wlo <= c.end_period_ts <= whi]
                    state: dict[str, Any] = {}
                    merge_covered(state, wlo, whi)
                    with atomic(self.conn):
                        self._written("candles", upsert_candles(self.conn, candles))
                        kv_set(self.conn, KV_CANDLES + t, {str(period): state},
                               now=self.clock.now())
                    done.add(t)
            except (ExchangeRejectedError, DataError) as exc:
                self.report.notes.append(f"batch candles refused ({exc}); fetched per market")
            group.clear()

        for w, item in fresh:
            lo = min([w[0]] + [g[0][0] for g in group])
            hi = max([w[1]] + [g[0][1] for g in group])
            # a market has candles only inside its own window: the answer holds at most
            # the sum of the windows' periods
            n = sum((b - a) // step + 1 for (a, b), _ in group) + (w[1] - w[0]) // step + 1
            if group and (len(group) >= 100 or n > 10_000
                          or hi - lo > CANDLE_CHUNK_PERIODS * step):
                flush()
            group.append((w, item))
        flush()
        return done

    def _candles(self, item: _Item, period: int) -> None:
        m = item.market
        win = self.window(m)
        if win is None:
            return
        step = 60 * period
        lo, hi = win
        hi = min(hi, int(self.now.timestamp()) // step * step)
        if hi <= lo:
            return
        key = KV_CANDLES + m.ticker
        all_state: dict[str, Any] = dict(kv_get(self.conn, key) or {})
        state: dict[str, Any] = dict(all_state.get(str(period)) or {})
        todo = todo_window(state, lo, hi)
        if todo is None:
            self.report.skipped_covered += 1
            return
        start = todo[0]
        while start < hi:
            end = min(hi, start + CANDLE_CHUNK_PERIODS * step)
            candles = self._fetch_candles(item, period, from_epoch_s(start), from_epoch_s(end))
            merge_covered(state, start, end)
            all_state[str(period)] = dict(state)
            with atomic(self.conn):
                self._written("candles", upsert_candles(self.conn, candles))
                kv_set(self.conn, key, all_state, now=self.clock.now())
            start = end

    def _fetch_candles(self, item: _Item, period: int, start: datetime, end: datetime
                       ) -> list[Candle]:
        m = item.market
        if item.historical:
            hr = self.client.get_historical_candlesticks(m.ticker, start, end, period)
            parsed = [p.parse_candle_historical(m.ticker, c) for c in hr.candlesticks]
        else:
            r = self.client.get_candlesticks(m.series_ticker, m.ticker, start, end, period)
            parsed = [p.parse_candle(m.ticker, c) for c in r.candlesticks]
        return [store_candle(c, period) for c in parsed]

    # -- trades ------------------------------------------------------------------------------
    def sync_trades(self, item: _Item) -> None:
        m = item.market
        win = self.window(m)
        key = KV_TRADES + m.ticker
        state: dict[str, Any] = dict(kv_get(self.conn, key) or {})
        if isinstance(state.get("pending"), dict):
            self.report.resumed.append(m.ticker)
        elif win is None:
            return
        sent = False
        while True:
            pending = state.get("pending")
            if not isinstance(pending, dict):
                if win is None:
                    break
                todo = todo_window(state, *win)
                if todo is None:
                    break
                pending = self._segment(*todo)
                state["pending"] = pending
            sent = True
            try:
                self._trade_segment(m.ticker, key, state, pending)
            except ExchangeRejectedError as exc:
                if not pending.get("cursor") or exc.status != 400:
                    raise
                # A saved cursor the server no longer accepts: redo that segment from its start.
                self.report.notes.append(f"trades {m.ticker}: saved cursor refused; "
                                         "restarting its window")
                state["pending"] = dict(pending, cursor=None)
                continue
            if state.get("pending") is pending:  # defensive: never loop on the same segment
                break
        if not sent:
            self.report.skipped_covered += 1

    def _segment(self, lo: int, hi: int) -> dict[str, Any]:
        """The next piece of ``[lo, hi]``: its part before the trades cutoff is historical."""
        cut = self.cutoff()
        if cut is not None:
            cut_s = epoch_s(cut.trades_created_ts)
            assert cut_s is not None
            if lo < cut_s:
                return {"historical": True, "lo": lo, "hi": min(hi, cut_s), "cursor": None}
        return {"historical": False, "lo": lo, "hi": hi, "cursor": None}

    def _trade_segment(self, ticker: str, key: str, state: dict[str, Any],
                       seg: dict[str, Any]) -> None:
        """Page through one segment; each page is stored with the next cursor atomically."""
        historical = bool(seg["historical"])
        path = "/historical/trades" if historical else "/markets/trades"
        params: dict[str, Any] = {"ticker": ticker, "min_ts": seg["lo"], "max_ts": seg["hi"],
                                  "limit": PAGE_LIMIT}
        if seg.get("cursor"):
            params["cursor"] = seg["cursor"]
        for page in self.client.http.paginate(path, params):
            wp = w.load(w.WireTradesPage, page, f"GET {path}")
            trades = [p.parse_trade(t) for t in wp.trades]
            if wp.cursor:
                state["pending"] = dict(seg, cursor=wp.cursor)
            else:
                state.pop("pending", None)
                merge_covered(state, int(seg["lo"]), int(seg["hi"]))
            with atomic(self.conn):
                self._written("trades", upsert_trades(self.conn, trades))
                kv_set(self.conn, key, state, now=self.clock.now())

    # -- account settlements -------------------------------------------------------------------
    def sync_account_settlements(self) -> None:
        state: dict[str, Any] = dict(kv_get(self.conn, KV_SETTLEMENTS) or {})
        through = state.get("through")
        lo = self.opts.since
        if isinstance(through, int):
            lo = max(lo, from_epoch_s(through)) if lo is not None else from_epoch_s(through)
        hi = min(self.opts.until or self.now, self.now)
        self.progress.start("settlements", None)
        items = [p.parse_settlement(s)
                 for s in self.client.iter_settlements(min_ts=lo, max_ts=hi)]
        state["through"] = epoch_s(hi)
        with atomic(self.conn):
            self._written("settlements", upsert_settlements(self.conn, items))
            kv_set(self.conn, KV_SETTLEMENTS, state, now=self.clock.now())
        self.progress.advance("settlements", len(items))


def store_candle(c: p.Candle, period: int) -> Candle:
    """Wire-parsed candle -> store candle (YES prices in dollars, counts in contracts)."""
    return Candle(
        ticker=c.ticker, period_min=period, end_time=c.end,
        price_open=c.trade.open if c.trade else None,
        price_high=c.trade.high if c.trade else None,
        price_low=c.trade.low if c.trade else None,
        price_close=c.trade.close if c.trade else None,
        yes_bid_close=c.yes_bid.close, yes_ask_close=c.yes_ask.close,
        volume=c.volume, open_interest=c.open_interest,
    )


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in items:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
