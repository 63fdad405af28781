"""A fake Kalshi exchange: a local HTTP server on 127.0.0.1 (ephemeral port).

It implements the REST endpoints the bot uses (``kalshi-api.md`` section 4): exchange status,
series, markets, the batched order books, historical cutoff, account limits, and the portfolio
(balance, positions, orders, fills, settlements, V2 create and cancel). Portfolio requests must
carry a valid RSA-PSS signature whose timestamp is within ``auth_window_s`` of exchange time.

Fills are deterministic: books are fixed (YES bid 0.45 x 100, NO bid 0.50 x 100, so YES ask
0.50 / NO ask 0.55); a marketable order fills at the touch up to the size shown; a resting
(GTC) order fills in full at its limit, as maker, once two later orders have been created.

Its state is written to a JSON file after every change (and read back on start), so it
survives the bot's restarts (and its own). Every create request is logged *when it arrives*,
before any fault is applied: that log is the ground truth for "submitted twice".

Faults (``FaultPlan``) are injected per request with a seeded RNG; see ``FAULT_KINDS``.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

PREFIX = "/trade-api/v2"
SERIES = "KXFAKE"
YES_BID = Decimal("0.45")
NO_BID = Decimal("0.50")
TOP_SIZE = Decimal("100")
FOUR = Decimal("0.0001")

#: Kinds of injected faults. ``*_after`` variants process the request, then fail the answer
#: (for an order create that makes the outcome truly unknown: the order exists).
FAULT_KINDS = (
    "timeout", "timeout_after", "reset", "reset_after", "rate_limit_storm",
    "http_500", "http_502", "http_503", "http_504", "http_503_after", "slow",
    "truncated_json", "malformed_json", "error_in_2xx", "missing_fields",
)


def fee(count: Decimal, price: Decimal, *, taker: bool) -> Decimal:
    if not taker:
        return Decimal(0)
    raw = Decimal("0.07") * count * price * (1 - price)
    return raw.quantize(FOUR, rounding=ROUND_CEILING)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FaultPlan:
    """Which faults to inject: ``rates`` = probability per request by kind (checked in order);
    ``paths`` limits faults to paths starting with one of these (empty = all)."""

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    paths: tuple[str, ...] = ()
    storm_len: int = 6
    delay_s: float = 1.0  # sleep for timeouts (must exceed the bot's read timeout)
    slow_s: float = 0.15

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.storm_left = 0

    def pick(self, path: str) -> str | None:
        if self.paths and not path.startswith(self.paths):
            return None
        if self.storm_left > 0:
            self.storm_left -= 1
            return "rate_limit_storm"
        for kind, rate in self.rates.items():
            if self.rng.random() < rate:
                if kind == "rate_limit_storm":
                    self.storm_left = self.storm_len - 1
                return kind
        return None


class FakeKalshi:
    """The exchange's state and logic (thread-safe); ``serve()`` starts the HTTP server."""

    def __init__(self, state_file: Path, public_key_pem: bytes | None = None, *,
                 key_id: str = "", n_markets: int = 4, cash_cents: int = 100_000) -> None:
        self.state_file = state_file
        self.lock = threading.RLock()
        self.public_key = None
        if public_key_pem is not None:
            self.public_key = load_pem_private_key(public_key_pem, None).public_key()
        self.key_id = key_id
        self.date_offset_s = 0.0  # exchange time = real time + offset (clock-skew tests)
        self.auth_window_s = 10.0
        self.faults: list[FaultPlan] = []  # the first plan whose paths match decides
        self.backoff_gaps: list[float] = []  # seconds between a 429 and the same request again
        self._last_429: dict[str, float] = {}
        self.fault_counts: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()  # by method and full path (request counts)
        if state_file.exists():
            self.state = json.loads(state_file.read_text())
        else:
            close = time.time() + 86_400
            self.state = {
                "seq": 0, "cash_cents": cash_cents,
                "markets": [{"ticker": f"{SERIES}-26NOV20-M{i}", "close": close}
                            for i in range(n_markets)],
                "orders": {}, "fills": [], "create_log": [], "cancel_log": [],
            }
            self._save()
        self.server: ThreadingHTTPServer | None = None

    # --- persistence ---------------------------------------------------------------------
    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.state_file)

    def now(self) -> float:
        return time.time() + self.date_offset_s

    @property
    def tickers(self) -> list[str]:
        return [m["ticker"] for m in self.state["markets"]]

    # --- server --------------------------------------------------------------------------
    def serve(self) -> str:
        """Start on an ephemeral port; returns the REST base URL."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- auth ----------------------------------------------------------------------------
    def check_auth(self, method: str, path: str, headers: Any) -> str | None:
        if self.public_key is None:
            return None
        key, ts, sig = (headers.get("KALSHI-ACCESS-KEY"), headers.get("KALSHI-ACCESS-TIMESTAMP"),
                        headers.get("KALSHI-ACCESS-SIGNATURE"))
        if not key or not ts or not sig:
            return "missing auth headers"
        if key != self.key_id:
            return "unknown key id"
        if abs(int(ts) / 1000 - self.now()) > self.auth_window_s:
            return "timestamp outside the allowed window"
        assert isinstance(self.public_key, rsa.RSAPublicKey)
        try:
            self.public_key.verify(
                base64.b64decode(sig), f"{ts}{method}{path}".encode(),
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                            salt_length=padding.PSS.DIGEST_LENGTH),
                hashes.SHA256())
        except (InvalidSignature, ValueError):
            return "bad signature"
        return None

    # --- views ---------------------------------------------------------------------------
    def market_json(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "ticker": m["ticker"], "event_ticker": m["ticker"].rsplit("-", 1)[0],
            "title": "fake", "status": "active", "close_time": iso(m["close"]),
            "open_time": iso(m["close"] - 172_800), "price_level_structure": "linear_cent",
            "result": "", "yes_bid_dollars": "0.4500", "yes_ask_dollars": "0.5000",
            "no_bid_dollars": "0.5000", "no_ask_dollars": "0.5500",
            "yes_bid_size_fp": "100.00", "yes_ask_size_fp": "100.00",
            "last_price_dollars": "0.4700", "volume_fp": "0.00", "open_interest_fp": "0.00",
        }

    @staticmethod
    def book_json() -> dict[str, Any]:
        return {"yes_dollars": [["0.4400", "50.00"], ["0.4500", "100.00"]],
                "no_dollars": [["0.4900", "50.00"], ["0.5000", "100.00"]]}

    @staticmethod
    def order_json(o: dict[str, Any]) -> dict[str, Any]:
        yes = Decimal(o["yes_price"])
        return {
            "order_id": o["order_id"], "client_order_id": o["client_order_id"],
            "ticker": o["ticker"], "outcome_side": "yes" if o["book_side"] == "bid" else "no",
            "book_side": o["book_side"], "status": o["status"],
            "yes_price_dollars": f"{yes:.4f}", "no_price_dollars": f"{1 - yes:.4f}",
            "fill_count_fp": f"{Decimal(o['filled']):.2f}",
            "remaining_count_fp": f"{Decimal(o['remaining']):.2f}",
            "initial_count_fp": f"{Decimal(o['count']):.2f}",
            "taker_fees_dollars": o["taker_fees"], "maker_fees_dollars": "0.0000",
            "created_time": iso(o["created"]), "last_update_time": iso(o["updated"]),
        }

    def positions(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for f in self.state["fills"]:
            sign = 1 if f["book_side"] == "bid" else -1
            out[f["ticker"]] = out.get(f["ticker"], Decimal(0)) + sign * Decimal(f["count"])
        return out

    # --- order logic ---------------------------------------------------------------------
    def _fill(self, o: dict[str, Any], n: Decimal, yes_price: Decimal, taker: bool) -> None:
        price_paid = yes_price if o["book_side"] == "bid" else 1 - yes_price
        f = fee(n, price_paid, taker=taker)
        self.state["seq"] += 1
        self.state["fills"].append({
            "fill_id": f"fill-{self.state['seq']:06d}", "order_id": o["order_id"],
            "ticker": o["ticker"], "book_side": o["book_side"], "count": str(n),
            "yes_price": str(yes_price), "taker": taker, "fee": str(f), "ts": self.now(),
        })
        o["filled"] = str(Decimal(o["filled"]) + n)
        o["remaining"] = str(Decimal(o["remaining"]) - n)
        o["taker_fees"] = f"{Decimal(o['taker_fees']) + f:.4f}"
        o["updated"] = self.now()
        self.state["cash_cents"] -= int(((n * price_paid + f) * 100).to_integral_value())
        if Decimal(o["remaining"]) == 0:
            o["status"] = "executed"

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        coid = body.get("client_order_id")
        for o in self.state["orders"].values():
            if coid and o["client_order_id"] == coid and o["status"] == "resting":
                return 409, {"error": {"code": "order_already_exists",
                                       "message": "client_order_id is in use"}}
        if body.get("ticker") not in self.tickers:
            return 404, {"error": {"code": "market_not_found", "message": "no such market"}}
        self.state["seq"] += 1
        oid = f"ord-{self.state['seq']:06d}"
        now = self.now()
        count = Decimal(body["count"])
        o = {"order_id": oid, "client_order_id": coid, "ticker": body["ticker"],
             "book_side": body["side"], "yes_price": body["price"], "count": str(count),
             "filled": "0", "remaining": str(count), "status": "resting", "taker_fees": "0.0000",
             "tif": body["time_in_force"], "reduce_only": bool(body.get("reduce_only")),
             "created": now, "updated": now, "create_seq": self.state["seq"]}
        self.state["orders"][oid] = o
        yes = Decimal(body["price"])
        ask_yes = 1 - NO_BID
        if o["book_side"] == "bid" and yes >= ask_yes:
            self._fill(o, min(count, TOP_SIZE), ask_yes, True)
        elif o["book_side"] == "ask" and yes <= YES_BID:
            self._fill(o, min(count, TOP_SIZE), YES_BID, True)
        if o["status"] == "resting" and o["tif"] != "good_till_canceled":
            o["status"] = "canceled"
            o["remaining"] = "0"
        # Older resting orders fill as makers (deterministic, by creation sequence).
        for old in list(self.state["orders"].values()):
            if old["status"] == "resting" and old is not o \
                    and self.state["seq"] - old["create_seq"] >= 3:
                self._fill(old, Decimal(old["remaining"]), Decimal(old["yes_price"]), False)
        filled = Decimal(o["filled"])
        ans: dict[str, Any] = {
            "order_id": oid, "client_order_id": coid, "fill_count": f"{filled:.2f}",
            "remaining_count": f"{Decimal(o['remaining']):.2f}", "ts_ms": int(now * 1000)}
        if filled:
            paid = [f for f in self.state["fills"] if f["order_id"] == oid]
            ans["average_fill_price"] = f"{Decimal(paid[0]['yes_price']):.4f}"
            ans["average_fee_paid"] = f"{(Decimal(o['taker_fees']) / filled):.4f}"
        return 201, ans

    def cancel(self, oid: str) -> tuple[int, dict[str, Any]]:
        o = self.state["orders"].get(oid)
        if o is None or o["status"] != "resting":
            return 404, {"error": {"code": "not_found", "message": "order not found or final"}}
        reduced = o["remaining"]
        o["status"], o["remaining"], o["updated"] = "canceled", "0", self.now()
        return 200, {"order_id": oid, "client_order_id": o["client_order_id"],
                     "reduced_by": f"{Decimal(reduced):.2f}", "ts_ms": int(self.now() * 1000)}

    # --- routing -------------------------------------------------------------------------
    def handle(self, method: str, path: str, q: dict[str, str], body: Any
               ) -> tuple[int, dict[str, Any]]:
        p = path[len(PREFIX):]
        st = self.state
        if method == "GET":
            if p == "/exchange/status":
                return 200, {"exchange_active": True, "trading_active": True}
            if p.startswith("/series/"):
                return 200, {"series": {"ticker": p.split("/")[2], "title": "fake",
                                        "fee_type": "quadratic", "fee_multiplier": 1}}
            if p == "/markets":
                ms = st["markets"]
                if q.get("tickers"):
                    want = set(q["tickers"].split(","))
                    ms = [m for m in ms if m["ticker"] in want]
                if q.get("series_ticker"):
                    ms = [m for m in ms if m["ticker"].startswith(q["series_ticker"] + "-")]
                return 200, {"markets": [self.market_json(m) for m in ms], "cursor": ""}
            if p == "/markets/orderbooks":
                want = [t for t in q.get("tickers", "").split(",") if t in self.tickers]
                return 200, {"orderbooks": [{"ticker": t, "orderbook_fp": self.book_json()}
                                            for t in want]}
            if p == "/events":
                want = [t for t in q.get("tickers", "").split(",") if t]
                return 200, {"events": [{"event_ticker": t, "series_ticker": t.split("-")[0],
                                         "title": "fake", "mutually_exclusive": False}
                                        for t in want], "cursor": ""}
            if p == "/exchange/user_data_timestamp":
                return 200, {"as_of_time": iso(self.now())}
            if p == "/account/endpoint_costs":
                return 200, {"default_cost": 10, "endpoint_costs": [
                    {"method": "DELETE", "path": "/trade-api/v2/portfolio/events/orders/{order_id}",
                     "cost": 2}]}
            if p == "/historical/cutoff":
                old = iso(time.time() - 365 * 86_400)
                return 200, {"market_settled_ts": old, "trades_created_ts": old,
                             "orders_updated_ts": old}
            if p in ("/historical/fills", "/historical/orders"):
                return 200, {p.rsplit("/", 1)[1]: [], "cursor": ""}
            if p == "/account/limits":
                return 200, {"usage_tier": "basic",
                             "read": {"refill_rate": 2000, "bucket_capacity": 2000},
                             "write": {"refill_rate": 1000, "bucket_capacity": 1000}}
            if p == "/portfolio/balance":
                c = st["cash_cents"]
                return 200, {"balance": c, "balance_dollars": f"{Decimal(c) / 100:.2f}",
                             "portfolio_value": 0, "updated_ts": int(self.now())}
            if p == "/portfolio/positions":
                pos = [{"ticker": t, "position_fp": f"{n:.2f}",
                        "market_exposure_dollars": "0.0000", "realized_pnl_dollars": "0.0000",
                        "fees_paid_dollars": "0.0000", "total_traded_dollars": "0.0000"}
                       for t, n in self.positions().items() if n]
                return 200, {"market_positions": pos, "event_positions": [], "cursor": ""}
            if p == "/portfolio/settlements":
                return 200, {"settlements": [], "cursor": ""}
            if p == "/portfolio/fills":
                min_ts = float(q.get("min_ts", 0) or 0)
                out = []
                for f in st["fills"]:
                    if f["ts"] < min_ts:
                        continue
                    yes = Decimal(f["yes_price"])
                    out.append({
                        "fill_id": f["fill_id"], "order_id": f["order_id"], "ticker": f["ticker"],
                        "outcome_side": "yes" if f["book_side"] == "bid" else "no",
                        "book_side": f["book_side"], "count_fp": f"{Decimal(f['count']):.2f}",
                        "yes_price_dollars": f"{yes:.4f}", "no_price_dollars": f"{1 - yes:.4f}",
                        "is_taker": f["taker"], "fee_cost": f"{Decimal(f['fee']):.4f}",
                        "created_time": iso(f["ts"])})
                return 200, {"fills": out, "cursor": ""}
            if p == "/portfolio/orders":
                os_ = list(st["orders"].values())
                if q.get("ticker"):
                    os_ = [o for o in os_ if o["ticker"] == q["ticker"]]
                if q.get("status"):
                    os_ = [o for o in os_ if o["status"] == q["status"]]
                return 200, {"orders": [self.order_json(o) for o in os_], "cursor": ""}
            if p.startswith("/portfolio/orders/"):
                o = st["orders"].get(p.rsplit("/", 1)[1])
                if o is None:
                    return 404, {"error": {"code": "not_found", "message": "no such order"}}
                return 200, {"order": self.order_json(o)}
        if method == "POST" and p == "/portfolio/events/orders":
            return self.create(body)
        if method == "DELETE" and p == "/portfolio/events/orders/batched":
            out = []
            for item in (body or {}).get("orders", []):
                code, ans = self.cancel(item["order_id"])
                out.append(ans if code == 200 else {"order_id": item["order_id"],
                                                    "reduced_by": "0.00", "error": ans["error"]})
            return 200, {"orders": out}
        if method == "DELETE" and p.startswith("/portfolio/events/orders/"):
            return self.cancel(p.rsplit("/", 1)[1])
        return 404, {"error": {"code": "not_found", "message": f"{method} {p} not implemented"}}

    # --- ground truth for the checks -----------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.state))


def _break(body: dict[str, Any]) -> dict[str, Any]:
    """The body without its first required-looking field."""
    out = dict(body)
    for k in ("order_id", "fill_count", "markets", "orderbooks", "fills", "orders",
              "market_positions", "balance", "exchange_active", "series", "settlements"):
        if k in out:
            del out[k]
            return out
    return {"unexpected": True}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the bot gets SIGKILLed mid-request on purpose


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKalshi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.fake.now(), usegmt=True)

    def _reply(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send a TCP RST: "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _do(self, method: str) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        q = {k: ",".join(v) for k, v in parse_qs(url.query).items()}
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        body = json.loads(raw) if raw else None
        path = url.path
        p = path[len(PREFIX):]
        fake.requests[f"{method} {p.split('/')[1] if '/' in p else p}"] += 1
        fake.paths[f"{method} {p}"] += 1
        is_create = method == "POST" and p == "/portfolio/events/orders"
        with fake.lock:
            if is_create:
                fake.state["create_log"].append(
                    {"client_order_id": body.get("client_order_id"), "ticker": body.get("ticker"),
                     "side": body.get("side"), "price": body.get("price"),
                     "count": body.get("count"), "reduce_only": bool(body.get("reduce_only")),
                     "at": time.time()})
                fake._save()
            key = f"{method} {self.path}"
            if key in fake._last_429:
                fake.backoff_gaps.append(time.time() - fake._last_429.pop(key))
            plan = next((f for f in fake.faults if not f.paths or p.startswith(f.paths)), None)
            kind = plan.pick(p) if plan is not None else None
            if kind:
                fake.fault_counts[kind] += 1
            if kind == "rate_limit_storm":
                fake._last_429[key] = time.time()
        if kind in ("timeout", "reset", "rate_limit_storm", "http_500", "http_502", "http_503",
                    "http_504", "error_in_2xx", "malformed_json"):
            # Fail before processing.
            if kind == "timeout":
                time.sleep(plan.delay_s if plan else 1.0)
                return self._reset()
            if kind == "reset":
                return self._reset()
            if kind == "rate_limit_storm":
                return self._reply(429, b'{"error":"too many requests"}')
            if kind.startswith("http_"):
                code = int(kind[5:8])
                return self._reply(code, json.dumps({"error": {
                    "code": "internal_error", "message": f"injected {code}"}}).encode())
            if kind == "error_in_2xx":
                return self._reply(200, b'{"error":{"code":"deprecated_v1_order_endpoint",'
                                        b'"message":"injected error in a 2xx body"}}')
            return self._reply(200, b'{"markets": [ {oops')
        auth_err = None
        if p.startswith(("/portfolio", "/account")):
            auth_err = fake.check_auth(method, path, self.headers)
        if auth_err is not None:
            return self._reply(401, json.dumps({"error": {
                "code": "authentication_error", "message": auth_err}}).encode())
        with fake.lock:
            status, ans = fake.handle(method, path, q, body)
            if method != "GET":
                if method == "DELETE":
                    fake.state["cancel_log"].append({"path": p, "status": status})
                fake._save()
        payload = json.dumps(ans).encode()
        if kind == "timeout_after":
            time.sleep(plan.delay_s if plan else 1.0)
            return self._reset()
        if kind == "reset_after":
            return self._reset()
        if kind == "http_503_after":
            return self._reply(503, b'{"error":{"code":"service_unavailable","message":"x"}}')
        if kind == "slow":
            time.sleep(plan.slow_s if plan else 0.1)
        if kind == "truncated_json":
            return self._reply(status, payload[: max(1, len(payload) // 2)])
        if kind == "missing_fields" and 200 <= status < 300:
            payload = json.dumps(_break(ans)).encode()
        self._reply(status, payload)

    def do_GET(self) -> None:  # noqa: N802
        self._do("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._do("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._do("DELETE")


def make_rsa_key(path: Path) -> bytes:
    """A fresh RSA key written as PEM with mode 0600; returns the PEM."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return pem


__all__ = ["FAULT_KINDS", "FakeKalshi", "FaultPlan", "make_rsa_key"]
