"""Reliability suite: prints a summary (runs killed, orders checked, duplicates, faults by
kind, fuzz examples) at the end of the test session."""

from __future__ import annotations

import pytest

from tests.reliability.summary import FAULTS, NOTES, SUMMARY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SUMMARY and not FAULTS:
        return
    tr = terminalreporter
    tr.section("reliability summary")
    for key in ("runs_killed", "restarts_checked", "orders_checked", "creates_seen",
                "fills_checked", "duplicates", "unknown_resolved", "breaker_checks",
                "fuzz_examples", "cli_cases", "secret_scans", "load_cycles"):
        if key in SUMMARY:
            tr.write_line(f"{key:>18}: {SUMMARY[key]}")
    if FAULTS:
        tr.write_line("faults injected by kind: " + ", ".join(
            f"{k}={v}" for k, v in sorted(FAULTS.items())))
    for n in NOTES:
        tr.write_line(n)


@pytest.fixture
def full(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--full", default=False))
