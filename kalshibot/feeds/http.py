"""Shared HTTP GET for the public spot APIs: timeouts, error mapping, exact JSON numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import requests

from kalshibot.clock import Clock, ensure_utc
from kalshibot.domain.money import parse_decimal
from kalshibot.errors import DataError, ExchangeUnavailableError, RateLimitedError
from kalshibot.feeds.symbols import normalize_symbol

_FRACTION_RE = re.compile(r"(\.\d+)")

#: (connect, read) timeouts in seconds.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 5.0)


def get_json(
    session: requests.Session,
    url: str,
    *,
    source: str,
    params: Mapping[str, str | int] | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Any:
    """GET ``url`` and decode JSON with floats as ``Decimal``.

    Timeouts, connection errors and 5xx raise ``ExchangeUnavailableError``; 429 raises
    ``RateLimitedError``; other non-2xx and undecodable bodies raise ``DataError``.
    """
    try:
        resp = session.get(url, params=params, timeout=timeout)
    except requests.Timeout as exc:
        raise ExchangeUnavailableError(f"{source}: timeout on {url}") from exc
    except requests.RequestException as exc:
        raise ExchangeUnavailableError(f"{source}: request failed on {url}: {exc}") from exc
    status = resp.status_code
    if status == 429:
        raise RateLimitedError(f"{source}: rate limited (HTTP 429) on {url}")
    if status >= 500:
        raise ExchangeUnavailableError(f"{source}: HTTP {status} on {url}")
    if not 200 <= status < 300:
        raise DataError(f"{source}: HTTP {status} on {url}: {resp.text[:200]}")
    try:
        return resp.json(parse_float=Decimal)
    except ValueError as exc:
        raise DataError(f"{source}: response from {url} is not JSON") from exc


def require(obj: Any, key: str, source: str, what: str) -> Any:
    """``obj[key]``; a missing key or non-object is a ``DataError`` (never a default)."""
    if not isinstance(obj, dict):
        raise DataError(f"{source}: {what}: expected an object, got {type(obj).__name__}")
    if key not in obj or obj[key] is None:
        raise DataError(f"{source}: {what}: missing field {key!r}")
    return obj[key]


def positive_decimal(value: Any, source: str, what: str) -> Decimal:
    """Exact decimal > 0 from a wire string/number (``Decimal``/int; float rejected)."""
    out = parse_decimal(value, f"{source}: {what}")
    if out <= 0:
        raise DataError(f"{source}: {what}: expected > 0, got {out}")
    return out


def nonneg_decimal(value: Any, source: str, what: str) -> Decimal:
    """Exact decimal >= 0 from a wire string/number."""
    out = parse_decimal(value, f"{source}: {what}")
    if out < 0:
        raise DataError(f"{source}: {what}: expected >= 0, got {out}")
    return out


def parse_iso_utc(value: Any, source: str, what: str) -> datetime:
    """Parse an ISO-8601 timestamp with zone (``...Z`` or ``+00:00``) to aware UTC."""
    if not isinstance(value, str) or not value:
        raise DataError(f"{source}: {what}: expected an ISO timestamp, got {value!r}")
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    text = _FRACTION_RE.sub(lambda m: m.group(1)[:7], text)  # at most microseconds
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DataError(f"{source}: {what}: malformed timestamp {value!r}") from exc
    if ts.tzinfo is None:
        raise DataError(f"{source}: {what}: timestamp without zone {value!r}")
    return ensure_utc(ts)


def mid(bid: Decimal, ask: Decimal, source: str, symbol: str) -> Decimal:
    """Mid of bid and ask (exact); a crossed book is a ``DataError``."""
    if bid > ask:
        raise DataError(f"{source}: {symbol}: crossed book bid {bid} > ask {ask}")
    return (bid + ask) / 2


class HttpSpotSource:
    """Shared plumbing of the public REST spot sources: session, clock, instrument map, base
    URL, timeouts and the price basis (``"mid"`` of bid/ask, or ``"last"`` trade)."""

    name = "http"
    instrument_word = "instrument"

    def __init__(
        self,
        session: requests.Session,
        clock: Clock,
        *,
        instruments: Mapping[str, str],
        base_url: str,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        price_basis: str = "mid",
    ) -> None:
        if price_basis not in ("mid", "last"):
            raise ValueError(f"price_basis must be 'mid' or 'last', not {price_basis!r}")
        self._session = session
        self._clock = clock
        self._instruments = {normalize_symbol(k): v for k, v in instruments.items()}
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._basis = price_basis

    def supports(self, symbol: str) -> bool:
        return normalize_symbol(symbol) in self._instruments

    def instrument(self, symbol: str) -> str:
        """The venue's instrument id for ``symbol``; ``DataError`` if none is configured."""
        sym = normalize_symbol(symbol)
        try:
            return self._instruments[sym]
        except KeyError:
            raise DataError(f"{self.name}: no {self.instrument_word} configured for {sym}"
                            ) from None
