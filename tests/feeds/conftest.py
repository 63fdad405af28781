"""Shared fixtures: recorded-shape exchange responses and a simulated clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from kalshibot.clock import SimClock

FIXTURES = Path(__file__).parent / "fixtures"
#: 30 s into the minute after the fixtures' last closed candle (00:14).
T0 = datetime(2026, 10, 1, 0, 15, 30, tzinfo=UTC)


def load(name: str) -> Any:
    """A fixture body as plain JSON (numbers as Python floats/ints)."""
    return json.loads((FIXTURES / name).read_text())


def raw(name: str) -> str:
    """A fixture body as the exact text the exchange would send."""
    return (FIXTURES / name).read_text()


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
def session() -> requests.Session:
    return requests.Session()
