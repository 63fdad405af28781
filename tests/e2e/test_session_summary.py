"""Issue 19 item 6: the session summary states its scopes, a resumed sim session starts where
the last ended, and a kill switch or tripped breaker is named in the stop reason.

All three tests fail on f6e3055: the resumed session valued the open positions at cost (there:
$9,984.6365 at the start vs $9,762.5191 at the end of the last one, same simulated time), the
summary had no lifetime/session split (``realized_pnl`` and ``fees`` were lifetime totals), and
the stop reason said only "2 cycles done".
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from decimal import Decimal
from pathlib import Path

import pytest

from kalshibot.cli.main import run

TRADE = ["trade", "--exchange", "sim", "--strategy", "crypto", "--series", "KXBTC15M", "--json"]


def _trade(*extra: str) -> dict:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert run([*TRADE, *extra]) == 0
    return json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("summary")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("KALSHIBOT_DATA_DIR", str(root / "data"))
    assert run(["data", "sample", "--days", "0.3", "--series", "KXBTC15M",
                "--end", "2026-11-20T12:00Z"]) == 0
    yield root / "data", mp
    mp.undo()


def test_resumed_session_starts_at_the_equity_the_last_one_ended_at(data_dir) -> None:
    first = _trade("--max-cycles", "150", "--fresh")
    assert first["open_positions"] > 0  # the case: a position is held across the restart
    second = _trade("--max-cycles", "20")
    assert second["started"] == first["ended"]
    assert Decimal(second["start_equity"]) == Decimal(first["end_equity"])
    # scopes: lifetime = the previous lifetime + this session's
    assert Decimal(second["lifetime_realized_pnl"]) == (
        Decimal(first["lifetime_realized_pnl"]) + Decimal(second["realized_pnl"]))
    assert Decimal(second["lifetime_fees"]) == (
        Decimal(first["lifetime_fees"]) + Decimal(second["fees"]))
    assert Decimal(first["fees"]) == Decimal(first["lifetime_fees"]) > 0  # fresh: the same


def test_kill_switch_is_named_in_the_stop_reason(data_dir) -> None:
    data, _ = data_dir
    kill = Path(data) / "KILL"
    kill.write_text("stop\n")
    try:
        s = _trade("--max-cycles", "2")
    finally:
        kill.unlink()
    assert s["kill_switch"] is True
    assert "kill switch on" in s["stop_reason"]


def test_table_summary_labels_session_and_lifetime(data_dir, capsys) -> None:
    assert run(["trade", "--exchange", "sim", "--strategy", "crypto", "--series", "KXBTC15M",
                "--max-cycles", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    for label in ("session realized P&L", "session fees paid", "lifetime realized P&L",
                  "lifetime fees paid", "session P&L (equity change)"):
        assert label in out
