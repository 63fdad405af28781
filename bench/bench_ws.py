"""WebSocket order-book benchmark (not part of the test run).

1. Delta-apply throughput: ``BookTracker`` applying seeded random ``orderbook_delta`` messages
   (already-parsed JSON, as the client hands them over; and including ``json.loads``) across
   20 markets. Target: >= 200,000 deltas/s.
2. End-to-end latency: a local server on 127.0.0.1 sends one delta at a time; latency is from
   just before the server's ``send`` to the moment the engine's decision input (the exact
   ``OrderBook`` returned by ``WsMarketData.book``) reflects it, measured in the client's
   change callback. Reported in microseconds (p50 / p90 / p99 / max).

Run: ``python bench/bench_ws.py [--deltas 300000] [--samples 3000]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import threading
import time
from typing import Any

from websockets.sync.server import ServerConnection, serve

from kalshibot.clock import SystemClock
from kalshibot.ws.books import BookTracker
from kalshibot.ws.feed import WsFeed
from kalshibot.ws.marketdata import WsMarketData


def fmt_price(units: int) -> str:
    return f"{units // 10_000}.{units % 10_000:04d}"


def fmt_count(units: int) -> str:
    sign = "-" if units < 0 else ""
    u = abs(units)
    return f"{sign}{u // 100}.{u % 100:02d}"


def make_deltas(n: int, markets: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` valid deltas (levels never go negative) over ``markets`` markets, one sid."""
    rng = random.Random(seed)
    books: list[dict[tuple[str, int], int]] = [{} for _ in range(markets)]
    out: list[dict[str, Any]] = []
    for seq in range(2, n + 2):
        m = rng.randrange(markets)
        side = "yes" if rng.random() < 0.5 else "no"
        price = rng.randrange(1, 100) * 100 if rng.random() < 0.8 else rng.randrange(1, 10_000)
        cur = books[m].get((side, price), 0)
        delta = -rng.randrange(1, cur + 1) if cur and rng.random() < 0.45 \
            else rng.randrange(1, 50_000)
        books[m][(side, price)] = cur + delta
        out.append({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": {
            "market_ticker": f"MKT-{m}", "market_id": f"id-{m}",
            "price_dollars": fmt_price(price), "delta_fp": fmt_count(delta), "side": side,
            "ts_ms": 1795201407312}})
    return out


def snapshots(markets: int) -> list[dict[str, Any]]:
    return [{"type": "orderbook_snapshot", "sid": 1, "seq": 1 if i == 0 else None,
             "msg": {"market_ticker": f"MKT-{i}", "market_id": f"id-{i}"}}
            for i in range(markets)]


def fresh_tracker(markets: int) -> BookTracker:
    tr = BookTracker(SystemClock().now)
    for s in snapshots(markets):
        if s["seq"] is None:
            del s["seq"]
        tr.on_snapshot(s)
    return tr


def bench_apply(n: int, markets: int = 20, repeats: int = 3) -> dict[str, float]:
    """Median deltas/s over ``repeats`` runs for: the book apply itself
    (``BookTracker.on_delta``), the feed's router (what the socket thread calls per message),
    and the router including ``json.loads`` of the raw text."""
    msgs = make_deltas(n, markets)
    raw = [json.dumps(m) for m in msgs]
    rates: dict[str, list[float]] = {"apply": [], "routed": [], "routed+json": []}
    for _ in range(repeats):
        tr = fresh_tracker(markets)
        apply = tr.on_delta
        t0 = time.perf_counter()
        for m in msgs:
            apply(m)
        rates["apply"].append(n / (time.perf_counter() - t0))
        assert tr.deltas == n and tr.gaps == 0, (tr.deltas, tr.gaps)

        feed = WsFeed("ws://127.0.0.1:9/unused", None, SystemClock(), lifecycle=False)
        feed.books = fresh_tracker(markets)
        route = feed._route
        t0 = time.perf_counter()
        for m in msgs:
            route(m)
        rates["routed"].append(n / (time.perf_counter() - t0))
        assert feed.books.deltas == n and feed.bad_messages == 0

        feed.books = fresh_tracker(markets)
        loads = json.loads
        t0 = time.perf_counter()
        for r in raw:
            route(loads(r))
        rates["routed+json"].append(n / (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in rates.items()}


def bench_latency(samples: int) -> list[float]:
    ticker = "LAT-1"
    sent: dict[int, int] = {}
    got = threading.Event()
    lat_us: list[float] = []
    ready = threading.Event()
    conns: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        conns.append(ws)
        for raw in ws:
            cmd = json.loads(raw)
            if cmd["cmd"] == "subscribe" and cmd["params"]["channels"] == ["orderbook_delta"]:
                ws.send(json.dumps({"id": cmd["id"], "type": "subscribed",
                                    "msg": {"channel": "orderbook_delta", "sid": 1}}))
                ws.send(json.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {
                    "market_ticker": ticker, "market_id": "x",
                    "yes_dollars_fp": [["0.4700", "100.00"]]}}))
                ready.set()

    server = serve(handler, "127.0.0.1", 0, ping_interval=None)
    port = server.socket.getsockname()[1]
    st = threading.Thread(target=server.serve_forever, daemon=True)
    st.start()
    clock = SystemClock()
    feed = WsFeed(f"ws://127.0.0.1:{port}/trade-api/ws/v2", None, clock, ticker=False,
                  lifecycle=False)
    md = WsMarketData(feed, None, clock)
    seq_box = [1]

    def on_change(t: str) -> None:
        book = md.book(t)  # the decision input the engine would read
        if book is not None and seq_box[0] in sent:
            lat_us.append((time.perf_counter_ns() - sent[seq_box[0]]) / 1000)
            got.set()

    feed.on_book_change.append(on_change)
    feed.watch([ticker])
    feed.start()
    try:
        if not ready.wait(5):
            raise SystemExit("latency bench: no subscription within 5 s")
        time.sleep(0.05)
        ws = conns[0]
        for i in range(samples):
            seq = i + 2
            msg = json.dumps({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": {
                "market_ticker": ticker, "market_id": "x", "price_dollars": "0.4700",
                "delta_fp": "1.00" if i % 2 == 0 else "-1.00", "side": "yes"}})
            got.clear()
            seq_box[0] = seq
            sent[seq] = time.perf_counter_ns()
            ws.send(msg)
            if not got.wait(2):
                raise SystemExit(f"latency bench: delta {seq} not seen within 2 s")
    finally:
        feed.stop()
        server.shutdown()
        st.join(5)
    return lat_us


def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deltas", type=int, default=300_000)
    ap.add_argument("--samples", type=int, default=3000)
    a = ap.parse_args()
    r = bench_apply(a.deltas)
    print(f"delta apply, BookTracker.on_delta (20 markets, median of 3 x {a.deltas:,}): "
          f"{r['apply']:,.0f} deltas/s "
          f"({'meets' if r['apply'] >= 200_000 else 'BELOW'} the 200,000/s target)")
    print(f"  via the feed router (per socket message):   {r['routed']:,.0f} deltas/s")
    print(f"  via the router including json.loads:        {r['routed+json']:,.0f} deltas/s")
    lat = sorted(bench_latency(a.samples))
    q = statistics.quantiles(lat, n=100)
    print(f"end-to-end socket message -> updated OrderBook ({len(lat)} samples, 127.0.0.1): "
          f"p50 {q[49]:.0f} us, p90 {q[89]:.0f} us, p99 {q[98]:.0f} us, max {lat[-1]:.0f} us")


if __name__ == "__main__":
    main()
