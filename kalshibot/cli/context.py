"""Process-wide CLI state (global options) and the helpers commands use to load settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from kalshibot.config import Settings


@dataclass
class CliState:
    debug: bool = False
    config_file: Path | None = None
    warned: bool = False  # configuration warnings already shown by this command


STATE = CliState()
console = Console()
err_console = Console(stderr=True)


def settings(*, uses: tuple[str, ...] = (), **overrides: Any) -> Settings:
    """Settings from env / .env / --config, with CLI overrides (None values are ignored),
    checked at start-up exactly as ``config --validate`` checks them: any error among the
    ``general`` problems and those of the scopes in ``uses`` (``exchange``, ``live``) stops the
    command (``ConfigError``, exit 3, every problem listed); warnings go to stderr once."""
    from kalshibot.config import validated_settings  # pydantic: only for commands using it

    s, other = validated_settings(
        uses=uses,
        config_file=STATE.config_file,
        overrides={k: v for k, v in overrides.items() if v is not None},
    )
    if not STATE.warned:
        STATE.warned = True
        for p in other:
            if not p.is_error:
                err_console.print(f"[yellow]warning:[/yellow] {p.key}: {p.message}",
                                  highlight=False, soft_wrap=True)
    return s


def lock_for_writing(path: Path) -> Path:
    """Take the writer lock of the database at ``path`` for this command (see
    ``kalshibot.store.lock``); ``DatabaseBusyError`` when another process writes it."""
    from kalshibot.store.lock import acquire_writer_lock, command_line

    acquire_writer_lock(path, command_line())
    return path


def terminal_confirm() -> Callable[[str], bool] | None:
    """A yes/no question at the terminal, or None when stdin is not a terminal."""
    import sys

    if not sys.stdin.isatty():
        return None
    import typer

    return lambda q: bool(typer.confirm(q, default=False))


def _flags_without_type() -> None:
    """``--help`` lists a flag (``--json``, ``--yes``...) without a ``<bool>`` value type:
    Typer 0.29 shows one, though a flag takes no value."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag and self.metavar is None:
            return None
        return shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_type()
