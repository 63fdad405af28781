"""Issue 15 case 9: ``status`` shows when the trading day starts (KALSHIBOT_DAY_BOUNDARY).
Fails on f6e3055 (no such setting; the day silently started at UTC midnight)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest


def test_status_shows_the_day_boundary(prepared: Callable[..., object],
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], clock: object) -> None:
    from kalshibot.cli import context
    from kalshibot.cli.main import run

    monkeypatch.setattr(context.console, "width", 220)
    monkeypatch.setenv("KALSHIBOT_DAY_BOUNDARY", "17:00 America/New_York")
    prepared()
    assert run(["status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["risk"]["trading_day"]["boundary"] == "17:00 America/New_York"
    assert run(["status"]) == 0
    assert "17:00 America/New_York" in capsys.readouterr().out
