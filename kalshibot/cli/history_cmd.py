"""`kalshibot history`: our fills (trades) with filters, as a rich table or CSV.

Prices are the price of the fill's side in dollars per contract, counts contracts, fees and
notional exact dollars (``Money``); times UTC.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import typer

from kalshibot.cli import status_cmd
from kalshibot.cli.context import console, settings
from kalshibot.cli.options import parse_when
from kalshibot.cli.render import money, price
from kalshibot.cli.status_cmd import DB_HELP, SIM_HELP, _grid, open_db, resolve_db
from kalshibot.domain.money import Count, Money, Price
from kalshibot.errors import StoreError, UserInputError
from kalshibot.store.connection import store_failure
from kalshibot.store.units import ms_ts, ts_ms

CSV_COLUMNS = ("ts", "fill_id", "order_id", "client_order_id", "ticker", "series", "strategy",
               "side", "action", "price", "count", "notional", "fee", "is_taker")


@dataclass(frozen=True, slots=True)
class FillRow:
    """One stored fill with its series and strategy."""

    ts: datetime
    fill_id: str
    order_id: str
    client_order_id: str | None
    ticker: str
    series: str
    strategy: str
    side: str
    action: str
    price: Price  # dollars per contract of ``side``
    count: Count  # contracts
    fee: Money  # dollars
    is_taker: bool

    @property
    def notional(self) -> Money:
        """price x count, dollars (fees excluded)."""
        return Money(self.price.value * self.count.value)



def query_fills(conn: sqlite3.Connection, *, ticker: str | None = None,
                series: str | None = None, strategy: str | None = None,
                side: str | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int | None = None) -> list[FillRow]:
    """Fills oldest first; ``series`` matches the market's series (or the ticker prefix)."""
    sql = ("SELECT f.ts, f.fill_id, f.order_id, f.client_order_id, f.ticker, "
           "COALESCE(m.series_ticker, ''), COALESCE(f.strategy, ''), f.side, f.action, f.price, "
           "f.count, f.fee, f.is_taker FROM fills f LEFT JOIN markets m ON m.ticker = f.ticker "
           "WHERE 1=1")
    args: list[object] = []
    if ticker:
        sql += " AND f.ticker = ?"
        args.append(ticker)
    if series:
        sql += " AND (m.series_ticker = ? OR (m.ticker IS NULL AND f.ticker LIKE ?))"
        args += [series, series + "-%"]
    if strategy:
        sql += " AND f.strategy = ?"
        args.append(strategy)
    if side:
        sql += " AND f.side = ?"
        args.append(side)
    if since is not None:
        sql += " AND f.ts >= ?"
        args.append(ts_ms(since))
    if until is not None:
        sql += " AND f.ts < ?"
        args.append(ts_ms(until))
    sql += " ORDER BY f.ts, f.fill_id"
    rows = conn.execute(sql, args).fetchall()
    if limit:
        rows = rows[-limit:]
    return [FillRow(ms_ts(r[0]), r[1], r[2], r[3], r[4], r[5] or r[4].split("-", 1)[0], r[6],
                    r[7], r[8], Price(Decimal(r[9])), Count(Decimal(r[10])), Money(Decimal(r[11])),
                    bool(r[12])) for r in rows]


def write_csv(rows: list[FillRow], out: TextIO | None = None) -> None:
    w = csv.writer(out or sys.stdout, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([r.ts.isoformat(), r.fill_id, r.order_id, r.client_order_id or "", r.ticker,
                    r.series, r.strategy, r.side, r.action, r.price.to_str(), r.count.to_str(),
                    r.notional.to_str(), r.fee.to_str(), int(r.is_taker)])


def history(
    ticker: str = typer.Option(None, "--ticker", "-t", help="Only this market."),
    series: str = typer.Option(None, "--series", "-s", help="Only this series, e.g. KXBTC15M."),
    strategy: str = typer.Option(None, "--strategy", help="Only fills of orders from this strategy."),
    side: str = typer.Option(None, "--side", help="yes or no."),
    since: str = typer.Option(None, "--since", help="From this time (ISO, UTC) or 30m/6h/7d ago."),
    until: str = typer.Option(None, "--until", help="Before this time (ISO, UTC) or 30m/6h/7d ago."),
    limit: int = typer.Option(None, "--limit", "-n", min=1, help="Only the newest N fills."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout (exact decimal dollars)."),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    sim: bool = typer.Option(False, "--sim", help=SIM_HELP),
) -> None:
    """List our fills (trades) with filters; totals of contracts, notional and fees."""
    if side is not None and side not in ("yes", "no"):
        raise UserInputError("--side must be yes or no")
    s = settings()
    now = status_cmd._clock().now()
    t0, t1 = parse_when(since, "--since", now), parse_when(until, "--until", now)
    path = resolve_db(s, db, sim)
    conn = open_db(path)
    try:
        rows = query_fills(conn, ticker=ticker, series=series, strategy=strategy, side=side,
                           since=t0, until=t1, limit=limit)
    except sqlite3.Error as exc:
        raise store_failure(exc, path) or StoreError(f"cannot read fills: {exc}") from exc
    finally:
        conn.close()
    if as_csv:
        write_csv(rows)
        return
    console.print(_grid("Fills (oldest first)",
                        ["time", "market", "strategy", "order", "price", "notional", "fee",
                         "taker"],
                        [[f"{r.ts:%Y-%m-%d %H:%M:%S}", r.ticker, r.strategy or "-",
                          f"{r.action} {r.count} {r.side}", price(r.price), money(r.notional),
                          money(r.fee), "yes" if r.is_taker else "no"] for r in rows],
                        "no fills match"))
    if rows:
        n = sum((r.count.value for r in rows), Decimal(0))
        notional = Money(sum((r.notional.amount for r in rows), Decimal(0)))
        fees = Money(sum((r.fee.amount for r in rows), Decimal(0)))
        console.print(f"{len(rows)} fills, {Count(n)} contracts, notional {money(notional)}, "
                      f"fees {money(fees)}", highlight=False)
