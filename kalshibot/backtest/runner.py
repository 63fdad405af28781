"""The backtest runner: ``Engine.run_cycle`` over stored history, one fresh state store per run.

For each strategy: a ``SimClock``, a ``SimAccount`` with the chosen fill model, a ``SimExchange``
over the read-only market-data store (markets selected by series/tickers and close time), and
an ``Engine`` writing into its own in-memory (or temporary file) state store, exactly as
``trade --exchange sim`` wires them. The clock steps by ``interval_s`` from the first selected
market's open to the last close plus the settle delay. Decisions are taken at cycle time ``t``;
orders reach the simulated venue at ``t + latency_s`` and fill against the book at that time.

Engine settings for replays: discovery every cycle (free against the sim), no reconciliation
(a simulated venue cannot disagree with itself), no kill-switch file.

Results: fills, orders and settlements read back from the state store; decisions and equity
points streamed from it on demand (``results.StoredRows``: the store stays open while the
``StrategyRun`` is referenced, so memory does not grow with the length of the run); the
unsettled positions marked at the last recorded mid (reported as such). Money is exact
(``Money``/``Decimal``, dollars).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from kalshibot.backtest.config import BacktestConfig
from kalshibot.backtest.fastpath import screen_for
from kalshibot.backtest.planner import SkipPlanner
from kalshibot.backtest.probe import MemoStrategy, ProbePlanner
from kalshibot.backtest.results import RunStore, StoredRows, counter
from kalshibot.clock import SimClock
from kalshibot.config import Settings
from kalshibot.domain.market import Market, Result, Settlement
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Fill
from kalshibot.engine import Engine, EngineConfig
from kalshibot.errors import UserInputError
from kalshibot.risk import RiskLimits, RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.sim.exchange import open_sim_venue
from kalshibot.store import fills as fills_repo
from kalshibot.store import settlements as settlements_repo
from kalshibot.store.books import book_at
from kalshibot.store.connection import atomic, connect
from kalshibot.store.decisions import Decision, iter_decisions
from kalshibot.store.equity import EquityPoint, iter_equity
from kalshibot.store.orders import OrderRecord, list_orders
from kalshibot.store.runs import start_run
from kalshibot.strategy.base import StrategyParams
from kalshibot.strategy.registry import StrategyContext, build

MAX_BOOK_AGE = timedelta(minutes=5)  # fallback when the data has too few snapshots to measure
NO_CURRENT_BOOK = "no current order book"  # the engine's decision reason (engine.py)


#: At most this many markets, spread evenly over the selection, measure its median recording
#: interval (hundreds of thousands of gaps: the median is settled long before; a year of a
#: 15-minute series is 35k markets, whose full read cost a twentieth of a backtest).
MEDIAN_SAMPLE_MARKETS = 2048


def median_interval(data: sqlite3.Connection, tickers: list[str], batch: int = 512,
                    sample: int = MEDIAN_SAMPLE_MARKETS) -> timedelta | None:
    """The median time between consecutive recorded snapshots of the same market (None:
    fewer than two snapshots of any market), over ``tickers`` or, when there are more than
    ``sample``, over ``sample`` of them spread evenly through the list (the selection is in
    close-time order, so the sample spans the whole period and every series in proportion).
    Markets are read ``batch`` at a time and their gaps tallied by value (a recording has
    few distinct intervals), so memory does not grow with the number of snapshots."""
    if len(tickers) > sample:
        tickers = [tickers[i * len(tickers) // sample] for i in range(sample)]
    tally: Counter[int] = Counter()
    for i in range(0, len(tickers), batch):
        counts: list[int] = []
        texts: list[str] = []
        for t in tickers[i:i + batch]:
            n, text = data.execute("SELECT count(*), group_concat(ts) FROM book_snapshots "
                                   "WHERE ticker = ?", (t,)).fetchone()
            if n:
                counts.append(n)
                texts.append(text)
        if not texts:
            continue
        ts = np.fromstring(",".join(texts), dtype=np.int64, sep=",")
        seg = np.repeat(np.arange(len(counts)), counts)  # the market of each snapshot
        ts = ts[np.lexsort((ts, seg))]
        gaps = np.diff(ts)
        values, n_gaps = np.unique(gaps[(seg[1:] == seg[:-1]) & (gaps > 0)], return_counts=True)
        tally.update(dict(zip(values.tolist(), n_gaps.tolist(), strict=True)))
    half = sum(tally.values()) // 2
    seen = 0
    for gap in sorted(tally):  # the element at index len // 2 of the sorted gaps
        seen += tally[gap]
        if seen > half:
            return timedelta(milliseconds=gap)
    return None


def book_age_limit(cfg: BacktestConfig, data: sqlite3.Connection,
                   tickers: list[str]) -> timedelta:
    """How old a recorded book may be when an order arrives and still be traded against:
    ``cfg.max_book_age_s`` seconds, else twice the data's median recording interval."""
    if cfg.max_book_age_s is not None:
        return timedelta(seconds=cfg.max_book_age_s)
    med = median_interval(data, tickers)
    return MAX_BOOK_AGE if med is None else 2 * med


@dataclass
class MarketInfo:
    """What reports need about a market: series, close time (UTC), recorded result."""

    ticker: str
    series: str
    close_time: datetime
    result: Result


@dataclass
class Unsettled:
    """An open position at the end of the data, marked at the last recorded YES mid."""

    ticker: str
    qty: Count  # + YES, - NO contracts
    cost: Money  # dollars paid for the contracts held
    mark: Price | None  # last YES mid (None: no two-sided book was ever recorded)
    value: Money  # marked value in dollars (cost when no mark)


@dataclass
class StrategyRun:
    strategy: str
    run_id: str
    starting_cash: Money
    fills: list[Fill]
    orders: list[OrderRecord]
    decisions: Sequence[Decision]  # streamed from the run's store (results.StoredRows)
    equity: Sequence[EquityPoint]  # likewise
    settlements: list[Settlement]
    markets: dict[str, MarketInfo]
    unsettled: list[Unsettled]
    final_equity: Money
    cycles_run: int = 0
    cycles_skipped: int = 0
    snapshots: int = 0  # order-book snapshots of the selected markets
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    span: tuple[datetime, datetime] | None = None  # simulated clock: first and last cycle
    max_book_age: timedelta = MAX_BOOK_AGE  # the limit used (see book_age_limit)
    fill_book_age: dict[str, float] = field(default_factory=dict)  # fill id -> book age, s
    in_sample: str | None = None  # why the run is in-sample (None: out of sample)

    @property
    def no_current_book(self) -> int:
        """Decisions skipped because no book recorded within the age limit existed."""
        if isinstance(self.decisions, StoredRows):
            conn = self.decisions.store.conn
            return int(conn.execute("SELECT count(*) FROM decisions WHERE run_id = ? AND "
                                    "reason = ?", (self.run_id, NO_CURRENT_BOOK)).fetchone()[0])
        return sum(1 for d in self.decisions if d.reason == NO_CURRENT_BOOK)


def _settings(cfg: BacktestConfig) -> Settings:
    """A backtest's settings: the trader's (``cfg.settings``, as ``trade`` uses them), else
    the built-in defaults (no environment, no .env file)."""
    if cfg.settings is not None:
        return cfg.settings
    from kalshibot.config import load_settings

    return load_settings(env={}, dotenv_file=None)


def risk_limits(cfg: BacktestConfig) -> RiskLimits:
    """The risk limits of ``cfg``'s settings, with ``cfg.limits`` overrides (sweeps)."""
    limits = RiskLimits.from_settings(_settings(cfg))
    if cfg.limits:
        from dataclasses import fields, replace

        kinds = {f.name: f for f in fields(RiskLimits)}
        over: dict[str, Any] = {}
        for k, v in cfg.limits.items():
            if k not in kinds:
                raise UserInputError(f"unknown risk limit {k!r} (known: {', '.join(kinds)})")
            cur = getattr(limits, k)
            over[k] = (Money(Decimal(v)) if isinstance(cur, Money) else
                       Count(Decimal(v)) if isinstance(cur, Count) else type(cur)(v))
        limits = replace(limits, **over)
    return limits


def open_data(data: Path | str | sqlite3.Connection) -> sqlite3.Connection:
    if isinstance(data, sqlite3.Connection):
        return data
    p = Path(data)
    if not p.exists():
        raise UserInputError(f"no market data at {p}",
                             hint="run `kalshibot data sample` or `kalshibot data import` first")
    return connect(p, read_only=True)


def _engine_params(cfg: BacktestConfig) -> tuple[StrategyParams, dict[str, str]]:
    """Split engine-level parameters (min_edge, kelly_fraction, adverse_selection, allow_*)
    from strategy ones."""
    rest = dict(cfg.params)
    kw: dict[str, Any] = {"min_edge": cfg.min_edge, "kelly_fraction": cfg.kelly_fraction,
                          "adverse_selection": cfg.adverse_selection,
                          "direct_member": cfg.direct_member}
    for k in ("min_edge", "kelly_fraction", "adverse_selection"):
        if k in rest:
            kw[k] = Decimal(rest.pop(k))
    for k in ("allow_taker", "allow_passive", "exit_on_reversal"):
        if k in rest:
            kw[k] = rest.pop(k).lower() in ("1", "true", "yes", "on")
    return StrategyParams(**kw), rest


def _last_mid(data: sqlite3.Connection, ticker: str, at: datetime) -> Price | None:
    b = book_at(data, ticker, at)
    if b is not None:
        m = b.mid()
        if m is not None:
            return m
    row = data.execute("SELECT yes_bid, yes_ask FROM book_snapshots WHERE ticker = ? AND ts <= ?"
                       " AND yes_bid IS NOT NULL AND yes_ask IS NOT NULL ORDER BY ts DESC "
                       "LIMIT 1", (ticker, int(at.timestamp() * 1000))).fetchone()
    if row is None:
        return None
    return Price(Decimal(row[0] + row[1]) / 20000)


#: Optional progress hook ``(strategy, cycles done, cycles in all)``, set by the CLI for its
#: progress bar (``None``: no reporting). A context variable, so no signature changes.
PROGRESS: ContextVar[Callable[[str, int, int], None] | None] = ContextVar(
    "backtest_progress", default=None)


def _state_store(path: Path, run_id: str, name: str, cfg: BacktestConfig,
                 t0: datetime) -> sqlite3.Connection:
    """The run's own store, with its run started. A file, not ``:memory:``, so a long
    backtest's decisions and equity rows live on disk (SQLite's page cache stays small)."""
    conn = connect(path)
    conn.execute("PRAGMA synchronous = OFF")  # a replay's store: a crash loses the run anyway
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # no other reader while it runs
    with atomic(conn):
        start_run(conn, run_id, mode="backtest", exchange="sim", now=t0,
                  config={"strategy": name, "params": dict(cfg.params)})
    return conn


def run_strategy(cfg: BacktestConfig, name: str, data: sqlite3.Connection, *,
                 end_at: datetime | None = None, state_path: Path | None = None) -> StrategyRun:
    """Backtest one strategy. ``end_at`` stops the clock early (lookahead checks)."""
    t_start = time.perf_counter()
    cfg.validate()
    params, strat_params = _engine_params(cfg)
    fm = cfg.fill
    run_id = f"bt-{name}"
    account = SimAccount(Money(cfg.starting_cash), prefix=run_id, trade_through=fm.trade_through,
                         queue_front=fm.queue_front, taker_fee_always=fm.taker_fee_always,
                         direct_member=cfg.direct_member)
    settle = timedelta(seconds=cfg.settle_delay_s)
    ex, span = open_sim_venue(
        data, account, series=cfg.series, tickers=cfg.tickers,
        hint="check --series/--tickers/--from/--to", settle_delay=settle,
        latency=timedelta(seconds=cfg.latency_s),
        unknown_size=None if fm.unknown_size is None else Count(fm.unknown_size),
        since=cfg.start, until=cfg.end)
    markets = ex.selected_markets()
    max_age = book_age_limit(cfg, data, [m.ticker for m in markets])
    ex.max_book_age = max_age
    t0 = span[0]
    clock = SimClock(t0)
    ex.clock = clock
    interval = timedelta(seconds=cfg.interval_s)
    t_last = span[1] + settle + interval
    if end_at is not None:
        t_last = min(t_last, end_at)
    n_cycles = int((t_last - t0) / interval) + 1
    ctx = StrategyContext(data, clock, _settings(cfg), span=span,
                          tickers=tuple(m.ticker for m in markets), backtest=cfg)
    strategy = build(name, ctx, strat_params)
    screen = None
    if cfg.fast:
        screen = screen_for(strategy, params, data, markets, t0, interval, n_cycles,
                            max_book_age=max_age, unknown_size=fm.unknown_size is not None)
    # without a screen, the fast path probes the strategy cycle by cycle (event-driven)
    memo = MemoStrategy(strategy) if cfg.fast and screen is None else None
    tmp = None
    if state_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="kalshibot-backtest-")
        state_path = Path(tmp.name) / "state.sqlite"
    conn = _state_store(state_path, run_id, name, cfg, t0)
    engine = Engine(conn=conn, exchange=ex, strategy=memo or strategy, params=params,
                    risk=RiskManager(risk_limits(cfg)),
                    config=EngineConfig(run_id, discover_every=1, reconcile_every=1 << 40,
                                        kill_switch_path=None,
                                        fractional=False),
                    starting_cash=Money(cfg.starting_cash), now=t0)
    engine.start(t0)
    planner: SkipPlanner | ProbePlanner | None = None
    if screen is not None:
        planner = SkipPlanner(screen, account=account, engine=engine, venue=ex,
                              markets=markets, conn=conn, clock=clock, t0=t0,
                              interval=interval, settle=settle)
    elif memo is not None:
        planner = ProbePlanner(memo, params, account=account, engine=engine, venue=ex,
                               markets=markets, conn=conn, clock=clock, t0=t0,
                               interval=interval, settle=settle, n_cycles=n_cycles)
    run = skipped = 0
    errors: list[str] = []
    k = 0
    release_every = max(1, int(timedelta(hours=6) / interval))
    next_release = release_every
    report = PROGRESS.get()
    while k < n_cycles:
        if report is not None:
            report(name, k, n_cycles)
        now = t0 + k * interval
        nk = k if planner is None else planner.skip_to(k, now)
        if nk > k:
            skipped += nk - k
            k = nk
            continue
        clock.set(now)
        if planner is not None:
            planner.before_full_cycle(k)
        rep = engine.run_cycle(now)
        if planner is not None:
            planner.full_cycle_ran(k)
        errors += [f"{now:%Y-%m-%d %H:%M:%S}Z {e}" for e in rep.errors]
        run += 1
        if k >= next_release:
            ex.release_closed(now, orders_before=now - timedelta(hours=6))
            next_release = k + release_every
        k += 1
    end = t0 + (n_cycles - 1) * interval
    if clock.now() < end:
        clock.set(end)
    snapshots = screen.snapshots if screen is not None else _count_snapshots(data, markets)
    out = _collect(cfg, name, run_id, RunStore(conn, tmp), data, engine, markets, end)
    out.max_book_age = max_age
    out.in_sample = getattr(strategy, "in_sample", None)
    out.cycles_run, out.cycles_skipped, out.snapshots = run, skipped, snapshots
    out.errors = errors
    out.params = dict(cfg.params)
    out.span = (t0, end)
    out.seconds = time.perf_counter() - t_start
    return out


def _count_snapshots(data: sqlite3.Connection, markets: list[Market]) -> int:
    n = 0
    for m in markets:
        n += data.execute("SELECT count(*) FROM book_snapshots WHERE ticker = ?",
                          (m.ticker,)).fetchone()[0]
    return n


def _collect(cfg: BacktestConfig, name: str, run_id: str, store: RunStore,
             data: sqlite3.Connection, engine: Engine, markets: list[Market], end: datetime
             ) -> StrategyRun:
    conn = store.conn
    fills = fills_repo.list_fills(conn)
    orders = list_orders(conn)
    decisions = StoredRows(store, lambda c: iter_decisions(c, run_id),
                           counter("SELECT count(*) FROM decisions WHERE run_id = ?", run_id))
    equity = StoredRows(store, lambda c: iter_equity(c, run_id),
                        counter("SELECT count(*) FROM equity WHERE run_id = ?", run_id))
    setts = settlements_repo.list_settlements(conn)
    info = {m.ticker: MarketInfo(m.ticker, m.series_ticker, m.close_time, m.result)
            for m in markets}
    unsettled: list[Unsettled] = []
    value = engine.portfolio.cash
    for p in engine.portfolio.open_positions():
        mark = _last_mid(data, p.ticker, end)
        v = p.market_value(mark) if mark is not None else p.cost
        value = value + v
        unsettled.append(Unsettled(p.ticker, p.qty, p.cost, mark, v))
    warnings: list[str] = []
    if unsettled:
        warnings.append(f"{len(unsettled)} position(s) not settled by the end of the data: "
                        "marked at the last recorded mid (see 'unsettled')")
    ages: dict[str, float] = {}
    for f in fills:
        row = data.execute("SELECT max(ts) FROM book_snapshots WHERE ticker = ? AND ts <= ?",
                           (f.ticker, int(f.ts.timestamp() * 1000))).fetchone()
        if row is not None and row[0] is not None:
            ages[f.fill_id] = (int(f.ts.timestamp() * 1000) - row[0]) / 1000
    return StrategyRun(name, run_id, Money(cfg.starting_cash), fills, orders, decisions, equity,
                       setts, info, unsettled, value, warnings=warnings, fill_book_age=ages)


@dataclass
class BacktestResult:
    config: BacktestConfig
    runs: list[StrategyRun]

    def run(self, strategy: str) -> StrategyRun:
        return next(r for r in self.runs if r.strategy == strategy)


def run_backtest(cfg: BacktestConfig, data: sqlite3.Connection | None = None) -> BacktestResult:
    """Every strategy of ``cfg`` over the same data, each with a fresh state store."""
    cfg.validate()
    conn = data if data is not None else open_data(cfg.data)
    try:
        runs = []
        for i, name in enumerate(cfg.strategies):
            state = None
            if cfg.state_dir is not None:
                Path(cfg.state_dir).mkdir(parents=True, exist_ok=True)
                state = Path(cfg.state_dir) / f"backtest-{i}-{name}.sqlite"
                for suffix in ("", "-wal", "-shm"):
                    Path(str(state) + suffix).unlink(missing_ok=True)
            runs.append(run_strategy(cfg, name, conn, state_path=state))
    finally:
        if data is None:
            conn.close()
    return BacktestResult(cfg, runs)
