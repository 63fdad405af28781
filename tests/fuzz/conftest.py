"""Fuzz and fault suite (issue 16): a session-wide template store and the summary line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz import summary
from tests.fuzz.harness import Workspace, template_store


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    text = summary.line()
    if text:
        terminalreporter.section("fuzz summary")
        terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_store(tmp_path_factory.mktemp("fuzz-template"))


@pytest.fixture
def ws(tmp_path: Path, template: Path) -> Workspace:
    """A workspace whose paper store holds the sample market data and trading state."""
    return Workspace(tmp_path / "home", template)


@pytest.fixture(autouse=True, scope="session")
def _system_devices_untouched() -> Iterator[None]:
    """Safety net: nothing here may replace /dev/null or /dev/full (as root, a rename over a
    device replaces it for the whole machine)."""
    import stat

    def devices() -> dict[str, bool]:
        return {d: Path(d).exists() and stat.S_ISCHR(os.stat(d).st_mode)
                for d in ("/dev/null", "/dev/full")}

    before = devices()
    yield
    assert devices() == before, "a fuzz run replaced a device under /dev"
