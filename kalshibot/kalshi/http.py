"""HTTP layer: one ``requests.Session``, timeouts, rate limits, read retries, error mapping.

- Reads (GET) are retried with exponential backoff and jitter on 429, 408, 5xx, timeouts,
  connection errors and other transport errors (e.g. a body cut off mid-stream). Writes
  (POST/DELETE) are sent **once**: a create whose outcome is unknown (timeout, 5xx, dropped
  connection, any other ``requests`` transport error, unreadable 2xx) raises
  ``OrderOutcomeUnknownError`` with the ``client_order_id``; the caller resolves it by reading
  orders, never by re-posting.
- Status mapping (``kalshi-api.md`` section 10): 400 -> ``ExchangeRejectedError``; 401/403 ->
  ``AuthError``; 404 -> ``ExchangeRejectedError`` (code ``user_not_found``: ``WrongShardError``,
  the request reached the wrong exchange shard); 409 -> ``ExchangeRejectedError`` (on create:
  ``DuplicateClientOrderIdError``, except code ``fill_or_kill_insufficient_resting_volume``: a
  killed fill-or-kill, ``OrderKilledError``); 429 -> ``RateLimitedError``; 408/5xx ->
  ``ExchangeUnavailableError``. A 2xx body containing ``error`` is an error too.
- Rate limits: each request takes its token cost from the read or write bucket (default 10
  tokens; cancels 2, batches per item; ``GET /account/endpoint_costs`` is the authority, see
  ``ratelimit.EndpointCosts``).
- JSON is decoded with ``parse_float=Decimal`` so no binary float ever enters the bot.
- Cursor pagination stops on an empty cursor and refuses a repeated one (``DataError``).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from kalshibot.clock import Clock
from kalshibot.config import Environment
from kalshibot.errors import (
    FOK_KILLED,
    AuthError,
    ClockSkewError,
    DataError,
    ExchangeRejectedError,
    ExchangeUnavailableError,
    KalshibotError,
    OrderKilledError,
    OrderOutcomeUnknownError,
    RateLimitedError,
    WrongShardError,
)
from kalshibot.kalshi.auth import Signer
from kalshibot.kalshi.ratelimit import Bucket, EndpointCosts, RateLimiter

log = logging.getLogger(__name__)

BASE_URLS: dict[Environment, str] = {
    Environment.PROD: "https://external-api.kalshi.com/trade-api/v2",
    Environment.DEMO: "https://external-api.demo.kalshi.co/trade-api/v2",
}

AUTH_HINT = (
    "check that the key id and private key belong to this environment (demo and prod keys are "
    "separate), that the signed path has no query string, and that the system clock is in sync "
    "(NTP): the signature carries a millisecond timestamp"
)


class DuplicateClientOrderIdError(ExchangeRejectedError):
    """409 on create: an order with this ``client_order_id`` already exists (or cannot be
    modified). Reconcile by reading orders; never re-send the intent under a new id."""

    def __init__(self, message: str, *, client_order_id: str, code: str | None = None) -> None:
        super().__init__(message, status=409, code=code,
                         hint="read GET /portfolio/orders to find the existing order")
        self.client_order_id = client_order_id


class BatchOutcomeUnknownError(OrderOutcomeUnknownError):
    """A batch create whose outcome is unknown; ``client_order_ids`` lists every item."""

    def __init__(self, message: str, *, client_order_ids: Sequence[str]) -> None:
        super().__init__(message, client_order_id=",".join(client_order_ids),
                         hint="resolve each id by reading orders before re-sending")
        self.client_order_ids = tuple(client_order_ids)


@dataclass(frozen=True)
class RetryPolicy:
    """Read retries: ``max_attempts`` tries in all; delay ``base * 2**n`` capped, jittered to
    a uniform draw in [delay/2, delay] seconds."""

    max_attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        d = min(self.max_delay_s, self.base_delay_s * (2 ** attempt))
        return rng.uniform(d / 2, d)


#: Skew (seconds) beyond which a 401 is blamed on the clock and a start-up check warns.
#: ``Date`` headers have one-second resolution, so smaller differences are noise.
SKEW_WARN_S = 5.0


def date_header_skew(date_header: str | None, local_now: datetime) -> float | None:
    """Exchange time (HTTP ``Date``) minus local time in seconds; None when absent/unreadable."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        return None
    return (server - local_now).total_seconds()


def skew_text(skew_s: float) -> str:
    return (f"the local clock is {abs(skew_s):.0f} s "
            f"{'behind' if skew_s > 0 else 'ahead of'} the exchange's")


def error_code_and_message(body: Any) -> tuple[str | None, str | None]:
    """``error.code``/``error.message``, else top-level ``code``/``message``, else the 429
    shape ``{"error": "text"}``. Case is preserved."""
    if not isinstance(body, Mapping):
        return None, None
    err = body.get("error")
    if isinstance(err, Mapping):
        code, msg, details = err.get("code"), err.get("message"), err.get("details")
    elif isinstance(err, str):
        code, msg, details = None, err, None
    else:
        code, msg, details = body.get("code"), body.get("message"), body.get("details")
    text = msg if isinstance(msg, str) else None
    if isinstance(details, str) and details:
        text = f"{text}: {details}" if text else details
    return (code if isinstance(code, str) else None), text


#: Error codes with their own meaning (``kalshi-api.md`` section 14).
USER_NOT_FOUND = "user_not_found"


def map_http_error(status: int, body: Any, what: str) -> KalshibotError:
    """The typed error for a non-2xx answer (or a 2xx with ``error``) to request ``what``."""
    code, msg = error_code_and_message(body)
    detail = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f" ({msg})" if msg else "")
    if 200 <= status < 300:
        return ExchangeRejectedError(f"{what}: error in a {status} answer"
                                     + (f": {code}" if code else "") + (f" ({msg})" if msg else ""),
                                     status=status, code=code)
    if status == 401:
        return AuthError(f"{detail}: Kalshi refused the credentials or signature", hint=AUTH_HINT)
    if status == 403:
        return AuthError(f"{detail}: forbidden (key scope or API tier)",
                         hint="permanent for this key; check its scopes and your tier")
    if status == 429:
        return RateLimitedError(detail, hint="slow down; back off with jitter")
    if status == 408 or status >= 500:
        return ExchangeUnavailableError(detail)
    if status == 404 and code == USER_NOT_FOUND:
        return WrongShardError(f"{detail}: the request reached an exchange shard that does not "
                               "hold this account or order", status=status, code=code,
                               hint="route by market ticker (market_ticker / exchange_index)")
    if status == 409 and code == FOK_KILLED:
        return OrderKilledError(f"{detail}: fill-or-kill killed (too little resting volume)",
                                status=status, code=code)
    return ExchangeRejectedError(detail, status=status, code=code)


def decode_json(text: str, what: str) -> Any:
    """Decode JSON with exact decimals (``parse_float=Decimal``); bad JSON is ``DataError``."""
    if not text.strip():
        return {}
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise DataError(f"{what}: answer is not JSON ({exc})") from exc


class HttpClient:
    """Signed (optional) requests to one Kalshi REST base URL."""

    def __init__(
        self,
        base_url: str,
        clock: Clock,
        *,
        signer: Signer | None = None,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.signer = signer
        self.session = session or requests.Session()
        self._sleep = sleep or clock.sleep
        self.limiter = limiter or RateLimiter.for_clock(clock)
        self.costs = EndpointCosts()
        self.timeouts = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self.sent = 0  # requests sent (every attempt, retries included)
        #: Exchange time minus local time (s) from the last response's ``Date`` header.
        self.skew_s: float | None = None

    @property
    def authenticated(self) -> bool:
        return self.signer is not None

    # low level ----------------------------------------------------------------------------
    def _send(
        self, method: str, path: str, *, params: Mapping[str, Any] | None, body: Any,
        auth: bool,
    ) -> requests.Response:
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        if auth:
            if self.signer is None:
                raise AuthError(f"{method} {path} needs an API key, but none is configured",
                                hint="set KALSHIBOT_API_KEY_ID and KALSHIBOT_PRIVATE_KEY_PATH")
            headers.update(self.signer.headers(method, url))
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        self.sent += 1
        resp = self.session.request(method, url, params=clean or None, data=data,
                                    headers=headers, timeout=self.timeouts)
        skew = date_header_skew(resp.headers.get("Date"), self.clock.now())
        if skew is not None:
            self.skew_s = skew
        if resp.status_code == 401 and auth and skew is not None and abs(skew) > SKEW_WARN_S:
            raise ClockSkewError(
                f"{method} {path}: HTTP 401: signature refused and {skew_text(skew)}: "
                "signed requests carry a timestamp",
                hint="sync the clock (NTP), then retry")
        return resp

    def _decode_ok(self, resp: requests.Response, what: str) -> dict[str, Any]:
        body = decode_json(resp.text, what)
        if not isinstance(body, dict):
            raise DataError(f"{what}: expected a JSON object, got {type(body).__name__}")
        if body.get("error") is not None:
            raise map_http_error(resp.status_code, body, what)
        return body

    # reads --------------------------------------------------------------------------------
    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, auth: bool | None = None,
        ok_statuses: frozenset[int] = frozenset(),
    ) -> dict[str, Any]:
        """GET with retries. ``auth=None`` signs when a key is configured; ``auth=True`` requires
        one. Statuses in ``ok_statuses`` are returned like a 2xx (no retry)."""
        sign = self.authenticated if auth is None else auth
        what = f"GET {path}"
        attempts = max(1, self.retry.max_attempts)
        for attempt in range(attempts):
            self.limiter.acquire(Bucket.READ, self.costs.units("GET", path))
            err: KalshibotError
            try:
                resp = self._send("GET", path, params=params, body=None, auth=sign)
            except requests.Timeout as exc:
                err = ExchangeUnavailableError(f"{what}: timed out ({type(exc).__name__})")
            except requests.ConnectionError as exc:
                err = ExchangeUnavailableError(f"{what}: connection failed ({type(exc).__name__})")
            except requests.RequestException as exc:  # e.g. a body cut off mid-stream
                err = ExchangeUnavailableError(f"{what}: transport error ({type(exc).__name__})")
            else:
                if 200 <= resp.status_code < 300 or resp.status_code in ok_statuses:
                    return self._decode_ok(resp, what)
                err = map_http_error(resp.status_code, _body_or_none(resp), what)
            if not isinstance(err, RateLimitedError | ExchangeUnavailableError) \
                    or attempt == attempts - 1:
                raise err
            delay = self.retry.delay(attempt, self._rng)
            log.info("%s; retry %d/%d in %.2fs", err, attempt + 1, attempts - 1, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, auth: bool | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Pages of a cursor-paginated GET. Stops on an empty/absent cursor; a cursor seen before
        is a ``DataError`` (the server would loop)."""
        base = dict(params or {})
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            p = dict(base)
            if cursor:
                p["cursor"] = cursor
            page = self.get(path, p, auth=auth)
            yield page
            nxt = page.get("cursor")  # pagination metadata: absent means "last page"
            if nxt is None or nxt == "":
                return
            if not isinstance(nxt, str):
                raise DataError(f"GET {path}: cursor is not a string: {nxt!r}")
            if nxt in seen:
                raise DataError(f"GET {path}: the server repeated cursor {nxt[:24]}...; "
                                "refusing to loop")
            seen.add(nxt)
            cursor = nxt

    # writes -------------------------------------------------------------------------------
    def write(
        self, method: str, path: str, body: Any = None, *,
        params: Mapping[str, Any] | None = None,
        client_order_ids: Sequence[str] | None = None,
        items: int = 1,
    ) -> dict[str, Any]:
        """One signed write, never retried. With ``client_order_ids`` (creates), an unknown
        outcome raises ``OrderOutcomeUnknownError`` and 409 ``DuplicateClientOrderIdError``
        (a killed fill-or-kill: ``OrderKilledError``). ``items``: batch size (cost per item)."""
        what = f"{method} {path}"
        self.limiter.acquire(Bucket.WRITE, self.costs.units(method, path, items))
        try:
            resp = self._send(method, path, params=params, body=body, auth=True)
        except requests.Timeout as exc:
            raise self.unknown_outcome(what, f"timed out ({type(exc).__name__})",
                                client_order_ids) from exc
        except requests.ConnectionError as exc:
            raise self.unknown_outcome(what, f"connection failed ({type(exc).__name__})",
                                client_order_ids) from exc
        except requests.RequestException as exc:
            # Any other transport failure (ChunkedEncodingError / ContentDecodingError while
            # reading the answer, ...) may come after the exchange acted: unknown, not a crash.
            raise self.unknown_outcome(what, f"transport error ({type(exc).__name__})",
                                client_order_ids) from exc
        status = resp.status_code
        if 200 <= status < 300:
            try:
                return self._decode_ok(resp, what)
            except DataError as exc:
                # Accepted (2xx) but unreadable: whether/which order exists is unknown.
                raise self.unknown_outcome(what, f"unreadable {status} answer ({exc.message})",
                                    client_order_ids) from exc
        body_json = _body_or_none(resp)
        if status == 408 or status >= 500:
            raise self.unknown_outcome(what, f"HTTP {status}", client_order_ids)
        if status == 409 and client_order_ids \
                and error_code_and_message(body_json)[0] != FOK_KILLED:
            code, msg = error_code_and_message(body_json)
            ids = ",".join(client_order_ids)
            raise DuplicateClientOrderIdError(
                f"{what}: HTTP 409: client_order_id {ids} already exists"
                + (f" ({msg})" if msg else ""), client_order_id=ids, code=code)
        raise map_http_error(status, body_json, what)

    @staticmethod
    def unknown_outcome(
        what: str, reason: str, client_order_ids: Sequence[str] | None
    ) -> KalshibotError:
        msg = f"{what}: {reason}; the outcome is unknown"
        if client_order_ids:
            if len(client_order_ids) == 1:
                return OrderOutcomeUnknownError(
                    msg, client_order_id=client_order_ids[0],
                    hint="read the order by client_order_id before doing anything else")
            return BatchOutcomeUnknownError(msg, client_order_ids=client_order_ids)
        return ExchangeUnavailableError(msg, hint="read the order's state before retrying")


def _body_or_none(resp: requests.Response) -> Any:
    try:
        return decode_json(resp.text, "error body")
    except DataError:
        return None
