"""Network faults: the fake exchange injects timeouts, resets, 429 storms, 5xx, slow, truncated
and malformed JSON, 2xx bodies carrying ``error`` and missing fields. The bot must not crash,
never submit an order twice, back off on 429, mark outcome-unknown orders and resolve them, and
`kalshibot status` must show what happened."""

from __future__ import annotations

import json
import sqlite3
import statistics
from pathlib import Path

import pytest

from tests.reliability import summary
from tests.reliability.fake_kalshi import FaultPlan
from tests.reliability.harness import BotRig, Counts, check_store

READ_KINDS = {
    "timeout": 0.01, "reset": 0.02, "rate_limit_storm": 0.01, "http_500": 0.02,
    "http_502": 0.02, "http_503": 0.02, "http_504": 0.02, "slow": 0.03,
    "truncated_json": 0.02, "malformed_json": 0.02, "error_in_2xx": 0.01, "missing_fields": 0.02,
}
CREATE_KINDS = {
    "timeout_after": 0.08, "reset_after": 0.08, "http_503_after": 0.08, "timeout": 0.04,
    "reset": 0.04, "http_500": 0.04, "truncated_json": 0.08, "missing_fields": 0.08,
    "error_in_2xx": 0.05, "rate_limit_storm": 0.03, "slow": 0.05,
}


def run_faults(root: Path, seed: int, cycles: int) -> tuple[Counts, dict[str, int]]:
    rig = BotRig(root)
    counts = Counts()
    try:
        first = rig.run_to_end(seed, 2)
        assert first.returncode == 0, first.stderr
        rig.fake.faults = [
            FaultPlan(CREATE_KINDS, seed=seed, paths=("/portfolio/events/orders",), delay_s=0.7),
            FaultPlan(READ_KINDS, seed=seed + 1, delay_s=0.7),
        ]
        res = rig.run_to_end(seed + 1, cycles, timeout=240)
        # Never crashes: a normal end (0), not an internal error (70) or a traceback.
        assert res.returncode == 0, res.stderr[-3000:]
        assert "Traceback" not in res.stderr and "internal error" not in res.stderr
        check_store(rig.db, rig.fake.snapshot(), counts)
        status = rig.cli("status", "--json")
        doc = json.loads(status.stdout)
        assert doc["errors"]["count"] > 0, "status shows none of the injected faults"
        assert doc["errors"]["recent"][0]["message"]
        # Faults off: one more (graceful) run resolves everything the exchange knows about.
        rig.fake.faults = []
        done = rig.run_to_end(seed + 2, 3)
        assert done.returncode == 0, done.stderr[-3000:]
        truth = rig.fake.snapshot()
        check_store(rig.db, truth, counts, complete=True)
        conn = sqlite3.connect(f"file:{rig.db}?mode=ro", uri=True)
        marked = conn.execute(
            "SELECT status, count(*) FROM orders WHERE last_error LIKE '%outcome is unknown%' "
            "OR last_error LIKE '%unreadable%' GROUP BY status").fetchall()
        conn.close()
        resolved = sum(n for st, n in marked if st not in ("pending_submit", "outcome_unknown"))
        counts.unknown_resolved = resolved
        existing = {o["client_order_id"] for o in truth["orders"].values()}
        assert resolved > 0, f"no outcome-unknown order was marked and resolved: {marked}"
        gaps = rig.fake.backoff_gaps
        if len(gaps) >= 3:  # retries after a 429 wait (base 0.25 s, jittered to >= half)
            assert statistics.median(gaps) >= 0.1, gaps
        faults = dict(rig.fake.fault_counts)
        assert existing
    finally:
        rig.fake.stop()
    return counts, faults


def _report(c: Counts, faults: dict[str, int]) -> None:
    summary.FAULTS.update(faults)
    summary.add(orders_checked=c.creates_seen, duplicates=c.duplicates,
                unknown_resolved=c.unknown_resolved)


def test_faults_subset(tmp_path: Path) -> None:
    c, faults = run_faults(tmp_path, 7, 40)
    _report(c, faults)
    assert c.duplicates == 0 and sum(faults.values()) > 10


@pytest.mark.slow
@pytest.mark.timeout(1500)  # alone ~3 min; far longer on a loaded 2-core machine
def test_faults_long(tmp_path: Path) -> None:
    c, faults = run_faults(tmp_path, 11, 200)
    _report(c, faults)
    assert c.duplicates == 0 and len(faults) >= 12
