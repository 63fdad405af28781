"""The client against a local fake Kalshi server on 127.0.0.1 (ephemeral port).

Signed handshake, command ids, pong, books equal to the server's after 10k seeded random
deltas, a dropped message -> resync, a server-side disconnect -> reconnect + resubscribe.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from kalshibot.clock import SystemClock
from kalshibot.kalshi.auth import HEADER_KEY, Signer
from kalshibot.ws.feed import WsFeed
from tests.ws.fake_server import FakeKalshiServer, wait_for

TICKERS = ["KXSOL15M-26NOV201415-15", "KXBTC15M-26NOV201415-15", "KXETH15M-26NOV201415-15"]
FAST = {"base_backoff_s": 0.01, "max_backoff_s": 0.05, "connect_timeout_s": 2.0,
        "max_silence_s": 5.0}


@pytest.fixture
def feed(server: FakeKalshiServer, signer: Signer) -> Iterator[WsFeed]:
    f = WsFeed(server.url, signer, SystemClock(), lifecycle=False, ticker=False,
               rng=random.Random(1), **FAST)
    f.start()
    try:
        yield f
    finally:
        f.stop(timeout_s=5)
        assert not f.client.running


def seed_books(server: FakeKalshiServer) -> None:
    for i, t in enumerate(TICKERS):
        server.books[t] = ({4400 + i: 12000, 4700: 21000}, {4800: 9000, 5100 + i: 24000})


def synced(server: FakeKalshiServer, feed: WsFeed) -> bool:
    """Every server sub's seq reached the client, and every watched book equals the server's."""
    subs = server.subscribed("orderbook_delta")
    if not subs:
        return False
    for s in subs:
        if feed.books.last_seq(s.sid) != s.seq:
            return False
    return all(feed.books.levels(t) == tuple(dict(x) for x in server.books[t])
               for t in feed.watched())


def test_signed_handshake_ids_and_pong(server: FakeKalshiServer, feed: WsFeed) -> None:
    seed_books(server)
    feed.watch(TICKERS[:1])
    assert feed.client.wait_connected(5)
    assert wait_for(lambda: synced(server, feed))
    h = server.handshakes[0]
    assert h["path"] == "/trade-api/ws/v2" and h[HEADER_KEY]
    ids = [c["id"] for c in server.commands]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert server.commands[0]["cmd"] == "subscribe"
    assert server.commands[0]["params"] == {"channels": ["orderbook_delta"],
                                            "market_tickers": TICKERS[:1]}
    assert server.ping(b"heartbeat")  # the client answered with a pong


def test_bad_signature_is_refused_and_retried(server: FakeKalshiServer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    wrong = Signer("0f2e6c1a-aaaa-bbbb-cccc-123456789abc", ed25519.Ed25519PrivateKey.generate(),
                   SystemClock())
    f = WsFeed(server.url, wrong, SystemClock(), lifecycle=False, **FAST)
    f.start()
    try:
        assert wait_for(lambda: f.client.failed_attempts >= 2 or len(f.client.backoffs) >= 2)
        assert not f.connected
        assert "401" in f.client.last_error or "Handshake" in f.client.last_error
    finally:
        f.stop()


def test_books_equal_server_after_10k_random_deltas(server: FakeKalshiServer,
                                                    feed: WsFeed) -> None:
    seed_books(server)
    feed.watch(TICKERS)
    assert wait_for(lambda: synced(server, feed))
    rng = random.Random(20261120)
    for _ in range(10_000):
        t = rng.choice(TICKERS)
        side = rng.choice(("yes", "no"))
        book = server.books[t][0 if side == "yes" else 1]
        price = rng.choice((rng.randrange(1, 100) * 100, rng.randrange(1, 10_000)))
        cur = book.get(price, 0)
        if cur and rng.random() < 0.45:
            delta = -(cur if rng.random() < 0.5 else rng.randrange(1, cur + 1))
        else:
            delta = rng.randrange(1, 100_000)
        server.delta(t, side, price, delta)
    assert wait_for(lambda: synced(server, feed), timeout_s=15)
    assert feed.books.gaps == 0 and feed.books.deltas == 10_000
    for t in TICKERS:
        book = feed.books.book(t)
        assert book is not None
        yes, no = server.books[t]
        assert len(book.yes_bids) == len(yes) and len(book.no_bids) == len(no)
        assert all(lv.size.value > 0 for lv in book.yes_bids + book.no_bids)


def test_dropped_message_triggers_resync(server: FakeKalshiServer, feed: WsFeed) -> None:
    seed_books(server)
    feed.watch(TICKERS)
    assert wait_for(lambda: synced(server, feed))
    server.delta(TICKERS[0], "yes", 4500, 300)
    server.delta(TICKERS[1], "no", 5300, 700, drop=True)  # lost on the way
    server.delta(TICKERS[2], "yes", 4600, 100)  # next seq reveals the gap
    assert wait_for(lambda: any(c.get("params", {}).get("action") == "get_snapshot"
                                for c in server.commands))
    assert wait_for(lambda: synced(server, feed))
    snap_cmd = next(c for c in server.commands
                    if c.get("params", {}).get("action") == "get_snapshot")
    sub = server.subscribed("orderbook_delta")[0]
    assert snap_cmd["params"]["sids"] == [sub.sid]
    assert set(snap_cmd["params"]["market_tickers"]) == set(TICKERS)
    assert feed.books.gaps == 1 and feed.resync_requests == 1
    server.delta(TICKERS[1], "no", 5300, -700)
    assert wait_for(lambda: synced(server, feed))
    assert feed.books.gaps == 1


def test_disconnect_reconnects_and_resubscribes(server: FakeKalshiServer, feed: WsFeed) -> None:
    seed_books(server)
    feed.watch(TICKERS[:2])
    feed.watch_indices(["BRTI"])
    assert wait_for(lambda: synced(server, feed))
    server.drop_connections()
    # meanwhile the market moves and a market is added while we are down
    server.delta(TICKERS[0], "yes", 4500, 500)
    feed.watch(TICKERS[2:])
    assert wait_for(lambda: feed.client.reconnects >= 1 and feed.connected)
    assert wait_for(lambda: synced(server, feed) and len(feed.watched()) == 3)
    subs = [c for c in server.commands if c["cmd"] == "subscribe"]
    book_subs = [c for c in subs if c["params"]["channels"] == ["orderbook_delta"]]
    assert len(book_subs) == 2
    assert set(book_subs[-1]["params"]["market_tickers"]) == set(TICKERS)
    cf = [c for c in subs if c["params"]["channels"] == ["cfbenchmarks_value"]]
    assert len(cf) == 2 and cf[-1]["params"]["index_ids"] == ["BRTI"]
    assert feed.client.backoffs and all(0 < b <= 0.05 for b in feed.client.backoffs)
    server.delta(TICKERS[2], "no", 5000, 100)
    assert wait_for(lambda: synced(server, feed))


def test_silence_means_dead_connection(server: FakeKalshiServer, signer: Signer) -> None:
    f = WsFeed(server.url, signer, SystemClock(), lifecycle=False,
               **{**FAST, "max_silence_s": 0.3})
    f.watch(TICKERS[:1])
    f.start()
    try:
        assert wait_for(lambda: f.client.reconnects >= 1, timeout_s=5)
        assert "no message" in f.client.last_error or f.connected
    finally:
        f.stop()


def test_terminal_error_resubscribes(server: FakeKalshiServer, feed: WsFeed) -> None:
    seed_books(server)
    feed.watch(TICKERS[:1])
    assert wait_for(lambda: synced(server, feed))
    server.push("orderbook_delta", {"type": "error",
                                    "msg": {"code": 17, "msg": "Internal error"}})
    assert wait_for(lambda: len([c for c in server.commands if c["cmd"] == "subscribe"]) == 2)
    assert any(c["cmd"] == "unsubscribe" for c in server.commands)
    assert wait_for(lambda: synced(server, feed))
    assert feed.client.errors[-1].code == 17
