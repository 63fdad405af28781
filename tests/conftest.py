"""Shared test helpers: paths to ../shared, keys, isolated CLI environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; the test is skipped when ../shared is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in an empty temp dir with no KALSHIBOT_* variables set."""
    for k in list(os.environ):
        if k.upper().startswith("KALSHIBOT_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import distributed`` fail, as on a machine without the [dask] extra."""
    import builtins

    real_import = builtins.__import__

    def fake(name: str, *args: object, **kwargs: object) -> object:
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False,
                     help="run everything: slow tests too, at full size (reliability suite)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--full"):
        config.option.markexpr = ""  # undo the default -m "not slow"
