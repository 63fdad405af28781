"""Reduced load check (issue 10 part 6; the full one is bench/bench_load.py): memory flat,
store growing linearly, no file-descriptor leak over many cycles on the sim venue."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_load.py"


def test_memory_store_and_fds_stay_bounded() -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_load", BENCH)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        r = mod.run(30, 300)
    finally:
        sys.path.remove(str(BENCH.parent))
    assert r["fds"][0] == r["fds"][-1], r["fds"]
    assert r["rss_mb"][-1] - r["rss_mb"][0] < 25, r["rss_mb"]
    growth = [b - a for a, b in zip(r["db_mb"], r["db_mb"][1:], strict=False)]
    assert max(growth) < 2 * min(growth) + 0.1, growth  # linear, not accelerating
