"""`kalshibot data sync` / `data record` through the CLI (responses + SimClock)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshibot.cli import data_cmd
from kalshibot.cli.main import run
from kalshibot.clock import SimClock
from kalshibot.store import open_store
from tests.ingest.conftest import NOW, SERIES, FakeKalshi


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> SimClock:
    clock = SimClock(NOW)
    monkeypatch.setattr(data_cmd, "_clock", lambda: clock)
    monkeypatch.setenv("KALSHIBOT_ENVIRONMENT", "demo")
    return clock


def test_sync_json_summary_then_idempotent(fake: FakeKalshi, sim: SimClock, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "cli.sqlite")
    assert run(["data", "sync", "--series", SERIES, "--public", "--db", db, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["tables"]["trades"]["added"] == 8
    assert run(["data", "sync", "--series", SERIES, "--public", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "sync summary" in out and "trades" in out


def test_sync_stopped_exits_4_and_resumes(fake: FakeKalshi, sim: SimClock, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "cli.sqlite")
    fake.fail[("/markets/trades", "c2")] = 4
    assert run(["data", "sync", "-s", SERIES, "--public", "--db", db]) == 4
    assert "stopped early" in capsys.readouterr().out
    assert run(["data", "sync", "-s", SERIES, "--public", "--db", db, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["resumed"] == ["KXSOL15M-26NOV201415-15"]


def test_sync_needs_a_selection(sim: SimClock, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "sync", "--db", str(tmp_path / "x.sqlite")]) == 2
    assert "--series" in capsys.readouterr().err


def test_record_a_few_polls(fake: FakeKalshi, sim: SimClock, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "rec.sqlite"
    assert run(["data", "record", "--series", SERIES, "--no-spot", "--interval", "2",
                "--max-polls", "3", "--db", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["polls"] == 3 and doc["book_rows"] == 3
    conn = open_store(db)
    assert conn.execute("SELECT count(*) FROM book_snapshots").fetchone()[0] == 3
    conn.close()


def test_record_where_every_poll_failed_exits_4(fake: FakeKalshi, sim: SimClock, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19 item 4: no network, every poll failed -> exit 4 (exit 0 on f6e3055)."""
    fake.fail[("/markets", None)] = 10_000
    fake.fail[("/markets/orderbooks", None)] = 10_000
    db = tmp_path / "rec.sqlite"
    code = run(["data", "record", "--series", SERIES, "--no-spot", "--interval", "1",
                "--max-polls", "3", "--db", str(db), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["polls"] == 0 and doc["failed_polls"] >= 1
    assert code == 4


@pytest.mark.parametrize(("args", "msg"), [
    (["--series", "KXBTC15M"], "--spot needs --since"),
    (["--series", "KXHIGHNY", "--since", "2d"], "--spot needs a 15-minute crypto"),
])
def test_sync_spot_user_mistakes_are_one_line_exit_2(
        sim: SimClock, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        msg: str) -> None:
    db = str(tmp_path / "cli.sqlite")
    assert run(["data", "sync", "--spot", "--public", "--db", db, *args]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
