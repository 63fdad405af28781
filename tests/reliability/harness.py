"""Run the real bot in a subprocess against ``FakeKalshi`` and check the invariants.

``BotRig`` owns a temp folder, the fake exchange (served on 127.0.0.1), an RSA key (0600) and
the bot's environment (live mode, demo, ``KALSHIBOT_API_BASE_URL`` pointing at the fake,
WebSocket off). ``check_store`` compares the bot's SQLite store with the exchange's ground truth
and returns what it counted; every violated invariant is an ``AssertionError``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.reliability.fake_kalshi import FakeKalshi, make_rsa_key

REPO = Path(__file__).resolve().parents[2]
BOT = [sys.executable, "-m", "tests.reliability.botmain"]


@dataclass
class Counts:
    runs_killed: int = 0
    restarts_checked: int = 0
    orders_checked: int = 0
    creates_seen: int = 0
    fills_checked: int = 0
    duplicates: int = 0
    unknown_resolved: int = 0
    breaker_checks: int = 0
    faults: Counter[str] = field(default_factory=Counter)


class BotRig:
    def __init__(self, root: Path, *, n_markets: int = 4, fresh_key: bool = True) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.key_path = root / "keys" / "kalshi.pem"
        self.key_path.parent.mkdir(exist_ok=True)
        pem = make_rsa_key(self.key_path) if fresh_key else self.key_path.read_bytes()
        self.key_id = str(uuid.uuid4())
        self.fake = FakeKalshi(root / "exchange.json", pem, key_id=self.key_id,
                               n_markets=n_markets)
        self.base_url = self.fake.serve()
        self.db = root / "data" / "live.sqlite"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("KALSHIBOT_")}
        env.update({
            "KALSHIBOT_MODE": "live", "KALSHIBOT_ENVIRONMENT": "demo",
            "KALSHIBOT_API_KEY_ID": self.key_id, "KALSHIBOT_PRIVATE_KEY_PATH": str(self.key_path),
            "KALSHIBOT_API_BASE_URL": self.base_url, "KALSHIBOT_WEBSOCKET": "false",
            "KALSHIBOT_DATA_DIR": str(self.root / "data"),
            "KALSHIBOT_LOG_DIR": str(self.root / "logs"),
            "KALSHIBOT_MODEL_DIR": str(self.root / "models"),
            "KALSHIBOT_READ_RATE_PER_S": "2000", "KALSHIBOT_WRITE_RATE_PER_S": "1000",
            "KALSHIBOT_HTTP_CONNECT_TIMEOUT_S": "1", "KALSHIBOT_HTTP_READ_TIMEOUT_S": "0.5",
            "KALSHIBOT_CAPITAL_CAP": "1000", "KALSHIBOT_MAX_PORTFOLIO_EXPOSURE": "1000",
            "KALSHIBOT_MAX_POSITION_PER_MARKET": "100", "KALSHIBOT_MAX_DAILY_LOSS": "500",
            "KALSHIBOT_MAX_EXPOSURE_PER_EVENT": "1000", "KALSHIBOT_MAX_EXPOSURE_PER_SERIES": "1000",
            "KALSHIBOT_KELLY_FRACTION": "0.05",
            "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
        })
        env.update(extra)
        return env

    def trade_args(self, *extra: str) -> list[str]:
        return ["trade", "--exchange", "kalshi", "--live", "--strategy", "meanrev",
                "--tickers", ",".join(self.fake.tickers), "--interval", "0.05", "--quiet",
                *extra]

    def spawn(self, seed: int, *extra: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        e = env or self.env()
        e["RELI_CHAOS_SEED"] = str(seed)
        return subprocess.Popen(BOT + self.trade_args(*extra), cwd=self.root, env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run_to_end(self, seed: int, cycles: int, *, timeout: float = 60,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        e = env or self.env()
        e["RELI_CHAOS_SEED"] = str(seed)
        return subprocess.run(BOT + self.trade_args("--max-cycles", str(cycles)), cwd=self.root,
                              env=e, capture_output=True, text=True, timeout=timeout)

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(BOT + list(args), cwd=self.root, env=env or self.env(),
                              capture_output=True, text=True, timeout=timeout)

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        return proc.communicate(timeout=30)

    def wait_for_cycle(self, since_runs: int, timeout: float) -> bool:
        """True once a run newer than the first ``since_runs`` runs has a heartbeat."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.db.exists():
                try:
                    c = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1)
                    rows = c.execute("SELECT run_id FROM runs ORDER BY started_ts, rowid"
                                     ).fetchall()
                    if len(rows) > since_runs:
                        rid = rows[-1][0]
                        n = c.execute("SELECT count(*) FROM heartbeats WHERE run_id=? "
                                      "AND cycle>=1", (rid,)).fetchone()[0]
                        c.close()
                        if n:
                            return True
                    else:
                        c.close()
                except sqlite3.Error:
                    pass
            time.sleep(0.05)
        return False

    def n_runs(self) -> int:
        if not self.db.exists():
            return 0
        c = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return int(c.execute("SELECT count(*) FROM runs").fetchone()[0])
        except sqlite3.Error:
            return 0
        finally:
            c.close()


UNRESOLVED = ("pending_submit", "outcome_unknown")


def signed_totals(rows: list[tuple[str, str, str]]) -> dict[str, Decimal]:
    """+YES / -NO contracts per ticker from (ticker, side, action, count) canonical fills."""
    out: dict[str, Decimal] = {}
    for ticker, side, action, count in rows:  # type: ignore[misc]
        adds_yes = (side == "yes") == (action == "buy")
        out[ticker] = out.get(ticker, Decimal(0)) + (Decimal(count) if adds_yes
                                                     else -Decimal(count))
    return {t: n for t, n in out.items() if n}


def check_store(db: Path, truth: dict[str, Any], counts: Counts, *, complete: bool = False,
                fills_before: float | None = None) -> None:
    """Invariants between the bot's store and the exchange's state ``truth``.

    Always: integrity ok; no create request per client_order_id more than once; every exchange
    order is one of the bot's recorded intents (no orphan: the row was committed before the
    request) and every intent maps to at most one exchange order; a local order marked
    rejected does not exist at the exchange; stored fills are exchange fills, once each.
    ``fills_before``: exchange fills older than this (Unix s) must all be stored.
    ``complete`` (after a graceful run): every exchange fill is stored, nothing is left
    unresolved that the exchange knows, and stored positions = fills = exchange positions.
    """
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        ok = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        assert ok == ["ok"], f"integrity_check: {ok}"
        posts = Counter(c["client_order_id"] for c in truth["create_log"])
        dup = {k: n for k, n in posts.items() if n > 1}
        counts.duplicates += len(dup)
        counts.creates_seen = len(truth["create_log"])
        assert not dup, f"client_order_id submitted more than once: {dup}"
        local = {r[0]: r for r in conn.execute(
            "SELECT client_order_id, order_id, ticker, status FROM orders")}
        remote_by_coid: dict[str, dict[str, Any]] = {}
        for o in truth["orders"].values():
            coid = o["client_order_id"]
            assert coid not in remote_by_coid, f"two exchange orders for intent {coid}"
            remote_by_coid[coid] = o
            assert coid in local, f"exchange order {o['order_id']} ({coid}) has no local row"
        counts.orders_checked += len(local)
        for coid, (_, oid, _ticker, status) in local.items():
            r = remote_by_coid.get(coid)
            if status == "rejected":
                assert r is None, f"{coid} is rejected locally but exists at the exchange"
            if oid is not None:
                assert r is not None and r["order_id"] == oid, f"{coid}: order id {oid} unknown"
            if complete and r is not None:
                assert status not in UNRESOLVED, f"{coid} exists at the exchange but is {status}"
        stored = [r[0] for r in conn.execute("SELECT fill_id FROM fills")]
        assert len(stored) == len(set(stored))
        ex_fills = {f["fill_id"]: f for f in truth["fills"]}
        extra = set(stored) - set(ex_fills)
        assert not extra, f"stored fills the exchange never made: {sorted(extra)[:5]}"
        counts.fills_checked += len(stored)
        if fills_before is not None or complete:
            missing = [f for f in ex_fills.values()
                       if (complete or f["ts"] < (fills_before or 0)) and f["fill_id"]
                       not in stored]
            assert not missing, f"exchange fills not in the store: {missing[:3]}"
        if complete:
            derived = signed_totals(conn.execute(
                "SELECT ticker, side, action, count FROM fills").fetchall())  # type: ignore[arg-type]
            table = {t: Decimal(q) for t, q in conn.execute("SELECT ticker, qty FROM positions")
                     if Decimal(q)}
            exch: dict[str, Decimal] = {}
            for f in truth["fills"]:
                sign = 1 if f["book_side"] == "bid" else -1
                exch[f["ticker"]] = exch.get(f["ticker"], Decimal(0)) + sign * Decimal(f["count"])
            exch = {t: n for t, n in exch.items() if n}
            assert derived == exch, f"positions from stored fills {derived} != exchange {exch}"
            assert table == derived, f"positions table {table} != fills {derived}"
    finally:
        conn.close()
