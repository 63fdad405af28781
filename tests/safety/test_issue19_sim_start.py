"""Issue 19 item 10: ``trade --exchange sim --start T`` before the account's clock, without
``--fresh``, is refused with one line (exit 2) and leaves the clock where it was. On f6e3055
the account's clock moved back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.config import load_settings
from kalshibot.store import open_store


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for k in list(os.environ):
        if k.upper().startswith("KALSHIBOT_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _sim_clock(folder: Path) -> str:
    from kalshibot.session import SIM_CLOCK_KEY
    from kalshibot.store.kv import kv_get

    path = load_settings(env={}, dotenv_file=None).data_dir / "sim.sqlite"
    conn = open_store(path)
    try:
        return str(kv_get(conn, SIM_CLOCK_KEY))
    finally:
        conn.close()


def test_start_before_the_account_clock_is_refused(folder: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "sample", "--days", "0.1", "--seed", "7"]) == 0
    base = ["trade", "--exchange", "sim", "--strategy", "meanrev", "--max-cycles", "2"]
    assert run(base) == 0
    before = _sim_clock(folder)
    capsys.readouterr()
    assert run([*base, "--start", "2020-01-01T00:00Z"]) == 2
    err = capsys.readouterr().err
    assert "never moves back" in err and "Traceback" not in err
    assert _sim_clock(folder) == before
