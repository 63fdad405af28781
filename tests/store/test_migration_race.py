"""Two processes opening a new database at once (issue 16 case 6).

On f6e3055 one of them read ``user_version = 0`` before the other committed its first step and
then ran ``CREATE TABLE series`` again: exit 3 "table series already exists" in about 1 trial
of 6. Migrations now take the write lock first and re-read the version under it, so each step
runs exactly once whoever wins. This test fails on f6e3055 (40 trials of 4 processes).
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from kalshibot.store.connection import connect
from kalshibot.store.migrations import CURRENT_VERSION, schema_version

TRIALS = 40
PROCS = 4


def _open_at_once(path: str, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:
    barrier.wait()
    try:
        conn = connect(path)
        out.put(("ok", schema_version(conn)))
        conn.close()
    except Exception as exc:  # report anything: the parent asserts
        out.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    failures: list[str] = []
    for trial in range(TRIALS):
        path = str(tmp_path / f"new-{trial}.sqlite")
        barrier, out = ctx.Barrier(PROCS), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, out))
                 for _ in range(PROCS)]
        for p in procs:
            p.start()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        failures += [f"trial {trial}: {msg}" for kind, msg in results if kind != "ok"]
        assert all(v == CURRENT_VERSION for kind, v in results if kind == "ok")
        conn = sqlite3.connect(path)
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'series'"
                              ).fetchone()[0]
        conn.close()
        assert tables == 1
    assert failures == []

