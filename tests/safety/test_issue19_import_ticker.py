"""Issue 19 item 10: ``data import`` never stores a quote row with an empty ticker; the row is
rejected and counted. On f6e3055 the row was stored with ``ticker = ''``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from kalshibot.cli.main import run


def test_quote_with_empty_ticker_is_rejected_and_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for k in list(os.environ):
        if k.upper().startswith("KALSHIBOT_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.csv").write_text("ts,ticker,yes_bid,yes_ask\n"
                                    "2026-11-20T10:00Z,,0.40,0.45\n"
                                    "2026-11-20T10:00Z,KXA-1,0.40,0.45\n")
    db = tmp_path / "x.sqlite"
    run(["data", "import", "q.csv", "--layout", "quotes", "--db", str(db), "--json"])
    capsys.readouterr()
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT ticker FROM book_snapshots").fetchall()
    conn.close()
    assert rows == [("KXA-1",)]
