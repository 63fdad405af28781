"""A live session rides out an exchange outage; one that never reached the exchange stops.

``KALSHIBOT_MAX_FAILED_CYCLES`` failed cycles in a row end a paper session with exit 4
(tests/cli/test_issue19_unreachable.py). A *live* session that has already reached the exchange
must not stop for an outage: its resting orders stay on the exchange, and only a running session
can cancel or re-price them once the exchange answers again. A live session that never reached
the exchange (bad URL, network down at start) stops with exit 4 like paper.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.fake_kalshi import FaultPlan
from tests.reliability.harness import BotRig

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def rig(tmp_path: Path) -> BotRig:
    r = BotRig(tmp_path, n_markets=2)
    yield r
    r.fake.stop()


def test_live_session_keeps_running_through_an_outage(rig: BotRig) -> None:
    env = rig.env(KALSHIBOT_MAX_FAILED_CYCLES="2")
    proc = rig.spawn(5, "--duration", "20", env=env)
    try:
        assert rig.wait_for_cycle(0, timeout=60), "the session never completed a cycle"
        rig.fake.faults = [FaultPlan({"reset": 1.0}, seed=1)]  # every request fails
        time.sleep(5)  # well over 2 failed cycles at a 0.05 s interval
        assert proc.poll() is None, "the live session stopped during the outage"
        outage_failures = rig.fake.fault_counts["reset"]
        rig.fake.faults = []
        out, err = proc.communicate(timeout=120)
    finally:
        rig.kill(proc)
    assert outage_failures > 0
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err


def test_live_session_that_never_reached_the_exchange_exits_4(rig: BotRig) -> None:
    rig.fake.faults = [FaultPlan({"reset": 1.0}, seed=1)]
    res = rig.cli(*rig.trade_args(), env=rig.env(KALSHIBOT_MAX_FAILED_CYCLES="2"),
                  timeout=180)
    assert res.returncode == 4, res.stderr[-2000:]
    assert len(res.stderr.strip().splitlines()) == 1  # one line naming the failed request
    assert "Traceback" not in res.stderr
