"""Generic imports: a bad row is reported with its line, never a crash."""

from __future__ import annotations

from pathlib import Path


def test_spot_rows_without_a_symbol_are_reported_not_a_crash(tmp_path: Path) -> None:
    """An empty symbol cell (and no --symbol) is a bad row with its line, never an SQL error."""
    from datetime import UTC, datetime

    from kalshibot.importers.engine import import_file
    from kalshibot.store.connection import connect

    f = tmp_path / "spot.csv"
    f.write_text("ts,symbol,price\n2026-11-20T12:00:00Z,BTC,100000.5\n2026-11-20T12:00:01Z,,100001\n")
    conn = connect(tmp_path / "s.sqlite")
    report = import_file(conn, f, layout="spot", now=datetime(2026, 11, 20, tzinfo=UTC))
    assert report.written.get("spot_prices") == 1
    assert [i.line for i in report.issues] == [3]
