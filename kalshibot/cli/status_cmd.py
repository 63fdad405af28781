"""`kalshibot status`: health, P&L, positions and risk state, for people (rich tables) and cron.

The document comes from ``kalshibot.monitor.health.collect_status``; this module only opens
the store, optionally asks the exchange (``--live``), renders and exits with the health code.
``resolve_db`` (``--db PATH`` / ``--sim``) is shared by the history, orders and risk commands.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kalshibot.cli.context import console, lock_for_writing, settings
from kalshibot.cli.render import dollars, money, price, signed_money, table
from kalshibot.clock import Clock, SystemClock
from kalshibot.config import Settings
from kalshibot.domain.money import Count
from kalshibot.errors import ConfigError, KalshibotError, StoreError, UserInputError
from kalshibot.monitor import health
from kalshibot.store.connection import store_failure

DB_HELP = "Database to read (default: KALSHIBOT_DB_PATH, or data/paper.sqlite / data/live.sqlite by mode)."
SIM_HELP = "Read the state of `trade --exchange sim` (<data_dir>/sim.sqlite)."
FORMATS = ("table", "json", "prometheus", "line")


def _clock() -> Clock:
    """The clock commands use (tests replace this function)."""
    return SystemClock()


def resolve_db(s: Settings, db: Path | None, sim: bool) -> Path:
    """``--db`` wins; ``--sim`` means <data_dir>/sim.sqlite; otherwise the mode's database."""
    if db is not None and sim:
        raise UserInputError("use either --db or --sim, not both")
    if db is not None:
        return db
    if sim:
        return s.data_dir / "sim.sqlite"
    return s.database_path


def open_db(path: Path, *, read_only: bool = True) -> sqlite3.Connection:
    """Open the store (read-only by default); ``StoreError`` (exit 3) when it cannot be read."""
    from kalshibot.store.connection import connect

    if not path.exists():
        raise StoreError(f"database {path} does not exist",
                         hint="start `kalshibot trade` first, or pass --db / --sim")
    return connect(path, read_only=read_only)


def open_for_change(db: Path | None, sim: bool
                    ) -> tuple[Settings, Path, Clock, sqlite3.Connection]:
    """The set-up of every command that changes the store (orders cancel/cancel-all,
    positions close-all, risk reset): settings, the store path, the clock, a writable
    connection (the caller closes it)."""
    s = settings()
    path = resolve_db(s, db, sim)
    if path.exists():
        lock_for_writing(path)  # one writer per database (a running `trade` holds it)
    return s, path, _clock(), open_db(path, read_only=False)


def _exchange_view(s: Settings, clock: Clock) -> health.ExchangeView:
    """The exchange's balance and positions (``--live``); failures become ``error``."""
    if s.api_key_id is None or s.private_key_path is None:
        return health.ExchangeView(error="no API credentials configured "
                                   "(KALSHIBOT_API_KEY_ID, KALSHIBOT_PRIVATE_KEY_PATH)")
    try:
        from kalshibot.kalshi.exchange import KalshiExchange

        ex = KalshiExchange.from_settings(s, clock)
        bal = ex.get_balance()
        pos = {p.ticker: p.qty for p in ex.get_positions() if p.qty}
    except KalshibotError as exc:
        return health.ExchangeView(error=str(exc))
    except Exception as exc:  # never let the comparison hide the local status
        return health.ExchangeView(error=f"{type(exc).__name__}: {exc}")
    return health.ExchangeView(bal.cash, bal.portfolio_value, pos)


def build_document(s: Settings, path: Path, *, now_clock: Clock, decisions: int = 10,
                   live: bool = False) -> dict[str, Any]:
    """Open the store read-only and compute the status document."""
    conn = open_db(path)
    model_conn = None
    try:
        if s.database_path.exists() and s.database_path.resolve() != path.resolve():
            try:
                model_conn = open_db(s.database_path)
            except StoreError:
                model_conn = None
        view = _exchange_view(s, now_clock) if live else None
        try:
            return health.collect_status(conn, s, now=now_clock.now(), database=path,
                                         decisions=decisions, exchange=view,
                                         model_conn=model_conn if _has_models(model_conn)
                                         and not _has_models(conn) else None)
        except sqlite3.Error as exc:
            raise store_failure(exc, path) or StoreError(f"cannot read {path}: {exc}") from exc
    finally:
        conn.close()
        if model_conn is not None:
            model_conn.close()


def _has_models(conn: sqlite3.Connection | None) -> bool:
    if conn is None:
        return False
    try:
        return conn.execute("SELECT 1 FROM model_registry LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return False


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename (the textfile collector never sees half a file).

    A target that exists and is not a regular file (``/dev/stdout``, a pipe, a device) is
    written in place, never renamed over: as root a rename would replace the device itself.
    """
    if path.is_dir():
        raise UserInputError(f"--output {path} is a folder")
    if path.exists() and not path.is_file():
        _write_in_place(path, text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        # mkstemp makes 0600; a node_exporter running as another user must read the file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_in_place(path: Path, text: str) -> None:
    """Write to a pipe or device; a pipe nobody reads is an error (ENXIO), not a hang."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def status(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON document (schema: kalshibot/monitor/status.schema.json)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="One line: state, reasons, run, equity, today's P&L."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, prometheus (node_exporter textfile format) or line."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file atomically instead of stdout (e.g. /var/lib/node_exporter/textfile/kalshibot.prom)."),
    decisions: int = typer.Option(10, "--decisions", "-n", min=0, help="How many recent decisions to show."),
    live: bool = typer.Option(False, "--live", help="Also read balance and positions from Kalshi (needs API keys) and compare."),
) -> None:
    """Health, P&L, positions, orders, risk, decisions, model and errors, for people and cron.

    \b
    Exit codes (for cron):
      0  healthy
      1  degraded: not running / heartbeat older than KALSHIBOT_HEARTBEAT_STALE_S,
         reconciliation mismatch (entries blocked), recent errors, model older than
         KALSHIBOT_RETRAIN_INTERVAL_HOURS, or (--live) disagreement with the exchange
      2  halted: circuit breaker tripped, kill-switch file present, daily loss limit reached
      3  cannot read the store or the configuration
    """
    if as_json:
        fmt = "json"
    if quiet:
        fmt = "line"
    if fmt not in FORMATS:
        raise UserInputError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    clock = _clock()
    path: Path | None = db
    try:
        s = settings(uses=("exchange",) if live else ())
        path = resolve_db(s, db, sim)
        doc = build_document(s, path, now_clock=clock, decisions=decisions, live=live)
    except (ConfigError, StoreError) as exc:
        doc = health.unavailable_status(str(exc), now=clock.now(), database=path)
    _refuse_database_as_output(output, path)
    emit(doc, fmt, output)
    raise typer.Exit(health.exit_code(doc))


def _refuse_database_as_output(output: Path | None, database: Path | None) -> None:
    """Refuse ``--output`` naming the database (or its lock/journal): it would be overwritten."""
    if output is None or database is None:
        return
    out = output.expanduser().resolve()
    db = database.expanduser().resolve()
    if out == db or (out.parent == db.parent and out.name.startswith(db.name + "-")):
        raise UserInputError(f"--output {output} is the database file; choose another path")


def emit(doc: dict[str, Any], fmt: str, output: Path | None) -> None:
    """Render ``doc`` in ``fmt`` to stdout or (atomically) to ``output``."""
    if fmt == "table":
        if output is not None:
            raise UserInputError("--output needs --format json, prometheus or line")
        render_tables(doc)
        return
    if fmt == "json":
        text = health.dumps(doc) + "\n"
    elif fmt == "prometheus":
        text = health.to_prometheus(doc)
    else:
        text = health.quiet_line(doc) + "\n"
    if output is not None:
        write_atomic(output, text)
    else:
        print(text, end="")


# --- rich tables --------------------------------------------------------------------------
_STYLE = {0: "green", 1: "yellow", 2: "red", 3: "red"}


def _usd(v: str | None) -> str:
    """Exact dollars text -> table display, to the cent (the exact value is in --json)."""
    return money(v)


def _signed(v: str | None) -> str:
    return signed_money(v)


def _px(v: str | None) -> str:
    """A price per contract (``render.price``: cents, sub-cent only when it matters)."""
    return price(v)


def _cnt(v: str | None) -> str:
    return "-" if v is None else str(Count(Decimal(v)))


def _kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("", style="bold")
    t.add_column("", overflow="fold")
    for k, v in rows:
        t.add_row(k, "-" if v is None or v == "" else str(v))
    return t


def _grid(title: str, columns: list[str], rows: list[list[Any]], empty: str,
          optional: Sequence[str] = ()) -> Table | str:
    """``render.table``: fits the terminal, tickers and order ids whole, other columns give
    way; ``optional`` columns are dropped (in that order) on a narrow terminal."""
    if not rows:
        return f"[bold]{title}[/bold]: {empty}"
    return table(title, columns, [["-" if x is None else str(x) for x in r] for r in rows],
                 optional=optional)


def render_tables(doc: dict[str, Any]) -> None:
    h = doc["health"]
    style = _STYLE[h["code"]]
    console.print(f"[bold {style}]kalshibot {h['state'].upper()}[/] (exit {h['code']})  "
                  f"database {doc.get('database') or '-'}", highlight=False)
    for r in h["reasons"]:
        console.print(f"  [{style}]- {r}[/]", highlight=False)
    if "run" not in doc:
        return
    run = doc["run"]
    hb = run["heartbeat"] or {}
    console.print(_kv_table("Run", [
        ("state", run["state"]), ("run id", run["run_id"]),
        ("mode / venue / environment",
         f"{run['mode'] or '-'} / {run['exchange'] or '-'} / {run['environment']}"),
        ("clock", run["clock"]), ("started", run["started_at"]), ("ended", run["ended_at"]),
        ("end reason", run["end_reason"]),
        ("last heartbeat", f"{hb['at']} ({hb['age_s']:.0f} s ago, stale after "
                           f"{hb['stale_after_s']:.0f} s)" if hb else None),
        ("last cycle", f"#{hb['cycle']} in {hb['cycle_ms']} ms: {hb['markets_seen']} markets, "
                       f"{hb['orders_sent']} orders, {hb['errors']} errors" if hb else None),
    ]))
    acct, pnl = doc["account"], doc["pnl"]
    rows: list[tuple[str, Any]] = [
        ("starting cash", _usd(acct["starting_cash"])), ("cash", _usd(acct["cash"])),
        ("equity", f"{_usd(acct['equity'])} (at {acct['equity_at'] or '-'})"),
        ("equity at start of day", _usd(acct["day_start_equity"])),
    ]
    ex = acct["exchange"]
    if ex is not None:
        rows.append(("exchange", ex["error"] or f"cash {_usd(ex['cash'])}, positions value "
                     f"{_usd(ex['portfolio_value'])}; "
                     f"{'; '.join(ex['position_mismatches']) or 'positions agree'}"))
    console.print(_kv_table("Balance and equity", rows))
    console.print(_grid("P&L (fees as paid)", ["period", "total", "realized", "unrealized",
                                               "fees"],
                        [[p, _signed(pnl[p]["total"]), _signed(pnl[p]["realized"]),
                          _signed(pnl[p]["unrealized"]), _usd(pnl[p]["fees"])]
                         for p in ("today", "all_time")], ""))
    console.print(_grid("Open positions", ["market", "side", "contracts", "avg cost", "mark",
                                           "unrealized", "realized", "fees"],
                        [[p["ticker"], p["side"], _cnt(p["contracts"]), _px(p["average_cost"]),
                          _px(p["mark"]), _signed(p["unrealized_pnl"]), _signed(p["realized_pnl"]),
                          _usd(p["fees"])] for p in doc["positions"]], "none"))
    console.print(_grid("Resting and unresolved orders",
                        ["client order id", "order id", "market", "order", "price", "filled",
                         "status", "created"],
                        [[o["client_order_id"], o["order_id"], o["ticker"],
                          f"{o['action']} {_cnt(o['count'])} {o['side']}", _px(o["price"]),
                          _cnt(o["filled"]), o["status"], o["created_at"]]
                         for o in doc["resting_orders"]], "none"))
    risk = doc["risk"]
    br = risk["circuit_breaker"]
    console.print(_kv_table("Risk", [
        ("circuit breaker", f"TRIPPED at {br['at']}: {br['reason']}" if br["tripped"] else "ok"),
        ("kill switch", f"ON ({risk['kill_switch']['path']})" if risk["kill_switch"]["on"]
         else f"off ({risk['kill_switch']['path']})"),
        ("entries blocked", risk["entries_blocked"] or "no"),
        ("daily loss limit", "REACHED" if risk["daily_loss_limit_reached"] else "not reached"),
        *([("trading day", f"since {risk['trading_day']['started_at']} (starts at "
                           f"{risk['trading_day']['boundary']}, KALSHIBOT_DAY_BOUNDARY)")]
          if "trading_day" in risk else []),
    ]))
    console.print(_grid("Limits used vs allowed", ["limit", "used", "allowed", "unit"],
                        [[lim["name"], *_limit_values(lim), lim["unit"]]
                         for lim in risk["limits"]], ""))
    console.print(_grid("Recent decisions (newest first)",
                        ["time", "market", "verdict", "reason", "model p", "price", "side",
                         "edge", "size"],
                        [[d["ts"][11:19], d["ticker"], d["verdict"], d["reason"],
                          None if d["model_p"] is None else f"{d['model_p']:.3f}",
                          _px(d["market_price"]), d["side"], d["edge"], d["proposed_size"]]
                         for d in doc["decisions"]], "none recorded",
                        optional=("size", "edge", "model p", "side")))
    m = doc["model"]
    console.print(_kv_table("Model", [] if m is None else [
        ("id", m["id"]), ("created", m["created_at"]),
        ("age", f"{m['age_hours']:.1f} h (retrain every {m['retrain_interval_hours']:g} h)"
                + (" STALE" if m["stale"] else "")),
        ("in use", "yes" if m["in_use"] else "no (strategy does not use it)"),
        *_metrics(m["metrics"]),
    ]) if m is not None else "[bold]Model[/bold]: none registered")
    e = doc["errors"]
    console.print(_grid(f"Errors in the last {e['window_s']:.0f} s: {e['count']} "
                        f"(degraded at {e['threshold']})", ["time", "run", "cycle", "count",
                                                            "message"],
                        [[x["at"], x["run_id"], x["cycle"], x["count"], x["message"]]
                         for x in e["recent"]],
                        f"none in the last {e['window_s']:.0f} s"))


def _limit_values(lim: dict) -> list[str]:
    """A limit's used / allowed cells: dollars to the cent; a fraction as a percentage with
    as many decimals as it needs (0.005 -> 0.5%, never "0%"); counts as they are."""
    unit = lim["unit"]
    if unit == "dollars":
        return [dollars(lim["used"]), dollars(lim["allowed"])]
    if unit == "fraction":
        return [_percent(lim["used"]), _percent(lim["allowed"])]
    return [str(lim["used"]), str(lim["allowed"])]


def _percent(v: object) -> str:
    pct = Decimal(str(v)) * 100
    return f"{pct.quantize(Decimal('0.01')).normalize():f}%"


def _metrics(metrics: dict) -> list[tuple[str, str]]:
    """Model metrics as table rows, e.g. ``("metric: brier", "0.2412")`` (floats to 4 places,
    nested groups flattened as ``group.key``); the raw values are in ``--json``."""
    def flat(d: dict, prefix: str = "") -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        for k, v in d.items():
            name = f"{prefix}{k}".replace("_", " ")
            out += flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [(name, v)]
        return out

    def show(v: object) -> str:
        if isinstance(v, bool) or v is None:
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v)

    return [(f"metric: {k}", show(v)) for k, v in flat(metrics)] or [("metrics", "-")]
