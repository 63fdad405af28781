"""Non-book channels: wire -> domain parsing, latest-value boards and the account sinks.

- ``ticker``: ``TickerUpdate`` (YES prices in dollars, counts in contracts), latest per market.
- ``trade``: domain ``Trade`` (``taker_outcome_side``; ``yes_price`` in dollars).
- ``fill``: domain ``Fill`` with ``fill_id = trade_id`` (the REST fill id is the same value, so
  a fill seen on the socket and again by REST is one row). Direction comes from
  ``outcome_side``/``book_side`` exactly as REST parses it (deprecated ``side``/``action`` are
  ignored) so both paths produce the same ``Fill``. ``FillSink`` stores it at once through
  ``OrderManager.record_fills`` (de-duplicated by ``fill_id``; the order's filled count and
  fees are updated).
- ``user_orders`` (``user_order`` messages): domain ``Order``; ``UserOrderSink`` merges it into
  the local orders table (``store.orders.apply_exchange_order``).
- ``market_lifecycle_v2``: ``LifecycleEvent``; ``MarketStates`` says whether a market may take
  new entries (not paused, not closed/determined/settled) and keeps the tick grid of
  ``price_level_structure_updated`` (and ``created``) events: ``price_ranges`` when sent, else
  the structure name; a grid this version cannot build makes the market untradeable
  (``grid_change``).
- ``cfbenchmarks_value`` / ``cfbenchmarks_value_5hz``: ``CfValue`` (index values and 60-second
  averages as exact ``Decimal`` in USD); ``CfBenchmarks`` keeps the latest per index and the
  final settlement average (``last_60s_windowed_average_15min`` with ``window_size`` 60 at the
  quarter close); ``record_on_tape`` feeds the pricer's ``IndexTape``.

Prices only from ``*_dollars`` strings, counts only from ``*_fp``; a missing required field is a
``DataError``. Times: ``ts_ms`` (epoch ms) -> aware UTC ``datetime``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kalshibot.clock import Clock
from kalshibot.domain.money import Count, Price, parse_decimal
from kalshibot.domain.orders import Fill, Order, Side, Trade
from kalshibot.domain.ticks import TickGrid
from kalshibot.errors import DataError, KalshibotError
from kalshibot.feeds.index import CF_INDEX_IDS, FIVE_HZ, IndexTape, RunningAverage
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w

log = logging.getLogger(__name__)


def _body(msg: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    body = msg.get("msg")
    if not isinstance(body, Mapping):
        raise DataError(f"{kind}: message body is missing")
    return body


def _req(body: Mapping[str, Any], key: str, what: str) -> Any:
    v = body.get(key)
    if v is None:
        raise DataError(f"{what}: {key} is missing")
    return v


def _ms(value: Any, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{what}: expected epoch milliseconds, got {value!r}")
    return datetime.fromtimestamp(value / 1000, UTC)


def _opt_price(body: Mapping[str, Any], key: str, what: str) -> Price | None:
    v = body.get(key)
    return None if v is None else Price.from_dollars(v, f"{what} {key}")


def _opt_count(body: Mapping[str, Any], key: str, what: str) -> Count | None:
    v = body.get(key)
    return None if v is None else Count.from_fp(v, f"{what} {key}")


# --- ticker -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TickerUpdate:
    """Top of book and activity of one market (YES prices in dollars; counts in contracts)."""

    ticker: str
    price: Price | None  # last trade
    yes_bid: Price | None
    yes_ask: Price | None
    yes_bid_size: Count | None
    yes_ask_size: Count | None
    volume: Count
    open_interest: Count
    ts: datetime


def parse_ticker(msg: Mapping[str, Any]) -> TickerUpdate:
    b = _body(msg, "ticker")
    t = str(_req(b, "market_ticker", "ticker"))
    what = f"ticker {t}"
    return TickerUpdate(
        ticker=t, price=_opt_price(b, "price_dollars", what),
        yes_bid=_opt_price(b, "yes_bid_dollars", what),
        yes_ask=_opt_price(b, "yes_ask_dollars", what),
        yes_bid_size=_opt_count(b, "yes_bid_size_fp", what),
        yes_ask_size=_opt_count(b, "yes_ask_size_fp", what),
        volume=p.count(b.get("volume_fp"), f"{what} volume_fp"),
        open_interest=p.count(b.get("open_interest_fp"), f"{what} open_interest_fp"),
        ts=_ms(_req(b, "ts_ms", what), what))


# --- trade ------------------------------------------------------------------------------
def parse_trade(msg: Mapping[str, Any]) -> Trade:
    b = _body(msg, "trade")
    tid = str(_req(b, "trade_id", "trade"))
    what = f"trade {tid}"
    side = b.get("taker_outcome_side") or b.get("taker_side")
    if side not in ("yes", "no"):
        raise DataError(f"{what}: taker_outcome_side is missing or invalid ({side!r})")
    return Trade(trade_id=tid, ticker=str(_req(b, "market_ticker", what)),
                 yes_price=p.price(b.get("yes_price_dollars"), f"{what} yes_price_dollars"),
                 count=p.count(b.get("count_fp"), f"{what} count_fp"), taker_side=Side(side),
                 ts=_ms(_req(b, "ts_ms", what), what))


# --- fill -------------------------------------------------------------------------------
def parse_fill(msg: Mapping[str, Any]) -> Fill:
    """Socket fill -> the same ``Fill`` REST would give (``fill_id`` = ``trade_id``)."""
    b = _body(msg, "fill")
    tid = str(_req(b, "trade_id", "fill"))
    what = f"fill {tid}"
    yes = p.price(b.get("yes_price_dollars"), f"{what} yes_price_dollars")
    wire = w.load(w.WireFill, {
        "fill_id": tid, "order_id": _req(b, "order_id", what),
        "market_ticker": _req(b, "market_ticker", what),
        "outcome_side": b.get("outcome_side"), "book_side": b.get("book_side"),
        "count_fp": _req(b, "count_fp", what), "yes_price_dollars": b["yes_price_dollars"],
        "no_price_dollars": yes.complement().to_str(), "is_taker": _req(b, "is_taker", what),
        "fee_cost": _req(b, "fee_cost", what),
        "created_time": _ms(_req(b, "ts_ms", what), what),
        "client_order_id": b.get("client_order_id"),
    }, what)
    return p.parse_fill(wire)


# --- user orders ------------------------------------------------------------------------
def parse_user_order(msg: Mapping[str, Any]) -> Order:
    b = _body(msg, "user_order")
    oid = str(_req(b, "order_id", "user_order"))
    what = f"user_order {oid}"
    yes = p.price(b.get("yes_price_dollars"), f"{what} yes_price_dollars")
    upd = b.get("last_updated_ts_ms")
    wire = w.load(w.WireOrder, {
        "order_id": oid, "client_order_id": b.get("client_order_id"),
        "ticker": _req(b, "ticker", what), "outcome_side": b.get("outcome_side"),
        "book_side": b.get("book_side"), "status": _req(b, "status", what),
        "yes_price_dollars": b["yes_price_dollars"],
        "no_price_dollars": yes.complement().to_str(),
        "fill_count_fp": _req(b, "fill_count_fp", what),
        "remaining_count_fp": _req(b, "remaining_count_fp", what),
        "initial_count_fp": _req(b, "initial_count_fp", what),
        "taker_fees_dollars": _req(b, "taker_fees_dollars", what),
        "maker_fees_dollars": _req(b, "maker_fees_dollars", what),
        "created_time": _ms(_req(b, "created_ts_ms", what), what),
        "last_update_time": _ms(upd, what) if upd is not None else None,
    }, what)
    return p.parse_order(wire)


# --- lifecycle --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """One ``market_lifecycle_v2`` event. Times aware UTC; ``settlement_value`` in dollars."""

    ticker: str
    event_type: str
    open_time: datetime | None = None
    close_time: datetime | None = None
    result: str | None = None
    settlement_value: Price | None = None
    is_deactivated: bool | None = None
    price_level_structure: str | None = None
    price_ranges: tuple[tuple[str, str, str], ...] | None = None  # (start, end, step) dollars


def _ranges(raw: Any, what: str) -> tuple[tuple[str, str, str], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise DataError(f"{what}: price_ranges is not a list")
    return tuple((str(_req(r, "start", what)), str(_req(r, "end", what)),
                  str(_req(r, "step", what))) for r in raw if isinstance(r, Mapping))


def parse_lifecycle(msg: Mapping[str, Any]) -> LifecycleEvent:
    b = _body(msg, "market_lifecycle_v2")
    t = str(_req(b, "market_ticker", "market_lifecycle_v2"))
    what = f"market_lifecycle_v2 {t}"

    def sec(key: str) -> datetime | None:
        v = b.get(key)
        return None if v is None else datetime.fromtimestamp(int(v), UTC)

    sv = b.get("settlement_value")
    return LifecycleEvent(
        ticker=t, event_type=str(_req(b, "event_type", what)), open_time=sec("open_ts"),
        close_time=sec("close_ts"), result=b.get("result"),
        settlement_value=None if sv is None else Price.from_dollars(sv, f"{what} settlement"),
        is_deactivated=b.get("is_deactivated"),
        price_level_structure=b.get("price_level_structure"),
        price_ranges=_ranges(b.get("price_ranges"), what))


class MarketStates:
    """Latest lifecycle state per market; ``blocked(ticker)`` is the reason new entries must
    not be made there ("" when none is known)."""

    CLOSED = frozenset({"determined", "settled"})

    GRID_EVENTS = frozenset({"price_level_structure_updated", "created"})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: dict[str, str] = {}
        self._close: dict[str, datetime] = {}
        self._grid: dict[str, tuple[TickGrid | None, str]] = {}  # (grid, problem)

    def apply(self, ev: LifecycleEvent) -> None:
        if ev.event_type in self.GRID_EVENTS and (ev.price_level_structure is not None
                                                  or ev.price_ranges):
            rows: list[dict[str, object]] | None = None if not ev.price_ranges else [
                {"start": a, "end": b, "step": c} for a, b, c in ev.price_ranges]
            try:
                change: tuple[TickGrid | None, str] = (
                    TickGrid.from_structure(ev.price_level_structure, rows), "")
            except DataError as exc:
                change = (None, f"tick grid changed to one this version cannot use: "
                                f"{exc.message}")
            with self._lock:
                self._grid[ev.ticker] = change
        with self._lock:
            if ev.event_type in self.CLOSED:
                self._reason[ev.ticker] = f"market {ev.event_type}"
            elif ev.event_type == "deactivated" or ev.is_deactivated is True:
                self._reason[ev.ticker] = "market paused (deactivated)"
            elif ev.event_type == "activated" or ev.is_deactivated is False:
                self._reason.pop(ev.ticker, None)
            if ev.close_time is not None:
                self._close[ev.ticker] = ev.close_time

    def blocked(self, ticker: str, now: datetime | None = None) -> str:
        with self._lock:
            reason = self._reason.get(ticker, "")
            close = self._close.get(ticker)
        if not reason and now is not None and close is not None and now >= close:
            return "market closed"
        return reason

    def close_time(self, ticker: str) -> datetime | None:
        with self._lock:
            return self._close.get(ticker)

    def grid_change(self, ticker: str) -> tuple[TickGrid | None, str] | None:
        """The market's grid as its latest lifecycle event set it: ``(grid, "")``, or
        ``(None, why)`` when it cannot be used; None when no event changed it."""
        with self._lock:
            return self._grid.get(ticker)


# --- CF Benchmarks ----------------------------------------------------------------------
#: Kalshi crypto coins -> CF Benchmarks index ids (the AsyncAPI 3.34 table; see
#: ``kalshibot.feeds.index``, which also reads a series' own metadata).
INDEX_FOR_SYMBOL: Mapping[str, str] = CF_INDEX_IDS
#: Ticks in a complete settlement window (one per second over the final 60 s).
SETTLEMENT_TICKS = 60


@dataclass(frozen=True, slots=True)
class CfAverage:
    """A windowed average (USD, exact) over ``[start, end)`` of ``window_size`` ticks."""

    value: Decimal
    window_size: int
    start: datetime
    end: datetime  # exclusive


@dataclass(frozen=True, slots=True)
class CfValue:
    """One ``cfbenchmarks_value`` (or ``_5hz``) tick. ``value`` is the index level (USD, exact)
    at ``ts``; the 5 Hz channel carries no averages (``avg_60s`` None)."""

    index_id: str
    value: Decimal | None
    ts: datetime | None
    received: datetime
    avg_60s: CfAverage | None
    settlement_avg: CfAverage | None  # present only in the final minute before :00/15/30/45

    @property
    def settlement_final(self) -> bool:
        """The settlement window is complete (60 ticks at the quarter close)."""
        return self.settlement_avg is not None and \
            self.settlement_avg.window_size >= SETTLEMENT_TICKS


def _avg(d: Any, what: str) -> CfAverage:
    if not isinstance(d, Mapping):
        raise DataError(f"{what} is missing")
    return CfAverage(parse_decimal(_req(d, "value", what), f"{what} value"),
                     int(_req(d, "window_size", what)),
                     _ms(_req(d, "window_start_ts_ms", what), what),
                     _ms(_req(d, "window_end_ts_exclusive", what), what))


def parse_cfbenchmarks(msg: Mapping[str, Any]) -> CfValue:
    import json

    b = _body(msg, "cfbenchmarks_value")
    idx = str(_req(b, "index_id", "cfbenchmarks_value"))
    what = f"cfbenchmarks_value {idx}"
    value: Decimal | None = None
    ts: datetime | None = None
    raw = b.get("data")
    if isinstance(raw, str):
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if isinstance(frame, dict) and frame.get("value") is not None:
            value = parse_decimal(frame["value"], f"{what} data.value")
            if isinstance(frame.get("time"), int):
                ts = _ms(frame["time"], what)
    s = b.get("last_60s_windowed_average_15min")
    return CfValue(idx, value, ts, _ms(_req(b, "received_at", what), what),
                   _avg(b.get("avg_60s_data"), f"{what} avg_60s_data"),
                   None if s is None else _avg(s, f"{what} last_60s_windowed_average_15min"))


def parse_cfbenchmarks_5hz(msg: Mapping[str, Any]) -> CfValue:
    """``cfbenchmarks_value_5hz``: ``value_usd`` at ``source_ts_ms`` (no averages)."""
    b = _body(msg, "cfbenchmarks_value_5hz")
    idx = str(_req(b, "index_id", "cfbenchmarks_value_5hz"))
    what = f"cfbenchmarks_value_5hz {idx}"
    return CfValue(idx, parse_decimal(_req(b, "value_usd", what), f"{what} value_usd"),
                   _ms(_req(b, "source_ts_ms", what), what),
                   _ms(_req(b, "received_at", what), what), None, None)


def settlement_close(avg: CfAverage) -> datetime:
    """The quarter-hour close a ``last_60s_windowed_average_15min`` belongs to: the first
    :00/:15/:30/:45 strictly after the window start (robust to how ``window_end`` is stamped)."""
    start_ms = int(avg.start.timestamp() * 1000)
    q = 900_000
    return datetime.fromtimestamp((start_ms // q + 1) * q / 1000, UTC)


def record_on_tape(tape: IndexTape, v: CfValue) -> None:
    """Put one socket value on an ``IndexTape``: the tick (index time, else receipt time) and
    Kalshi's running settlement average when present. Use as a ``WsFeed.on_cf`` listener."""
    if v.value is not None and v.value > 0:
        # 5 Hz ticks go on their own line: the settlement samples the per-second values
        key = v.index_id if v.avg_60s is not None else v.index_id + FIVE_HZ
        tape.add(key, v.ts or v.received, float(v.value), v.received)
    s = v.settlement_avg
    if s is not None:
        tape.add_running(v.index_id, RunningAverage(float(s.value), s.window_size,
                                                    settlement_close(s), v.received))


class CfBenchmarks:
    """Latest CF Benchmarks values per index, and the settlement averages by quarter close.

    ``settlement_average(index, close)`` is the exact 60-second average Kalshi settles a
    15-minute crypto market closing at ``close`` on, once all 60 ticks are in (else None);
    ``running_settlement_average`` gives the partial average during the final minute.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, CfValue] = {}
        self._final: dict[tuple[str, datetime], CfAverage] = {}
        self._running: dict[tuple[str, datetime], CfAverage] = {}

    def apply(self, v: CfValue) -> None:
        with self._lock:
            self._latest[v.index_id] = v
            s = v.settlement_avg
            if s is not None:
                close = settlement_close(s)
                self._running[(v.index_id, close)] = s
                if s.window_size >= SETTLEMENT_TICKS:
                    self._final[(v.index_id, close)] = s
                if len(self._running) > 1000:
                    for k in sorted(self._running, key=lambda k: k[1])[:500]:
                        self._running.pop(k, None)

    def latest(self, index_id: str) -> CfValue | None:
        with self._lock:
            return self._latest.get(index_id)

    def latest_for_symbol(self, symbol: str) -> CfValue | None:
        idx = INDEX_FOR_SYMBOL.get(symbol.upper())
        return None if idx is None else self.latest(idx)

    def settlement_average(self, index_id: str, close: datetime) -> Decimal | None:
        with self._lock:
            a = self._final.get((index_id, close))
        return None if a is None else a.value

    def running_settlement_average(self, index_id: str, close: datetime) -> CfAverage | None:
        with self._lock:
            return self._running.get((index_id, close))

    def snapshot(self) -> dict[str, CfValue]:
        with self._lock:
            return dict(self._latest)


# --- account sinks ----------------------------------------------------------------------
class FillSink:
    """Stores socket fills at once (``OrderManager.record_fills``: one row per ``fill_id``,
    orders' filled counts and fees updated) on its **own** connection to the store, and keeps
    the fills that were new so the engine can fold them into its portfolio
    (``drain_new()``): REST reconciliation will later see them as already stored."""

    def __init__(self, manager: Any, clock: Clock) -> None:
        self.manager = manager  # kalshibot.execution.OrderManager
        self.clock = clock
        self._lock = threading.Lock()
        self._new: list[Fill] = []
        self.errors: list[str] = []
        self.seen = 0
        self.stored = 0
        self.listeners: list[Callable[[Fill], None]] = []

    @classmethod
    def for_store(cls, conn: sqlite3.Connection, exchange: Any, clock: Clock,
                  strategy: str = "") -> FillSink:
        from kalshibot.execution import OrderManager

        return cls(OrderManager(conn, exchange, strategy=strategy), clock)

    def __call__(self, fill: Fill) -> None:
        self.seen += 1
        try:
            new = self.manager.record_fills([fill], self.clock.now())
        except KalshibotError as exc:
            self.errors.append(f"fill {fill.fill_id}: {exc}")
            log.warning("ws fill %s not stored: %s", fill.fill_id, exc)
            return
        if new:
            self.stored += len(new)
            with self._lock:
                self._new.extend(new)
        for cb in self.listeners:
            cb(fill)

    def drain_new(self) -> list[Fill]:
        """Fills stored by this sink since the last call (oldest first)."""
        with self._lock:
            out, self._new = self._new, []
        return out


class UserOrderSink:
    """Merges ``user_order`` updates into the local orders table at once (own connection)."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock, strategy: str = "") -> None:
        self.conn = conn
        self.clock = clock
        self.strategy = strategy
        self.errors: list[str] = []
        self.applied = 0

    def __call__(self, order: Order) -> None:
        from kalshibot.store.connection import atomic
        from kalshibot.store.orders import apply_exchange_order

        try:
            with atomic(self.conn):
                apply_exchange_order(self.conn, order, now=self.clock.now(),
                                     strategy=self.strategy)
            self.applied += 1
        except (KalshibotError, sqlite3.Error) as exc:
            self.errors.append(f"order {order.order_id}: {exc}")
            log.warning("ws order %s not applied: %s", order.order_id, exc)
