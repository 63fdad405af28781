"""Helpers for the Kalshi adapter tests: fixture paths, a recording clock, client builders."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kalshibot.clock import SimClock
from kalshibot.config import Environment
from kalshibot.kalshi.auth import Signer
from kalshibot.kalshi.http import BASE_URLS, HttpClient

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
FIXTURES = SHARED / "fixtures" / "kalshi"
SPEC = SHARED / "specs" / "kalshi-openapi.yaml"
BASE = BASE_URLS[Environment.DEMO]
T0 = datetime(2026, 11, 20, 19, 0, 0, tzinfo=UTC)


def fixture_json(name: str) -> Any:
    path = FIXTURES / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is absent")
    return json.loads(path.read_text())


def fixture_text(name: str) -> str:
    path = FIXTURES / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is absent")
    return path.read_text()


class RecordingClock(SimClock):
    """A SimClock that records every sleep (sleep advances the clock instantly)."""

    def __init__(self, start: datetime = T0) -> None:
        super().__init__(start)
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


def make_http(clock: RecordingClock, signer: Signer | None = None, **kw: Any) -> HttpClient:
    return HttpClient(BASE, clock, signer=signer, rng=random.Random(7), **kw)
