"""The status document and its exit code, from the store, the settings and an injected clock.

Pure functions (no wall clock, no network): ``collect_status(conn, settings, now=...)`` reads
the store and returns one JSON-ready ``dict`` with a stable field order (documented by
``status.schema.json`` beside this module); ``exit_code(doc)`` is its health code:

- **0 healthy**: none of the below.
- **1 degraded**: no run recorded or the bot is not running (also: its last ``trade`` failed
  at start); heartbeat older than ``heartbeat_stale_s`` seconds; new entries blocked
  (reconciliation mismatch); orders whose outcome is unknown (their markets take no new orders
  until the exchange is asked; a ``pending_submit`` row counts once it is older than
  ``PENDING_GRACE``, so an order being sent right now does not); at least
  ``status_error_threshold`` errors in the last ``status_error_window_s`` seconds; the current
  model older than ``retrain_interval_hours``; (with an exchange view) balance/positions differ
  from the exchange or the exchange could not be read.
- **2 halted**: circuit breaker tripped, kill-switch file present, daily loss limit reached.
- **3 unavailable**: the store or the configuration cannot be read (``unavailable_status``).

Money values are exact decimal strings in dollars (``"10012.5000"``), counts decimal strings
in contracts, times ISO-8601 UTC, ages in seconds (heartbeat) or hours (model), probabilities
and ratios plain numbers. ``to_prometheus`` and ``quiet_line`` render a document.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshibot.config import Settings
from kalshibot.domain.day import UTC_MIDNIGHT, DayBoundary
from kalshibot.domain.money import ZERO, Count, Money, Price
from kalshibot.domain.orders import OrderStatus
from kalshibot.risk import BREAKER_KEY, PEAK_KEY, kill_switch_on
from kalshibot.store import registry as registry_repo
from kalshibot.store.books import latest_books
from kalshibot.store.decisions import list_decisions
from kalshibot.store.kv import kv_get
from kalshibot.store.markets import get_market
from kalshibot.store.orders import list_orders
from kalshibot.store.positions import load_positions
from kalshibot.store.runs import Run, last_heartbeat, latest_run
from kalshibot.store.units import ms_ts, ts_ms

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("status.schema.json")
HEALTHY, DEGRADED, HALTED, UNAVAILABLE = 0, 1, 2, 3
STATE_NAMES = {HEALTHY: "healthy", DEGRADED: "degraded", HALTED: "halted",
               UNAVAILABLE: "unavailable"}
ENTRIES_BLOCKED_KEY = "engine.entries_blocked"
STARTING_CASH_KEY = "account.starting_cash"
SIM_CLOCK_KEY = "sim.clock"
NOT_TERMINAL = (OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_SUBMIT,
                OrderStatus.OUTCOME_UNKNOWN)
#: A ``pending_submit`` order older than this was left by a process that died while sending.
PENDING_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class ExchangeView:
    """The exchange's own figures (``status --live``), for comparison; dollars / contracts."""

    cash: Money | None = None
    portfolio_value: Money | None = None
    positions: Mapping[str, Count] = field(default_factory=dict)  # ticker -> +YES / -NO
    error: str | None = None


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat()


def _m(v: Money | None) -> str | None:
    return None if v is None else v.to_str()


def _dec(v: Decimal | None) -> str | None:
    return None if v is None else format(v, "f")


def _avg(v: Decimal) -> str:
    """An average price (dollars per contract), at most 6 decimals for display."""
    exp = v.as_tuple().exponent
    if isinstance(exp, int) and exp < -6:
        v = v.quantize(Decimal("0.000001"))
    return format(v, "f")


def _secs(delta: timedelta) -> float:
    """Seconds, rounded to milliseconds (a display figure, not money)."""
    return round(delta.total_seconds(), 3)


@dataclass(frozen=True)
class _EquityRow:
    ts: datetime
    cash: Money
    equity: Money
    realized: Money
    unrealized: Money
    fees: Money


def _equity_row(conn: sqlite3.Connection, where: str, args: Sequence[object], order: str
                ) -> _EquityRow | None:
    r = conn.execute("SELECT ts, cash, equity, realized, unrealized, fees FROM equity "
                     f"{where} ORDER BY ts {order} LIMIT 1", args).fetchone()
    if r is None:
        return None
    return _EquityRow(ms_ts(r[0]), *(Money(Decimal(x)) for x in r[1:6]))


def _kv_str(conn: sqlite3.Connection, key: str) -> str | None:
    v = kv_get(conn, key)
    return None if v is None or v == "" else str(v)


def _run_config(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    r = conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if r is None or not r[0]:
        return {}
    try:
        out = json.loads(r[0])
    except json.JSONDecodeError:
        return {}
    return out if isinstance(out, dict) else {}


def _breaker(conn: sqlite3.Connection) -> dict[str, Any]:
    raw = _kv_str(conn, BREAKER_KEY)
    d: dict[str, Any] = {}
    if raw:
        try:
            d = json.loads(raw)
        except json.JSONDecodeError:
            d = {"tripped": True, "reason": f"unreadable breaker state: {raw[:80]}"}
    return {"tripped": bool(d.get("tripped")), "reason": str(d.get("reason", "")),
            "at": d.get("at") or None}


def collect_status(
    conn: sqlite3.Connection,
    settings: Settings,
    *,
    now: datetime,
    database: Path | str,
    decisions: int = 10,
    exchange: ExchangeView | None = None,
    model_conn: sqlite3.Connection | None = None,
) -> dict[str, Any]:
    """The status document (see module docstring). ``now`` comes from the injected clock.

    For a store written by ``trade --exchange sim`` the trading day, heartbeat age and error
    window are measured on the simulated clock saved in the store (``sim.clock``).
    """
    run = latest_run(conn)
    sim_raw = _kv_str(conn, SIM_CLOCK_KEY)
    simulated = run is not None and run.exchange == "sim" and sim_raw is not None
    ref = datetime.fromisoformat(sim_raw) if simulated and sim_raw else now
    hb = last_heartbeat(conn, run.run_id) if run is not None else None
    reasons: list[tuple[int, str]] = []

    # --- run and heartbeat ---------------------------------------------------------------
    run_doc = _run_section(run, hb, ref, settings, simulated, reasons)

    # --- account and P&L ----------------------------------------------------------------
    boundary = _day_boundary(settings)  # the trading day of the daily loss limit and breaker
    day_start = boundary.start_of(ref)
    day_label = boundary.day_of(ref).isoformat()
    latest = _equity_row(conn, "", (), "DESC")
    base = _equity_row(conn, "WHERE ts < ?", (ts_ms(day_start),), "DESC") or _equity_row(
        conn, "WHERE ts >= ?", (ts_ms(day_start),), "ASC")
    start_cash_raw = _kv_str(conn, STARTING_CASH_KEY)
    starting_cash = Money(Decimal(start_cash_raw)) if start_cash_raw else None
    kv_day_start = _kv_str(conn, f"risk.start_equity.{day_label}")
    day_start_equity = (Money(Decimal(kv_day_start)) if kv_day_start
                        else (base.equity if base is not None else None))
    positions = load_positions(conn)
    open_pos = {t: p for t, p in positions.items() if p.qty}
    if latest is not None and base is not None:
        today = {
            "total": (_m(latest.equity - day_start_equity) if day_start_equity is not None
                      else None),
            "realized": _m(latest.realized - base.realized),
            "unrealized": _m(latest.unrealized - base.unrealized),
            "fees": _m(latest.fees - base.fees),
        }
    else:
        today = {"total": None, "realized": None, "unrealized": None, "fees": None}
    realized_all = Money(sum((p.realized_pnl.amount for p in positions.values()), ZERO))
    fees_all = Money(sum((p.fees.amount for p in positions.values()), ZERO))
    all_time = {
        "total": (_m(latest.equity - starting_cash)
                  if latest is not None and starting_cash is not None else None),
        "realized": _m(latest.realized if latest else realized_all),
        "unrealized": _m(latest.unrealized) if latest else None,
        "fees": _m(latest.fees if latest else fees_all),
    }
    account: dict[str, Any] = {
        "starting_cash": _m(starting_cash),
        "cash": _m(latest.cash) if latest else None,
        "equity": _m(latest.equity) if latest else None,
        "equity_at": _iso(latest.ts) if latest else None,
        "day_start_equity": _m(day_start_equity),
        "exchange": None,
    }

    # --- positions and orders -------------------------------------------------------------
    books = latest_books(conn, sorted(open_pos))
    pos_docs = []
    exposure: dict[str, Money] = {}
    for t, p in sorted(open_pos.items()):
        b = books.get(t)
        mark: Price | None = b.mid() if b is not None else None
        avg = p.average_cost
        exposure[t] = p.cost
        pos_docs.append({
            "ticker": t,
            "side": p.side.value if p.side else None,
            "contracts": p.contracts.to_str(),
            "average_cost": None if avg is None else _avg(avg.value),
            "cost": _m(p.cost),
            "mark": None if mark is None else mark.to_str(),
            "mark_at": _iso(b.ts) if b is not None and mark is not None else None,
            "unrealized_pnl": None if mark is None else _m(p.unrealized_pnl(mark)),
            "realized_pnl": _m(p.realized_pnl),
            "fees": _m(p.fees),
        })
    orders = list_orders(conn, statuses=NOT_TERMINAL)
    order_docs = []
    for o in orders:
        if o.action.value == "buy" and o.status in (OrderStatus.RESTING,
                                                     OrderStatus.PARTIALLY_FILLED):
            exposure[o.ticker] = exposure.get(o.ticker, Money(0)) + Money(
                o.remaining.value * o.price.value)
        order_docs.append({
            "client_order_id": o.client_order_id, "order_id": o.order_id, "ticker": o.ticker,
            "side": o.side.value, "action": o.action.value, "price": o.price.to_str(),
            "count": o.count.to_str(), "filled": o.filled.to_str(), "status": o.status.value,
            "strategy": o.strategy, "created_at": _iso(o.created), "last_error": o.last_error,
        })

    _unresolved_reason(orders, ref, reasons)

    # --- exchange comparison ----------------------------------------------------------------
    if exchange is not None:
        account["exchange"] = _exchange_section(exchange, open_pos, reasons)

    # --- risk ---------------------------------------------------------------------------------
    breaker = _breaker(conn)
    kill_path = settings.kill_switch_file
    kill = kill_switch_on(kill_path)
    blocked = _kv_str(conn, ENTRIES_BLOCKED_KEY)
    limit = Money(settings.max_daily_loss)
    today_total = (latest.equity - day_start_equity
                   if latest is not None and day_start_equity is not None else Money(0))
    loss_reached = today_total <= -limit
    if breaker["tripped"]:
        reasons.append((HALTED, f"circuit breaker tripped: {breaker['reason']}"
                        " (`kalshibot risk reset` clears it)"))
    if kill:
        reasons.append((HALTED, f"kill switch present: {kill_path}"))
    if loss_reached:
        reasons.append((HALTED, f"daily loss limit reached: today's P&L {today_total} "
                        f"<= -{limit}"))
    if blocked:
        reasons.append((DEGRADED, f"new entries blocked: {blocked}"))
    risk_doc = {
        "circuit_breaker": breaker,
        "kill_switch": {"on": kill, "path": str(kill_path)},
        "entries_blocked": blocked,
        "daily_loss_limit_reached": loss_reached,
        "limits": _limits(conn, settings, exposure, open_pos, today_total, latest, day_label),
        "trading_day": {"boundary": str(boundary), "started_at": _iso(day_start)},
    }

    # --- decisions, model, errors ----------------------------------------------------------
    dec_docs = [{
        "ts": _iso(d.ts), "run_id": d.run_id, "cycle": d.cycle, "ticker": d.ticker,
        "strategy": d.strategy, "verdict": d.verdict.value, "reason": d.reason,
        "model_p": d.model_p, "market_price": _dec(d.market_price), "side": d.side,
        "edge": _dec(d.edge), "proposed_size": _dec(d.proposed_size),
    } for d in list_decisions(conn, limit=decisions)] if decisions > 0 else []
    strategy = (_run_config(conn, run.run_id).get("strategy") if run is not None else None)
    model_doc = _model_section(model_conn or conn, settings, now, strategy, reasons)
    errors_doc = _errors_section(conn, settings, ref, reasons)

    code = max((c for c, _ in reasons), default=HEALTHY)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _iso(now),
        "health": {"code": code, "state": STATE_NAMES[code],
                   "reasons": [r for c, r in sorted(reasons, key=lambda x: -x[0])]},
        "database": str(database),
        "run": run_doc,
        "account": account,
        "pnl": {"today": today, "all_time": all_time},
        "positions": pos_docs,
        "resting_orders": order_docs,
        "risk": risk_doc,
        "decisions": dec_docs,
        "model": model_doc,
        "errors": errors_doc,
    }


def _unresolved_reason(orders: Sequence[Any], ref: datetime,
                       reasons: list[tuple[int, str]]) -> None:
    """Degraded while orders have an unknown outcome: their markets take no new orders."""
    unknown = [o for o in orders if o.status is OrderStatus.OUTCOME_UNKNOWN
               or (o.status is OrderStatus.PENDING_SUBMIT and ref - o.updated >= PENDING_GRACE)]
    if not unknown:
        return
    markets = sorted({o.ticker for o in unknown})
    shown = ", ".join(markets[:5]) + (f" and {len(markets) - 5} more" if len(markets) > 5 else "")
    reasons.append((DEGRADED, f"{len(unknown)} order(s) with an unknown outcome: no new orders "
                    f"in {shown} until the exchange is asked (`kalshibot trade` resolves them)"))


def _run_section(run: Run | None, hb: Any, ref: datetime, s: Settings, simulated: bool,
                 reasons: list[tuple[int, str]]) -> dict[str, Any]:
    if run is None:
        reasons.append((DEGRADED, "no trading run recorded in this database"))
        return {"state": "never", "run_id": None, "mode": None, "exchange": None,
                "environment": s.environment.value, "clock": "wall", "started_at": None,
                "ended_at": None, "end_reason": None, "heartbeat": None}
    last_seen = hb.ts if hb is not None else run.started
    age = max(ref - last_seen, timedelta(0))
    stale = age.total_seconds() > s.heartbeat_stale_s
    if run.ended is not None:
        state = "stopped"
        reasons.append((DEGRADED, f"not running: run {run.run_id} stopped at "
                        f"{_iso(run.ended)} ({run.end_reason or 'no reason recorded'})"))
    elif stale:
        state = "stale"
        reasons.append((DEGRADED, f"heartbeat stale: last {age.total_seconds():.0f} s ago "
                        f"> {s.heartbeat_stale_s:.0f} s (is the trade process alive?)"))
    else:
        state = "running"
    hb_doc = None
    if hb is not None:
        hb_doc = {"at": _iso(hb.ts), "age_s": _secs(age), "stale_after_s": s.heartbeat_stale_s,
                  "stale": stale, "cycle": hb.cycle, "cycle_ms": hb.cycle_ms,
                  "markets_seen": hb.markets_seen, "orders_sent": hb.orders_sent,
                  "errors": hb.errors, "note": hb.note}
    return {"state": state, "run_id": run.run_id, "mode": run.mode, "exchange": run.exchange,
            "environment": s.environment.value, "clock": "simulated" if simulated else "wall",
            "started_at": _iso(run.started), "ended_at": _iso(run.ended),
            "end_reason": run.end_reason, "heartbeat": hb_doc}


def _exchange_section(ex: ExchangeView, open_pos: Mapping[str, Any],
                      reasons: list[tuple[int, str]]) -> dict[str, Any]:
    mismatches: list[str] = []
    if ex.error is None:
        for t in sorted(set(ex.positions) | set(open_pos)):
            local = open_pos[t].qty if t in open_pos else Count(0)
            remote = ex.positions.get(t, Count(0))
            if local != remote:
                mismatches.append(f"{t}: local {local} vs exchange {remote}")
        if mismatches:
            reasons.append((DEGRADED, "positions differ from the exchange: "
                            + "; ".join(mismatches[:5])))
    else:
        reasons.append((DEGRADED, f"could not read the exchange: {ex.error}"))
    return {"cash": _m(ex.cash), "portfolio_value": _m(ex.portfolio_value),
            "position_mismatches": mismatches, "error": ex.error}


def _day_boundary(s: Settings) -> DayBoundary:
    """``KALSHIBOT_DAY_BOUNDARY`` (UTC midnight if it does not parse: `config --validate`
    reports it)."""
    try:
        return DayBoundary.parse(s.day_boundary)
    except ValueError:
        return UTC_MIDNIGHT


def _limits(conn: sqlite3.Connection, s: Settings, exposure: Mapping[str, Money],
            open_pos: Mapping[str, Any], today_total: Money, latest: _EquityRow | None,
            day_label: str) -> list[dict[str, Any]]:
    """Limits used vs allowed (dollars unless ``unit`` says otherwise)."""
    event_of: dict[str, str] = {}
    series_of: dict[str, str] = {}
    for t in exposure:
        m = get_market(conn, t)
        event_of[t] = m.event_ticker if m else t.rsplit("-", 1)[0]
        series_of[t] = m.series_ticker if m else t.split("-", 1)[0]

    def biggest(group: Mapping[str, str]) -> Money:
        sums: dict[str, Money] = {}
        for t, v in exposure.items():
            sums[group[t]] = sums.get(group[t], Money(0)) + v
        return max(sums.values(), default=Money(0))

    total = Money(sum((v.amount for v in exposure.values()), ZERO))
    drawdown = Decimal(0)
    peak_raw = _kv_str(conn, PEAK_KEY)
    if peak_raw and latest is not None:
        try:
            peak = json.loads(peak_raw)
            if peak.get("day") == day_label:
                pk = Decimal(str(peak["peak"]))
                if pk > 0:
                    drawdown = max((pk - latest.equity.amount) / pk, Decimal(0))
        except (ValueError, KeyError, ArithmeticError):
            pass
    rows = [
        ("daily_loss", max(-today_total, Money(0)).to_str(), Money(s.max_daily_loss).to_str(),
         "dollars"),
        ("drawdown", format(drawdown.quantize(Decimal("0.0001")), "f"),
         format(Decimal(str(s.circuit_breaker_drawdown)), "f"), "fraction"),
        ("portfolio_exposure", total.to_str(), Money(s.max_portfolio_exposure).to_str(),
         "dollars"),
        ("largest_market_exposure", max(exposure.values(), default=Money(0)).to_str(),
         Money(s.max_position_per_market).to_str(), "dollars"),
        ("largest_event_exposure", biggest(event_of).to_str(),
         Money(s.max_exposure_per_event).to_str(), "dollars"),
        ("largest_series_exposure", biggest(series_of).to_str(),
         Money(s.max_exposure_per_series).to_str(), "dollars"),
        ("concurrent_positions", str(len(open_pos)), str(s.max_concurrent_positions),
         "markets"),
    ]
    return [{"name": n, "used": u, "allowed": a, "unit": unit} for n, u, a, unit in rows]


def _model_section(conn: sqlite3.Connection, s: Settings, now: datetime, strategy: Any,
                   reasons: list[tuple[int, str]]) -> dict[str, Any] | None:
    try:
        entry = registry_repo.current_model(conn)
    except sqlite3.Error:
        entry = None
    if entry is None:
        return None
    age_h = (now - entry.created).total_seconds() / 3600
    stale = age_h > s.retrain_interval_hours
    uses_model = strategy in (None, "edge")
    if stale and uses_model:
        reasons.append((DEGRADED, f"model {entry.id} is {age_h:.1f} h old > retrain interval "
                        f"{s.retrain_interval_hours:g} h (run `kalshibot train`)"))
    return {"id": entry.id, "path": entry.path, "created_at": _iso(entry.created),
            "age_hours": round(age_h, 3), "retrain_interval_hours": s.retrain_interval_hours,
            "stale": stale, "in_use": uses_model, "metrics": entry.metrics}


def _errors_section(conn: sqlite3.Connection, s: Settings, ref: datetime,
                    reasons: list[tuple[int, str]]) -> dict[str, Any]:
    since = ref - timedelta(seconds=s.status_error_window_s)
    rows = conn.execute(
        "SELECT run_id, ts, cycle, errors, note FROM heartbeats WHERE errors > 0 AND ts >= ? "
        "ORDER BY ts DESC", (ts_ms(since),)).fetchall()
    count = sum(int(r[3]) for r in rows)
    if count >= s.status_error_threshold:
        reasons.append((DEGRADED, f"{count} errors in the last "
                        f"{s.status_error_window_s:.0f} s (threshold "
                        f"{s.status_error_threshold})"))
    return {"window_s": s.status_error_window_s, "threshold": s.status_error_threshold,
            "count": count,
            "recent": [{"at": _iso(ms_ts(r[1])), "run_id": r[0], "cycle": r[2],
                        "count": r[3], "message": r[4] or ""} for r in rows[:10]]}


def unavailable_status(reason: str, *, now: datetime, database: Path | str | None
                       ) -> dict[str, Any]:
    """The document for exit code 3 (store or configuration unreadable)."""
    return {"schema_version": SCHEMA_VERSION, "generated_at": _iso(now),
            "health": {"code": UNAVAILABLE, "state": STATE_NAMES[UNAVAILABLE],
                       "reasons": [reason]},
            "database": None if database is None else str(database)}


def exit_code(doc: Mapping[str, Any]) -> int:
    """The cron exit code of a status document (0, 1, 2 or 3)."""
    return int(doc["health"]["code"])


def load_schema() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return result


def dumps(doc: Mapping[str, Any]) -> str:
    """The document as JSON text in its stable field order (two-space indent)."""
    return json.dumps(doc, indent=2, ensure_ascii=False)


# --- renderings ----------------------------------------------------------------------------
def quiet_line(doc: Mapping[str, Any]) -> str:
    """One line for cron mail and scripts: state, reasons, run, equity, today's P&L."""
    h = doc["health"]
    head = f"kalshibot {h['state'].upper()} ({h['code']})"
    why = "; ".join(h["reasons"][:3]) or "all checks passed"
    if "run" not in doc:
        return f"{head}: {why}"
    run = doc["run"]
    hb = run.get("heartbeat")
    age = f", heartbeat {hb['age_s']:.0f} s ago" if hb else ""
    eq = doc["account"].get("equity")
    today = doc["pnl"]["today"].get("total")
    money = ""
    if eq is not None:
        money = f" | equity ${Decimal(eq):.2f}"
        if today is not None:
            money += f", today {Decimal(today):+.2f}"
    return f"{head}: {why} | run {run['state']}{age}{money}"


def _metric(lines: list[str], name: str, help_: str, value: Any,
            labels: Mapping[str, str] | None = None, *, typ: str = "gauge",
            header: bool = True) -> None:
    if header:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {typ}")
    if value is None:
        return
    if isinstance(value, bool):
        value = int(value)
    lab = ""
    if labels:
        inner = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        lab = "{" + inner + "}"
    lines.append(f"{name}{lab} {value}")


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def to_prometheus(doc: Mapping[str, Any]) -> str:
    """Key figures in the Prometheus text exposition format (node_exporter textfile collector).

    Money gauges are dollars (exact decimal text), ages seconds, flags 0/1.
    """
    lines: list[str] = []
    h = doc["health"]
    _metric(lines, "kalshibot_health_code",
            "0 healthy, 1 degraded, 2 halted, 3 store/config unreadable", h["code"])
    gen = doc.get("generated_at")
    if gen:
        ts = datetime.fromisoformat(gen)
        _metric(lines, "kalshibot_status_timestamp_seconds",
                "When this status was computed (Unix time)", f"{ts.timestamp():.3f}")
    if "run" not in doc:
        return "\n".join(lines) + "\n"
    run = doc["run"]
    _metric(lines, "kalshibot_running", "1 when the trade loop is running with a fresh heartbeat",
            run["state"] == "running")
    hb = run.get("heartbeat")
    _metric(lines, "kalshibot_heartbeat_age_seconds", "Seconds since the last heartbeat",
            hb["age_s"] if hb else None)
    _metric(lines, "kalshibot_last_cycle_duration_ms", "Duration of the last cycle, ms",
            hb["cycle_ms"] if hb else None)
    acct, pnl = doc["account"], doc["pnl"]
    for key, name, help_ in (("cash", "cash_dollars", "Cash, dollars"),
                             ("equity", "equity_dollars", "Cash plus marked positions, dollars")):
        _metric(lines, f"kalshibot_{name}", help_, acct.get(key))
    first = True
    for period in ("today", "all_time"):
        for part in ("total", "realized", "unrealized", "fees"):
            _metric(lines, "kalshibot_pnl_dollars",
                    "P&L by period (trading day, all_time) and part (fees as paid), dollars",
                    pnl[period][part], {"period": period, "part": part}, header=first)
            first = False
    _metric(lines, "kalshibot_open_positions", "Markets with an open position",
            len(doc["positions"]))
    _metric(lines, "kalshibot_resting_orders", "Orders not yet final (resting or unresolved)",
            len(doc["resting_orders"]))
    risk = doc["risk"]
    _metric(lines, "kalshibot_circuit_breaker_tripped", "1 when the circuit breaker is tripped",
            risk["circuit_breaker"]["tripped"])
    _metric(lines, "kalshibot_kill_switch", "1 when the kill-switch file exists",
            risk["kill_switch"]["on"])
    _metric(lines, "kalshibot_entries_blocked", "1 when new entries are blocked",
            bool(risk["entries_blocked"]))
    _metric(lines, "kalshibot_daily_loss_limit_reached", "1 when the daily loss limit is hit",
            risk["daily_loss_limit_reached"])
    first = True
    for lim in risk["limits"]:
        _metric(lines, "kalshibot_limit_used", "Limit usage (unit label: dollars, fraction, "
                "markets)", lim["used"], {"limit": lim["name"], "unit": lim["unit"]},
                header=first)
        first = False
    first = True
    for lim in risk["limits"]:
        _metric(lines, "kalshibot_limit_allowed", "Limit maximum (unit label as used)",
                lim["allowed"], {"limit": lim["name"], "unit": lim["unit"]}, header=first)
        first = False
    _metric(lines, "kalshibot_recent_errors", "Errors within the status error window",
            doc["errors"]["count"])
    model = doc.get("model")
    _metric(lines, "kalshibot_model_age_seconds", "Age of the current model, seconds",
            None if model is None else f"{model['age_hours'] * 3600:.0f}")
    return "\n".join(lines) + "\n"
