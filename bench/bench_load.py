"""Load: many markets on the sim venue for many cycles; memory, store growth, file descriptors.

    python bench/bench_load.py                 # 500 markets x 1,000 cycles (issue 10 part 6)
    python bench/bench_load.py 100 200         # smaller

Prints peak RSS at cycle 100 and at the end, store size every 100 cycles (should grow
linearly: each cycle writes one decision per market, an equity point and a heartbeat), and the
number of open file descriptors (must not grow).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import T0, NoisyFair, build_data  # noqa: E402

from kalshibot.clock import SimClock  # noqa: E402
from kalshibot.config import load_settings  # noqa: E402
from kalshibot.domain.money import Money  # noqa: E402
from kalshibot.engine import Engine, EngineConfig  # noqa: E402
from kalshibot.risk import RiskLimits, RiskManager  # noqa: E402
from kalshibot.sim.account import SimAccount  # noqa: E402
from kalshibot.sim.exchange import SimExchange  # noqa: E402
from kalshibot.store.connection import atomic, connect  # noqa: E402
from kalshibot.store.runs import start_run  # noqa: E402
from kalshibot.strategy.base import StrategyParams  # noqa: E402


def rss_mb() -> float:
    """Current resident set size (MiB), from /proc when available."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def run(n_markets: int, cycles: int, interval_s: float = 5.0) -> dict[str, list[float]]:
    minutes = int(cycles * interval_s / 60) + 5
    settings = load_settings(env={}, dotenv_file=None, overrides={
        "max_concurrent_positions": 1000, "max_portfolio_exposure": 9000,
        "max_exposure_per_series": 9000, "max_exposure_per_event": 2000})
    out: dict[str, list[float]] = {"cycle": [], "rss_mb": [], "db_mb": [], "fds": [], "ms": []}
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        build_data(Path(d) / "data.sqlite", n_markets, minutes=minutes)
        print(f"generated {n_markets} markets x {minutes} min in {time.perf_counter() - t:.1f}s")
        data = connect(Path(d) / "data.sqlite", read_only=True)
        clock = SimClock(T0 + timedelta(minutes=1))
        ex = SimExchange(data, clock, SimAccount(Money(10000)), series=["KXBENCH"])
        state = Path(d) / "state.sqlite"
        conn = connect(state)
        with atomic(conn):
            start_run(conn, "load", mode="paper", exchange="sim", now=clock.now())
        eng = Engine(conn=conn, exchange=ex, strategy=NoisyFair(), params=StrategyParams(),
                     risk=RiskManager(RiskLimits.from_settings(settings)),
                     config=EngineConfig("load", series=("KXBENCH",),
                                         kill_switch_path=Path(d) / "KILL"),
                     starting_cash=Money(10000), now=clock.now())
        t = time.perf_counter()
        for c in range(1, cycles + 1):
            eng.run_cycle(clock.now())
            clock.sleep(interval_s)
            if c % 100 == 0 or c == cycles:
                size = sum(p.stat().st_size for p in Path(d).glob("state.sqlite*"))
                out["cycle"].append(c)
                out["rss_mb"].append(rss_mb())
                out["db_mb"].append(size / 2**20)
                gc.collect()  # objects leaked by earlier code (tests) close their files now
                out["fds"].append(open_fds())
                out["ms"].append((time.perf_counter() - t) * 1000 / c)
                print(f"cycle {c:>5}: RSS {out['rss_mb'][-1]:7.1f} MiB  store "
                      f"{out['db_mb'][-1]:7.2f} MiB  fds {out['fds'][-1]:>3}  "
                      f"{out['ms'][-1]:6.1f} ms/cycle")
        conn.close()
        data.close()
    return out


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    r = run(n, cycles)
    first = r["cycle"].index(100) if 100 in r["cycle"] else 0
    print(f"peak RSS at cycle {r['cycle'][first]}: {r['rss_mb'][first]:.1f} MiB; at cycle "
          f"{r['cycle'][-1]}: {r['rss_mb'][-1]:.1f} MiB")
    growth = [b - a for a, b in zip(r["db_mb"], r["db_mb"][1:], strict=False)]
    if growth:
        print(f"store growth per 100 cycles: min {min(growth):.2f} / max {max(growth):.2f} MiB")
    print(f"file descriptors: first {r['fds'][0]}, last {r['fds'][-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
