"""`kalshibot positions list` / `kalshibot positions close-all` (preview unless --yes).

``close-all`` sells every open position at the best bid with reduce-only IOC orders that go
through the order manager (each order is written to the store before it is sent, synced to disk
for the ``kalshi`` venue; fills are recorded once). Like the engine, it first asks the exchange
what became of orders whose outcome is unknown, and sends nothing in a market where one still
is (a new exit under a new id could sell twice). For the ``kalshi`` venue the orders are real;
for ``paper`` the fills are simulated against Kalshi's public books, as in paper trading.
Positions in the ``sim`` venue exist only inside a simulated session and close at their
markets' results there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import typer

from kalshibot.cli import status_cmd
from kalshibot.cli.context import console, settings
from kalshibot.cli.orders_cmd import LIVE_HELP, _venue
from kalshibot.cli.render import money, price, print_json, signed_money
from kalshibot.cli.risk_cmd import audit, audit_ready
from kalshibot.cli.status_cmd import DB_HELP, SIM_HELP, _grid, open_db, resolve_db
from kalshibot.domain.fees import FeeSchedule, order_fee
from kalshibot.domain.money import Money
from kalshibot.domain.orders import Action, OrderIntent, TimeInForce
from kalshibot.domain.portfolio import Portfolio, Position
from kalshibot.errors import UserInputError
from kalshibot.exchange import Exchange
from kalshibot.live_gate import check_live_gate

positions_app = typer.Typer(name="positions",
                            help="Open positions; close them all (preview unless --yes).",
                            no_args_is_help=True)
COLUMNS = ["market", "side", "contracts", "avg cost", "cost", "realized", "fees"]


def _row(p: Position) -> list[object]:
    avg = p.average_cost
    return [p.ticker, p.side.value if p.side else "-", p.contracts,
            price(avg), money(p.cost), signed_money(p.realized_pnl), money(p.fees)]


@positions_app.command("list")
def list_cmd(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Open positions in the store (contracts, average cost, cost, realized P&L, fees)."""
    from kalshibot.store.positions import load_positions

    s = settings()
    conn = open_db(resolve_db(s, db, sim))
    try:
        pos = list(load_positions(conn, open_only=True).values())
    finally:
        conn.close()
    if as_json:
        print_json({"positions": [{"ticker": p.ticker, "side": p.side.value if p.side else None,
                                   "contracts": p.contracts.to_str(), "cost": p.cost.to_str(),
                                   "realized_pnl": p.realized_pnl.to_str(),
                                   "fees": p.fees.to_str()} for p in pos]})
        return
    console.print(_grid("Open positions", COLUMNS, [_row(p) for p in pos], "none"))


def _schedule(conn: sqlite3.Connection, ticker: str) -> FeeSchedule:
    """The stored market's fee schedule (series fee type and multiplier, event overrides, fee
    waiver); Kalshi's default quadratic taker schedule for a market never stored."""
    from kalshibot.store.markets import get_market

    m = get_market(conn, ticker)
    return FeeSchedule() if m is None else m.fee_schedule


@positions_app.command("close-all")
def close_all_cmd(
    yes: bool = typer.Option(False, "--yes", "-y", help="Act; without it only the preview is shown."),
    live: bool = typer.Option(False, "--live", help=LIVE_HELP),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
) -> None:
    """Sell every open position at the best bid (reduce-only IOC): preview by default."""
    from kalshibot.execution import OrderManager, new_client_order_id
    from kalshibot.store.connection import atomic
    from kalshibot.store.fills import list_fills
    from kalshibot.store.positions import load_positions, save_positions
    from kalshibot.store.settlements import list_settlements

    s, path, clock, conn = status_cmd.open_for_change(db, sim)
    try:
        venue = _venue(conn, path, s.data_dir / "live.sqlite")
        positions = list(load_positions(conn, open_only=True).values())
        if not positions:
            console.print("No open positions.")
            return
        if venue == "sim":
            raise UserInputError("positions of the sim venue exist only inside a simulated "
                                 "session: they close at their markets' results in "
                                 "`kalshibot trade --exchange sim`")
        from kalshibot.kalshi.exchange import KalshiExchange

        if venue == "kalshi":  # real sell orders: the live checklist (confirmed by --yes)
            check_live_gate(s, venue=venue, live_flag=live, yes=True, confirm=None)
            ex: Exchange = KalshiExchange.from_settings(s, clock)
        else:
            from kalshibot.sim.account import SimAccount
            from kalshibot.sim.paper import PaperExchange

            account = SimAccount(Money(0), prefix=f"close{new_client_order_id('')[-8:]}",
                                 direct_member=s.direct_member)
            pf = Portfolio(Money(0), {})
            for f in list_fills(conn):
                pf = pf.with_fill(f)
            for st in list_settlements(conn):
                pf = pf.with_settlement(st.ticker, st.result, st.value)
            account.portfolio = pf
            ex = PaperExchange(KalshiExchange.from_settings(s, clock, public_only=True), clock,
                               account)
        om = OrderManager(conn, ex, strategy="close-all", durable=venue == "kalshi")
        waiting = om.blocked_markets()  # an earlier order's outcome is unknown there
        books = ex.get_orderbooks([p.ticker for p in positions])
        plan = []
        for p in positions:
            assert p.side is not None
            bid = books[p.ticker].best_bid(p.side) if p.ticker in books else None
            fee = (order_fee(p.contracts, bid.price, is_taker=True, schedule=_schedule(conn, p.ticker),
                             direct_member=s.direct_member, at=clock.now())
                   if bid is not None else None)
            plan.append((p, bid, fee))
        console.print(_grid(f"Close-all preview ({venue} venue, {path})",
                            ["market", "side", "contracts", "best bid", "size at bid",
                             "est. proceeds", "taker fee"],
                            [[p.ticker, p.side.value if p.side else "-", p.contracts,
                              "-" if b is None else price(b.price),
                              "-" if b is None else b.size,
                              "-" if b is None else money((b.price * p.contracts).round_down()),
                              "-" if f is None else money(f)] for p, b, f in plan], ""))
        for t in sorted(waiting & {p.ticker for p in positions}):
            console.print(f"[yellow]{t}: an earlier order's outcome is unknown: it is resolved "
                          "first, and the position is not sold while it stays unknown[/yellow]",
                          highlight=False)
        if not yes:
            console.print("Preview only: run again with --yes to sell at the best bid "
                          "(IOC: whatever does not fill at that price is cancelled).")
            return
        audit_ready(s)  # no orders that cannot be audited
        om.resolve_unknown(clock.now())
        waiting = om.blocked_markets()
        sent = skipped = 0
        for p, bid, _ in plan:
            if p.ticker in waiting:
                skipped += 1
                console.print(f"[yellow]{p.ticker}: an earlier order's outcome is still unknown: "
                              "not sold (run again once it is resolved)[/yellow]",
                              highlight=False)
                continue
            if bid is None or p.side is None:
                skipped += 1
                console.print(f"[yellow]{p.ticker}: no bid, not sold[/yellow]", highlight=False)
                continue
            intent = OrderIntent(p.ticker, p.side, Action.SELL, bid.price, p.contracts,
                                 new_client_order_id(), TimeInForce.IOC, reduce_only=True)
            res = om.submit(intent, clock.now())
            sent += 1
            console.print(f"{p.ticker}: {res.message}", highlight=False)
        fills = om.sync_fills(clock.now())
        pf = Portfolio(Money(0), {})
        for f in list_fills(conn):
            pf = pf.with_fill(f)
        for st in list_settlements(conn):
            pf = pf.with_settlement(st.ticker, st.result, st.value)
        with atomic(conn):
            save_positions(conn, pf.positions.values(), now=clock.now())
        audit(s, "positions_close_all", f"close-all: {sent} orders, {len(fills)} fills, "
              f"{skipped} not sold (no bid or an unresolved order)", venue=venue,
              database=str(path))
        console.print(f"[green]{sent} order(s) sent, {len(fills)} fill(s)[/green]"
                      + (f", {skipped} position(s) not sold" if skipped else ""))
    finally:
        conn.close()
