"""SIGTERM stops `kalshibot trade` politely: the cycle finishes, the run is ended with a final
heartbeat, and the session summary is printed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def test_sigterm_finishes_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "KALSHIBOT_DATA_DIR": str(tmp_path / "data")}
    env = {k: v for k, v in env.items() if not k.startswith("KALSHIBOT_") or k in (
        "KALSHIBOT_DATA_DIR",)}
    cmd = [sys.executable, "-m", "kalshibot"]
    subprocess.run([*cmd, "data", "sample", "--days", "0.3", "--series", "KXBTC15M",
                    "--end", "2026-11-20T12:00Z"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    proc = subprocess.Popen([*cmd, "trade", "--exchange", "sim", "--strategy", "meanrev",
                             "--series", "KXBTC15M", "--fresh", "--json"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    db = tmp_path / "data" / "sim.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until a few cycles have run
        if db.exists():
            try:
                n = sqlite3.connect(db).execute("SELECT count(*) FROM heartbeats").fetchone()[0]
            except sqlite3.Error:
                n = 0
            if n >= 3:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["stop_reason"] == "SIGTERM"
    assert "Traceback" not in err
    c = sqlite3.connect(db)
    ended, reason = c.execute("SELECT ended_ts, end_reason FROM runs").fetchone()
    assert ended is not None and reason == "SIGTERM"
    note = c.execute("SELECT note FROM heartbeats ORDER BY cycle DESC LIMIT 1").fetchone()[0]
    assert note == "stopped: SIGTERM"
