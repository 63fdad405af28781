"""Fixtures of the status/risk/history/orders tests (a prepared store; see tests/monitor)."""

from tests.monitor.conftest import (  # noqa: F401  (pytest fixtures)
    _isolated_logging,
    clock,
    env,
    prepared,
    settings,
)
