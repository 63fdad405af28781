"""`kalshibot markets`: list and search markets stored in the SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from kalshibot.cli.context import console, settings
from kalshibot.cli.render import price, print_json, print_table
from kalshibot.errors import UserInputError


def _volume(v: object) -> str:
    """Contracts traded, thousands separated, no trailing zeros (``0`` stays ``0``)."""
    text = f"{v:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _p(x: object) -> str:
    return price(x)


def markets(
    series: list[str] = typer.Option([], "--series", "-s", help="Series ticker (repeatable)."),
    event: str | None = typer.Option(None, "--event", "-e", help="Event ticker."),
    status: str = typer.Option("open", "--status", help="open | unopened | closed | settled | "
                               "all, or a stored status such as finalized."),
    search: str | None = typer.Option(None, "--search", "-q", help="Text in ticker or title."),
    limit: int = typer.Option(50, "--limit", "-n", help="Most rows to show (0 = all)."),
    db: Path | None = typer.Option(None, "--db", help="Database file (default: KALSHIBOT_DB_PATH, else by mode)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List/search stored markets with the latest stored yes bid/ask, spread and volume; a
    market the bot will not trade (a fee type, tick structure or status it does not know) says
    why."""
    from kalshibot.store import open_store
    from kalshibot.store.markets import market_quotes, shown_status

    if limit < 0:
        raise UserInputError("--limit must be >= 0")
    path = db if db is not None else settings().database_path
    if not Path(path).exists():
        raise UserInputError(f"database {path} does not exist",
                             hint="run `kalshibot data sample` or `kalshibot data import` first")
    now = datetime.now(UTC)
    conn = open_store(path)
    try:
        rows = market_quotes(conn, series=series, event=event, status=status, text=search,
                             limit=limit or None, now=now)
    finally:
        conn.close()
    if as_json:
        print_json({"markets": [{
            "ticker": q.market.ticker, "event_ticker": q.market.event_ticker,
            "series_ticker": q.market.series_ticker, "title": q.market.title,
            "status": shown_status(q.market, now), "stored_status": q.market.status.value,
            "result": q.market.result.value,
            "yes_bid": None if q.yes_bid is None else q.yes_bid.to_str(),
            "yes_ask": None if q.yes_ask is None else q.yes_ask.to_str(),
            "spread": None if q.spread is None else format(q.spread, "f"),
            "volume": format(q.volume, "f"),
            "close_time": q.market.close_time.isoformat(),
            "quote_time": None if q.quote_time is None else q.quote_time.isoformat(),
            "untradeable": q.market.untradeable or None,
        } for q in rows]})
        return
    if not rows:
        console.print(f"no markets with status {status!r} match"
                      + ("" if status == "all" else " (try --status all)"))
        return
    notes = any(q.market.untradeable for q in rows)
    wide = console.width >= 120  # the title is the first column to go on a narrow terminal
    print_table(f"{len(rows)} market(s)", ["ticker"] + (["title"] if wide else [])
                + ["status", "yes bid", "yes ask", "spread", "volume", "close (UTC)"]
                + (["not traded because"] if notes else []),
                [(q.market.ticker, *((q.market.title,) if wide else ()),
                  shown_status(q.market, now) + (f" ({q.market.result.value})"
                                           if q.market.result.value else ""),
                  _p(q.yes_bid), _p(q.yes_ask),
                  price(q.spread),
                  _volume(q.volume),
                  f"{q.market.close_time:%Y-%m-%d %H:%M}" if wide
                  else f"{q.market.close_time:%m-%d %H:%M}")
                 + ((q.market.untradeable or "-",) if notes else ()) for q in rows])
