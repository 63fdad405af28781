"""Issue 19: long commands (train) show a progress bar with ETA on a terminal's stderr, and
none under --json or when stderr is not a terminal (pipes, cron, files)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kalshibot.cli import progress


def _stderr(monkeypatch: pytest.MonkeyPatch, *, terminal: bool) -> io.StringIO:
    buf = io.StringIO()
    monkeypatch.setattr(progress, "err_console",
                        Console(file=buf, force_terminal=terminal, width=80))
    return buf


def _work(show: bool) -> None:
    with progress.stage_bars({"fit": "fitting folds"}, show=show) as hook:
        for i in range(5):
            hook("fit", i, 4)


def test_stage_bars_draw_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = _stderr(monkeypatch, terminal=True)
    _work(show=True)
    assert "fitting folds" in buf.getvalue()


@pytest.mark.parametrize(("terminal", "show"), [(False, True), (True, False)])
def test_no_bar_in_a_pipe_or_under_json(monkeypatch: pytest.MonkeyPatch, terminal: bool,
                                        show: bool) -> None:
    buf = _stderr(monkeypatch, terminal=terminal)
    _work(show=show)
    assert buf.getvalue() == ""
