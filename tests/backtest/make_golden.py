"""Regenerate the golden backtest dataset and its expected statistics.

    python -m tests.backtest.make_golden

Writes ``tests/backtest/golden/golden.sqlite`` (seeded sample: 6 hours of KXBTC15M and
KXETH15M, spot prices dropped to keep the file small) and ``expected.json`` (the statistics
of the golden backtest). Only rerun when a deliberate change alters the results, and say why
in the commit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent / "golden"
DB = HERE / "golden.sqlite"
EXPECTED = HERE / "expected.json"


def config():  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from kalshibot.backtest import BacktestConfig

    return BacktestConfig(data=DB, strategies=("meanrev",), starting_cash=Decimal("10000"),
                          interval_s=10.0, latency_s=1.0)


def build() -> None:
    from kalshibot.sim.sample import SampleConfig, generate_sample
    from kalshibot.store.connection import connect

    HERE.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(DB) + suffix).unlink(missing_ok=True)
    conn = connect(DB)
    generate_sample(conn, SampleConfig(days=0.25, seed=11, series=("KXBTC15M", "KXETH15M"),
                                       end=datetime(2026, 9, 1, 6, 0, tzinfo=UTC)))
    conn.execute("DELETE FROM spot_prices")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("VACUUM")
    conn.close()


def expected() -> dict:  # type: ignore[type-arg]
    from kalshibot.backtest import backtest

    return {r.run.strategy: r.stats.as_dict() for r in backtest(config())}


if __name__ == "__main__":
    build()
    EXPECTED.write_text(json.dumps(expected(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {DB} ({DB.stat().st_size} bytes) and {EXPECTED}")
