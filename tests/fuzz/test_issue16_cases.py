"""Issue 16's numbered cases through the CLI, each failing on f6e3055 (see each docstring)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fuzz.harness import (
    T0,
    Workspace,
    check,
    cli,
    corrupt_page,
    corrupt_schema,
    dev_full_log,
    file_instead_of_dir,
    mounted_dir,
    one_line,
)


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


# --- case 4: full or read-only logs folder ---------------------------------------------------
@contextlib.contextmanager
def broken_logs(ws: Workspace, kind: str) -> Iterator[str]:
    """The workspace's logs folder ``full`` (tiny tmpfs, else a log file on /dev/full) or
    ``readonly`` (read-only bind mount, else a file where the folder should be)."""
    logs = ws.root / "logs"
    with mounted_dir(logs, kind) as how:
        if how == "fallback":
            if kind == "full":
                dev_full_log(logs)
            else:
                file_instead_of_dir(logs)
        try:
            yield how
        finally:
            if how == "fallback":  # repair: later steps of a test expect a working folder
                if logs.is_file():
                    logs.unlink()
                (logs / "kalshibot.jsonl").unlink(missing_ok=True)
                logs.mkdir(exist_ok=True)


def _breaker(ws: Workspace) -> bool:
    from kalshibot.engine import StoreKV
    from kalshibot.risk import CircuitBreaker
    from kalshibot.store.connection import connect

    conn = connect(ws.db)
    try:
        return CircuitBreaker(StoreKV(conn, T0), Decimal("0.2")).state().tripped
    finally:
        conn.close()


def _trip(ws: Workspace) -> None:
    from kalshibot.engine import StoreKV
    from kalshibot.risk import CircuitBreaker
    from kalshibot.store.connection import atomic, connect

    conn = connect(ws.db)
    with atomic(conn):
        CircuitBreaker(StoreKV(conn, T0), Decimal("0.2")).trip("drawdown 25% >= 20%", T0)
    conn.close()


def test_case4_trading_on_a_full_logs_disk_warns_once(ws: Workspace) -> None:
    """Case 4: with a full logs disk ``trade`` printed a "--- Logging error ---" traceback for
    every log line on f6e3055. Now it trades on with one warning line."""
    with broken_logs(ws, "full"):
        r = cli(["trade", "--exchange", "sim", "--strategy", "meanrev", "--max-cycles", "6",
                 "--quiet"], ws)
    check(r)
    assert r.code == 0, r.err
    warnings = [x for x in r.lines() if "cannot write the log" in x]
    assert len(warnings) == 1, r.err
    assert "6 cycles done" in r.out


@pytest.mark.parametrize("kind", ["full", "readonly"])
def test_case4_risk_reset_without_its_audit_record_fails_and_changes_nothing(
        ws: Workspace, kind: str) -> None:
    """Case 4: ``risk reset`` exited 0 having lost its audit line (full disk) and 70 with a
    read-only logs folder on f6e3055. Now exit 3, one line, and the breaker stays tripped."""
    _trip(ws)
    with broken_logs(ws, kind):
        r = cli(["risk", "reset", "--yes"], ws)
    assert r.code == 3, (r.out, r.err)
    assert "audit" in one_line(r)
    assert _breaker(ws)
    r = cli(["risk", "reset", "--yes"], ws)  # the folder works again: reset and audited
    assert r.code == 0 and not _breaker(ws)
    assert '"risk_reset"' in (ws.root / "logs" / "kalshibot.jsonl").read_text()


@pytest.mark.parametrize("kind", ["full", "readonly"])
def test_case4_order_cancel_without_its_audit_record_changes_nothing(
        ws: Workspace, kind: str) -> None:
    with broken_logs(ws, kind):
        r = cli(["orders", "cancel", "kb-resting-2", "--yes"], ws)
        r2 = cli(["orders", "cancel-all", "--yes"], ws)
    for res in (r, r2):
        assert res.code == 3, (res.out, res.err)
        assert "audit" in one_line(res)
    listed = cli(["orders", "list", "--json"], ws)
    assert listed.code == 0 and "kb-resting-2" in listed.out


# --- case 5: status after a trade that failed at start ---------------------------------------
def test_case5_status_after_a_trade_that_failed_at_start_is_degraded(tmp_path: Path) -> None:
    """Case 5: a ``trade`` that failed after recording its run (here: its logs folder is a
    file) left the run "running", so ``status`` said healthy (exit 0) for up to 120 s on
    f6e3055. Now the run is ended with the reason and ``status`` is degraded at once."""
    ws = Workspace(tmp_path / "fresh")
    file_instead_of_dir(ws.root / "logs")
    r = cli(["trade", "--exchange", "paper", "--tickers", "KXTEST-26NOV19-A", "--strategy",
             "meanrev", "--max-cycles", "1", "--quiet"], ws)
    assert r.code == 3 and "logs" in one_line(r)
    st = cli(["status", "--quiet"], ws)
    check(st)
    assert st.code == 1, st.out
    assert "failed at start" in st.out and "run stopped" in st.out


# --- the broken environment beyond the numbered cases ----------------------------------------
@pytest.mark.parametrize("kind", ["full", "readonly"])
def test_store_on_a_full_or_read_only_disk_is_exit_3_one_line(ws: Workspace, kind: str) -> None:
    """Writing to a store on a full or read-only disk is exit 3 "store error: <file>: ..."
    with a hint about the disk (f6e3055 blamed the file: "not a usable kalshibot database").
    Needs mounts (root); skipped elsewhere."""
    data = ws.root / "data"
    keep = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    with mounted_dir(data, kind, keep if kind == "full" else None) as how:
        if how == "fallback":
            pytest.skip("mounts are not allowed here")
        r = cli(["data", "sample", "--days", "0.5", "--end", "2026-11-25T00:00Z"], ws)
    assert r.code == 3, (r.out, r.err)
    line = one_line(r)
    assert "store error" in line and "paper.sqlite" in line


def test_an_unusable_output_path_is_one_line(ws: Workspace) -> None:
    """A path that cannot be used as given is exit 2 (f6e3055: 70)."""
    (ws.root / "afile").write_text("x")
    r = cli(["status", "--json", "--output", "afile/sub/x.json"], ws)
    assert r.code == 2, (r.out, r.err)
    assert "cannot use" in one_line(r)


def test_output_to_a_device_writes_in_place_and_never_replaces_it(ws: Workspace) -> None:
    """``--output`` naming a device (here our own "full" device; /dev/stdout alike) writes
    into it: a full device is exit 3 in one line, and the device is still a device. On
    f6e3055 the temp-file-and-rename replaced the device node by a regular file (as root:
    /dev/full for the whole machine)."""
    import os
    import stat

    node = ws.root / "full-node"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except OSError:
        pytest.skip("mknod needs root")
    r = cli(["status", "--json", "--output", str(node)], ws)
    assert stat.S_ISCHR(node.stat().st_mode)
    assert r.code == 3, (r.out, r.err)
    assert "No space left" in one_line(r)


@pytest.mark.parametrize("argv,needle", [
    (["markets", "--limit", "99999999999999999999"], "--limit"),
    (["status", "--decisions", "99999999999999999999"], "--decisions"),
    (["data", "sample", "--days", "inf"], "--days"),
    (["backtest", "--latency", "nan"], "--latency"),
    (["data", "sync", "--series", "\udcff"], "--series"),
])
def test_options_out_of_range_are_one_line_exit_2(ws: Workspace, argv: list[str],
                                                 needle: str) -> None:
    """Integers beyond 64 bits, NaN/inf and undecodable text never reach a command
    (f6e3055: exit 70 for the first, fourth and fifth)."""
    r = cli(argv, ws)
    assert r.code == 2, (r.out, r.err)
    assert needle in one_line(r)
