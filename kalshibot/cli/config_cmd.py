"""`kalshibot config`: validate or show the merged configuration."""

from __future__ import annotations

from pathlib import Path

import typer

from kalshibot.cli.context import STATE, console
from kalshibot.cli.render import print_json, print_table
from kalshibot.config import inspect_settings


def config(
    validate: bool = typer.Option(
        False, "--validate", help="Check every setting; exit 1 if any problem."
    ),
    show: bool = typer.Option(
        False, "--show", help="Print the merged configuration (secrets masked)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    env_file: Path = typer.Option(
        Path(".env"), "--env-file", help="Dotenv file to read (if present)."
    ),
) -> None:
    """Validate (--validate) or show (--show) the configuration from env, .env and --config."""
    if not validate and not show:
        validate = True
    settings, problems = inspect_settings(config_file=STATE.config_file, dotenv_file=env_file)
    if show:
        shown = settings.masked()
        if as_json:
            print_json({"settings": shown})
        else:
            print_table("kalshibot configuration", ["key", "value"], sorted(shown.items()))
    if validate:
        if as_json:
            print_json(
                {
                    "valid": not problems,
                    "problems": [{"key": p.key, "message": p.message} for p in problems],
                }
            )
        elif problems:
            print_table(
                f"{len(problems)} configuration problem(s)",
                ["key", "problem"],
                [(p.key, p.message) for p in problems],
            )
        else:
            console.print(
                "[green]configuration is valid[/green] "
                f"(mode={settings.mode.value}, environment={settings.environment.value}, "
                f"database={settings.database_path})"
            )
        if problems:
            raise typer.Exit(1)
