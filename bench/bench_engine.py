"""Engine benchmark: cycle time on the sim venue, and HTTP requests per cycle against a
`responses`-backed Kalshi (paper venue over the public REST client).

    python bench/bench_engine.py

Targets (issue 6): < 2 ms per market per cycle at 100 markets (sim venue, no network);
<= 3 HTTP requests per cycle for 100 tickers (batch endpoints).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import responses

from kalshibot.clock import SimClock
from kalshibot.config import load_settings
from kalshibot.domain.market import Market, MarketStatus, Result
from kalshibot.domain.money import Money
from kalshibot.domain.ticks import TickGrid
from kalshibot.engine import Engine, EngineConfig
from kalshibot.risk import RiskLimits, RiskManager
from kalshibot.sim.account import SimAccount
from kalshibot.sim.exchange import SimExchange
from kalshibot.store.books import insert_snapshot_rows
from kalshibot.store.connection import atomic, connect
from kalshibot.store.markets import upsert_markets
from kalshibot.store.runs import start_run
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class NoisyFair:
    """Fair value = mid + noise: trades now and then, exercising the whole cycle."""

    name = "bench"

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        out = []
        for v in views:
            mid = v.book.mid()
            if mid is None:
                out.append(FairValue(None, "no mid"))
                continue
            p = min(max(mid.to_float() + self.rng.gauss(0, 0.04), 0.02), 0.98)
            out.append(FairValue(p, "noisy mid"))
        return out


def build_data(path: Path, n_markets: int, minutes: int = 60) -> None:
    conn = connect(path)
    rng = random.Random(7)
    markets, rows = [], []
    for i in range(n_markets):
        t = f"KXBENCH-26NOV20{i:03d}-{i:03d}"
        markets.append(Market(t, f"KXBENCH-EV{i // 5}", "KXBENCH", f"bench {i}",
                              MarketStatus.FINALIZED, T0, T0 + timedelta(minutes=minutes),
                              TickGrid.linear_cent(), result=Result.YES if i % 2 else Result.NO))
        mid = 50
        for k in range(minutes * 6):
            mid = min(max(mid + rng.choice((-1, 0, 0, 1)), 5), 95)
            ts = int((T0 + timedelta(seconds=10 * k)).timestamp() * 1000)
            depth = {"yes": [[(mid - 1 - j) * 100, 20000 * (j + 1)] for j in range(3)],
                     "no": [[(99 - mid - j) * 100, 20000 * (j + 1)] for j in range(3)]}
            rows.append((t, ts, (mid - 1) * 100, 20000, (mid + 1) * 100, 20000,
                         json.dumps(depth, separators=(",", ":"))))
    with atomic(conn):
        upsert_markets(conn, markets, now=T0)
    insert_snapshot_rows(conn, rows)
    conn.close()


def bench_sim(n_markets: int, cycles: int = 60) -> float:
    settings = load_settings(env={}, dotenv_file=None, overrides={
        "max_concurrent_positions": 200, "max_portfolio_exposure": 9000,
        "max_exposure_per_series": 9000, "max_exposure_per_event": 2000})
    with tempfile.TemporaryDirectory() as d:
        data_path = Path(d) / "data.sqlite"
        build_data(data_path, n_markets)
        data = connect(data_path, read_only=True)
        clock = SimClock(T0 + timedelta(minutes=1))
        ex = SimExchange(data, clock, SimAccount(Money(10000)), series=["KXBENCH"])
        conn = connect(Path(d) / "state.sqlite")
        with atomic(conn):
            start_run(conn, "bench", mode="paper", exchange="sim", now=clock.now())
        eng = Engine(conn=conn, exchange=ex, strategy=NoisyFair(), params=StrategyParams(),
                     risk=RiskManager(RiskLimits.from_settings(settings)),
                     config=EngineConfig("bench", series=("KXBENCH",),
                                         kill_switch_path=Path(d) / "KILL"),
                     starting_cash=Money(10000), now=clock.now())
        eng.run_cycle(clock.now())  # warm-up: discovery, first snapshot loads
        times = []
        for _ in range(cycles):
            clock.sleep(5)
            t = time.perf_counter()
            eng.run_cycle(clock.now())
            times.append(time.perf_counter() - t)
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        fills = conn.execute("SELECT count(*) FROM fills").fetchone()[0]
        print(f"    ({n_markets} markets: {orders} orders, {fills} fills in {cycles + 1} cycles)")
        return statistics.median(times) * 1000


def _market_json(ticker: str) -> dict[str, object]:
    fixture = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "kalshi"
    base = json.loads((fixture / "get_market.json").read_text())["market"]
    return {**base, "ticker": ticker, "event_ticker": ticker.rsplit("-", 1)[0],
            "close_time": (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def bench_http(n_tickers: int = 100, cycles: int = 20) -> list[int]:
    from kalshibot.clock import SystemClock
    from kalshibot.config import Environment
    from kalshibot.kalshi.exchange import KalshiExchange
    from kalshibot.sim.paper import PaperExchange

    base = "https://external-api.demo.kalshi.co/trade-api/v2"
    tickers = [f"KXBENCH-26NOV20{i:03d}-{i:03d}" for i in range(n_tickers)]
    book = {"yes_dollars": [["0.4700", "210.00"]], "no_dollars": [["0.5100", "240.00"]]}
    settings = load_settings(env={}, dotenv_file=None, overrides={
        "max_concurrent_positions": 200})
    counts = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs, \
            tempfile.TemporaryDirectory() as d:
        rs.get(f"{base}/markets", json={"markets": [_market_json(t) for t in tickers],
                                        "cursor": ""})
        rs.get(f"{base}/series/KXBENCH", json={"series": {
            "ticker": "KXBENCH", "title": "bench", "frequency": "daily", "category": "bench",
            "fee_type": "quadratic", "fee_multiplier": 1, "settlement_sources": [],
            "contract_url": "", "contract_terms_url": "", "tags": [],
            "product_metadata": {}}})
        rs.get(f"{base}/exchange/status", json={"exchange_active": True,
                                                "trading_active": True})
        rs.get(f"{base}/markets/orderbooks", json={"orderbooks": [
            {"ticker": t, "orderbook_fp": book} for t in tickers]})
        clock = SystemClock()
        public = KalshiExchange.create(Environment.DEMO, clock, reads_per_s=1e6,
                                       writes_per_s=1e6)
        ex = PaperExchange(public, clock, SimAccount(Money(10000)))
        conn = connect(Path(d) / "state.sqlite")
        with atomic(conn):
            start_run(conn, "bench", mode="paper", exchange="paper", now=clock.now())
        eng = Engine(conn=conn, exchange=ex, strategy=NoisyFair(), params=StrategyParams(),
                     risk=RiskManager(RiskLimits.from_settings(settings)),
                     config=EngineConfig("bench", series=("KXBENCH",),
                                         kill_switch_path=Path(d) / "KILL"),
                     starting_cash=Money(10000), now=clock.now())
        for _ in range(cycles):
            before = len(rs.calls)
            eng.run_cycle(clock.now())
            counts.append(len(rs.calls) - before)
    return counts


def main() -> int:
    print("sim venue: median cycle time (strategy + risk + execution + store, no network)")
    for n in (1, 10, 100):
        ms = bench_sim(n)
        print(f"  {n:>3} markets: {ms:8.2f} ms/cycle  {ms / n:6.3f} ms/market  "
              f"(target < 2 ms/market at 100)")
    try:
        counts = bench_http()
    except FileNotFoundError:
        print("HTTP requests per cycle: ../shared fixtures not found, skipped")
        return 0
    steady = counts[1:]
    print(f"HTTP requests per cycle for 100 tickers (paper venue, public REST): first cycle "
          f"{counts[0]} (discovery), then max {max(steady)} / median "
          f"{statistics.median(steady)} (target <= 3)")
    print(f"  per cycle: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
