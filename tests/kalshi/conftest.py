"""Pytest fixtures for the Kalshi adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kalshibot.kalshi.auth import Signer
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.exchange import KalshiExchange
from tests.kalshi.helpers import RecordingClock, make_http


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


@pytest.fixture
def signer(rsa_key: rsa.RSAPrivateKey, clock: RecordingClock) -> Signer:
    return Signer("11111111-2222-3333-4444-555555555555", rsa_key, clock)


@pytest.fixture
def client(clock: RecordingClock, signer: Signer) -> KalshiClient:
    return KalshiClient(make_http(clock, signer))


@pytest.fixture
def public_client(clock: RecordingClock) -> KalshiClient:
    return KalshiClient(make_http(clock))


@pytest.fixture
def exchange(client: KalshiClient, clock: RecordingClock) -> KalshiExchange:
    return KalshiExchange(client, clock, enrich_fees=False)
