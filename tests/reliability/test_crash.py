"""Crash safety: `kalshibot trade --exchange kalshi --live` against the fake exchange, killed
with SIGKILL at seeded random points and restarted, with invariants checked after every kill.

Why the live venue and not `--exchange sim`: the sim venue's orders never leave the process, so
a kill can't leave an order in flight; the live path has the real hazards (row committed, request
sent, answer lost), which is what "never lose or double an order" is about.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshibot.engine import StoreKV
from kalshibot.risk import BREAKER_KEY, PEAK_KEY, CircuitBreaker
from tests.reliability import summary
from tests.reliability.harness import BotRig, Counts, check_store

SEED = 20261120


def _trip_breaker(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        CircuitBreaker(StoreKV(conn, datetime.now(UTC)), 0.2).trip("reliability test",
                                                                  datetime.now(UTC))
    conn.close()


def _breaker(db: Path) -> str | None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM kv WHERE key=?", (BREAKER_KEY,)).fetchone()
        return None if row is None else str(row[0])
    finally:
        conn.close()


def _reset_breaker(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM kv WHERE key IN (?, ?)", (BREAKER_KEY, PEAK_KEY))
    conn.close()


def kill_loop(root: Path, runs: int, seed: int) -> Counts:
    rng = random.Random(seed)
    rig = BotRig(root)
    counts = Counts()
    try:
        first = rig.run_to_end(seed, 3)  # a store to start from (and a live start that works)
        assert first.returncode == 0, first.stderr
        for i in range(runs):
            breaker_run = i % 7 == 3
            if breaker_run:
                _trip_breaker(rig.db)
            before = rig.n_runs()
            spawned = time.time()
            creates_before = len(rig.fake.snapshot()["create_log"])
            proc = rig.spawn(seed + i)
            delay = rng.uniform(0.2, 4.0)
            # Sometimes kill right after the first cycle (mid-start-up otherwise).
            if rng.random() < 0.3:
                rig.wait_for_cycle(before, timeout=10)
                delay = rng.uniform(0.0, 0.3)
            time.sleep(delay)
            _, err = rig.kill(proc)
            assert proc.returncode == -9, err.decode()[-2000:]
            counts.runs_killed += 1
            truth = rig.fake.snapshot()
            # Run i finished a cycle iff it wrote a heartbeat: then its start-up had synced
            # every fill the exchange made before it was spawned.
            synced = rig.wait_for_cycle(before, timeout=0)
            check_store(rig.db, truth, counts, fills_before=spawned if synced else None)
            counts.restarts_checked += 1
            if breaker_run:
                raw = _breaker(rig.db)
                assert raw is not None, "circuit-breaker state lost"
                state = json.loads(raw)
                state = json.loads(state) if isinstance(state, str) else state
                assert state["tripped"] is True, state
                entries = [c for c in truth["create_log"][creates_before:]
                           if not c["reduce_only"]]
                assert not entries, f"entries sent with the breaker tripped: {entries}"
                counts.breaker_checks += 1
                _reset_breaker(rig.db)
            if i % 10 == 9 or i == runs - 1:  # a full restart, run to the end, strong checks
                done = rig.run_to_end(seed + 1000 + i, 3)
                assert done.returncode in (0, 5), done.stderr[-2000:]
                check_store(rig.db, rig.fake.snapshot(), counts, complete=True)
    finally:
        rig.fake.stop()
    return counts


def _report(c: Counts) -> None:
    summary.add(runs_killed=c.runs_killed, restarts_checked=c.restarts_checked,
                orders_checked=c.creates_seen, fills_checked=c.fills_checked,
                duplicates=c.duplicates, breaker_checks=c.breaker_checks)


def test_sigkill_subset(tmp_path: Path) -> None:
    """CI subset: 8 seeded kills (the slow test below does 60)."""
    c = kill_loop(tmp_path, 8, SEED)
    _report(c)
    assert c.duplicates == 0 and c.creates_seen > 0


@pytest.mark.slow
@pytest.mark.timeout(1500)  # alone ~3 min; far longer on a loaded 2-core machine
def test_sigkill_60_runs(tmp_path: Path) -> None:
    c = kill_loop(tmp_path, 60, SEED + 1)
    _report(c)
    assert c.runs_killed >= 50 and c.duplicates == 0
