"""A trading session: wire venue, strategy, risk and engine from settings, then loop.

Venues: ``sim`` (market data replayed from the market-data store, simulated clock; trading
state in its own database so replays never mix with paper/live records), ``paper`` (live public
Kalshi data, simulated fills, the paper database), ``kalshi`` (real orders; needs ``--live``).

The loop runs ``Engine.run_cycle`` every ``interval`` seconds of the session clock until
``max_cycles`` / ``duration`` / the end of the sim data, or Ctrl-C / SIGTERM; then it finishes
the cycle, cancels resting orders if configured, writes a final heartbeat and ends the run.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

from kalshibot.clock import Clock, SimClock, SystemClock
from kalshibot.config import Settings
from kalshibot.domain.money import Money
from kalshibot.domain.orders import OrderStatus
from kalshibot.engine import STARTING_CASH_KEY, CycleReport, Engine, EngineConfig
from kalshibot.errors import (
    ConfigError,
    ExchangeUnavailableError,
    KalshibotError,
    UserInputError,
)
from kalshibot.exchange import Exchange
from kalshibot.live_gate import check_live_gate
from kalshibot.risk import RiskLimits, RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.store import fills as fills_repo
from kalshibot.store import orders as orders_repo
from kalshibot.store import settlements as settlements_repo
from kalshibot.store.connection import atomic, connect
from kalshibot.store.kv import kv_get, kv_set
from kalshibot.store.lock import acquire_writer_lock, command_line
from kalshibot.store.runs import Heartbeat, end_run, heartbeat, start_run
from kalshibot.strategy.base import Strategy, StrategyParams
from kalshibot.strategy.registry import TRADING

STRATEGIES = TRADING  # the strategy registry's trading names
VENUES = ("sim", "paper", "kalshi")
SIM_CLOCK_KEY = "sim.clock"


@dataclass
class SessionOptions:
    exchange: str = "paper"
    strategy: str | None = None
    series: Sequence[str] = ()
    tickers: Sequence[str] = ()
    interval_s: float | None = None
    max_cycles: int | None = None
    duration_s: float | None = None
    live: bool = False
    fresh: bool = False
    start: datetime | None = None
    state_db: Path | None = None
    confirmed: bool = False  # prod + live: the person confirmed (interactively or --yes)


@dataclass
class SessionSummary:
    run_id: str
    venue: str
    strategy: str
    cycles: int = 0
    started: datetime | None = None
    ended: datetime | None = None
    orders_sent: int = 0
    fills: int = 0
    errors: int = 0
    start_equity: Money = field(default_factory=Money.zero)
    end_equity: Money = field(default_factory=Money.zero)
    realized: Money = field(default_factory=Money.zero)  # this session's realized P&L
    fees: Money = field(default_factory=Money.zero)  # fees paid in this session
    lifetime_realized: Money = field(default_factory=Money.zero)  # the account's, all runs
    lifetime_fees: Money = field(default_factory=Money.zero)
    open_positions: int = 0
    stop_reason: str = ""
    database: str = ""
    breaker: str = ""  # the circuit breaker's trip reason at the end ("" = not tripped)
    kill_switch: bool = False  # the kill-switch file was present at the last cycle
    failed_cycles: int = 0  # cycles that failed without any market data (issue 19)
    unreachable: str = ""  # why the venue counts as unreachable ("" = it answered)
    last_failure: str = ""  # the first error of the last failed cycle

    @property
    def pnl(self) -> Money:
        """This session's equity change (dollars; + = gain)."""
        return self.end_equity - self.start_equity

    def stop_text(self) -> str:
        """The stop reason naming a tripped breaker or an engaged kill switch."""
        extra = ([f"circuit breaker tripped: {self.breaker}"] if self.breaker else []) + (
            ["kill switch on"] if self.kill_switch else [])
        return "; ".join([self.stop_reason or "stopped", *extra])

    def failure(self) -> KalshibotError | None:
        """The error the session ends with when the exchange could not be reached (exit 4),
        else ``None``: its summary is still printed, then this one line."""
        if not self.unreachable:
            return None
        return ExchangeUnavailableError(
            f"cannot reach the exchange: {self.unreachable}",
            hint="check the network, KALSHIBOT_API_BASE_URL and KALSHIBOT_ENVIRONMENT")

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "venue": self.venue, "strategy": self.strategy,
            "cycles": self.cycles, "started": self.started, "ended": self.ended,
            "orders_sent": self.orders_sent, "fills": self.fills, "errors": self.errors,
            "start_equity": self.start_equity.to_str(), "end_equity": self.end_equity.to_str(),
            "pnl": self.pnl.to_str(), "realized_pnl": self.realized.to_str(),
            "fees": self.fees.to_str(),
            "lifetime_realized_pnl": self.lifetime_realized.to_str(),
            "lifetime_fees": self.lifetime_fees.to_str(), "open_positions": self.open_positions,
            "stop_reason": self.stop_text(), "breaker_tripped": self.breaker or None,
            "kill_switch": self.kill_switch, "database": self.database,
            "failed_cycles": self.failed_cycles, "exchange_unreachable": self.unreachable or None,
        }


class Stopper:
    """Turns SIGTERM (and Ctrl-C) into a polite stop after the current cycle."""

    def __init__(self) -> None:
        self.reason = ""

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.reason = signal.Signals(signum).name

    def install(self) -> None:
        with contextlib.suppress(ValueError):  # not the main thread (tests)
            signal.signal(signal.SIGTERM, self)


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()


def _stored_starting_cash(conn: sqlite3.Connection, default: Money) -> Money:
    """The account's starting cash as first recorded in this store (else ``default``)."""
    raw = kv_get(conn, STARTING_CASH_KEY)
    return Money(Decimal(str(raw))) if raw else default


def close_orphaned_orders(conn: sqlite3.Connection, now: datetime, venue: str) -> int:
    """Mark local resting orders of a *simulated* venue cancelled at start-up.

    Paper and sim orders rest inside the process that placed them; after a crash (or a stop
    with ``cancel_on_exit`` off) the new process's venue has never heard of them. Left open
    locally they count as exposure for ever, and every cycle tries to cancel/re-price them
    at a venue that answers "not found", so the market never trades again."""
    stale = orders_repo.list_orders(conn, statuses=(OrderStatus.RESTING,
                                                     OrderStatus.PARTIALLY_FILLED))
    with atomic(conn):
        for rec in stale:
            orders_repo.update_order(
                conn, rec.client_order_id, now=now, status=OrderStatus.CANCELLED,
                last_error=f"{venue} venue restarted: simulated resting order not restored")
    if stale:
        logging.getLogger("kalshibot.session").warning(
            "%d resting %s order(s) from an earlier process marked cancelled", len(stale), venue)
    return len(stale)


def build_strategy(name: str, *, feed: Any = None, settings: Settings,
                   history: sqlite3.Connection | None = None, clock: Clock | None = None,
                   span: tuple[datetime, datetime] | None = None) -> Strategy:
    """``name`` from the one strategy registry (``kalshibot.strategy.registry``), as
    ``backtest`` builds it; ``span`` marks a replay (sim venue: feeds from ``history``)."""
    from kalshibot.strategy.registry import StrategyContext, build

    return build(name, StrategyContext(history, clock or SystemClock(), settings, feed, span))


def _live_reference(settings: Settings, opts: SessionOptions, clock: Clock, spot: Any,
                    md: Any) -> Any:
    """issue 17: the crypto reference for paper/live: the CF Benchmarks index of each traded
    coin from the WebSocket (when it is up: API keys configured) first, exchange spot polled
    each cycle as the fallback."""
    from functools import partial

    from kalshibot.feeds.index import CF_5HZ_INDEX_IDS, IndexTape, index_for_series
    from kalshibot.feeds.reference import ReferenceConfig, ReferenceFeed

    tape = IndexTape()
    ws = getattr(md, "feed", None)
    if settings.crypto_use_index and ws is not None:
        from kalshibot.ws.channels import record_on_tape

        ids: list[str] = []
        for name in (*opts.series, *opts.tickers):
            with contextlib.suppress(KalshibotError):
                ids.append(index_for_series(name).index_id)
        ids = list(dict.fromkeys(ids))
        ws.on_cf.append(partial(record_on_tape, tape))
        ws.watch_indices(ids)
        if settings.crypto_index_5hz:
            ws.watch_indices([i for i in ids if i in CF_5HZ_INDEX_IDS], hz5=True)
    return ReferenceFeed(spot, tape, clock, ReferenceConfig.from_settings(settings), poll=True)


@dataclass
class Session:
    settings: Settings
    opts: SessionOptions
    clock: Clock
    exchange: Exchange
    engine: Engine
    conn: sqlite3.Connection
    run_id: str
    strategy_name: str
    data: sqlite3.Connection | None = None
    sim_end: datetime | None = None
    on_cycle: Callable[[CycleReport], None] | None = None
    monitor: Any = None  # kalshibot.monitor.trading.TradingMonitor (logs and alerts)
    market_data: Any = None  # kalshibot.ws.marketdata: WsMarketData | RestMarketData

    def _maybe_retrain(self, now: datetime, cycles_done: int, every: int = 60) -> None:
        """Retrain when the current model is older than KALSHIBOT_RETRAIN_INTERVAL_HOURS
        (edge strategy, paper/live only: the sim clock is not the model's clock)."""
        if self.strategy_name != "edge" or isinstance(self.clock, SimClock):
            return
        if cycles_done % every:
            return
        from kalshibot.models import needs_retrain

        if not needs_retrain(self.settings.model_dir, now, self.settings.retrain_interval_hours):
            return
        from kalshibot.cli.train_cmd import train_for_trading

        try:
            train_for_trading(self.settings, series=list(self.opts.series),
                              tickers=list(self.opts.tickers))
            reload = getattr(self.engine.strategy, "reload", None)
            if callable(reload):
                reload(self.settings)
        except KalshibotError as exc:  # keep trading on the old model; say why
            logging.getLogger("kalshibot.session").error("retraining failed: %s", exc)

    def _drain_socket_fills(self) -> None:
        """Fold fills the WebSocket already stored into the engine's portfolio."""
        sink = getattr(self.market_data, "fill_sink", None)
        if sink is not None:
            self.engine.apply_fills(sink.drain_new())

    # --- construction --------------------------------------------------------------------
    @classmethod
    def create(cls, settings: Settings, opts: SessionOptions) -> Session:
        if opts.exchange not in VENUES:
            raise UserInputError(f"unknown --exchange {opts.exchange!r} "
                                 f"(choose from {', '.join(VENUES)})")
        strategy_name = opts.strategy or settings.strategy
        if strategy_name not in STRATEGIES:
            raise UserInputError(f"unknown --strategy {strategy_name!r} "
                                 f"(choose from {', '.join(STRATEGIES)})")
        if opts.exchange == "kalshi" or opts.live:
            # The CLI asked the person already (``confirmed``); here the gate is re-checked so
            # that no caller reaches a real order without every piece of the checklist.
            check_live_gate(settings, venue=opts.exchange, live_flag=opts.live,
                            yes=opts.confirmed, confirm=None)
        # One writer per database: taken before anything is read, written or requested.
        acquire_writer_lock(cls.state_path(settings, opts), command_line())
        run_id = f"{opts.exchange}-{uuid.uuid4().hex[:12]}"
        if opts.exchange == "sim":
            sess = cls._create_sim(settings, opts, run_id, strategy_name)
        else:
            sess = cls._create_connected(settings, opts, run_id, strategy_name)
        try:
            sess.attach_monitor()
        except BaseException as exc:
            sess.abort(exc)
            raise
        return sess

    @staticmethod
    def state_path(settings: Settings, opts: SessionOptions) -> Path:
        """The database the session writes: the sim state store, else the mode's database."""
        if opts.exchange == "sim":
            return opts.state_db or settings.data_dir / "sim.sqlite"
        return settings.database_path

    def abort(self, exc: BaseException) -> None:
        """The session failed before its loop: end the recorded run with the reason, so
        ``status`` says "not running (failed at start: ...)" instead of "running"."""
        reason = f"failed at start: {exc}" if str(exc) else f"failed at start: {exc!r}"
        # the store itself may be what failed: then there is nothing more to record
        with contextlib.suppress(Exception), atomic(self.conn):
            end_run(self.conn, self.run_id, now=self.clock.now(), reason=reason[:500])
        close = getattr(self.market_data, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

    def attach_monitor(self) -> None:
        """JSON-lines logs and alerts for this run (``kalshibot.monitor``), from settings."""
        from kalshibot.monitor.trading import TradingMonitor

        try:
            self.monitor = TradingMonitor.from_settings(self.settings, clock=self.clock,
                                                        run_id=self.run_id, console=False)
        except OSError as exc:
            raise ConfigError(f"cannot write logs under {self.settings.log_dir}: {exc.strerror}",
                              hint="set KALSHIBOT_LOG_DIR to a writable folder") from exc
        self.engine.monitor = self.monitor

    @classmethod
    def _create_sim(cls, settings: Settings, opts: SessionOptions, run_id: str,
                    strategy_name: str) -> Session:
        from kalshibot.sim.exchange import open_sim_venue

        data_path = settings.database_path
        if not data_path.exists():
            raise UserInputError(f"no market data at {data_path}",
                                 hint="run `kalshibot data sample` (or `data import`) first")
        data = connect(data_path, read_only=True)
        state_path = cls.state_path(settings, opts)
        if state_path.resolve() == data_path.resolve():
            raise UserInputError("the sim state database must differ from the market-data one")
        if opts.fresh:
            _remove_db(state_path)
        conn = connect(state_path)
        start_raw = kv_get(conn, SIM_CLOCK_KEY)
        starting = Money(settings.paper_starting_balance)
        account = SimAccount(starting, prefix=f"sim{run_id[-6:]}",
                             direct_member=settings.direct_member)
        # Orders reach the simulated venue 1 s after the decision, as in `backtest`.
        ex, span = open_sim_venue(
            data, account, series=opts.series, tickers=opts.tickers,
            hint="check --series / --tickers or run `kalshibot data sample`",
            latency=timedelta(seconds=1))
        if opts.start is not None:
            start = opts.start
            if start_raw and start < (saved := datetime.fromisoformat(str(start_raw))):
                # Moving the account's clock back would replay fills and settlements.
                conn.close()
                data.close()
                raise UserInputError(
                    f"--start {start:%Y-%m-%d %H:%M}Z is before the sim account's clock "
                    f"({saved:%Y-%m-%d %H:%M}Z); the clock never moves back",
                    hint="use --fresh to start a new sim account at --start")
        elif start_raw:
            start = datetime.fromisoformat(str(start_raw))
        else:
            start = span[0] + timedelta(minutes=30)  # some history for volatility and features
        if start >= span[1]:
            raise UserInputError(f"the sim clock {start:%Y-%m-%d %H:%M}Z is past the end of the "
                                 f"stored data ({span[1]:%Y-%m-%d %H:%M}Z)",
                                 hint="use --fresh to start over, or --start")
        clock = SimClock(start)
        ex.clock = clock
        ex.restore(fills_repo.list_fills(conn), settlements_repo.list_settlements(conn), [],
                   _stored_starting_cash(conn, starting))
        close_orphaned_orders(conn, clock.now(), "sim")
        # crypto/edge: spot (and index) feeds replayed from the data store on this clock
        strategy = build_strategy(strategy_name, settings=settings, history=data, clock=clock,
                                  span=(start, span[1]))
        engine = cls._engine(settings, opts, conn, ex, strategy, run_id, starting, clock,
                             record_books=False)
        return cls(settings, opts, clock, ex, engine, conn, run_id, strategy_name, data, span[1])

    @classmethod
    def _create_connected(cls, settings: Settings, opts: SessionOptions, run_id: str,
                          strategy_name: str) -> Session:
        from kalshibot.kalshi.exchange import KalshiExchange

        clock = SystemClock()
        if opts.live:
            if not settings.is_live:
                raise ConfigError("--live needs KALSHIBOT_MODE=live in the configuration",
                                  hint="run `kalshibot config --validate`")
            if not opts.series and not opts.tickers:
                raise UserInputError("say what to trade: --tickers T1,T2 and/or --series KXBTC15M")
        elif not opts.series and not opts.tickers:
            raise UserInputError("say what to trade: --tickers T1,T2 and/or --series KXBTC15M")
        from kalshibot.sim.paper import PaperExchange
        from kalshibot.ws.marketdata import WsExchange, build_market_data

        paper: PaperExchange | None = None
        if opts.live:
            if settings.private_key_path is not None:  # e.g. permissions wider than 0600
                from kalshibot.config import check_key_file

                problems = check_key_file(settings.private_key_path,
                                          settings.private_key_password)
                if problems:
                    raise ConfigError(problems[0], hint="live mode refuses an unsafe key file")
            rest = KalshiExchange.from_settings(settings, clock)
            rest.check_clock(settings.max_clock_skew_s)
            # Books (and our fills/orders) stream over the WebSocket; REST is the fallback.
            md = build_market_data(settings, clock, rest, account=rest,
                                   db_path=settings.database_path,
                                   prefer_ws=settings.websocket, start=False)
            ex: Exchange = WsExchange(rest, md)
            # The account's cash when the live database starts (kept on later runs): without
            # it equity is $0 and Kelly sizing never proposes an order.
            starting: Money | None = rest.get_balance().cash
        else:
            public = KalshiExchange.from_settings(settings, clock, public_only=True)
            # WebSocket books when keys are configured, else REST polling of public data.
            md = build_market_data(settings, clock, public, prefer_ws=settings.websocket,
                                   start=False)
            paper_cash = Money(settings.paper_starting_balance)
            starting = paper_cash
            account = SimAccount(paper_cash, prefix=f"paper{run_id[-6:]}",
                                 direct_member=settings.direct_member)
            paper = PaperExchange(md, clock, account)
            ex = paper
        conn = connect(settings.database_path)
        if paper is not None:  # the simulated account lives in this process: rebuild it
            paper.restore(fills_repo.list_fills(conn), settlements_repo.list_settlements(conn),
                          _stored_starting_cash(conn, paper_cash))
            close_orphaned_orders(conn, clock.now(), "paper")
        feed: Any = None
        if strategy_name in ("crypto", "edge"):
            import requests

            from kalshibot.feeds import CoinbaseSpotSource, KrakenSpotSource, SpotFeed

            http = requests.Session()
            feed = SpotFeed([CoinbaseSpotSource(http, clock), KrakenSpotSource(http, clock)],
                            clock)
            if strategy_name == "crypto":
                feed = _live_reference(settings, opts, clock, feed, md)
        strategy = build_strategy(strategy_name, feed=feed, settings=settings, history=conn,
                                  clock=clock)
        engine = cls._engine(settings, opts, conn, ex, strategy, run_id, starting, clock,
                             record_books=True)
        # Only now that the engine holds the stored portfolio may socket fills arrive (each
        # fill id is applied once anyway: ``Engine.apply_fills``).
        ws_feed = getattr(md, "feed", None)
        if ws_feed is not None:
            ws_feed.start()
        sess = cls(settings, opts, clock, ex, engine, conn, run_id, strategy_name)
        sess.market_data = md
        return sess

    @staticmethod
    def _engine(settings: Settings, opts: SessionOptions, conn: sqlite3.Connection,
                ex: Exchange, strategy: Strategy, run_id: str, starting: Money | None,
                clock: Clock, *, record_books: bool) -> Engine:
        params = StrategyParams(min_edge=Decimal(str(settings.min_edge)),
                                kelly_fraction=Decimal(str(settings.kelly_fraction)),
                                adverse_selection=Decimal(str(settings.adverse_selection)),
                                direct_member=settings.direct_member)
        cfg = EngineConfig(run_id, series=tuple(opts.series), tickers=tuple(opts.tickers),
                           kill_switch_path=settings.kill_switch_file, record_books=record_books,
                           durable_orders=opts.live)
        now = clock.now()
        with atomic(conn):
            start_run(conn, run_id, mode="live" if opts.live else "paper",
                      exchange=opts.exchange, now=now,
                      config={"strategy": strategy.name, "series": list(opts.series),
                              "tickers": list(opts.tickers)})
        return Engine(conn=conn, exchange=ex, strategy=strategy, params=params,
                      risk=RiskManager(RiskLimits.from_settings(settings)), config=cfg,
                      starting_cash=starting, now=now)

    # --- the loop ------------------------------------------------------------------------
    def run(self, stopper: Stopper | None = None) -> SessionSummary:
        stopper = stopper or Stopper()
        interval = self.opts.interval_s or self.settings.trading_interval_s
        started = self.clock.now()
        s = SessionSummary(self.run_id, self.opts.exchange, self.strategy_name, started=started,
                           database=str(self.conn.execute("PRAGMA database_list").fetchone()[2]))
        if self.monitor is not None:
            self.monitor.on_run_start(venue=self.opts.exchange, strategy=self.strategy_name,
                                      mode="live" if self.opts.live else "paper", now=started,
                                      database=s.database)
        try:
            mismatches = self.engine.start(started)
        except BaseException as exc:
            self.abort(exc)
            raise
        if mismatches:
            s.stop_reason = "reconciliation mismatch (entries blocked)"
        self.engine.mark_positions(started)
        s.start_equity = self.engine.equity()
        base_realized = self.engine.portfolio.realized_pnl()
        base_fees = self.engine.portfolio.fees_paid()
        deadline = (started + timedelta(seconds=self.opts.duration_s)
                    if self.opts.duration_s else None)
        streak = 0  # cycles in a row that failed without any market data
        try:
            while True:
                now = self.clock.now()
                self._drain_socket_fills()
                self._maybe_retrain(now, s.cycles)
                report = self.engine.run_cycle(now)
                s.cycles += 1
                s.orders_sent += report.orders_sent
                s.fills += report.fills
                s.errors += len(report.errors)
                s.breaker = "" if report.breaker == "ok" else report.breaker
                s.kill_switch = report.kill_switch
                streak = self._count_failure(s, report, streak)
                if self.on_cycle is not None:
                    self.on_cycle(report)
                if isinstance(self.clock, SimClock):
                    with atomic(self.conn):
                        kv_set(self.conn, SIM_CLOCK_KEY, now.isoformat(), now=now)
                if stopper.reason:
                    s.stop_reason = stopper.reason
                    break
                limit = self.settings.max_failed_cycles
                if limit and streak >= limit and self.sim_end is None and \
                        not self._rides_out_outage(s):
                    s.stop_reason = f"{streak} cycles in a row failed without market data"
                    s.unreachable = f"{s.stop_reason}; last: {s.last_failure}"
                    break
                if self.opts.max_cycles and s.cycles >= self.opts.max_cycles:
                    s.stop_reason = f"{s.cycles} cycles done"
                    break
                if deadline is not None and now >= deadline:
                    s.stop_reason = "duration reached"
                    break
                if self.sim_end is not None and now >= self.sim_end:
                    s.stop_reason = "end of stored data"
                    break
                self.clock.sleep(interval)
        except KeyboardInterrupt:
            s.stop_reason = "interrupted (Ctrl-C)"
        finally:
            self._finish(s, base_realized, base_fees)
        return s

    def _rides_out_outage(self, s: SessionSummary) -> bool:
        """A live session that has reached the exchange keeps retrying through an outage:
        stopping would strand its resting orders, which it can cancel only once the exchange
        answers again (paper sessions and a live session that never connected stop)."""
        return self.opts.live and s.failed_cycles < s.cycles

    @staticmethod
    def _count_failure(s: SessionSummary, report: CycleReport, streak: int) -> int:
        """Count ``report`` as failed when it has errors and priced no market (no books, no
        markets: the venue did not answer); return the new streak of failed cycles."""
        if report.errors and not report.rows:
            s.failed_cycles += 1
            s.last_failure = report.errors[0]
            return streak + 1
        return 0

    def _finish(self, s: SessionSummary, base_realized: Money, base_fees: Money) -> None:
        now = self.clock.now()
        if not s.unreachable and self.sim_end is None and s.cycles and \
                s.failed_cycles == s.cycles:
            # stopped (--max-cycles, --duration, Ctrl-C) before the limit, never connected
            s.stop_reason = f"{s.stop_reason or 'stopped'}; every cycle failed"
            s.unreachable = (f"all {s.cycles} cycles failed without market data; "
                             f"last: {s.last_failure}")
        eng = self.engine
        self._drain_socket_fills()
        if self.settings.cancel_on_exit:
            eng.orders.cancel_all(now, "session end")
        try:
            eng.apply_fills(eng.orders.sync_fills(now))
        except Exception as exc:  # the session is ending: record, never mask the real stop
            s.errors += 1
            s.stop_reason += f" (final fill sync failed: {exc})"
        s.end_equity = eng.equity()
        s.lifetime_realized = eng.portfolio.realized_pnl()
        s.lifetime_fees = eng.portfolio.fees_paid()
        s.realized = s.lifetime_realized - base_realized
        s.fees = s.lifetime_fees - base_fees
        s.open_positions = len(eng.portfolio.open_positions())
        s.ended = now
        with atomic(self.conn):
            heartbeat(self.conn, Heartbeat(self.run_id, now, eng.cycle + 1, 0, 0, 0, 0,
                                           f"stopped: {s.stop_text()}"))
            end_run(self.conn, self.run_id, now=now, reason=s.stop_text())
        if self.monitor is not None:
            self.monitor.on_run_end(s.as_dict())
        close = getattr(self.market_data, "close", None)
        if callable(close):
            close()
