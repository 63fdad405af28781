"""Ingest benchmark: N order-book snapshot rows into a temp SQLite file (not part of the tests).

Prints rows/s and peak RSS after 1/4 of the rows and at the end, to show memory does not grow
with input size (rows are generated lazily and inserted in chunks). Target: >= 100k rows/s.

    python bench/bench_ingest.py [--rows 1000000] [--tickers 200]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kalshibot.store import open_store
from kalshibot.store.books import SnapshotRow, insert_snapshot_rows


def rows(n: int, tickers: int, seed: int = 1) -> Iterator[SnapshotRow]:
    """Lazily generated snapshots: 10-second steps, prices in $0.0001 units, sizes 0.01."""
    names = [f"KXBENCH-26OCT01{i:04d}-00" for i in range(tickers)]
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        bid = 100 + x % 9700
        yield (names[i % tickers], 1_759_276_800_000 + (i // tickers) * 10_000, bid,
               100 * (1 + x % 500), bid + 100 * (1 + x % 3), 100 * (1 + (x >> 9) % 500), None)


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--tickers", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        conn = open_store(Path(d) / "bench.sqlite")
        quarter = args.rows // 4
        t0 = time.perf_counter()
        insert_snapshot_rows(conn, rows(quarter, args.tickers))
        rss_q = peak_rss_mb()
        rest = rows(args.rows, args.tickers)
        for _ in range(quarter):
            next(rest)
        insert_snapshot_rows(conn, rest)
        dt = time.perf_counter() - t0
        n = conn.execute("SELECT count(*) FROM book_snapshots").fetchone()[0]
        size = (Path(d) / "bench.sqlite").stat().st_size / 1e6
        again = time.perf_counter()
        added = insert_snapshot_rows(conn, rows(100_000, args.tickers))
        redo = time.perf_counter() - again
        conn.close()
    print(f"rows stored           {n:,}")
    print(f"ingest throughput     {n / dt:,.0f} rows/s ({dt:.2f} s)")
    print(f"re-ingest 100k rows   {added} new, {100_000 / redo:,.0f} rows/s")
    print(f"peak RSS after 1/4    {rss_q:.0f} MB")
    print(f"peak RSS at the end   {peak_rss_mb():.0f} MB")
    print(f"database size         {size:.0f} MB")


if __name__ == "__main__":
    main()
