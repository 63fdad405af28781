"""Synchronous Kalshi WebSocket client (``websocket-client``) running in one background thread.

- **Handshake**: the ``KALSHI-ACCESS-*`` headers from ``kalshi.auth.Signer``, signed over
  ``ts_ms + "GET" + "/trade-api/ws/v2"`` (the URL's path), fresh on every (re)connect.
- **Commands** carry increasing ``id``s: ``subscribe`` (one channel per subscription, so a
  ``sid`` maps to one channel), ``unsubscribe``, ``update_subscription`` (``add_markets`` /
  ``delete_markets`` / ``get_snapshot``; for ``cfbenchmarks_value`` ``subscribe_indices`` /
  ``unsubscribe_indices``). Local ``Subscription`` objects keep the desired parameters, so
  markets added while disconnected are part of the next subscribe.
- **Heartbeat**: Kalshi pings every 10 s; ``websocket-client`` answers each ping with a pong
  carrying the same payload. Any frame (ping included) refreshes ``last_alive``; if nothing
  arrives for ``max_silence_s`` seconds the connection is treated as dead.
- **Reconnect**: after any drop, wait ``min(max_backoff_s, base_backoff_s * 2**n)`` scaled by
  a random jitter factor in [0.5, 1.0] (``n`` = failed attempts in a row, reset by a successful
  connect), reconnect, and resubscribe every open subscription (new ``sid``s).
- **Terminal errors** (codes 10, 17, 25) and a failed ``get_snapshot`` resubscribe the
  subscription concerned.

Messages that are not command replies go to ``on_message(msg)`` (parsed JSON) on the client
thread; replies carrying ``sid``/``seq`` are passed on too. Times come from the injected clock;
waits use the injected ``sleep`` (default: an interruptible wait that ``stop()`` cuts short).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import websocket

from kalshibot.clock import Clock
from kalshibot.config import Environment
from kalshibot.kalshi.auth import Signer

log = logging.getLogger(__name__)

WS_PATH = "/trade-api/ws/v2"
WS_URLS = {
    Environment.PROD: "wss://external-api-ws.kalshi.com" + WS_PATH,
    Environment.DEMO: "wss://external-api-ws.demo.kalshi.co" + WS_PATH,
}
TERMINAL_ERRORS = frozenset({10, 17, 25})
ALREADY_SUBSCRIBED = 6
#: Channels whose subscription is addressed by market tickers (``add_markets`` etc.). The bot
#: does not use ``market_positions`` (positions come from fills and REST) nor the removed
#: ``ticker_v2``; messages of channels it does not route are ignored.
MARKET_CHANNELS = frozenset({"orderbook_delta", "ticker", "trade", "fill", "user_orders"})

MessageHandler = Callable[[dict[str, Any]], None]


@dataclass
class Subscription:
    """One channel subscription. ``params`` holds the desired parameters (``market_tickers``,
    ``index_ids``, ...) sent on every (re)subscribe; ``sid`` is the server's id on the current
    connection (None until ``subscribed``)."""

    key: int
    channel: str
    params: dict[str, Any] = field(default_factory=dict)
    sid: int | None = None
    active: bool = True
    sent: dict[str, Any] = field(default_factory=dict)

    @property
    def tickers(self) -> list[str]:
        return list(self.params.get("market_tickers", ()))


@dataclass(frozen=True)
class CommandError:
    """An ``error`` reply: ``code`` per the AsyncAPI table, ``message`` from the server."""

    id: int | None
    code: int
    message: str
    cmd: str | None


class KalshiWsClient:
    """See module docstring. ``start()`` launches the thread; ``stop()`` ends and joins it."""

    def __init__(
        self,
        url: str,
        signer: Signer | None,
        *,
        clock: Clock,
        on_message: MessageHandler | None = None,
        on_connect: Callable[[int], None] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        connect_timeout_s: float = 10.0,
        max_silence_s: float = 30.0,
        base_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        rng: random.Random | None = None,
        name: str = "kalshi-ws",
    ) -> None:
        self.url = url
        self.signer = signer
        self.clock = clock
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.connect_timeout_s = connect_timeout_s
        self.max_silence_s = max_silence_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._name = name
        self._thread: threading.Thread | None = None
        self._ws: websocket.WebSocket | None = None
        self._lock = threading.RLock()
        self._connected = threading.Event()
        self._next_id = 1
        self._next_key = 1
        self._subs: dict[int, Subscription] = {}
        self._by_sid: dict[int, Subscription] = {}
        self._pending: dict[int, tuple[str, Subscription | None, dict[str, Any]]] = {}
        #: Number of successful connections so far (1 after the first).
        self.connections = 0
        self.reconnects = 0
        self.failed_attempts = 0
        self.messages = 0
        self.last_alive: datetime | None = None
        self.last_error: str = ""
        self.errors: list[CommandError] = []
        self.backoffs: list[float] = []

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the socket and join the thread (bounded by ``timeout_s`` seconds)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            sock = ws.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout_s)
        self._thread = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- subscriptions (any thread) ----------------------------------------------------
    def subscribe(self, channel: str, *, market_tickers: list[str] | None = None,
                  index_ids: list[str] | None = None, **params: Any) -> Subscription:
        """Create a subscription; it is (re)sent on every connect until ``unsubscribe``."""
        p: dict[str, Any] = dict(params)
        if market_tickers is not None:
            p["market_tickers"] = list(dict.fromkeys(market_tickers))
        if index_ids is not None:
            p["index_ids"] = list(dict.fromkeys(index_ids))
        with self._lock:
            sub = Subscription(self._next_key, channel, p)
            self._next_key += 1
            self._subs[sub.key] = sub
            if self.connected:
                self._send_subscribe(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            sub.active = False
            self._subs.pop(sub.key, None)
            if sub.sid is not None and self.connected:
                self._command("unsubscribe", {"sids": [sub.sid]}, sub)

    def update_subscription(self, sub: Subscription, action: str, *,
                            market_tickers: list[str] | None = None,
                            index_ids: list[str] | None = None) -> int | None:
        """Send ``update_subscription``; add/delete actions also update ``sub.params`` so a
        resubscribe carries them. Returns the command id (None when it could not be sent
        now; the change then takes effect at the next subscribe)."""
        with self._lock:
            if action in ("add_markets", "delete_markets") and market_tickers is not None:
                cur = sub.params.setdefault("market_tickers", [])
                if action == "add_markets":
                    cur.extend(t for t in market_tickers if t not in cur)
                else:
                    sub.params["market_tickers"] = [t for t in cur if t not in market_tickers]
            if action in ("subscribe_indices", "unsubscribe_indices") and index_ids is not None:
                cur = sub.params.setdefault("index_ids", [])
                if action == "subscribe_indices":
                    cur.extend(i for i in index_ids if i not in cur)
                else:
                    sub.params["index_ids"] = [i for i in cur if i not in index_ids]
            if sub.sid is None or not self.connected:
                return None
            params: dict[str, Any] = {"sids": [sub.sid], "action": action}
            if market_tickers is not None:
                params["market_tickers"] = list(market_tickers)
            if index_ids is not None:
                params["index_ids"] = list(index_ids)
            if action in ("add_markets", "delete_markets"):
                sub.sent["market_tickers"] = list(sub.params.get("market_tickers", []))
            return self._command("update_subscription", params, sub)

    def resubscribe(self, sub: Subscription) -> None:
        """Unsubscribe (if live) and subscribe again: fresh ``sid`` and snapshots."""
        with self._lock:
            if sub.sid is not None and self.connected:
                self._by_sid.pop(sub.sid, None)
                self._command("unsubscribe", {"sids": [sub.sid]}, None)
            sub.sid = None
            if self.connected:
                self._send_subscribe(sub)

    def subscription_for_sid(self, sid: int) -> Subscription | None:
        with self._lock:
            return self._by_sid.get(sid)

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs.values())

    # --- internals ---------------------------------------------------------------------
    def _command(self, cmd: str, params: dict[str, Any], sub: Subscription | None) -> int:
        cid = self._next_id
        self._next_id += 1
        self._pending[cid] = (cmd, sub, params)
        self._send({"id": cid, "cmd": cmd, "params": params})
        return cid

    def _send_subscribe(self, sub: Subscription) -> None:
        params = {"channels": [sub.channel], **sub.params}
        sub.sent = {k: list(v) if isinstance(v, list) else v for k, v in sub.params.items()}
        self._command("subscribe", params, sub)

    def _send(self, obj: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            ws.send(json.dumps(obj, separators=(",", ":")))
        except (websocket.WebSocketException, OSError) as exc:
            log.warning("ws send failed: %s", exc)

    def _backoff(self) -> float:
        n = max(0, self.failed_attempts - 1)
        base = min(self.max_backoff_s, self.base_backoff_s * (2 ** min(n, 30)))
        return base * (0.5 + 0.5 * self._rng.random())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._connect_and_read()
            except Exception as exc:  # any failure: reconnect (never kill the thread)
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("ws connection: %s", self.last_error)
            was_connected = self._connected.is_set()
            self._connected.clear()
            ws, self._ws = self._ws, None
            if ws is not None:
                with contextlib.suppress(Exception):  # closing a dead socket
                    ws.close(timeout=0.2)
            if was_connected and self.on_disconnect is not None:
                self.on_disconnect(self.last_error or "closed")
            if self._stop.is_set():
                break
            self.failed_attempts += 1
            delay = self._backoff()
            self.backoffs.append(delay)
            self._sleep(delay)

    def _connect_and_read(self) -> None:
        headers = self.signer.headers("GET", self.url) if self.signer is not None else {}
        ws = websocket.WebSocket(enable_multithread=True)
        ws.connect(self.url, header=[f"{k}: {v}" for k, v in headers.items()],
                   timeout=self.connect_timeout_s, suppress_origin=True)
        ws.settimeout(self.max_silence_s)
        self._ws = ws
        if self._stop.is_set():
            return
        self.last_alive = self.clock.now()
        self.last_error = ""
        self.failed_attempts = 0
        with self._lock:
            self.connections += 1
            if self.connections > 1:
                self.reconnects += 1
            self._pending.clear()
            self._by_sid.clear()
            for sub in self._subs.values():
                sub.sid = None
            if self.on_connect is not None:
                self.on_connect(self.connections)
            self._connected.set()
            for sub in list(self._subs.values()):
                self._send_subscribe(sub)
        while not self._stop.is_set():
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                raise ConnectionError(f"no message for {self.max_silence_s} s") from None
            self.last_alive = self.clock.now()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise ConnectionError("closed by the server")
            if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                continue  # ping (already answered with a pong) / pong
            self.messages += 1
            try:
                msg = json.loads(data)
            except ValueError:
                log.warning("ws: unparseable message %r", data[:200])
                continue
            if isinstance(msg, dict):
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind in ("subscribed", "unsubscribed", "ok", "error"):
            self._reply(kind, msg)
        if self.on_message is not None and kind != "subscribed":
            try:
                self.on_message(msg)
            except Exception as exc:  # a bad message must not drop the connection
                log.warning("ws: handler failed on %s: %s", kind, exc)
                self.last_error = f"handler: {type(exc).__name__}: {exc}"

    def _reply(self, kind: str, msg: dict[str, Any]) -> None:
        raw_id = msg.get("id")
        cid = raw_id if isinstance(raw_id, int) else -1
        raw_body = msg.get("msg")
        body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
        with self._lock:
            pending = self._pending.get(cid)
            if kind == "subscribed":
                sub = pending[1] if pending else None
                sid = body.get("sid", msg.get("sid"))
                if sub is not None and sid is not None:
                    if not sub.active:  # unsubscribed meanwhile
                        self._command("unsubscribe", {"sids": [sid]}, None)
                        return
                    sub.sid = int(sid)
                    self._by_sid[sub.sid] = sub
                    self._catch_up(sub)
                self._pending.pop(cid, None)
            elif kind == "unsubscribed":
                self._pending.pop(cid, None)
                sid = msg.get("sid")
                if sid is not None:
                    self._by_sid.pop(int(sid), None)
            elif kind == "ok":
                self._pending.pop(cid, None)
            else:
                err = CommandError(raw_id if isinstance(raw_id, int) else None,
                                   int(body.get("code", 0)), str(body.get("msg", "")),
                                   pending[0] if pending else None)
                self.errors.append(err)
                del self.errors[:-50]
                self._pending.pop(cid, None)
                log.warning("ws command %s failed: code %s %s", err.cmd, err.code, err.message)
                sub = pending[1] if pending else None
                sid = msg.get("sid", body.get("sid"))
                if sub is None and sid is not None:
                    sub = self._by_sid.get(int(sid))
                if sub is None or not sub.active:
                    return
                snapshot_failed = (pending is not None and pending[0] == "update_subscription"
                                   and pending[2].get("action") == "get_snapshot")
                if err.code in TERMINAL_ERRORS or snapshot_failed:
                    self.resubscribe(sub)

    def _catch_up(self, sub: Subscription) -> None:
        """Markets added/removed while the subscribe was in flight."""
        want = sub.params.get("market_tickers")
        sent = sub.sent.get("market_tickers")
        if want is None or sent is None or sub.sid is None:
            return
        add = [t for t in want if t not in sent]
        gone = [t for t in sent if t not in want]
        if add:
            self._command("update_subscription",
                          {"sids": [sub.sid], "action": "add_markets", "market_tickers": add}, sub)
        if gone:
            self._command("update_subscription", {"sids": [sub.sid], "action": "delete_markets",
                                                  "market_tickers": gone}, sub)
        sub.sent["market_tickers"] = list(want)
