"""Issue 19 item 10: Ctrl-C is honoured at once, says so in one line and exits 130; an
interrupted ``data sample`` leaves the store as it was (one transaction), so running it again
works.

On f6e3055 ``backtest`` and ``train`` exited 130 silently (Typer swallows the interrupt) and
``data sample`` committed series by series: a Ctrl-C left a partial store. The tests below
fail there.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("KALSHIBOT_")}
    env.update({"KALSHIBOT_DATA_DIR": str(root / "data"), "KALSHIBOT_LOG_DIR": str(root / "logs"),
                "KALSHIBOT_MODEL_DIR": str(root / "models"), "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1"})
    return env


def _kalshibot(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kalshibot", *args], cwd=root, env=_env(root),
                          text=True, capture_output=True, timeout=300)


def _interrupt(root: Path, args: list[str], started: Path, delay: float
               ) -> tuple[int, str, float]:
    """Run ``kalshibot args``, wait for ``started`` to exist, then ``delay`` s more; send
    SIGINT; return (exit code, stderr, seconds from SIGINT to exit)."""
    p = subprocess.Popen([sys.executable, "-m", "kalshibot", *args], cwd=root, env=_env(root),
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 120
    while not started.exists() and time.monotonic() < end and p.poll() is None:
        time.sleep(0.05)
    time.sleep(delay)
    assert p.poll() is None, "the command ended before the interrupt: make it longer"
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    _out, err = p.communicate(timeout=120)
    return p.returncode, err, time.monotonic() - t0


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ctrl_c")
    r = _kalshibot(root, "data", "sample", "--days", "2", "--series", "KXBTC15M",
                   "--end", "2026-11-20T00:00Z")
    assert r.returncode == 0, r.stderr
    return root


@pytest.mark.timeout(300)
def test_ctrl_c_during_data_sample_stores_nothing_and_a_rerun_works(tmp_path: Path) -> None:
    db = tmp_path / "data" / "paper.sqlite"
    code, err, took = _interrupt(tmp_path, ["data", "sample", "--days", "3"], db, 1.0)
    assert code == 130 and took < 10
    assert "interrupted" in _one_line(err)
    with sqlite3.connect(db) as c:  # the sample's transaction rolled back: no half sample
        assert c.execute("SELECT count(*) FROM markets").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM spot_prices").fetchone() == (0,)
    again = _kalshibot(tmp_path, "data", "sample", "--days", "0.2")
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM markets").fetchone()[0] > 0


@pytest.mark.timeout(300)
@pytest.mark.parametrize("args", [
    ["backtest", "--strategy", "meanrev", "--series", "KXBTC15M", "--full"],  # every cycle: long
    ["train", "--series", "KXBTC15M"],
])
def test_ctrl_c_during_backtest_or_train_prints_one_line_and_exits_130(
        store: Path, args: list[str]) -> None:
    code, err, took = _interrupt(store, args, store / "data" / "paper.sqlite", 1.5)
    assert code == 130 and took < 10
    assert _one_line(err) == "interrupted"
