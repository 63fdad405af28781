"""Fixtures for the WebSocket tests: a fake Kalshi server, a signer, fixture messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from kalshibot.clock import SystemClock
from kalshibot.kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer
from tests.conftest import shared_path
from tests.ws.fake_server import FakeKalshiServer

KEY_ID = "0f2e6c1a-aaaa-bbbb-cccc-123456789abc"


def ws_fixture(name: str) -> dict[str, Any]:
    """``../shared/fixtures/kalshi/ws_<name>.json`` (skips when ../shared is absent)."""
    data: dict[str, Any] = json.loads(shared_path("fixtures", "kalshi", f"ws_{name}.json")
                                      .read_text())
    return data


@pytest.fixture(scope="session")
def key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def signer(key: ed25519.Ed25519PrivateKey) -> Signer:
    return Signer(KEY_ID, key, SystemClock())


def verifier(key: ed25519.Ed25519PrivateKey):  # type: ignore[no-untyped-def]
    """Server-side check of the handshake signature over ts + GET + path."""
    pub = key.public_key()

    def verify(h: dict[str, str]) -> bool:
        try:
            msg = f"{h[HEADER_TIMESTAMP]}GET{h['path']}".encode()
            pub.verify(base64.b64decode(h[HEADER_SIGNATURE]), msg)
        except Exception:
            return False
        return h.get(HEADER_KEY) == KEY_ID

    return verify


@pytest.fixture
def server(key: ed25519.Ed25519PrivateKey) -> Iterator[FakeKalshiServer]:
    with FakeKalshiServer(verify=verifier(key)) as s:
        yield s
