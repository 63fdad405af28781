"""HTTP requests per live trading cycle, counted at the local fake Kalshi
(``tests/reliability/fake_kalshi.py``), with the real ``KalshiExchange`` over REST (no socket).

    python bench/bench_requests.py [--markets 100] [--cycles 30]

A *steady* cycle discovers nothing, reconciles nothing and sends no order: what is left is the
books (one batched request per 100 markets) and one fills sync. Target (issue 20 item 8):
<= 2 requests per steady cycle, with and without fills on the account (f6e3055: ~3.2 and ~5.2,
``/portfolio/fills`` twice and ``/historical/fills`` twice a cycle while the account had none).
Discovery cycles (every ``discover_every``) are reported apart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kalshibot.clock import SystemClock  # noqa: E402
from kalshibot.config import load_settings  # noqa: E402
from kalshibot.domain.money import Money  # noqa: E402
from kalshibot.engine import Engine, EngineConfig  # noqa: E402
from kalshibot.kalshi.auth import Signer  # noqa: E402
from kalshibot.kalshi.exchange import KalshiExchange  # noqa: E402
from kalshibot.risk import RiskLimits, RiskManager  # noqa: E402
from kalshibot.store.connection import atomic, connect  # noqa: E402
from kalshibot.store.runs import start_run  # noqa: E402
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams  # noqa: E402
from tests.reliability.fake_kalshi import SERIES, FakeKalshi, make_rsa_key  # noqa: E402

KEY_ID = "bench-key"


class Quiet:
    """No opinion on any market: every cycle is steady once discovery is done."""

    name = "quiet"

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        return [FairValue(None, "bench: no opinion") for _ in views]


@dataclass
class Counts:
    steady: list[int]
    discovery: list[int]
    by_path: Counter[str]

    @property
    def steady_mean(self) -> float:
        return sum(self.steady) / len(self.steady) if self.steady else float("nan")


def count_requests(tmp: Path, *, markets: int = 100, cycles: int = 30, with_fill: bool = False,
                   discover_every: int = 12) -> Counts:
    """Run ``cycles`` engine cycles against a fresh fake; requests of each cycle."""
    pem = make_rsa_key(tmp / "key.pem")
    fake = FakeKalshi(tmp / "fake.json", pem, key_id=KEY_ID, n_markets=markets)
    base = fake.serve()
    try:
        clock = SystemClock()
        ex = KalshiExchange.create(load_settings(env={}, dotenv_file=None).environment, clock,
                                   signer=Signer.from_pem(KEY_ID, pem, clock), base_url=base,
                                   reads_per_s=1000, writes_per_s=1000)
        if with_fill:  # an earlier trade: the account has a fill
            fake.create({"ticker": fake.tickers[0], "client_order_id": "seed", "side": "bid",
                         "count": "1", "price": "0.5000", "time_in_force": "immediate_or_cancel"})
        conn = connect(tmp / "state.sqlite")
        now = clock.now()
        with atomic(conn):
            start_run(conn, "bench", mode="live", exchange="kalshi", now=now)
        eng = Engine(conn=conn, exchange=ex, strategy=Quiet(), params=StrategyParams(),
                     risk=RiskManager(RiskLimits.from_settings(
                         load_settings(env={}, dotenv_file=None))),
                     config=EngineConfig("bench", series=[SERIES], kill_switch_path=tmp / "KILL",
                                         discover_every=discover_every,
                                         reconcile_every=1 << 30),
                     starting_cash=Money(1000), now=now)
        eng.start(clock.now())
        steady: list[int] = []
        discovery: list[int] = []
        before = Counter(fake.paths)
        total = Counter[str]()
        for _ in range(cycles):
            start = sum(fake.paths.values())
            eng.run_cycle(clock.now() + timedelta(seconds=0))
            n = sum(fake.paths.values()) - start
            (discovery if eng.cycle == 1 or eng.cycle % discover_every == 0
             else steady).append(n)
        total = Counter(fake.paths) - before
        conn.close()
        return Counts(steady, discovery, total)
    finally:
        fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", type=int, default=100)
    ap.add_argument("--cycles", type=int, default=30)
    a = ap.parse_args(argv)
    worst = 0.0
    for with_fill in (False, True):
        with tempfile.TemporaryDirectory() as d:
            c = count_requests(Path(d), markets=a.markets, cycles=a.cycles, with_fill=with_fill)
        label = "account with a fill" if with_fill else "account without fills"
        print(f"{label}: {a.markets} markets, {len(c.steady)} steady cycles: "
              f"{c.steady_mean:.2f} requests/cycle (max {max(c.steady)}); discovery cycles: "
              f"{c.discovery}")
        per = {k: round(v / a.cycles, 2) for k, v in sorted(c.by_path.items())}
        print(f"  per cycle by endpoint: {per}")
        worst = max(worst, max(c.steady))
    ok = worst <= 2
    print(f"target <= 2 requests per steady cycle: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
