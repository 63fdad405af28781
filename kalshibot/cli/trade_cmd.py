"""`kalshibot trade`: run the trading loop with a live rich view and a session summary."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from kalshibot.cli.context import console, lock_for_writing, settings, terminal_confirm
from kalshibot.cli.options import parse_when, positive_seconds, split_list
from kalshibot.cli.render import money, price, print_json, print_table
from kalshibot.domain.money import Count
from kalshibot.engine import CycleReport
from kalshibot.errors import UserInputError
from kalshibot.live_gate import check_live_gate
from kalshibot.session import Session, SessionOptions, SessionSummary, Stopper


def _position(qty: Count) -> str:
    """Signed net contracts (+ YES, - NO) as e.g. ``NO 356.78``."""
    if not qty:
        return "-"
    return f"{'YES' if qty.value > 0 else 'NO'} {abs(qty)}"


def cycle_view(r: CycleReport, height: int | None = None) -> Group:
    """The live view: one line per market, as many as fit ``height`` (default: the console's)
    above the two status lines, which always show."""
    height = height or console.height
    fit = max(1, height - 9)  # title, header (3), bottom border, status (2), "more", spare
    t = Table(title=f"cycle {r.cycle} at {r.now:%Y-%m-%d %H:%M:%S}Z  "
                    f"({r.duration_ms:.0f} ms)", title_justify="left", header_style="bold")
    for c in ("market", "model p", "yes bid", "yes ask", "edge", "position", "P&L", "decision"):
        t.add_column(c, no_wrap=True, overflow="ellipsis",
                     min_width=None if c != "market" else min(24, max(
                         [6] + [len(x.ticker) for x in r.rows[:fit]])))
    for row in r.rows[:fit]:
        t.add_row(row.ticker, "-" if row.p_yes is None else f"{row.p_yes:.3f}",
                  price(row.yes_bid), price(row.yes_ask),
                  "-" if row.edge is None else f"{row.edge:+.4f}", _position(row.position),
                  money(row.pnl), f"{row.verdict}: {row.reason[:80]}")
    more = len(r.rows) - fit
    status = Table.grid(padding=(0, 2))
    status.add_row(f"equity {money(r.equity)}", f"cash {money(r.cash)}",
                   f"today {money(r.day_pnl)}", f"breaker: {r.breaker}",
                   f"kill switch: {'ON' if r.kill_switch else 'off'}")
    alerts = "; ".join(r.errors[:3]) or (r.entries_blocked and f"entries blocked: "
                                         f"{r.entries_blocked}") or "no alerts"
    status.add_row(f"markets {r.markets}" + (f" ({more} not shown)" if more > 0 else ""),
                   f"orders sent {r.orders_sent}", f"fills {r.fills}", f"alerts: {alerts}")
    for col in status.columns:
        col.no_wrap, col.overflow = True, "ellipsis"
    return Group(t, status)


def render_summary(s: SessionSummary) -> None:
    print_table(f"session {s.run_id} ({s.venue}, strategy {s.strategy})", ["", ""], [
        ("stopped because", s.stop_text()),
        ("cycles", s.cycles),
        ("session time", f"{s.started:%Y-%m-%d %H:%M:%S}Z -> {s.ended:%Y-%m-%d %H:%M:%S}Z"
         if s.started and s.ended else "-"),
        ("orders sent", s.orders_sent),
        ("fills", s.fills),
        ("errors", s.errors),
        ("equity start -> end", f"{money(s.start_equity)} -> {money(s.end_equity)}"),
        ("session P&L (equity change)", money(s.pnl)),
        ("session realized P&L", money(s.realized)),
        ("session fees paid", money(s.fees)),
        ("lifetime realized P&L", money(s.lifetime_realized)),
        ("lifetime fees paid", money(s.lifetime_fees)),
        ("open positions", s.open_positions),
        ("database", s.database),
    ])


def trade(
    tickers: list[str] = typer.Option(None, "--tickers", "-t", help="Market tickers (comma-separated or repeated)."),
    series: list[str] = typer.Option(None, "--series", "-s", help="Series tickers, e.g. KXBTC15M (comma-separated or repeated)."),
    strategy: str = typer.Option(None, "--strategy", help="edge (model vs market), crypto (15-minute digital) or meanrev. Default: KALSHIBOT_STRATEGY."),
    exchange: str = typer.Option("paper", "--exchange", help="paper (live data, simulated fills; default), sim (stored data, simulated clock) or kalshi (real orders, needs --live)."),
    interval: float = typer.Option(None, "--interval", help="Seconds between cycles (session clock). Default: KALSHIBOT_TRADING_INTERVAL_S."),
    live: bool = typer.Option(False, "--live", help="Send real orders to Kalshi: needs --exchange kalshi, KALSHIBOT_MODE=live and keys (README: Trading live)."),
    yes: bool = typer.Option(False, "--yes", help="Prod + live: confirm without the question (KALSHIBOT_CONFIRM_PROD_LIVE=true is still required)."),
    train: bool = typer.Option(False, "--train", help="Train the model first (edge strategy)."),
    duration: float = typer.Option(None, "--duration", help="Stop after this many seconds of session time."),
    max_cycles: int = typer.Option(None, "--max-cycles", help="Stop after this many cycles."),
    fresh: bool = typer.Option(False, "--fresh", help="sim: discard the previous sim account and clock and start over."),
    start: str = typer.Option(None, "--start", help="sim: clock start (ISO time, UTC), e.g. 2026-11-20T10:00Z."),
    db: Path = typer.Option(None, "--db", help="Database file, as KALSHIBOT_DB_PATH: the store paper/kalshi write, the market data sim replays (default: from config)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live view; only the summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the session summary as JSON."),
) -> None:
    """Run the trading loop. Paper trading by default; --exchange sim replays stored data.

    Ctrl-C or SIGTERM finishes the cycle, cancels resting orders (KALSHIBOT_CANCEL_ON_EXIT),
    writes a final heartbeat and prints the session summary. A paper/kalshi session that gets
    no market data for KALSHIBOT_MAX_FAILED_CYCLES cycles in a row (or in any cycle) stops
    with exit 4.
    """
    if max_cycles is not None and max_cycles < 1:
        raise UserInputError("--max-cycles must be at least 1")
    interval_s = positive_seconds(interval, "--interval")
    duration_s = positive_seconds(duration, "--duration")
    real_orders = live or exchange == "kalshi"
    # A flag never switches live mode on: paper and sim run as paper (their own database);
    # the kalshi venue takes the mode from the configuration and the live gate checks it.
    s = settings(uses=("exchange",) if exchange != "sim" else (),
                 mode=None if real_orders else "paper", db_path=db)
    if real_orders:
        check_live_gate(s, venue=exchange, live_flag=live, yes=yes, confirm=terminal_confirm())
    opts = SessionOptions(exchange=exchange, strategy=strategy, series=split_list(series),
                          tickers=split_list(tickers), interval_s=interval_s,
                          max_cycles=max_cycles, duration_s=duration_s, live=live, fresh=fresh,
                          confirmed=real_orders, start=parse_when(start, "--start"))
    lock_for_writing(Session.state_path(s, opts))  # before --train writes the registry
    if train:
        from kalshibot.cli.train_cmd import train_for_trading

        train_for_trading(s, series=list(split_list(series)), tickers=list(split_list(tickers)))
    session = Session.create(s, opts)
    stopper = Stopper()
    stopper.install()
    show = not quiet and not as_json and console.is_terminal
    if show:
        with Live(console=console, refresh_per_second=4, transient=False) as live_view:
            session.on_cycle = lambda r: live_view.update(cycle_view(r))
            summary = session.run(stopper)
    else:
        summary = session.run(stopper)
    if as_json:
        print_json(summary.as_dict())
    else:
        render_summary(summary)
    failure = summary.failure()
    if failure is not None:  # the summary is printed; then one line and exit 4
        raise failure
