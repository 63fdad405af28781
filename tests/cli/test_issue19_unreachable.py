"""Issue 19 item 11: a paper ``trade`` that cannot reach the exchange stops with one line and
exit 4 instead of looping for ever (or ending 0) on an empty table.

Both tests fail on f6e3055: the session there ran on (exit 0 after ``--max-cycles``; never
stopping without it).
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from kalshibot.cli.main import run

DEAD = {"KALSHIBOT_API_BASE_URL": "http://127.0.0.1:9/trade-api/v2",  # a closed port
        "KALSHIBOT_WEBSOCKET": "false", "KALSHIBOT_HTTP_CONNECT_TIMEOUT_S": "0.5",
        "KALSHIBOT_HTTP_READ_TIMEOUT_S": "0.5"}
ARGS = ["trade", "--series", "KXBTC15M", "--strategy", "meanrev", "--interval", "0.01"]


@pytest.fixture
def offline(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in DEAD.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.mark.timeout(120)
def test_session_that_never_reached_the_exchange_exits_4_in_one_line(
        offline: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*ARGS, "--max-cycles", "2", "--json"]) == 4
    out, err = capsys.readouterr()
    doc = json.loads(out)  # the summary is still printed (stdout), the error on stderr
    assert doc["failed_cycles"] == 2 and doc["exchange_unreachable"]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the exchange"), err
    assert "Traceback" not in err


@pytest.mark.timeout(120)
def test_session_without_market_data_stops_after_the_limit(
        offline: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No --max-cycles: KALSHIBOT_MAX_FAILED_CYCLES failed cycles in a row end the session,
    and its recorded run says why (``status`` reads it)."""
    monkeypatch.setenv("KALSHIBOT_MAX_FAILED_CYCLES", "3")
    assert run([*ARGS, "--quiet"]) == 4
    err = capsys.readouterr().err
    assert "3 cycles in a row failed without market data" in err
    assert "GET /markets" in err  # the cause: the last error of the exchange
    db = sqlite3.connect(f"{offline['KALSHIBOT_DATA_DIR']}/paper.sqlite")
    (reason,) = db.execute("SELECT end_reason FROM runs").fetchone()
    assert "failed without market data" in reason
