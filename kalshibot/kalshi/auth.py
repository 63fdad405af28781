"""Request signing for the Kalshi Trade API (``kalshi-api.md`` section 2).

Each request is signed with the account's own private key over ``ts_ms + METHOD + path`` where
``ts_ms`` is Unix time in milliseconds (from the injected clock) and ``path`` is the URL path
*including* ``/trade-api/v2`` and *excluding* the query string. RSA keys sign with RSA-PSS /
SHA-256 / MGF1(SHA-256), salt length = digest length (32); Ed25519 keys sign plainly. The
signature is base64 (standard alphabet). The body is not signed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from pydantic import SecretStr

from kalshibot.clock import Clock, to_epoch_ms
from kalshibot.config import load_private_key
from kalshibot.errors import ConfigError

if TYPE_CHECKING:
    from kalshibot.config import Settings

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def signing_path(url_or_path: str) -> str:
    """The path that is signed: the URL's path with any query string and fragment removed."""
    path = urlsplit(url_or_path).path
    if not path.startswith("/"):
        path = "/" + path
    return path


def signing_message(ts_ms: int, method: str, url_or_path: str) -> bytes:
    """``str(ts_ms) + METHOD + path`` as UTF-8 bytes (no separators)."""
    return f"{ts_ms}{method.upper()}{signing_path(url_or_path)}".encode()


def sign_message(key: PrivateKey, message: bytes) -> str:
    """Base64 signature of ``message``: RSA-PSS/SHA-256 (salt = 32) or Ed25519."""
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.sign(message)
    else:  # pragma: no cover - load_private_key only returns the two types
        raise ConfigError(f"unsupported key type {type(key).__name__}")
    return base64.b64encode(raw).decode("ascii")


class Signer:
    """Holds the key id and the (already loaded) private key; makes the three auth headers."""

    def __init__(self, key_id: str, private_key: PrivateKey, clock: Clock) -> None:
        if not key_id:
            raise ConfigError("API key id is empty")
        self.key_id = key_id
        self._key = private_key
        self._clock = clock

    @classmethod
    def from_pem(
        cls, key_id: str, pem: bytes, clock: Clock, password: SecretStr | None = None
    ) -> Signer:
        """Load the key once from PEM bytes; a wrong password or format is a ``ConfigError``."""
        return cls(key_id, load_private_key(pem, password), clock)

    @classmethod
    def from_file(
        cls, key_id: str, path: Path, clock: Clock, password: SecretStr | None = None
    ) -> Signer:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read private key file {path}: {exc.strerror}") from exc
        try:
            return cls.from_pem(key_id, pem, clock, password)
        except ConfigError as exc:
            raise ConfigError(f"private key file {path}: {exc.message}") from exc

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> Signer | None:
        """A signer from settings, or None when no credentials are configured (public mode).

        Half-configured credentials (a key id without a key file or the reverse) are an error.
        """
        key_id = settings.api_key_id.get_secret_value() if settings.api_key_id else None
        path = settings.private_key_path
        if key_id is None and path is None:
            return None
        if key_id is None or path is None:
            missing = "KALSHIBOT_API_KEY_ID" if key_id is None else "KALSHIBOT_PRIVATE_KEY_PATH"
            raise ConfigError(f"incomplete Kalshi credentials: {missing} is not set")
        return cls.from_file(key_id, path, clock, settings.private_key_password)

    @property
    def key_type(self) -> str:
        return "rsa" if isinstance(self._key, rsa.RSAPrivateKey) else "ed25519"

    def headers(self, method: str, url_or_path: str) -> dict[str, str]:
        """The three ``KALSHI-ACCESS-*`` headers for one request, timestamped now."""
        ts_ms = to_epoch_ms(self._clock.now())
        sig = sign_message(self._key, signing_message(ts_ms, method, url_or_path))
        return {HEADER_KEY: self.key_id, HEADER_TIMESTAMP: str(ts_ms), HEADER_SIGNATURE: sig}
