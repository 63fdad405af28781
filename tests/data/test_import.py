"""Imports: generic layouts with bad-row reports, and every shared dataset with README counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.errors import UserInputError
from kalshibot.importers import import_dataset, import_file
from kalshibot.store import integrity_check, open_store

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "kalshi"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data/kalshi absent")


def test_generic_trades_layout_reports_bad_rows(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("ts,ticker,yes_price,count,taker_side\n"
                 "2026-10-01T00:00:00Z,A-1,0.49,1.5,yes\n"
                 "2026-10-01T00:00:00Z,A-1,0.49,1.5,yes\n"  # identical print: a second trade
                 "2026-10-01T00:00:01Z,A-1,1.49,1,yes\n"
                 "2026-10-01T00:00:02Z,A-1,0.49,1,maybe\n")
    conn = open_store(tmp_path / "db.sqlite")
    rep = import_file(conn, f, now=NOW)
    assert rep.layout == "trades" and rep.rows_read == 4 and rep.written == {"trades": 2}
    assert [i.line for i in rep.issues] == [4, 5]
    assert str(rep.issues[0]).startswith(f"{f}:4:")
    assert import_file(conn, f, now=NOW).written == {"trades": 0}
    with pytest.raises(UserInputError, match=":4:"):
        import_file(conn, f, now=NOW, strict=True)


def test_generic_layout_errors(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    conn = open_store(":memory:")
    with pytest.raises(UserInputError, match="cannot tell the layout"):
        import_file(conn, f, now=NOW)
    with pytest.raises(UserInputError, match="needs column"):
        import_file(conn, f, layout="quotes", now=NOW)
    with pytest.raises(UserInputError, match="no such file"):
        import_file(conn, tmp_path / "missing.csv", now=NOW)


def test_generic_markets_quotes_and_parquet(tmp_path):
    import pandas as pd

    pd.DataFrame({"ticker": ["E-1-A"], "close_time": ["2026-10-01T00:15:00Z"],
                  "result": ["yes"], "floor_strike": ["1.5"]}).to_parquet(tmp_path / "m.parquet")
    (tmp_path / "q.csv").write_text("ts,ticker,yes_bid,yes_ask,yes_bid_size,yes_ask_size\n"
                                    "1759277700,E-1-A,0.47,0.49,10,\n")
    conn = open_store(":memory:")
    assert import_file(conn, tmp_path / "m.parquet", now=NOW).written["markets"] == 1
    assert import_file(conn, tmp_path / "q.csv", now=NOW).written == {"book_snapshots": 1}
    row = conn.execute("SELECT yes_bid, yes_bid_size, yes_ask_size FROM book_snapshots").fetchone()
    assert row == (4700, 1000, None)


@needs_shared
def test_all_shared_datasets_with_readme_counts(tmp_path):
    conn = open_store(tmp_path / "shared.sqlite")
    reports = {r.name: r for r in import_dataset(conn, SHARED, now=NOW)}
    assert reports["settlements_15m_crypto.csv"].written["markets"] == 890
    assert reports["outcomes.csv"].rows_read == 9
    assert reports["spot_index_and_model.csv"].written == {"spot_prices": 212}
    assert reports["quotes_2s.csv"].written == {"book_snapshots": 211}
    assert reports["trades_near.csv"].written == {"trades": 230}
    assert reports["contract_series.csv"].written["events"] == 17
    c = reports["contracts.csv"]
    assert c.rows_read == 279 and c.written["markets"] == 273
    assert c.skipped == {"synthetic aggregate row": 6}
    p = reports["contract_prices.csv.gz"]
    assert p.rows_read == 22_745
    assert p.skipped["synthetic aggregate row"] == 5_653
    assert p.written["price_points"] + sum(p.skipped.values()) + len(p.issues) == 22_745
    assert all(i.line > 1 for i in p.issues)  # negative derived prices reported by line
    bars = [r for n, r in reports.items() if n.startswith("binanceus_")]
    assert len(bars) == 3 and all(r.written == {"spot_prices": 20_160} for r in bars)
    yes = conn.execute("SELECT count(*) FROM markets WHERE source='watkast' AND result='yes'")
    assert yes.fetchone()[0] == 460
    assert integrity_check(conn) == []
    again = import_dataset(conn, SHARED, now=NOW)
    assert all(sum(r.written.values()) == 0 for r in again)


def test_cli_sample_markets_and_import(tmp_path, capsys):
    db = str(tmp_path / "cli.sqlite")
    assert run(["data", "sample", "--db", db, "--days", "0.2", "--end",
                "2026-10-01T00:07:00Z", "--series", "KXBTC15M"]) == 0
    capsys.readouterr()
    assert run(["markets", "--db", db, "--json", "--status", "all"]) == 0
    out = capsys.readouterr().out
    assert "KXBTC15M-26SEP302015-15" in out  # stored active, closed by now (issue 19 item 8)
    assert run(["markets", "--db", db, "--status", "settled", "-q", "KXBTC"]) == 0
    assert run(["data", "import", "--db", db, str(tmp_path / "nope.csv")]) == 2
    assert run(["markets", "--db", str(tmp_path / "missing.sqlite")]) == 2
    assert run(["data", "sample", "--db", db, "--series", "NOPE"]) == 2


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
