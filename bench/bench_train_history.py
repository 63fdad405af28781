"""Benchmark `kalshibot train` on a synced month of KXBTC15M candle history (issue 21).

Not timed: a month (2,880 markets) of the test kit's ``MarketDataFake`` is synced into a fresh
store with ``kalshibot.ingest.sync.run_sync`` and ``sync_spot`` through ``responses`` (the
same code ``data sync --spot`` runs; quotes derived from candles). Timed: the exact pipeline of
``kalshibot train`` (``run_training``: load, features, walk-forward folds + final fit, registry).
Prints seconds per stage, rows, rows/s and peak memory (max RSS of this process).
Target: under 60 s on 2 cores.

Usage: python bench/bench_train_history.py [--days 30] [--jobs 2] [--folds 3] [--db PATH]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kalshibot.models.training import Selection, TrainConfig, run_training  # noqa: E402
from kalshibot.store import open_store  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _sync(db: Path, days: int) -> None:
    import requests
    import responses

    from kalshibot.clock import SimClock
    from kalshibot.feeds import CoinbaseSpotSource
    from kalshibot.ingest.spot import sync_spot
    from kalshibot.ingest.sync import SyncOptions, run_sync
    from kalshibot.kalshi.endpoints.client import KalshiClient
    from kalshibot.kalshi.http import HttpClient
    from tests.kalshi.helpers import BASE
    from tests.kit.market_data import MarketDataFake

    fake = MarketDataFake(days=days, seed=3, now=NOW)
    clock = SimClock(NOW)
    conn = open_store(db)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps, BASE)
        cb = "https://api.exchange.coinbase.com"

        def coinbase(req: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            import json
            from urllib.parse import parse_qs, urlparse

            u = urlparse(str(req.url))
            status, body = fake.coinbase(u.path, {k: v[-1] for k, v in
                                                  parse_qs(u.query).items()})
            return status, {}, json.dumps(body)

        import re

        rsps.add_callback("GET", re.compile(re.escape(cb) + r"/.*"), callback=coinbase)
        client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
        since = NOW - timedelta(days=days)
        run_sync(client, conn, SyncOptions(series=(fake.series,), status="settled",
                                           since=since, until=NOW,
                                           account_settlements=False), clock=clock)
        sync_spot(conn, ["BTC"], since, NOW, clock=clock,
                  exchanges=[CoinbaseSpotSource(requests.Session(), clock)])
    conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--db", type=Path, default=None, help="reuse or keep this synced store")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    db = args.db or tmp / "history.sqlite"
    if not db.exists():
        t = time.perf_counter()
        _sync(db, args.days)
        print(f"synced {args.days} days of KXBTC15M in {time.perf_counter() - t:.1f} s "
              "(not part of the timing)")
    t = time.perf_counter()
    result, saved = run_training(db, tmp / "models", Selection(series=["KXBTC15M"]),
                                 TrainConfig(n_folds=args.folds, n_jobs=args.jobs))
    wall = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for stage, secs in result.seconds.items():
        print(f"  {stage:<10} {secs:7.2f} s")
    print(f"train: {result.rows:,} rows from candle history in {wall:.1f} s "
          f"({result.rows / wall:,.0f} rows/s); peak memory {peak_mb:,.0f} MB; "
          f"model {saved.model_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
