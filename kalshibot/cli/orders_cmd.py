"""`kalshibot orders list` / `kalshibot orders cancel ORDER_ID`.

``cancel`` previews the order and asks for confirmation unless ``--yes``. For the ``kalshi``
venue it cancels at the exchange (``KalshiExchange.from_settings``) and then updates the local
record. Paper and sim venues are simulated inside a running ``kalshibot trade`` process only, so
for them the command marks the local record cancelled (the running process no longer manages
it; a restarted session does not restore simulated resting orders). Both are audited in the log.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from kalshibot.cli import status_cmd
from kalshibot.cli.context import console, settings
from kalshibot.cli.render import price, print_json
from kalshibot.cli.risk_cmd import ask, audit, audit_ready
from kalshibot.cli.status_cmd import DB_HELP, SIM_HELP, _grid, open_db, resolve_db
from kalshibot.domain.orders import OrderStatus
from kalshibot.errors import ExchangeRejectedError, UserInputError
from kalshibot.live_gate import check_live_gate
from kalshibot.store.orders import OrderRecord

LIVE_HELP = ("Required when the database's venue is kalshi (requests to your real account); "
             "with KALSHIBOT_MODE=live and keys (README: Trading live).")

orders_app = typer.Typer(name="orders", help="List local orders; cancel one (preview unless --yes).",
                         no_args_is_help=True)
NOT_FINAL = (OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_SUBMIT,
             OrderStatus.OUTCOME_UNKNOWN)


def _row(o: OrderRecord) -> list[object]:
    return [o.client_order_id, o.order_id or "-", o.ticker,
            f"{o.action.value} {o.count} {o.side.value}", price(o.price), str(o.filled),
            o.status.value, o.strategy or "-", f"{o.created:%Y-%m-%d %H:%M:%S}",
            o.last_error or ""]


COLUMNS = ["client order id", "order id", "market", "order", "price", "filled", "status",
           "strategy", "created (UTC)", "last error"]


def _doc(o: OrderRecord) -> dict[str, object]:
    return {"client_order_id": o.client_order_id, "order_id": o.order_id, "ticker": o.ticker,
            "side": o.side.value, "action": o.action.value, "price": o.price.to_str(),
            "count": o.count.to_str(), "filled": o.filled.to_str(), "status": o.status.value,
            "strategy": o.strategy, "fees": o.fees.to_str(), "created": o.created.isoformat(),
            "updated": o.updated.isoformat(), "last_error": o.last_error}


@orders_app.command("list")
def list_cmd(
    status: str = typer.Option("open", "--status", help="open (not final: resting, partially filled, unresolved), all, or one status."),
    ticker: str = typer.Option(None, "--ticker", "-t", help="Only this market."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
) -> None:
    """Local orders (oldest first). Prices are of the order's side, dollars per contract."""
    from kalshibot.store.orders import list_orders

    if status == "open":
        statuses: tuple[OrderStatus, ...] = NOT_FINAL
    elif status == "all":
        statuses = ()
    else:
        try:
            statuses = (OrderStatus(status),)
        except ValueError:
            raise UserInputError(f"--status {status!r}: open, all or one of "
                                 f"{', '.join(x.value for x in OrderStatus)}") from None
    s = settings()
    conn = open_db(resolve_db(s, db, sim))
    try:
        rows = list_orders(conn, statuses=statuses, ticker=ticker)
    finally:
        conn.close()
    if as_json:
        print_json([_doc(o) for o in rows])
        return
    console.print(_grid(f"Orders ({status})", COLUMNS, [_row(o) for o in rows], "none"))


def _venue(conn: object, path: Path, live_db: Path) -> str:
    from kalshibot.store.runs import latest_run

    run = latest_run(conn)  # type: ignore[arg-type]
    if run is not None:
        return run.exchange
    return "kalshi" if path.resolve() == live_db.resolve() else "paper"


@orders_app.command("cancel")
def cancel_cmd(
    order_id: str = typer.Argument(..., help="Client order id or exchange order id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Cancel without the preview question."),
    live: bool = typer.Option(False, "--live", help=LIVE_HELP),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
) -> None:
    """Cancel one order: at Kalshi for the kalshi venue, locally for paper/sim."""
    from kalshibot.store.connection import atomic
    from kalshibot.store.orders import find_by_order_id, get_order, update_order

    s, path, clock, conn = status_cmd.open_for_change(db, sim)
    try:
        rec = get_order(conn, order_id) or find_by_order_id(conn, order_id)
        if rec is None:
            raise UserInputError(f"no order {order_id!r} in {path}",
                                 hint="see `kalshibot orders list`")
        venue = _venue(conn, path, s.data_dir / "live.sqlite")
        console.print(_grid(f"Cancel preview ({venue} venue, {path})", COLUMNS, [_row(rec)], ""))
        if rec.status.is_terminal:
            raise UserInputError(f"order {order_id} is already {rec.status.value}")
        if venue != "kalshi":
            console.print(f"The {venue} venue is simulated inside a running `kalshibot trade` "
                          "only: this marks the local record cancelled; the running process "
                          "stops managing it and a restarted session does not restore it.",
                          highlight=False)
        elif rec.order_id is None:
            raise UserInputError(f"order {order_id} has no exchange order id yet "
                                 f"({rec.status.value}); the trade loop resolves it first")
        else:  # a request to the real account: the live checklist (the question below, or
            # --yes, is the prod confirmation)
            check_live_gate(s, venue=venue, live_flag=live, yes=True, confirm=None)
        if not yes and not ask(f"Cancel order {rec.client_order_id}?"):
            audit(s, "order_cancel", "order cancel declined", client_order_id=rec.client_order_id,
                  order_id=rec.order_id, venue=venue, outcome="declined")
            console.print("Not cancelled.")
            raise typer.Exit(1)
        audit_ready(s)  # no cancel that cannot be audited
        now = clock.now()
        if venue == "kalshi":
            from kalshibot.kalshi.exchange import KalshiExchange

            ex = KalshiExchange.from_settings(s, clock)
            try:
                ex.cancel_order(rec.order_id or "", rec.ticker)
            except ExchangeRejectedError as exc:
                audit(s, "order_cancel", f"exchange refused the cancel: {exc}",
                      client_order_id=rec.client_order_id, order_id=rec.order_id, venue=venue,
                      outcome="refused")
                raise
            note = "cancelled at the exchange by `kalshibot orders cancel`"
        else:
            note = f"cancelled locally by `kalshibot orders cancel` ({venue} venue)"
        with atomic(conn):  # the audit record is written before the change commits
            update_order(conn, rec.client_order_id, now=now, status=OrderStatus.CANCELLED,
                         last_error=note)
            audit(s, "order_cancel", note, client_order_id=rec.client_order_id,
                  order_id=rec.order_id, ticker=rec.ticker, venue=venue, outcome="cancelled",
                  database=str(path))
        console.print(f"[green]Order {rec.client_order_id} cancelled[/green] ({note}).")
    finally:
        conn.close()


@orders_app.command("cancel-all")
def cancel_all_cmd(
    ticker: str = typer.Option(None, "--ticker", help="Only orders in this market."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Act; without it only the preview is shown."),
    live: bool = typer.Option(False, "--live", help=LIVE_HELP),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
) -> None:
    """Cancel every resting order (preview by default; --yes acts): at Kalshi for the kalshi
    venue (batched: one request per 20 orders), locally for paper/sim. Orders whose outcome is
    unknown are left to the trade loop."""
    from kalshibot.store.connection import atomic
    from kalshibot.store.orders import list_orders, update_order

    s, path, clock, conn = status_cmd.open_for_change(db, sim)
    try:
        venue = _venue(conn, path, s.data_dir / "live.sqlite")
        rows = list_orders(conn, statuses=(OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED),
                           ticker=ticker)
        console.print(_grid(f"Resting orders to cancel ({venue} venue, {path})", COLUMNS,
                            [_row(o) for o in rows], "none"))
        if not rows:
            return
        if venue == "kalshi":  # requests to the real account: the live checklist first
            check_live_gate(s, venue=venue, live_flag=live, yes=True, confirm=None)
        if not yes:
            console.print(f"Preview only: run again with --yes to cancel {len(rows)} order(s).")
            return
        refused: dict[str, str] = {}
        audit_ready(s)  # no cancel that cannot be audited
        if venue == "kalshi":
            from kalshibot.kalshi.exchange import KalshiExchange

            # one batched request per 20 orders (2 tokens each), not one request per order
            answer = KalshiExchange.from_settings(s, clock).cancel_orders(
                [(r.order_id or "", r.ticker) for r in rows])
            refused = {oid: why for oid, why in answer.items() if why}
        done = failed = 0
        # Local (paper/sim) cancels and their audit record commit together: no audit, no
        # change. Exchange cancels cannot be undone; the audit then fails the command (exit 3).
        together = atomic(conn) if venue != "kalshi" else contextlib.nullcontext(conn)
        with together:
            for rec in rows:
                now = clock.now()
                if venue == "kalshi":
                    why = refused.get(rec.order_id or "")
                    if why is not None:
                        failed += 1
                        console.print(f"[yellow]{rec.client_order_id}: not cancelled: {why}"
                                      "[/yellow]", highlight=False)
                        continue
                    note = "cancelled at the exchange by `kalshibot orders cancel-all`"
                else:
                    note = f"cancelled locally by `kalshibot orders cancel-all` ({venue} venue)"
                with atomic(conn):
                    update_order(conn, rec.client_order_id, now=now,
                                 status=OrderStatus.CANCELLED, last_error=note)
                done += 1
            audit(s, "order_cancel", f"cancel-all: {done} cancelled, {failed} refused",
                  venue=venue, database=str(path), cancelled=done, refused=failed)
        console.print(f"[green]{done} order(s) cancelled[/green]" +
                      (f", {failed} refused (see above)" if failed else ""))
        if failed:
            raise typer.Exit(1)
    finally:
        conn.close()
