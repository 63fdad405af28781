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
from typer import _click as click  # typer 0.29 carries its own click
from typer.core import TyperCommand, TyperGroup

from kalshibot import __version__
from kalshibot.cli.context import STATE, err_console
from kalshibot.cli.options import bounded_numbers
from kalshibot.errors import FileSystemError, KalshibotError, NotBuiltError, UserInputError

#: Every command: name -> (module under kalshibot.cli, attribute, one-line help). A command's
#: module (and the libraries it needs: pandas, scikit-learn, ...) is imported only when that
#: command runs or shows its own help, so ``kalshibot --help`` and ``status`` start fast.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "config": ("config_cmd", "config", "Validate (--validate) or show (--show) the configuration."),
    "data": ("data_cmd", "data_app", "Fill the store: import files, sample data, sync, record."),
    "markets": ("markets_cmd", "markets", "List/search stored markets with their latest quotes."),
    "trade": ("trade_cmd", "trade", "Run the trading loop (paper by default; sim replays data)."),
    "train": ("train_cmd", "train", "Train the probability model; compare it with the market."),
    "status": ("status_cmd", "status", "Health, P&L, positions, orders and risk, for people and "
                                       "cron."),
    "risk": ("risk_cmd", "risk_app", "Inspect and reset the circuit breaker (audited)."),
    "history": ("history_cmd", "history", "Our fills with filters; contracts, notional and fees."),
    "orders": ("orders_cmd", "orders_app", "List local orders; cancel one (preview unless --yes)."),
    "positions": ("positions_cmd", "positions_app", "Open positions; close them all (preview "
                                                    "unless --yes)."),
    "backtest": ("backtest_cmd", "backtest", "Replay stored history through the `trade` engine."),
    "eval": ("eval_cmd", "eval_app", "Evaluate pricers out of sample."),
}


def load_command(name: str) -> click.Command:
    """The click command ``name`` (imports its module), every number option bounded."""
    import importlib

    module, attr, _ = COMMANDS[name]
    obj = getattr(importlib.import_module(f"kalshibot.cli.{module}"), attr)
    if isinstance(obj, typer.Typer):
        _bound_every_command(obj)
        group = typer.main.get_group(obj)
        group.name = name
        return group
    callback = obj if hasattr(obj, "__wrapped__") else bounded_numbers(obj)
    return typer.main.get_command_from_info(
        typer.models.CommandInfo(name=name, callback=callback),
        pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode)


class LazyGroup(TyperGroup):
    """The root group: commands load on first use; the help listing uses ``COMMANDS``'s
    one-line texts, so ``--help`` imports no command module."""

    listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        if self.listing:
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name][2])
        self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return self._click_resolve_command(ctx, args)
        except click.exceptions.UsageError as e:  # "Did you mean ...?" over every command, loaded or not
            from difflib import get_close_matches

            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches:
                e.message = (f"{e.message.rstrip('.')}. Did you mean "
                             f"{', '.join(repr(m) for m in matches)}?")
            raise

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    name="kalshibot",
    cls=LazyGroup,
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


def _not_built(name: str, issue: str) -> None:
    raise NotBuiltError(f"`kalshibot {name}` is not built yet ({issue})")


def _bound_every_command(t: typer.Typer) -> None:
    """No command sees an integer option beyond 64 bits or a NaN/inf float option: one
    mechanism for all of them (``options.bounded_numbers``), present and future."""
    for info in t.registered_commands:
        if info.callback is not None and not hasattr(info.callback, "__wrapped__"):
            info.callback = bounded_numbers(info.callback)
    for group in t.registered_groups:
        if isinstance(group.typer_instance, typer.Typer):
            _bound_every_command(group.typer_instance)


def command_tree() -> TyperGroup:
    """The whole CLI as one group with every command loaded (for tests and docs)."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    ctx = click.Context(root)
    for name in root.list_commands(ctx):
        root.get_command(ctx, name)
    return root


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


def _by_ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while a ``KeyboardInterrupt`` was handled (and the command
    did not say so itself: ``raise ... from None`` after its own message)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        if seen.__cause__ is not None:
            seen = seen.__cause__
        elif seen.__suppress_context__:
            return False
        else:
            seen = seen.__context__
    return False


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
        if exc.code == 130 and _by_ctrl_c(exc):  # Typer turns Ctrl-C into a silent exit 130
            err_console.print("interrupted")
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
