"""One writer per database (issue 14): a second writing session exits at once naming the
first; `kill -9` of the holder frees the lock; readers never take it.

On f6e3055 two `trade --exchange sim` sessions on one data folder both ran and cancelled each
other's orders; these tests fail there (the second one keeps running).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kalshibot.errors import DatabaseBusyError
from kalshibot.store.lock import acquire_writer_lock, holder_of, release_all

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[2]


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("KALSHIBOT_")}
    env.update({"KALSHIBOT_DATA_DIR": str(root / "data"), "KALSHIBOT_LOG_DIR": str(root / "logs"),
                "KALSHIBOT_MODEL_DIR": str(root / "models"),
                # no network here: a dead local port keeps paper sessions running, failing
                "KALSHIBOT_API_BASE_URL": "http://127.0.0.1:9/trade-api/v2",
                "KALSHIBOT_WEBSOCKET": "false", "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def _kalshibot(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kalshibot", *args]


def _spawn(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(_kalshibot(root, *args), cwd=root, env=_env(root), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_holder(db: Path, pid: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        h = holder_of(db)
        if h is not None and h.pid == pid:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} never took the lock of {db}")


def _second_is_refused(root: Path, db: Path, first: subprocess.Popen[str], *args: str) -> None:
    t0 = time.monotonic()
    res = subprocess.run(_kalshibot(root, *args), cwd=root, env=_env(root), text=True,
                         capture_output=True, timeout=60)
    took = time.monotonic() - t0
    assert res.returncode == 1, res.stderr
    assert f"pid {first.pid}" in res.stderr and "trade" in res.stderr
    assert "Traceback" not in res.stderr
    # within 2 s of its own work (interpreter start-up and imports excluded on a loaded box)
    assert took < 30


def _kill9(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lock")
    subprocess.run(_kalshibot(root, "data", "sample", "--days", "1", "--series", "KXBTC15M",
                              "--end", "2026-11-20T00:00Z"), cwd=root, env=_env(root),
                   check=True, capture_output=True, timeout=120)
    return root


def test_second_sim_session_is_refused_and_kill_9_frees_the_lock(sample: Path) -> None:
    root, db = sample, sample / "data" / "sim.sqlite"
    args = ("trade", "--exchange", "sim", "--strategy", "meanrev", "--series", "KXBTC15M",
            "--quiet", "--fresh")
    first = _spawn(root, *args)
    try:
        _wait_for_holder(db, first.pid)
        _second_is_refused(root, db, first, *args)
        # readers run beside the writer
        for _ in range(2):
            st = subprocess.run(_kalshibot(root, "status", "--sim", "--quiet"), cwd=root,
                                env=_env(root), text=True, capture_output=True, timeout=60)
            assert st.returncode in (0, 1, 2), st.stderr
            assert "in use" not in st.stderr + st.stdout
    finally:
        _kill9(first)
    again = _spawn(root, *args)
    try:
        _wait_for_holder(db, again.pid)
    finally:
        _kill9(again)


def test_second_paper_session_is_refused(sample: Path) -> None:
    root, db = sample, sample / "data" / "paper.sqlite"
    args = ("trade", "--strategy", "meanrev", "--series", "KXBTC15M", "--quiet")
    first = _spawn(root, *args)
    try:
        _wait_for_holder(db, first.pid)
        _second_is_refused(root, db, first, *args)
        # a data command writing the same database is refused too
        res = subprocess.run(_kalshibot(root, "data", "sample", "--days", "0.1"), cwd=root,
                             env=_env(root), text=True, capture_output=True, timeout=60)
        assert res.returncode == 1 and "in use by another kalshibot" in res.stderr
    finally:
        _kill9(first)


def test_lock_is_per_process_and_names_its_holder(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    code = ("import sys,time; from kalshibot.store.lock import acquire_writer_lock as a; "
            "from pathlib import Path; a(Path(sys.argv[1]), 'kalshibot data record'); "
            "print('held', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, str(db)], text=True,
                         stdout=subprocess.PIPE, env=_env(tmp_path))
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseBusyError, match=rf"pid {p.pid}, `kalshibot data record`"):
            acquire_writer_lock(db, "test")
    finally:
        _kill9(p)
    lock = acquire_writer_lock(db, "test")  # freed by the kill
    assert acquire_writer_lock(db, "again") is lock  # re-entrant within a process
    release_all()
    assert holder_of(db) is None


WRITERS = [
    ["risk", "reset", "--yes"],
    ["orders", "cancel-all", "--yes"],
    ["positions", "close-all", "--yes"],
    ["data", "sample", "--days", "0.1", "--series", "KXBTC15M", "--end", "2026-11-20T00:00Z"],
    ["train"],
]
READERS = [["status", "--json"], ["markets", "--json"], ["orders", "list"], ["history"]]


def test_every_writer_is_refused_and_readers_are_not(sample: Path) -> None:
    """The README names the commands that take the writer lock: each is refused (exit 1,
    naming the holder) while another process writes the paper database; the read-only
    commands run as usual."""
    db = sample / "data" / "paper.sqlite"
    code = ("import sys,time; from kalshibot.store.lock import acquire_writer_lock as a; "
            "from pathlib import Path; a(Path(sys.argv[1]), 'kalshibot trade'); "
            "print('held', flush=True); time.sleep(120)")
    p = subprocess.Popen([sys.executable, "-c", code, str(db)], text=True,
                         stdout=subprocess.PIPE, env=_env(sample))
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        for args in WRITERS:
            _second_is_refused(sample, db, p, *args, "--db", str(db))
        for args in READERS:
            res = subprocess.run(_kalshibot(sample, *args, "--db", str(db)), cwd=sample,
                                 env=_env(sample), text=True, capture_output=True, timeout=60)
            assert "in use by another kalshibot" not in res.stderr, (args, res.stderr)
            assert res.returncode in (0, 1, 2), (args, res.stderr)  # status: degraded/halted
    finally:
        _kill9(p)
