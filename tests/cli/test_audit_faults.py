"""``positions close-all`` without a writable audit log sends nothing (issue 16 case 4).

On f6e3055 an audited command whose log folder was read-only exited 70 after acting (or 0
having lost its record on a full disk). Fails there: the sale went out before the audit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from kalshibot.cli.main import run
from kalshibot.store.connection import connect
from kalshibot.store.fills import list_fills
from kalshibot.store.orders import list_orders
from tests.cli.test_close_all import BASE, TICKER, paper_db  # noqa: F401  (fixture)


@responses.activate
def test_close_all_with_an_unwritable_log_sells_nothing(
        paper_db: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    book = {"yes_dollars": [["0.4500", "20.00"]], "no_dollars": [["0.5300", "50.00"]]}
    responses.get(f"{BASE}/markets/orderbooks",
                  json={"orderbooks": [{"ticker": TICKER, "orderbook_fp": book}]})
    logs = Path(env["KALSHIBOT_LOG_DIR"])
    logs.parent.mkdir(parents=True, exist_ok=True)
    logs.write_text("a file where the logs folder should be")
    assert run(["positions", "close-all", "--yes"]) == 3
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and "audit" in err[0]
    conn = connect(paper_db)
    assert len(list_fills(conn)) == 1
    assert not [o for o in list_orders(conn) if o.strategy == "close-all"]
