"""Issue 22: a run's decisions and equity points are streamed from its own store, not held in
lists, and the store is removed once the run is dropped."""

from __future__ import annotations

import gc
from pathlib import Path

from kalshibot.backtest.results import StoredRows
from kalshibot.backtest.runner import open_data, run_strategy
from tests.backtest.make_golden import config


def test_decisions_and_equity_are_streamed_from_the_run_store() -> None:
    data = open_data(config().data)
    try:
        run = run_strategy(config(), "meanrev", data)
    finally:
        data.close()
    assert isinstance(run.decisions, StoredRows) and isinstance(run.equity, StoredRows)
    decisions = list(run.decisions)
    assert len(run.decisions) == len(decisions) > 0
    assert decisions == sorted(decisions, key=lambda d: (d.ts, d.cycle, d.ticker))
    assert run.decisions[-1] == decisions[-1] and run.decisions[0] == decisions[0]
    assert list(run.equity) == list(run.equity)  # every iteration reads the rows again
    assert [p.ts for p in run.equity] == sorted(p.ts for p in run.equity)
    path = Path(run.decisions.store.conn.execute("PRAGMA database_list").fetchone()[2])
    assert path.exists()
    del run, decisions
    gc.collect()
    assert not path.exists()  # the temporary store went with the run
