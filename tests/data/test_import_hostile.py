"""Hostile import files (issue 16 cases 1, 2 and 7): one line and exit 2 for a file that cannot
be read to its end, a bad row with its line for a cell outside the sane ranges. Every test
here fails on f6e3055 (there: exit 70, "Aborted.", gigabytes of memory, or rows stored with
year 0001, a NUL in the ticker or an empty side for a NaN price)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshibot.errors import DataError, UserInputError
from kalshibot.importers import import_file
from kalshibot.importers.layouts import loose_decimal, parse_time
from kalshibot.store import open_store

NOW = datetime(2026, 11, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
HEADER = "ts,ticker,yes_bid,yes_ask\n"


def _good_rows(n: int, start: int = 0) -> str:
    return "".join(f"2026-10-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z,KXA-26OCT01-B{i % 7},0.47,"
                   "0.49\n" for i in range(start, start + n))


def _kalshibot(*args: str, cwd: Path, limit_mb: int | None = None) -> subprocess.CompletedProcess:
    """``kalshibot args`` in a child process (optionally with its address space capped at
    ``limit_mb`` above what the imports already use)."""
    cap = ""
    if limit_mb is not None:
        cap = ("import resource, kalshibot.cli.main, kalshibot.importers\n"
               "vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize'))"
               ".split()[1]) * 1024\n"
               f"resource.setrlimit(resource.RLIMIT_AS, (vm + {limit_mb} * 2**20,) * 2)\n")
    code = cap + "from kalshibot.cli.main import main\nmain(sys.argv[1:])\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHIBOT_")}
    env["PYTHONPATH"] = str(REPO)
    env["KALSHIBOT_LOG_DIR"] = str(cwd / "logs")
    env["KALSHIBOT_DATA_DIR"] = str(cwd / "data")
    return subprocess.run([sys.executable, "-c", "import sys\n" + code, *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def _one_line(p: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in p.stderr, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


# --- case 1: files that cannot be read to their end ----------------------------------------
def test_invalid_utf8_after_the_first_8kb_is_exit_2_one_line(tmp_path: Path) -> None:
    f = tmp_path / "q.csv"
    f.write_bytes((HEADER + _good_rows(400)).encode() + b"2026-10-01T01:00:00Z,K\xff\xfe,0.4,0.5\n")
    assert f.stat().st_size > 8192
    p = _kalshibot("data", "import", str(f), "--db", str(tmp_path / "db.sqlite"), cwd=tmp_path)
    assert p.returncode == 2
    line = _one_line(p)
    assert "q.csv" in line and "not UTF-8" in line


def test_truncated_csv_gz_is_exit_2_one_line(tmp_path: Path) -> None:
    whole = gzip.compress((HEADER + _good_rows(3000)).encode())
    f = tmp_path / "q.csv.gz"
    f.write_bytes(whole[: len(whole) // 2])
    p = _kalshibot("data", "import", str(f), "--db", str(tmp_path / "db.sqlite"), cwd=tmp_path)
    assert p.returncode == 2
    line = _one_line(p)
    assert "q.csv.gz" in line and "truncated" in line


def test_corrupt_parquet_page_is_exit_2_one_line(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 20_000
    table = pa.table({"ts": [f"2026-10-01T00:00:{i % 60:02d}Z" for i in range(n)],
                      "ticker": [f"KXA-26OCT01-B{i}" for i in range(n)],
                      "yes_bid": ["0.47"] * n, "yes_ask": ["0.49"] * n})
    f = tmp_path / "q.parquet"
    pq.write_table(table, f, compression="snappy", data_page_size=4096)
    raw = bytearray(f.read_bytes())
    mid = len(raw) // 2
    raw[mid: mid + 2000] = bytes((i * 37 + 11) % 256 for i in range(2000))
    f.write_bytes(bytes(raw))
    p = _kalshibot("data", "import", str(f), "--db", str(tmp_path / "db.sqlite"), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "q.parquet" in _one_line(p)


def test_csv_field_over_131072_characters_is_a_bad_row(tmp_path: Path) -> None:
    f = tmp_path / "q.csv"
    f.write_text(HEADER + _good_rows(3) + "2026-10-01T01:00:00Z,KXA-1," + "9" * 140_000
                 + ",0.5\n" + _good_rows(2, start=10), encoding="utf-8")
    rep = import_file(open_store(":memory:"), f, now=NOW)
    assert rep.written == {"book_snapshots": 5}
    assert [i.line for i in rep.issues] == [5]
    assert "field larger than field limit" in rep.issues[0].message


# --- case 2: numbers are bounded before they become Decimal -----------------------------------
def test_huge_exponent_is_refused_before_it_becomes_a_number() -> None:
    for text in ("1e999999999", "1E+99999", "9" * 100_000, "-1e16"):
        with pytest.raises(DataError):
            loose_decimal(text, "price")
    assert loose_decimal("5.4e-05", "price") == loose_decimal("0.000054", "price")


def test_spot_cell_1e999999999_is_a_bad_row_in_little_memory(tmp_path: Path) -> None:
    """f6e3055 took 2.18 GB before exit 70; here the child may use at most 400 MB more than
    its imports (it would die of MemoryError, exit 70, without the bound)."""
    f = tmp_path / "spot.csv"
    f.write_text("ts,symbol,price\n2026-11-20T12:00:00Z,BTC,100000.5\n"
                 "2026-11-20T12:00:01Z,BTC,1e999999999\n", encoding="utf-8")
    p = _kalshibot("data", "import", str(f), "--layout", "spot", "--json", "--db",
                   str(tmp_path / "db.sqlite"), cwd=tmp_path, limit_mb=400)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)["reports"][0]
    assert report["written"] == {"spot_prices": 1}
    assert len(report["bad_rows"]) == 1 and ":3:" in report["bad_rows"][0]


# --- case 7: rows outside sane ranges are bad rows with their line ---------------------------
def test_far_years_and_nul_tickers_are_bad_rows_with_their_line(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("ts,ticker,yes_price,count,taker_side\n"
                 "2026-10-01T00:00:00Z,A-1,0.49,1,yes\n"
                 "0001-01-01T00:00:00Z,A-1,0.49,1,yes\n"
                 "9999-12-31T00:00:00Z,A-1,0.49,1,yes\n"
                 "2026-10-01T00:00:01Z,A\x00-1,0.49,1,yes\n"
                 "99999999999999,A-1,0.49,1,yes\n"
                 "2026-10-01T00:00:02Z,A-1,0.49,1e99,yes\n", encoding="utf-8")
    rep = import_file(open_store(":memory:"), f, now=NOW)
    assert rep.written == {"trades": 1}
    assert [i.line for i in rep.issues] == [3, 4, 5, 6, 7]
    assert "outside 2000-01-01 .. 2100-01-01" in rep.issues[0].message
    assert "printable" in rep.issues[2].message


def test_times_in_range_still_parse() -> None:
    assert parse_time("2026-10-01T00:15:00Z") == datetime(2026, 10, 1, 0, 15, tzinfo=UTC)
    assert parse_time("1759277700") == datetime(2025, 10, 1, 0, 15, tzinfo=UTC)
    assert parse_time("1759277700000") == datetime(2025, 10, 1, 0, 15, tzinfo=UTC)
    with pytest.raises(DataError):
        parse_time("1999-12-31T23:59:59Z")


def test_nan_parquet_prices_are_bad_rows_not_empty_sides(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    nan, inf = float("nan"), float("inf")
    table = pa.table({"ts": ["2026-10-01T00:00:00Z"] * 4,
                      "ticker": ["A-1", "A-2", "A-3", "A-4"],
                      "yes_bid": pa.array([0.47, nan, 0.47, None], type=pa.float64()),
                      "yes_ask": pa.array([0.49, 0.49, inf, 0.49], type=pa.float64())})
    f = tmp_path / "q.parquet"
    pq.write_table(table, f)
    conn = open_store(":memory:")
    rep = import_file(conn, f, now=NOW)
    assert [i.line for i in rep.issues] == [2, 3]
    assert rep.written == {"book_snapshots": 2}  # a null is an empty side; NaN/inf are not
    assert conn.execute("SELECT ticker FROM book_snapshots ORDER BY ticker").fetchall() == [
        ("A-1",), ("A-4",)]


def test_strict_mode_stops_at_the_first_out_of_range_row(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("ts,ticker,last_price\n9999-01-01T00:00:00Z,A-1,0.5\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=":2:"):
        import_file(open_store(":memory:"), f, now=NOW, strict=True)
