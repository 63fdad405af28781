"""A backtest window that selects no stored market says where the stored markets close, so
the user can pick a window that exists (a README example with fixed dates, run on a freshly
generated sample, selects nothing): one line, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshibot.cli.main import run


def test_window_outside_the_data_names_the_stored_span(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["data", "sample", "--days", "1"]) == 0
    capsys.readouterr()
    code = run(["backtest", "--from", "2020-01-01T00:00Z", "--to", "2020-01-02T00:00Z"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no stored markets match the selection" in err
    assert "stored market(s) close from 20" in err and "Traceback" not in err
    code = run(["backtest", "--series", "KXNOSUCH"])
    err = capsys.readouterr().err
    assert code == 2 and "no stored market has that series/ticker" in err
