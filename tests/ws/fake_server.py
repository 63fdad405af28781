"""A fake Kalshi WebSocket server on 127.0.0.1 (``websockets`` sync server in a thread).

It keeps the true books (integer units: price $0.0001, size 0.01 contract), answers
``subscribe`` / ``unsubscribe`` / ``update_subscription`` like Kalshi (``subscribed`` with a
``sid``; ``ok`` with ``sid``/``seq``; snapshots for ``orderbook_delta``, seq +1 per sid), and lets
a test push deltas (optionally *dropping* one: the book and seq advance but nothing is sent),
push any message to the subscribers of a channel, ping, and drop the connection.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.server import ServerConnection, serve


def fmt_price(units: int) -> str:
    return f"{units // 10_000}.{units % 10_000:04d}"


def fmt_count(units: int) -> str:
    sign = "-" if units < 0 else ""
    u = abs(units)
    return f"{sign}{u // 100}.{u % 100:02d}"


@dataclass
class ServerSub:
    sid: int
    channel: str
    tickers: list[str]
    seq: int = 0


@dataclass
class Conn:
    ws: ServerConnection
    subs: dict[int, ServerSub] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeKalshiServer:
    def __init__(self, books: dict[str, tuple[dict[int, int], dict[int, int]]] | None = None,
                 verify: Callable[[dict[str, str]], bool] | None = None) -> None:
        self.books: dict[str, tuple[dict[int, int], dict[int, int]]] = books or {}
        self.verify = verify
        self.commands: list[dict[str, Any]] = []
        self.handshakes: list[dict[str, str]] = []
        self.conns: list[Conn] = []
        self.pongs: list[bytes] = []
        self._next_sid = 1
        self._lock = threading.RLock()
        self._server = serve(self._handler, "127.0.0.1", 0, ping_interval=None,
                             process_request=self._process_request)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/trade-api/ws/v2"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> FakeKalshiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for c in list(self.conns):
            with contextlib.suppress(Exception):
                c.ws.close()
        self._server.shutdown()
        self._thread.join(5)

    def _process_request(self, conn: ServerConnection, request: Any) -> Any:
        headers = {k: v for k, v in request.headers.raw_items()}
        self.handshakes.append(headers | {"path": request.path})
        if self.verify is not None and not self.verify(headers | {"path": request.path}):
            return conn.respond(401, "bad signature\n")
        return None

    # --- connection handler --------------------------------------------------------------
    def _handler(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        with self._lock:
            self.conns.append(conn)
        try:
            for raw in ws:
                cmd = json.loads(raw)
                with self._lock:
                    self.commands.append(cmd)
                    self._command(conn, cmd)
        except Exception:
            pass

    def _send(self, conn: Conn, obj: dict[str, Any]) -> None:
        with conn.lock, contextlib.suppress(Exception):
            conn.ws.send(json.dumps(obj))

    def _command(self, conn: Conn, cmd: dict[str, Any]) -> None:
        cid, name, params = cmd.get("id"), cmd.get("cmd"), cmd.get("params", {})
        if name == "subscribe":
            for channel in params["channels"]:
                sub = ServerSub(self._next_sid, channel, list(params.get("market_tickers", [])))
                self._next_sid += 1
                conn.subs[sub.sid] = sub
                self._send(conn, {"id": cid, "type": "subscribed",
                                  "msg": {"channel": channel, "sid": sub.sid}})
                if channel == "orderbook_delta":
                    for t in sub.tickers:
                        self._snapshot(conn, sub, t)
        elif name == "unsubscribe":
            for sid in params["sids"]:
                sub = conn.subs.pop(sid, None)
                self._send(conn, {"id": cid, "sid": sid, "seq": sub.seq if sub else 0,
                                  "type": "unsubscribed"})
        elif name == "update_subscription":
            sid = params["sids"][0] if "sids" in params else params["sid"]
            sub = conn.subs.get(sid)
            if sub is None:
                self._send(conn, {"id": cid, "type": "error",
                                  "msg": {"code": 7, "msg": "Unknown subscription ID"}})
                return
            action = params["action"]
            tickers = params.get("market_tickers", [])
            if action == "add_markets":
                sub.tickers += [t for t in tickers if t not in sub.tickers]
            elif action == "delete_markets":
                sub.tickers = [t for t in sub.tickers if t not in tickers]
            sub.seq += 1
            self._send(conn, {"id": cid, "sid": sid, "seq": sub.seq, "type": "ok",
                              "msg": {"market_tickers": sub.tickers}})
            if sub.channel == "orderbook_delta" and action in ("add_markets", "get_snapshot"):
                for t in tickers:
                    self._snapshot(conn, sub, t)

    def _snapshot(self, conn: Conn, sub: ServerSub, ticker: str) -> None:
        yes, no = self.books.setdefault(ticker, ({}, {}))
        sub.seq += 1
        body: dict[str, Any] = {"market_ticker": ticker, "market_id": f"id-{ticker}"}
        if yes:
            body["yes_dollars_fp"] = [[fmt_price(p), fmt_count(s)] for p, s in sorted(yes.items())]
        if no:
            body["no_dollars_fp"] = [[fmt_price(p), fmt_count(s)] for p, s in sorted(no.items())]
        self._send(conn, {"type": "orderbook_snapshot", "sid": sub.sid, "seq": sub.seq,
                          "msg": body})

    # --- test controls -------------------------------------------------------------------
    def delta(self, ticker: str, side: str, price: int, delta: int, *, drop: bool = False,
              client_order_id: str | None = None) -> None:
        """Change the true book and tell subscribers (unless ``drop``)."""
        with self._lock:
            yes, no = self.books.setdefault(ticker, ({}, {}))
            book = yes if side == "yes" else no
            new = book.get(price, 0) + delta
            assert new >= 0, "test bug: negative level"
            if new:
                book[price] = new
            else:
                book.pop(price, None)
            for conn in list(self.conns):
                for sub in conn.subs.values():
                    if sub.channel == "orderbook_delta" and ticker in sub.tickers:
                        sub.seq += 1
                        if drop:
                            continue
                        body: dict[str, Any] = {
                            "market_ticker": ticker, "market_id": f"id-{ticker}",
                            "price_dollars": fmt_price(price), "delta_fp": fmt_count(delta),
                            "side": side, "ts_ms": 1795201407312}
                        if client_order_id:
                            body["client_order_id"] = client_order_id
                        self._send(conn, {"type": "orderbook_delta", "sid": sub.sid,
                                          "seq": sub.seq, "msg": body})

    def push(self, channel: str, message: dict[str, Any]) -> int:
        """Send ``message`` (its ``sid`` replaced) to every subscriber of ``channel``."""
        n = 0
        with self._lock:
            for conn in list(self.conns):
                for sub in conn.subs.values():
                    if sub.channel == channel:
                        self._send(conn, {**message, "sid": sub.sid})
                        n += 1
        return n

    def subscribed(self, channel: str) -> list[ServerSub]:
        with self._lock:
            return [s for c in self.conns for s in c.subs.values() if s.channel == channel]

    def live_conns(self) -> list[Conn]:
        with self._lock:
            return [c for c in self.conns if c.ws.protocol.state.name == "OPEN"]

    def drop_connections(self) -> None:
        """Abruptly close every connection (TCP close without a close frame)."""
        with self._lock:
            conns = list(self.conns)
            self.conns.clear()
        for c in conns:
            c.ws.socket.close()

    def ping(self, payload: bytes = b"heartbeat", timeout_s: float = 2.0) -> bool:
        """Ping every connection; True when all answered with a pong."""
        ok = True
        for c in self.live_conns():
            ev = c.ws.ping(payload)
            ok = ev.wait(timeout_s) and ok
        return ok


def wait_for(pred: Callable[[], bool], timeout_s: float = 5.0, step_s: float = 0.005) -> bool:
    """Poll ``pred`` until it holds or ``timeout_s`` passes."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step_s)
    return pred()
