"""`kalshibot data ...`: fill the store with market data.

- ``data import``: CSV/parquet files in documented layouts, or known dataset folders
  (docs/data-import.md).
- ``data sample``: a seeded synthetic dataset (``kalshibot.sim.sample``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from kalshibot.cli.context import console, settings
from kalshibot.cli.render import print_json, print_table
from kalshibot.errors import UserInputError

data_app = typer.Typer(
    name="data", help="Fill the SQLite store: import files, generate a sample dataset.",
    no_args_is_help=True,
)

MAX_ISSUES_SHOWN = 20


def _db(db: Path | None) -> Path:
    return db if db is not None else settings().database_path


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
    db: Path | None = typer.Option(None, "--db", help="Database file (default: from config)."),
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

                def tick(n: int, task: int = task) -> None:
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
    db: Path | None = typer.Option(None, "--db", help="Database file (default: from config)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Generate a seeded synthetic dataset (15-minute crypto and bracket events) into the store."""
    from kalshibot.sim.sample import SampleConfig, generate_sample
    from kalshibot.store import open_store

    end_ts = None
    if end:
        try:
            end_ts = datetime.fromisoformat(end.replace("Z", "+00:00"))
        except ValueError:
            raise UserInputError(f"--end {end!r} is not an ISO date/time") from None
        end_ts = end_ts.replace(tzinfo=UTC) if end_ts.tzinfo is None else end_ts
    cfg = SampleConfig(days=days, seed=seed, series=tuple(series), end=end_ts)
    from kalshibot.sim.sample import validate

    validate(cfg)
    conn = open_store(_db(db))
    try:
        with _progress() as prog:
            task = prog.add_task("generating", total=None)
            summary = generate_sample(conn, cfg, progress=lambda m: prog.update(task,
                                                                                 description=m))
    finally:
        conn.close()
    if as_json:
        print_json({"start": summary.start.isoformat(), "end": summary.end.isoformat(),
                    "rows": summary.rows, "markets_by_series": summary.markets_by_series})
        return
    print_table(f"sample data {summary.start:%Y-%m-%d %H:%M} to {summary.end:%Y-%m-%d %H:%M} UTC "
                f"(seed {seed})", ["table", "new rows"],
                [(k, f"{v:,}") for k, v in summary.rows.items()])


# --- `data sync` and `data record` (issue 4 items 2-3) go here -------------------------------
# Another engineer adds them to ``data_app`` in this file:
#   @data_app.command("sync")    download markets/events/series/candles/trades/settlements
#   @data_app.command("record")  poll live order books and spot prices into the store
# Use ``kalshibot.store`` repositories (upsert_* / insert_*_rows) inside ``atomic(conn)``.
