"""The backtest progress hook (issue 19 build): called with rising counts up to the total; the
CLI draws no bar when stderr is not a terminal."""

from __future__ import annotations

from datetime import UTC, datetime

from kalshibot.backtest import BacktestConfig, backtest
from kalshibot.backtest.runner import PROGRESS
from kalshibot.cli.progress import progress_bar
from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store import open_store

END = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def test_progress_hook_sees_rising_counts(tmp_path) -> None:
    db = tmp_path / "d.sqlite"
    conn = open_store(db)
    generate_sample(conn, SampleConfig(days=0.05, seed=2, series=("KXBTC15M",), end=END), now=END)
    conn.close()
    calls: list[tuple[str, int, int]] = []
    token = PROGRESS.set(lambda name, done, total: calls.append((name, done, total)))
    try:
        backtest(BacktestConfig(data=db, strategies=("meanrev",)))
    finally:
        PROGRESS.reset(token)
    assert calls and {c[0] for c in calls} == {"meanrev"}
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[0] == 0 and all(d < calls[0][2] for d in done)


def test_no_bar_off_a_terminal() -> None:
    with progress_bar(show=True) as bar:  # pytest captures stderr: not a terminal
        assert bar.progress is None
        assert PROGRESS.get() is None
