"""`kalshibot data ...`: fill the store with market data.

- ``data import``: CSV/parquet files in documented layouts, or known dataset folders
  (README: "kalshibot data import").
- ``data sample``: a seeded synthetic dataset (``kalshibot.sim.sample``).
- ``data sync``: download markets/events/series/candles/trades/settlements from Kalshi
  (``kalshibot.ingest.sync``; README: "kalshibot data sync").
- ``data record``: poll live order books and spot prices (``kalshibot.ingest.record``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kalshibot.cli.context import console, err_console, lock_for_writing, settings
from kalshibot.cli.options import parse_when, positive_seconds, split_list
from kalshibot.cli.render import print_json, print_table
from kalshibot.clock import Clock, SystemClock
from kalshibot.errors import UserInputError
from kalshibot.feeds.types import SpotFeedLike
from kalshibot.ingest.record import RecordReport
from kalshibot.ingest.spot import SpotSyncReport
from kalshibot.ingest.sync import SyncProgress, SyncReport
from kalshibot.kalshi.endpoints.client import KalshiClient

data_app = typer.Typer(
    name="data", help="Fill the SQLite store: import files, generate a sample dataset, "
    "sync from Kalshi, record live books.",
    no_args_is_help=True,
)

MAX_ISSUES_SHOWN = 20


def _db(db: Path | None) -> Path:
    """The database a data command writes (``--db`` or the configured one), after the
    start-up check of the settings (exit 3 on an invalid one), with its writer lock taken."""
    s = settings()
    return lock_for_writing(db if db is not None else s.database_path)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                    console=console, transient=True)


@data_app.command("import")
def import_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or dataset folders to import."),
    layout: str | None = typer.Option(
        None, "--layout", "-l",
        help="Generic layout: markets | quotes | trades | spot | prices (default: detect "
             "known datasets, else from the header)."),
    source: str | None = typer.Option(None, "--source", help="Spot/prices source name when the "
                                      "file has no 'source' column."),
    symbol: str | None = typer.Option(None, "--symbol", help="Spot symbol when the file has no "
                                      "'symbol' column."),
    bar_seconds: int = typer.Option(0, "--bar-seconds", help="Bar length for spot bars given by "
                                    "open_time (stored at the bar end)."),
    strict: bool = typer.Option(False, "--strict", help="Abort a file on its first bad row "
                                "(default: store the good rows and report the bad ones)."),
    db: Path | None = typer.Option(None, "--db", help="Database file (default: KALSHIBOT_DB_PATH, else by mode)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Import CSV/parquet files or known dataset folders into the store (idempotent)."""
    from kalshibot.importers import import_dataset, import_file, is_dataset
    from kalshibot.store import open_store

    for p in paths:
        if not p.exists():
            raise UserInputError(f"{p}: no such file or folder")
    conn = open_store(_db(db))
    now = datetime.now(UTC)
    reports = []
    try:
        with _progress() as prog:
            for p in paths:
                task = prog.add_task(f"importing {p.name}", total=None)

                def tick(n: int, task: TaskID = task) -> None:
                    prog.advance(task, n)  # noqa: B023

                if layout is None and is_dataset(p):
                    reports += import_dataset(conn, p, now=now, strict=strict, tick=tick)
                else:
                    reports.append(import_file(conn, p, layout=layout, source=source,
                                               symbol=symbol, bar_seconds=bar_seconds,
                                               strict=strict, now=now, tick=tick))
                prog.remove_task(task)
    finally:
        conn.close()
    issues = [i for r in reports for i in r.issues]
    if as_json:
        print_json({"reports": [{"file": r.name, "layout": r.layout, "rows_read": r.rows_read,
                                 "written": r.written, "skipped": r.skipped,
                                 "bad_rows": [str(i) for i in r.issues]} for r in reports]})
        return
    print_table("import summary", ["file", "layout", "rows read", "new rows", "skipped",
                                   "bad rows"],
                [(r.name, r.layout, f"{r.rows_read:,}",
                  ", ".join(f"{t} {n:,}" for t, n in r.written.items()) or "-",
                  ", ".join(f"{k}: {n:,}" for k, n in r.skipped.items()) or "-",
                  len(r.issues)) for r in reports])
    if issues:
        console.print(f"[yellow]{len(issues)} bad row(s) not stored[/yellow]"
                      + (f" (first {MAX_ISSUES_SHOWN})" if len(issues) > MAX_ISSUES_SHOWN else ""))
        for i in issues[:MAX_ISSUES_SHOWN]:
            console.print(f"  {i}", highlight=False, soft_wrap=True)


@data_app.command("sample")
def sample_cmd(
    days: float = typer.Option(3.0, "--days", help="Days of history to generate."),
    seed: int = typer.Option(7, "--seed", help="Random seed (same seed + --end = same data)."),
    series: list[str] = typer.Option(
        ["KXBTC15M", "KXETH15M", "KXHIGHNY"], "--series",
        help="Series to generate (repeatable): KXBTC15M KXETH15M KXSOL15M KXXRP15M KXDOGE15M "
             "KXHIGHNY."),
    end: str | None = typer.Option(None, "--end", help="End of the data, ISO UTC (default: now, "
                                   "to the minute)."),
    db: Path | None = typer.Option(None, "--db", help="Database file (default: KALSHIBOT_DB_PATH, else by mode)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Generate a seeded synthetic dataset (15-minute crypto and bracket events) into the store."""
    from kalshibot.sim.sample import SampleConfig, generate_sample
    from kalshibot.store import open_store
    from kalshibot.store.connection import atomic

    end_ts = parse_when(end, "--end")
    cfg = SampleConfig(days=days, seed=seed, series=tuple(series), end=end_ts)
    from kalshibot.sim.sample import validate

    validate(cfg)
    conn = open_store(_db(db))
    try:
        # One transaction: Ctrl-C (or any failure) leaves the store as it was, never half
        # a sample; running the command again generates it whole.
        with _progress() as prog, atomic(conn):
            task = prog.add_task("generating", total=None)
            summary = generate_sample(conn, cfg, progress=lambda m: prog.update(task,
                                                                                 description=m))
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing stored (one transaction); run it again",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        conn.close()
    if as_json:
        print_json({"start": summary.start.isoformat(), "end": summary.end.isoformat(),
                    "rows": summary.rows, "markets_by_series": summary.markets_by_series})
        return
    print_table(f"sample data {summary.start:%Y-%m-%d %H:%M} to {summary.end:%Y-%m-%d %H:%M} UTC "
                f"(seed {seed})", ["table", "new rows"],
                [(k, f"{v:,}") for k, v in summary.rows.items()])


# --- `data sync` and `data record` (issue 4 items 2-3) ----------------------------------------
#   @data_app.command("sync")    download markets/events/series/candles/trades/settlements
#   @data_app.command("record")  poll live order books and spot prices into the store
# The logic lives in ``kalshibot.ingest`` (plain functions over a client and a connection).



def _clock() -> Clock:
    """The clock commands use (tests replace this function)."""
    return SystemClock()


def _client(clock: Clock, env: str | None, public: bool) -> KalshiClient:
    """A Kalshi client from settings: signed when credentials are configured (and not
    ``public``), else public-only; rate limits from settings."""
    from kalshibot.kalshi.exchange import KalshiExchange

    cfg = settings(uses=("exchange",), environment=env)
    return KalshiExchange.from_settings(cfg, clock, public_only=public).client


class _RichSyncProgress(SyncProgress):
    """One rich task per phase: items done of total, plus rows stored."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.tasks: dict[str, TaskID] = {}
        self.stored: dict[str, int] = {}

    def start(self, phase: str, total: int | None) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.p.add_task(phase, total=total, rows=0)
        else:
            self.p.update(self.tasks[phase], total=total)

    def advance(self, phase: str, n: int = 1) -> None:
        if phase not in self.tasks:
            self.start(phase, None)
        self.p.advance(self.tasks[phase], n)

    def rows(self, phase: str, n: int) -> None:
        self.stored[phase] = self.stored.get(phase, 0) + n
        if phase in self.tasks:
            self.p.update(self.tasks[phase], rows=self.stored[phase])


def _print_sync(report: SyncReport, as_json: bool,
                spot: SpotSyncReport | None = None) -> None:
    if as_json:
        print_json(report.to_json() | ({"spot": spot.to_json()} if spot else {}))
        return
    from kalshibot.ingest.sync import TABLES

    print_table(f"sync summary: {report.markets:,} market(s), {report.results:,} with a result",
                ["table", "new rows", "updated rows"],
                [(t, f"{report.added[t]:,}", f"{report.updated(t):,}") for t in TABLES])
    per = report.per_1000_settled
    console.print(f"{report.requests:,} request(s)"
                  + (f", {per:,.0f} per 1,000 settled markets" if per is not None else ""))
    if report.candle_quotes:
        console.print(f"{report.candle_quotes:,} candle quote row(s) written (1-minute YES "
                      "bid/ask for train and backtest; recorded books win)")
    if report.resumed:
        console.print(f"resumed {len(report.resumed)} interrupted trade listing(s)")
    if report.skipped_covered:
        console.print(f"{report.skipped_covered:,} window(s) already stored, not requested")
    for n in report.notes[:MAX_ISSUES_SHOWN]:
        console.print(f"[dim]note:[/dim] {n}", highlight=False, soft_wrap=True)
    if report.problems:
        console.print(f"[yellow]{len(report.problems)} problem(s)[/yellow]")
        for msg in report.problems[:MAX_ISSUES_SHOWN]:
            console.print(f"  {msg}", highlight=False, soft_wrap=True)
    if spot is not None:
        for sym, rows in spot.added.items():
            console.print(f"spot {sym}: {rows:,} new row(s) from "
                          f"{spot.source.get(sym, 'no source')}", highlight=False)
        for msg in spot.notes[:MAX_ISSUES_SHOWN]:
            console.print(f"  [yellow]{msg}[/yellow]", highlight=False, soft_wrap=True)
    if report.stopped:
        console.print(f"[red]stopped early:[/red] {report.stopped}", highlight=False,
                      soft_wrap=True)


@data_app.command("sync")
def sync_cmd(
    series: list[str] = typer.Option([], "--series", "-s",
                                     help="Series ticker(s), repeatable or comma-separated."),
    event: list[str] = typer.Option([], "--event", "-e", help="Event ticker(s)."),
    tickers: list[str] = typer.Option([], "--tickers", "-t", help="Market ticker(s)."),
    status: str | None = typer.Option(None, "--status",
                                      help="unopened | open | closed | settled (default: any)."),
    since: str | None = typer.Option(None, "--since", help="Markets closing at/after this, and "
                                     "the start of the trade/candle window: ISO UTC or 7d/6h."),
    until: str | None = typer.Option(None, "--until", help="Markets closing at/before this, and "
                                     "the end of the window: ISO UTC or 30m/6h/7d ago."),
    period: int = typer.Option(1, "--period", help="Candle period in minutes: 1, 60 or 1440."),
    candles: bool = typer.Option(True, "--candles/--no-candles", help="Sync candlesticks."),
    trades: bool = typer.Option(True, "--trades/--no-trades", help="Sync the trade tape."),
    events_meta: bool = typer.Option(True, "--events/--no-events", help="Fetch event rows."),
    historical: bool = typer.Option(True, "--historical/--no-historical",
                                    help="Use /historical/* for data older than the cutoff."),
    public: bool = typer.Option(False, "--public", help="Never sign requests (no account "
                                "settlements even if keys are configured)."),
    env: str | None = typer.Option(None, "--env", help="demo | prod (default: KALSHIBOT_ENVIRONMENT)."),
    spot: bool = typer.Option(False, "--spot", help="Also store spot history of the crypto "
                              "series (CF Benchmarks index when signed and entitled, else "
                              "Coinbase/Kraken 1-minute candles); needs --since."),
    db: Path | None = typer.Option(None, "--db", help="Database file (default: KALSHIBOT_DB_PATH, else by mode)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Download markets, events, series, candles, trades and settlements into the store.

    Resumable (re-run after an interruption to continue) and idempotent (a re-run of a finished
    sync adds nothing). Public data needs no API key.
    """
    from kalshibot.ingest.sync import SyncOptions, run_sync
    from kalshibot.store import open_store

    clock = _clock()
    now = clock.now()
    opts = SyncOptions(series=split_list(series), events=split_list(event), tickers=split_list(tickers),
                       status=status, since=parse_when(since, "--since", now),
                       until=parse_when(until, "--until", now), candles=candles, trades=trades,
                       events_meta=events_meta, period_minutes=period, historical=historical)
    opts.validate()
    symbols = _symbols_of(opts.series, opts.tickers) if spot else ()
    if spot and opts.since is None:
        raise UserInputError("--spot needs --since (the start of the spot history)")
    if spot and not symbols:
        raise UserInputError("--spot needs a 15-minute crypto --series or --tickers "
                             "(KX<COIN>15M)")
    client = _client(clock, env, public)
    conn = open_store(_db(db))
    report = SyncReport()
    spot_report: SpotSyncReport | None = None
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description:<12}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[rows]:,} rows"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                      transient=True, disable=as_json) as prog:
            run_sync(client, conn, opts, clock=clock, progress=_RichSyncProgress(prog),
                     report=report)
        if symbols and opts.since is not None and report.stopped is None:
            spot_report = _sync_spot(conn, symbols, opts.since, opts.until or now, clock,
                                     client)
    except KeyboardInterrupt:
        report.stopped = "interrupted (Ctrl-C); re-run the same command to resume"
    finally:
        conn.close()
    _print_sync(report, as_json, spot_report)
    if report.stopped:
        raise typer.Exit(130 if report.stopped.startswith("interrupted") else 4)


def _print_record(report: RecordReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_json())
        return
    print_table(f"record summary: {report.polls:,} poll(s) in {report.seconds:,.0f} s",
                ["what", "count"],
                [("polls ok", f"{report.polls:,}"), ("polls failed", f"{report.failed_polls:,}"),
                 ("book snapshots", f"{report.book_rows:,}"),
                 ("spot prices", f"{report.spot_rows:,}"),
                 ("market rows written", f"{report.market_rows:,}"),
                 ("markets in last poll", f"{report.tickers:,}")])
    console.print(f"stopped: {report.stopped}", highlight=False)
    for msg in report.errors[-5:]:
        console.print(f"  [yellow]{msg}[/yellow]", highlight=False, soft_wrap=True)


def _sync_spot(conn: Any, symbols: tuple[str, ...], since: datetime, until: datetime,
               clock: Clock, client: KalshiClient) -> SpotSyncReport:
    """Spot history for ``data sync --spot`` (CF Benchmarks, else Coinbase, else Kraken)."""
    import requests

    from kalshibot.feeds import CoinbaseSpotSource, KrakenSpotSource, coinbase, kraken
    from kalshibot.ingest.spot import sync_spot

    s = settings()
    session = requests.Session()
    return sync_spot(conn, symbols, since, until, clock=clock, kalshi=client.http,
                     exchanges=[CoinbaseSpotSource(session, clock, base_url=s.coinbase_base_url
                                                   or coinbase.BASE_URL),
                                KrakenSpotSource(session, clock, base_url=s.kraken_base_url
                                                 or kraken.BASE_URL)])


def _spot_feed(symbols: tuple[str, ...], clock: Clock) -> SpotFeedLike | None:
    """Coinbase + Kraken spot feed for ``symbols`` (None when there are none)."""
    if not symbols:
        return None
    import requests

    from kalshibot.feeds import CoinbaseSpotSource, KrakenSpotSource, SpotFeed

    session = requests.Session()
    return SpotFeed([CoinbaseSpotSource(session, clock), KrakenSpotSource(session, clock)],
                    clock, symbols=symbols)


def _symbols_of(series: tuple[str, ...], tickers: tuple[str, ...]) -> tuple[str, ...]:
    """Spot symbols of the 15-minute crypto series/tickers given (others have none)."""
    from kalshibot.errors import DataError
    from kalshibot.feeds import series_to_symbol

    out: list[str] = []
    for s in series + tickers:
        try:
            out.append(series_to_symbol(s))
        except DataError:
            continue
    return tuple(dict.fromkeys(out))


@data_app.command("record")
def record_cmd(
    series: list[str] = typer.Option([], "--series", "-s", help="Series to record (open markets, "
                                     "refreshed periodically); repeatable or comma-separated."),
    tickers: list[str] = typer.Option([], "--tickers", "-t", help="Market ticker(s)."),
    interval: float = typer.Option(5.0, "--interval", "-i", help="Seconds between polls."),
    duration: str | None = typer.Option(None, "--duration", help="Stop after this long: "
                                        "seconds, or 30m / 6h / 2d (default: until Ctrl-C)."),
    max_polls: int | None = typer.Option(None, "--max-polls", help="Stop after N polls."),
    refresh: float = typer.Option(60.0, "--refresh-markets", help="Seconds between market-list "
                                  "refreshes for --series."),
    spot: bool = typer.Option(True, "--spot/--no-spot", help="Also record spot prices "
                              "(Coinbase + Kraken) for crypto series."),
    symbols: list[str] = typer.Option([], "--symbols", help="Spot symbols (default: from the "
                                      "15-minute crypto series, e.g. KXBTC15M -> BTC)."),
    depth: bool = typer.Option(True, "--depth/--no-depth", help="Store full book depth."),
    env: str | None = typer.Option(None, "--env", help="demo | prod (default: KALSHIBOT_ENVIRONMENT)."),
    db: Path | None = typer.Option(None, "--db", help="Database file (default: KALSHIBOT_DB_PATH, else by mode)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
    ws: bool = typer.Option(False, "--ws", help="Stream books, trades and CF Benchmarks ticks over Kalshi's WebSocket (needs API keys); --interval is then the flush interval and --max-polls the number of flushes (README: 'Real-time market data (WebSocket)')."),
) -> None:
    """Poll live order books and spot prices into the store every --interval seconds.

    Each poll is one transaction; Ctrl-C or SIGTERM stops after the current poll.
    """
    from kalshibot.ingest.record import (
        RecordOptions,
        StopFlag,
        install_signal_handlers,
        run_record,
    )
    from kalshibot.store import open_store

    ser, tick = split_list(series), split_list(tickers)
    syms = split_list(symbols) or _symbols_of(ser, tick)
    if ws:
        from kalshibot.ws.record import record_ws_command

        record_ws_command(settings(uses=("exchange",), environment=env), _clock(), _db(db), series=ser,
                          tickers=tick, interval_s=interval, duration_s=_seconds(duration),
                          max_flushes=max_polls, refresh_s=refresh, depth=depth,
                          symbols=syms if spot else (), as_json=as_json)
        return
    opts = RecordOptions(series=ser, tickers=tick, interval_s=interval,
                         duration_s=_seconds(duration), max_polls=max_polls,
                         refresh_markets_s=refresh, depth=depth, symbols=syms if spot else ())
    opts.validate()
    clock = _clock()
    client = _client(clock, env, public=True)
    feed = _spot_feed(opts.symbols, clock) if spot else None
    conn = open_store(_db(db))
    stop = StopFlag()
    restore = install_signal_handlers(stop)
    report = RecordReport()
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True, disable=as_json) as prog:
            task = prog.add_task("starting", total=None)

            def show(r: RecordReport) -> None:
                prog.update(task, description=(
                    f"poll {r.polls + r.failed_polls:,}: {r.tickers} markets, "
                    f"{r.book_rows:,} books, {r.spot_rows:,} spot rows, "
                    f"{r.failed_polls} failed (Ctrl-C stops)"))

            run_record(client, conn, opts, clock=clock, spot=feed, stop=stop, on_poll=show,
                       report=report)
    except KeyboardInterrupt:  # second Ctrl-C: the open transaction rolled back
        report.stopped = "interrupted twice (Ctrl-C); the last poll was not stored"
    finally:
        restore()
        conn.close()
    _print_record(report, as_json)
    if report.polls == 0 and report.failed_polls > 0:
        # Nothing recorded, every poll failed: an exchange/network problem (exit code 4).
        raise typer.Exit(4)


def _seconds(text: str | None) -> float | None:
    """``90`` (seconds) or ``30m`` / ``6h`` / ``2d``."""
    if text is None:
        return None
    t = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise UserInputError(f"--duration {text!r}: use seconds or 30m / 6h / 2d") from None
    if not math.isfinite(value) or value <= 0:
        raise UserInputError(f"--duration {text!r} must be a positive, finite time")
    return positive_seconds(value, "--duration")
