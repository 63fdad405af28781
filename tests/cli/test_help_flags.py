"""Issue 19 item 12: `--help` lists flags without a ``<bool>`` value (fails on f6e3055)."""

from __future__ import annotations

import pytest

from kalshibot.cli.main import run


@pytest.mark.parametrize("cmd", [["markets"], ["trade"], ["backtest"], ["status"]])
def test_help_shows_no_bool_type(cmd: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--json" in out or "--quiet" in out
    assert "<bool>" not in out
