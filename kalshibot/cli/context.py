"""Process-wide CLI state (global options) and the helpers commands use to load settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from kalshibot.config import Settings, load_settings


@dataclass
class CliState:
    debug: bool = False
    config_file: Path | None = None


STATE = CliState()
console = Console()
err_console = Console(stderr=True)


def settings(**overrides: Any) -> Settings:
    """Settings from env / .env / --config, with CLI overrides (None values are ignored)."""
    return load_settings(
        config_file=STATE.config_file,
        overrides={k: v for k, v in overrides.items() if v is not None},
    )
