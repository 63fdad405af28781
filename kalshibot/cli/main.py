"""Entry point: the Typer app, its commands, and the one place errors become exit codes.

Exit codes: 0 ok; 1 failure / invalid; 2 bad command-line input; 3 configuration or store
unreadable; 4 exchange/network/auth problem; 5 reconciliation mismatch; 70 internal bug;
130 interrupted. A user mistake prints one line; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import errno
import sys
import traceback
from pathlib import Path

import typer
from rich.markup import escape

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
from kalshibot.cli.options import bounded_numbers
from kalshibot.errors import FileSystemError, KalshibotError, NotBuiltError, UserInputError

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


def _bound_every_command(t: typer.Typer) -> None:
    """No command sees an integer option beyond 64 bits or a NaN/inf float option: one
    mechanism for all of them (``options.bounded_numbers``), present and future."""
    for info in t.registered_commands:
        if info.callback is not None and not hasattr(info.callback, "__wrapped__"):
            info.callback = bounded_numbers(info.callback)
    for group in t.registered_groups:
        if isinstance(group.typer_instance, typer.Typer):
            _bound_every_command(group.typer_instance)


_bound_every_command(app)


#: ``OSError`` numbers that mean the machine is at fault (exit 3) ...
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                   errno.EIO, errno.EMFILE, errno.ENFILE, errno.EBUSY, errno.ETXTBSY}
#: ... or the path the user gave (exit 2).
_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP,
                errno.EEXIST, errno.ENXIO, errno.ENODEV}


def environment_failure(exc: BaseException) -> KalshibotError | None:
    """The typed error for an exception that is the environment's fault, not a bug: a
    damaged, full, read-only or locked store (``store_failure``) or a full / read-only /
    unreadable file system -> exit 3; a path that cannot be used as given -> exit 2.
    ``None`` for anything else: that stays an internal error (exit 70)."""
    from kalshibot.store.connection import store_failure

    known = store_failure(exc)
    if known is not None or not isinstance(exc, OSError) or exc.errno is None:
        return known
    where = f" {exc.filename}" if exc.filename else ""
    what = exc.strerror or str(exc)
    if exc.errno in _MACHINE_ERRNOS:
        return FileSystemError(f"cannot use{where}: {what}",
                               hint="free disk space or fix the permissions, or point the "
                                    "setting or option at another place")
    if exc.errno in _PATH_ERRNOS:
        return UserInputError(f"cannot use{where}: {what}")
    return None


def _report(exc: KalshibotError) -> int:
    """Print ``exc`` as one line (traceback with --debug) and return its exit code."""
    if STATE.debug:
        traceback.print_exc()
    # escape: a message or hint such as "pip install 'kalshibot[plot]'" is text, not markup
    err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return exc.exit_code


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping errors to exit codes and one-line messages."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run the app and return the exit code (usage errors are Typer's own, exit 2)."""
    args = sys.argv[1:] if argv is None else argv
    STATE.warned = False
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
        return _report(exc)
    except Exception as exc:  # a bug: say so in one line, traceback with --debug
        known = environment_failure(exc)
        if known is not None:
            return _report(known)
        if STATE.debug:
            traceback.print_exc()
        err_console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback, and please report it)",
            highlight=False,
            soft_wrap=True,
        )
        return 70
    finally:
        from kalshibot.store.lock import release_all

        release_all()  # the command is over: its database is free for the next writer
