"""``SnapshotCursor`` answers exactly as the keyed lookup it replaces, whatever the order of
the times asked and however the store changes between asks."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from kalshibot.sim.snapshots import SnapshotCursor
from kalshibot.store.books import insert_snapshot_rows
from kalshibot.store.connection import connect

TICKERS = ("A", "B", "C")


def _rows(rng: random.Random, n: int) -> list[tuple]:
    out = []
    for tk in TICKERS:
        ts = sorted(rng.sample(range(0, 100_000, 7), n))
        out += [(tk, t, rng.randint(1, 98), rng.randint(1, 50), None, None, None) for t in ts]
    return out


def _keyed(conn: sqlite3.Connection, ticker: str, at_ms: int) -> tuple | None:
    r = conn.execute(
        "SELECT ticker, ts, yes_bid, yes_bid_size, yes_ask, yes_ask_size, depth "
        "FROM book_snapshots WHERE ticker = ? AND ts <= ? ORDER BY ts DESC LIMIT 1",
        (ticker, at_ms)).fetchone()
    return None if r is None else tuple(r)


def test_matches_keyed_lookup_forward_backward_and_after_writes(tmp_path: Path) -> None:
    rng = random.Random(7)
    conn = connect(tmp_path / "s.sqlite")
    insert_snapshot_rows(conn, _rows(rng, 300))
    cur = SnapshotCursor(conn, batch=5)
    t = -50
    for step in range(3000):
        t = t + rng.randint(0, 400) if rng.random() > 0.05 else rng.randint(-100, 110_000)
        tk = rng.choice(TICKERS)
        assert cur.at(tk, t) == _keyed(conn, tk, t), (step, tk, t)
        if step % 500 == 250:  # a write between asks: a new snapshot inside the read-ahead
            insert_snapshot_rows(conn, [(tk, t + 1, 42, 1, None, None, None)])


def test_sees_another_connections_commit(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    a = connect(path)
    insert_snapshot_rows(a, [("A", 0, 10, 1, None, None, None),
                             ("A", 1000, 11, 1, None, None, None)])
    cur = SnapshotCursor(a, batch=4)
    assert cur.at("A", 500)[1] == 0
    b = connect(path)
    insert_snapshot_rows(b, [("A", 600, 12, 1, None, None, None)])
    assert cur.at("A", 700) == _keyed(a, "A", 700)
    assert cur.at("A", 700)[1] == 600
