"""Entry point: the Typer app, its commands, and the one place errors become exit codes.

Exit codes: 0 ok; 1 failure / invalid; 2 bad command-line input; 3 configuration or store
unreadable; 4 exchange/network/auth problem; 5 reconciliation mismatch; 70 internal bug;
130 interrupted. A user mistake prints one line; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer

from kalshibot import __version__
from kalshibot.cli import (
    backtest_cmd,
    config_cmd,
    data_cmd,
    eval_cmd,
    history_cmd,
    markets_cmd,
    orders_cmd,
    positions_cmd,
    risk_cmd,
    status_cmd,
    trade_cmd,
    train_cmd,
)
from kalshibot.cli.context import STATE, err_console
from kalshibot.errors import KalshibotError, NotBuiltError

app = typer.Typer(
    name="kalshibot",
    help="Trading bot for Kalshi prediction markets. Paper trading is the default; "
    "real orders need --live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"kalshibot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="Config file (KEY=VALUE lines, as config.env.example).",
        envvar="KALSHIBOT_CONFIG",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    STATE.debug = debug
    STATE.config_file = config


app.command("config")(config_cmd.config)
app.add_typer(data_cmd.data_app, name="data")
app.command("markets")(markets_cmd.markets)
app.command("trade")(trade_cmd.trade)


def _not_built(name: str, issue: str) -> None:
    raise NotBuiltError(f"`kalshibot {name}` is not built yet ({issue})")


app.command("train")(train_cmd.train)


app.command("status")(status_cmd.status)
app.add_typer(risk_cmd.risk_app, name="risk")
app.command("history")(history_cmd.history)
app.add_typer(orders_cmd.orders_app, name="orders")
app.add_typer(positions_cmd.positions_app, name="positions")


app.command("backtest")(backtest_cmd.backtest)
app.add_typer(eval_cmd.eval_app, name="eval")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping errors to exit codes and one-line messages."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run the app and return the exit code (usage errors are Typer's own, exit 2)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="kalshibot")  # standalone: always ends in SystemExit
        return 0
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        err_console.print(str(exc.code))
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except KalshibotError as exc:
        if STATE.debug:
            traceback.print_exc()
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except Exception as exc:  # a bug: say so in one line, traceback with --debug
        if STATE.debug:
            traceback.print_exc()
        err_console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback, and please report it)",
            highlight=False,
            soft_wrap=True,
        )
        return 70
