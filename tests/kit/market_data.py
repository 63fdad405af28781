"""A local fake of Kalshi's public market-data endpoints (spec 3.34), for offline realism.

``MarketDataFake`` generates ``days`` of one 15-minute series (96 markets a day) from a seeded
simulated spot path (Gaussian minute returns) and answers, as ``(status, body)``:
``/series/{s}``, ``/events`` (paged by ``series_ticker``, ``limit`` <= 200, cursor),
``/markets`` and ``/historical/markets`` (split at the cutoff, paged), ``/historical/cutoff``,
``/series/{s}/markets/{t}/candlesticks``, batch ``/markets/candlesticks`` (<= 100 tickers),
``/historical/markets/{t}/candlesticks``, ``/markets/trades`` and ``/historical/trades``.
Prices are dollar strings with 4 decimals; counts are ``*_fp`` strings. ``requests`` counts
requests by endpoint (path with tickers replaced by ``{t}``). ``install(rsps, base)`` serves it
through the ``responses`` library. Bodies are built from the shared fixture shapes.
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.kalshi.helpers import fixture_json

PREFIX = "/trade-api/v2"
MINUTE = 60
WINDOW = 15 * MINUTE


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _d(x: float) -> str:
    """Dollar string, clamped to the 1..99 cent book."""
    return f"{min(0.99, max(0.01, round(x, 2))):.4f}"


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


class MarketDataFake:
    """``days`` of ``series`` up to ``now``; markets settled before ``cutoff`` are historical."""

    def __init__(
        self,
        *,
        series: str = "KXBTC15M",
        days: int = 30,
        seed: int = 7,
        now: datetime = datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        cutoff_days: float = 10.0,
        spot0: float = 90000.0,
        vol_per_min: float = 0.0008,
    ) -> None:
        self.series = series
        self.now = int(now.timestamp())
        end = self.now - self.now % WINDOW
        self.start = end - days * 86400
        self.cutoff = self.now - int(cutoff_days * 86400)
        self.vol = vol_per_min
        rng = random.Random(seed)
        n = (self.now - self.start) // MINUTE + 1
        self.spot: list[float] = [spot0]
        for _ in range(n):
            self.spot.append(self.spot[-1] * math.exp(rng.gauss(0, vol_per_min)))
        self.seed = seed
        self.requests: Counter[str] = Counter()
        #: every ``fault_every``-th request answers ``fault_status`` (0: never)
        self.fault_every, self.fault_status, self._n = 0, 429, 0
        self.markets = [self._market(t) for t in range(self.start, end, WINDOW)]
        self.by_ticker = {m["ticker"]: m for m in self.markets}

    # -- the simulated world ------------------------------------------------------------------
    def spot_at(self, ts: int) -> float:
        return self.spot[(ts - self.start) // MINUTE]

    def _market(self, open_ts: int) -> dict[str, Any]:
        close = open_ts + WINDOW
        stamp = datetime.fromtimestamp(close, UTC).strftime("%y%b%d%H%M").upper()
        m = copy.deepcopy(fixture_json("get_markets")["markets"][0])
        strike = round(self.spot_at(open_ts), 2)
        settled = close <= self.now
        final = self.spot_at(close) if settled else 0.0
        m.update(
            ticker=f"{self.series}-{stamp}-{stamp[-2:]}",
            event_ticker=f"{self.series}-{stamp}",
            created_time=_iso(open_ts - 3600),
            updated_time=_iso(min(close, self.now)),
            open_time=_iso(open_ts),
            close_time=_iso(close),
            expected_expiration_time=_iso(close),
            latest_expiration_time=_iso(close + 7 * 86400),
            status="finalized" if settled else ("active" if open_ts <= self.now else "initialized"),
            result=("yes" if final >= strike else "no") if settled else "",
            yes_sub_title=f"Target Price: {strike:.2f}",
            no_sub_title=f"Target Price: {strike:.2f}",
            floor_strike=strike,
        )
        if settled:
            m["settlement_ts"] = _iso(close + 60)
            m["expiration_value"] = f"{final:.2f}"
        return m

    def fair(self, m: dict[str, Any], ts: int) -> float:
        """P(yes) at ``ts`` under the simulated random walk (the 'market's' belief)."""
        close = _ts(m["close_time"])
        left = max(1, (close - ts) // MINUTE)
        z = math.log(self.spot_at(ts) / float(m["floor_strike"])) / (self.vol * math.sqrt(left))
        return _phi(z)

    def settled_ts(self, m: dict[str, Any]) -> int | None:
        return _ts(m["settlement_ts"]) if "settlement_ts" in m else None

    def historical(self, m: dict[str, Any]) -> bool:
        s = self.settled_ts(m)
        return s is not None and s < self.cutoff

    def candles(
        self, m: dict[str, Any], start: int, end: int, *, hist: bool
    ) -> list[dict[str, Any]]:
        """1-minute candles ending in ``[start, end]`` while the market is open."""
        o, c = _ts(m["open_time"]), min(_ts(m["close_time"]), self.now)
        out = []
        for t in range(max(o + MINUTE, start - start % MINUTE), min(c, end) + 1, MINUTE):
            if t < start:
                continue
            p0, p1 = self.fair(m, t - MINUTE), self.fair(m, t)
            rng = random.Random(f"{self.seed}{m['ticker']}{t}")
            spread = 0.01 * rng.randint(1, 3)
            lo, hi = min(p0, p1), max(p0, p1)
            vol = rng.randint(0, 60)
            bid = {
                "open": _d(p0 - spread),
                "low": _d(lo - spread),
                "high": _d(hi - spread),
                "close": _d(p1 - spread),
            }
            ask = {
                "open": _d(p0 + spread),
                "low": _d(lo + spread),
                "high": _d(hi + spread),
                "close": _d(p1 + spread),
            }
            traded: dict[str, str | None] = {
                "open": _d(p0),
                "low": _d(lo),
                "high": _d(hi),
                "close": _d(p1),
                "mean": _d((p0 + p1) / 2),
                "previous": _d(p0),
            }
            if vol == 0:
                traded = {k: None for k in traded} | {"previous": _d(p0)}
            oi = f"{vol * 3 + 100}.00"
            if hist:
                out.append(
                    {
                        "end_period_ts": t,
                        "yes_bid": bid,
                        "yes_ask": ask,
                        "price": traded,
                        "volume": f"{vol}.00",
                        "open_interest": oi,
                    }
                )
            else:
                sfx = "_dollars"
                out.append(
                    {
                        "end_period_ts": t,
                        "yes_bid": {k + sfx: v for k, v in bid.items()},
                        "yes_ask": {k + sfx: v for k, v in ask.items()},
                        "price": {k + sfx: v for k, v in traded.items()},
                        "volume_fp": f"{vol}.00",
                        "open_interest_fp": oi,
                    }
                )
        return out

    def trades(self, m: dict[str, Any]) -> list[dict[str, Any]]:
        """A few trades per market, newest first, at the simulated fair price."""
        base = fixture_json("get_markets_trades")["trades"][0]
        o, c = _ts(m["open_time"]), min(_ts(m["close_time"]), self.now)
        rng = random.Random(f"{self.seed}{m['ticker']}trades")
        out = []
        for i, t in enumerate(sorted(rng.sample(range(o, max(o + 1, c)), min(4, max(0, c - o))))):
            cents = min(99, max(1, round(100 * self.fair(m, t))))
            tr = copy.deepcopy(base)
            tr.update(
                trade_id=f"{m['ticker']}-{i}",
                ticker=m["ticker"],
                yes_price_dollars=f"{cents / 100:.4f}",
                no_price_dollars=f"{1 - cents / 100:.4f}",
                count_fp=f"{rng.randint(1, 25)}.00",
                created_time=_iso(t),
            )
            out.append(tr)
        return out[::-1]

    # -- the endpoints ------------------------------------------------------------------------
    def handle(self, method: str, path: str, q: dict[str, str]) -> tuple[int, Any]:
        """Answer one GET (path without the ``/trade-api/v2`` prefix)."""
        key = re.sub(r"/(KX[A-Z0-9-]+)", "/{t}", path)
        self.requests[key] += 1
        self._n += 1
        if self.fault_every and self._n % self.fault_every == 0:
            return self.fault_status, {"error": {"code": "injected", "message": "fault"}}
        if method != "GET":
            return 405, {"error": {"code": "method_not_allowed", "message": method}}
        routes: list[tuple[str, Callable[..., tuple[int, Any]]]] = [
            (r"/historical/cutoff", self._cutoff),
            (r"/series/([^/]+)", self._series),
            (r"/events", self._events),
            (r"/events/([^/]+)", self._event),
            (r"/markets", lambda q: self._markets(q, hist=False)),
            (r"/historical/markets", lambda q: self._markets(q, hist=True)),
            (r"/markets/candlesticks", self._batch),
            (
                r"/series/[^/]+/markets/([^/]+)/candlesticks",
                lambda t, q: self._candles(t, q, False),
            ),
            (r"/historical/markets/([^/]+)/candlesticks", lambda t, q: self._candles(t, q, True)),
            (r"/markets/trades", lambda q: self._trades(q, hist=False)),
            (r"/historical/trades", lambda q: self._trades(q, hist=True)),
        ]
        for pattern, fn in routes:
            mt = re.fullmatch(pattern, path)
            if mt:
                try:
                    return fn(*mt.groups(), q)
                except (KeyError, ValueError) as exc:
                    return 400, {"error": {"code": "bad_request", "message": str(exc)}}
        return 404, {"error": {"code": "not_found", "message": path}}

    def _cutoff(self, q: dict[str, str]) -> tuple[int, Any]:
        c = _iso(self.cutoff)
        return 200, {"market_settled_ts": c, "trades_created_ts": c, "orders_updated_ts": c}

    def _series(self, s: str, q: dict[str, str]) -> tuple[int, Any]:
        if s != self.series:
            return 404, {"error": {"code": "not_found", "message": s}}
        return 200, {
            "series": {
                "ticker": s,
                "frequency": "fifteen_min",
                "title": f"{s} price up in next 15 mins?",
                "category": "Crypto",
                "categories": ["Crypto"],
                "tags": ["BTC"],
                "settlement_sources": [
                    {"name": "CF Benchmarks", "url": "https://www.cfbenchmarks.com"}
                ],
                "contract_url": "https://kalshi.com/contract",
                "contract_terms_url": "https://kalshi.com/terms",
                "fee_type": "quadratic",
                "fee_multiplier": 1,
                "additional_prohibitions": [],
            }
        }

    def _page(self, rows: list[Any], q: dict[str, str], cap: int) -> tuple[list[Any], str]:
        limit = int(q.get("limit", cap))
        if not 1 <= limit <= cap:
            raise ValueError(f"limit must be 1..{cap}")
        at = int(q["cursor"]) if q.get("cursor") else 0
        return rows[at : at + limit], (str(at + limit) if at + limit < len(rows) else "")

    def _events(self, q: dict[str, str]) -> tuple[int, Any]:
        ms = [m for m in self.markets if q.get("series_ticker") in (None, self.series)]
        rows, cur = self._page(ms[::-1], q, 200)
        return 200, {
            "cursor": cur,
            "events": [self._event_json(m, self.series) for m in rows],
        }

    @staticmethod
    def _event_json(m: dict[str, Any], series: str) -> dict[str, Any]:
        return {"event_ticker": m["event_ticker"], "series_ticker": series,
                "sub_title": m["title"], "title": m["title"], "collateral_return_type": "",
                "mutually_exclusive": False, "settlement_sources": []}

    def _event(self, e: str, q: dict[str, str]) -> tuple[int, Any]:
        ms = [m for m in self.markets if m["event_ticker"] == e]
        if not ms:
            return 404, {"error": {"code": "not_found", "message": e}}
        return 200, {"event": self._event_json(ms[0], self.series), "markets": ms}

    def _markets(self, q: dict[str, str], *, hist: bool) -> tuple[int, Any]:
        ms = [m for m in self.markets if self.historical(m) == hist]
        if "series_ticker" in q and q["series_ticker"] != self.series:
            ms = []
        if "event_ticker" in q:
            ms = [m for m in ms if m["event_ticker"] in q["event_ticker"].split(",")]
        if "tickers" in q:
            ms = [m for m in ms if m["ticker"] in q["tickers"].split(",")]
        if "status" in q:
            want = {
                "settled": {"finalized"},
                "closed": {"finalized"},
                "open": {"active"},
                "unopened": {"initialized"},
            }[q["status"]]
            ms = [m for m in ms if m["status"] in want]
        lo, hi = int(q.get("min_close_ts", 0)), int(q.get("max_close_ts", 2**62))
        ms = [m for m in ms if lo <= _ts(m["close_time"]) <= hi]
        rows, cur = self._page(ms[::-1], q, 1000)
        return 200, {"markets": rows, "cursor": cur}

    def _range(self, q: dict[str, str]) -> tuple[int, int]:
        if q.get("period_interval", "1") != "1":
            raise ValueError("the fake serves 1-minute candles only")
        return int(q["start_ts"]), int(q["end_ts"])

    def _candles(self, t: str, q: dict[str, str], hist: bool) -> tuple[int, Any]:
        m = self.by_ticker.get(t)
        if m is None or self.historical(m) != hist:
            return 404, {"error": {"code": "not_found", "message": t}}
        s, e = self._range(q)
        return 200, {"ticker": t, "candlesticks": self.candles(m, s, e, hist=hist)}

    def _batch(self, q: dict[str, str]) -> tuple[int, Any]:
        tickers = q["market_tickers"].split(",")
        if len(tickers) > 100:
            raise ValueError("at most 100 market_tickers")
        s, e = self._range(q)
        out = [
            {"market_ticker": t, "candlesticks": self.candles(self.by_ticker[t], s, e, hist=False)}
            for t in tickers
            if t in self.by_ticker and not self.historical(self.by_ticker[t])
        ]
        if sum(len(x["candlesticks"]) for x in out) > 10_000:
            raise ValueError("more than 10,000 candlesticks")
        return 200, {"markets": out}

    def _trades(self, q: dict[str, str], *, hist: bool) -> tuple[int, Any]:
        ms = [self.by_ticker[q["ticker"]]] if "ticker" in q else self.markets
        lo, hi = int(q.get("min_ts", 0)), int(q.get("max_ts", 2**62))
        rows = [
            t
            for m in ms
            for t in self.trades(m)
            if lo <= _ts(t["created_time"]) <= hi and (_ts(t["created_time"]) < self.cutoff) == hist
        ]
        rows.sort(key=lambda t: t["created_time"], reverse=True)
        page, cur = self._page(rows, q, 1000)
        return 200, {"trades": page, "cursor": cur}

    def coinbase(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        """Coinbase Exchange ``GET /products/BTC-USD/candles?granularity=60&start&end`` over
        the same spot path: ``[[time, low, high, open, close, volume], ...]`` newest first."""
        self.requests["coinbase" + path] += 1
        if path != "/products/BTC-USD/candles" or q.get("granularity") != "60":
            return 404, {"message": "NotFound"}
        lo = int(datetime.fromisoformat(q["start"]).timestamp())
        hi = int(datetime.fromisoformat(q["end"]).timestamp())
        rows = []
        for t in range(max(lo - lo % MINUTE, self.start), min(hi, self.now), MINUTE):
            o, c = self.spot_at(t), self.spot_at(t + MINUTE)
            rows.append([t, round(min(o, c), 2), round(max(o, c), 2), round(o, 2),
                         round(c, 2), 1.25])
        return 200, rows[::-1]

    # -- serving --------------------------------------------------------------------------------
    def install(self, rsps: Any, base: str) -> None:
        """Serve every GET under ``base`` (``.../trade-api/v2``) through a ``responses`` mock."""
        import json

        def cb(req: Any) -> tuple[int, dict[str, str], str]:
            u = urlparse(req.url)
            q = {k: v[-1] for k, v in parse_qs(u.query).items()}
            status, body = self.handle(req.method, u.path[len(PREFIX) :], q)
            return status, {"Content-Type": "application/json"}, json.dumps(body)

        rsps.add_callback("GET", re.compile(re.escape(base) + r"/.*"), callback=cb)


    def serve(self) -> tuple[str, Callable[[], None]]:
        """Serve over real HTTP on an ephemeral local port (for the CLI through
        ``KALSHIBOT_API_BASE_URL``); returns ``(base_url, stop)``."""
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        fake, lock = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                u = urlparse(self.path)
                q = {k: v[-1] for k, v in parse_qs(u.query).items()}
                with lock:
                    if u.path.startswith(PREFIX):
                        status, body = fake.handle("GET", u.path[len(PREFIX) :], q)
                    else:
                        status, body = fake.coinbase(u.path, q)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return f"http://127.0.0.1:{server.server_address[1]}{PREFIX}", stop


def _ts(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def month(**kw: Any) -> MarketDataFake:
    """The default world: 30 days of KXBTC15M (2,880 markets) ending 2026-11-20 12:00 UTC."""
    return MarketDataFake(**kw)


__all__ = ["MarketDataFake", "month"]
