"""Signing: verify with the public key (PSS is randomized), query string excluded."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from pydantic import SecretStr

from kalshibot.clock import SimClock
from kalshibot.config import Settings
from kalshibot.errors import ConfigError
from kalshibot.kalshi.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    Signer,
    signing_message,
    signing_path,
)
from tests.kalshi.helpers import BASE, T0

TS_MS = 1795201407312
FIXED = SimClock(T0.fromtimestamp(TS_MS / 1000, T0.tzinfo))


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def test_signing_path_keeps_prefix_and_drops_query() -> None:
    url = BASE + "/portfolio/orders?limit=5&cursor=abc"
    assert signing_path(url) == "/trade-api/v2/portfolio/orders"
    assert signing_message(TS_MS, "get", url) == b"1795201407312GET/trade-api/v2/portfolio/orders"


def test_rsa_signature_verifies_with_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    s = Signer("key-id", rsa_key, FIXED)
    h = s.headers("GET", BASE + "/portfolio/orders?limit=5")
    assert h[HEADER_KEY] == "key-id"
    assert h[HEADER_TIMESTAMP] == str(TS_MS)
    sig = base64.b64decode(h[HEADER_SIGNATURE], validate=True)
    msg = b"1795201407312GET/trade-api/v2/portfolio/orders"
    rsa_key.public_key().verify(sig, msg, _pss(), hashes.SHA256())  # raises if wrong
    # the query string must not be part of the signed message
    with pytest.raises(InvalidSignature):
        rsa_key.public_key().verify(sig, msg + b"?limit=5", _pss(), hashes.SHA256())
    # randomized: two signatures differ but both verify
    h2 = s.headers("GET", BASE + "/portfolio/orders")
    assert h2[HEADER_SIGNATURE] != h[HEADER_SIGNATURE]
    rsa_key.public_key().verify(base64.b64decode(h2[HEADER_SIGNATURE]), msg, _pss(),
                                hashes.SHA256())


def test_ed25519_signature_verifies(ed_key: ed25519.Ed25519PrivateKey) -> None:
    s = Signer("key-id", ed_key, FIXED)
    assert s.key_type == "ed25519"
    h = s.headers("POST", BASE + "/portfolio/events/orders")
    ed_key.public_key().verify(base64.b64decode(h[HEADER_SIGNATURE]),
                               b"1795201407312POST/trade-api/v2/portfolio/events/orders")


def _write_key(tmp_path: Path, key: rsa.RSAPrivateKey, password: bytes | None) -> Path:
    enc = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def test_encrypted_key_loads_once_and_wrong_password_is_config_error(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    path = _write_key(tmp_path, rsa_key, b"s3cret")
    s = Signer.from_file("k", path, FIXED, SecretStr("s3cret"))
    assert s.key_type == "rsa"
    with pytest.raises(ConfigError, match="wrong password"):
        Signer.from_file("k", path, FIXED, SecretStr("nope"))
    with pytest.raises(ConfigError, match="encrypted"):
        Signer.from_file("k", path, FIXED, None)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="PEM"):
        Signer.from_file("k", bad, FIXED)


def test_from_settings_public_full_and_half(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    assert Signer.from_settings(Settings(), FIXED) is None
    path = _write_key(tmp_path, rsa_key, None)
    s = Signer.from_settings(Settings(api_key_id=SecretStr("abc"), private_key_path=path), FIXED)
    assert s is not None and s.key_id == "abc"
    with pytest.raises(ConfigError, match="KALSHIBOT_PRIVATE_KEY_PATH"):
        Signer.from_settings(Settings(api_key_id=SecretStr("abc")), FIXED)
    with pytest.raises(ConfigError, match="does not exist|cannot read"):
        Signer.from_settings(Settings(api_key_id=SecretStr("abc"),
                                      private_key_path=tmp_path / "missing.pem"), FIXED)
