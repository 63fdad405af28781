"""Issue 19 item 9: the sample's tickers stay unique across the November DST change.

Tickers name the window close in US Eastern wall-clock time, which repeats 01:00-01:59 on the
first Sunday of November. On f6e3055 two windows shared each repeated ticker (one market row
held both windows' snapshots) and the summary counted markets that were never stored; both
tests fail there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store import open_store

END = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # 04:00 EST, after the fall-back at 06:00Z
CFG = SampleConfig(days=0.25, seed=5, series=("KXBTC15M",), end=END)


def test_summary_counts_the_markets_stored(tmp_path):
    conn = open_store(tmp_path / "s.sqlite")
    summary = generate_sample(conn, CFG, now=END)
    stored = conn.execute("SELECT COUNT(*) FROM markets").fetchone()[0]
    assert summary.markets_by_series["KXBTC15M"] == stored
    assert summary.rows["markets"] == stored


def test_every_snapshot_lies_inside_its_markets_window(tmp_path):
    conn = open_store(tmp_path / "s.sqlite")
    generate_sample(conn, CFG, now=END)
    rows = conn.execute(
        "SELECT m.ticker, m.open_time, m.close_time, MIN(b.ts), MAX(b.ts) "
        "FROM markets m JOIN book_snapshots b ON b.ticker = m.ticker GROUP BY m.ticker").fetchall()
    assert rows
    for ticker, open_t, close_t, lo, hi in rows:
        span_s = (hi - lo) / 1000
        assert span_s < 15 * 60, (ticker, open_t, close_t, span_s)
