"""Issue 16's numbered cases through the CLI, each failing on f6e3055 (see each docstring)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.harness import Workspace, check, cli, corrupt_page, corrupt_schema, one_line


def _prices_csv(ws: Workspace) -> Path:
    p = ws.root / "prices.csv"
    p.write_text("ts,ticker,last_price\n2026-11-19T11:00:00Z,KXTEST-26NOV19-A,0.45\n",
                 encoding="utf-8")
    return p


def store_commands(ws: Workspace) -> list[list[str]]:
    """Every command that reads or writes the (default, paper) store."""
    return [
        ["status"], ["status", "--json"], ["status", "--format", "prometheus"],
        ["risk", "show"], ["risk", "reset", "--yes"],
        ["orders", "list"], ["orders", "cancel-all", "--yes"],
        ["orders", "cancel", "kb-resting-2", "--yes"],
        ["positions", "list"], ["positions", "close-all", "--yes"], ["history"],
        ["markets"], ["data", "sample", "--days", "0.1", "--end", "2026-11-19T12:00Z"],
        ["data", "import", str(_prices_csv(ws))], ["backtest", "--strategy", "meanrev"],
        ["train"], ["trade", "--exchange", "sim", "--strategy", "meanrev", "--max-cycles", "1"],
    ]


@pytest.mark.parametrize("damage", ["schema-bytes", "schema-page"])
def test_case3_corrupt_store_is_exit_3_store_unreadable_for_every_command(
        ws: Workspace, damage: str) -> None:
    """Case 3: a corrupt page made every command, status included, exit 70
    (UnicodeDecodeError) on f6e3055. Now: exit 3 and "store unreadable" with the
    integrity-check / restore hint, in one line (status: in its UNAVAILABLE document)."""
    if damage == "schema-bytes":
        corrupt_schema(ws.db)
    else:
        corrupt_page(ws.db, "sqlite_master", seed=5)
    for argv in store_commands(ws):
        r = cli(argv, ws)
        check(r)
        assert r.code == 3, (argv, r.out, r.err)
        if argv[0] == "status":
            if "prometheus" in argv:
                assert "kalshibot_health_code 3" in r.out
                continue
            flat = " ".join(r.out.split())  # the table wraps long lines
            assert "store unreadable" in flat and "integrity_check" in flat, r.out
        else:
            line = one_line(r)
            assert "store unreadable" in line and "integrity_check" in line, (argv, line)


@pytest.mark.parametrize("argv,needle", [
    (["trade", "--exchange", "sim", "--duration", "inf"], "--duration"),
    (["trade", "--exchange", "sim", "--interval", "nan"], "--interval"),
    (["trade", "--exchange", "sim", "--start", "9999-12-31T23:59+00:00"], "--start"),
    (["data", "sample", "--end", "9999-12-31T23:00Z"], "--end"),
    (["data", "sample", "--end", "0001-01-01T00:00-05:00"], "--end"),
    (["data", "sample", "--seed", "-1"], "--seed"),
    (["data", "sync", "--since", "99999999999d"], "--since"),
    (["history", "--since", "0001-01-01T00:00+01:00"], "--since"),
])
def test_case1_far_dates_and_infinite_durations_are_one_line_exit_2(
        ws: Workspace, argv: list[str], needle: str) -> None:
    """Case 1: ``trade --duration inf`` and ``data sample --end 9999-...`` exited 70
    (OverflowError) on f6e3055, as did the other far dates here. Now exit 2, one line."""
    r = cli(argv, ws)
    assert r.code == 2, (r.out, r.err)
    assert needle in one_line(r)
