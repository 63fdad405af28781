"""Exceptions, grouped by how the bot reacts to them.

- ``StopError``: the bot must stop (or refuse to start): bad configuration, bad credentials,
  a corrupt or incompatible store, a reconciliation mismatch. The user must act.
- ``RetryableError``: transient; a read may be retried later with backoff (rate limit,
  timeout, 5xx). Order writes are never retried blindly: see ``OrderOutcomeUnknownError``.
- ``SkipError``: this market / this item is skipped for the cycle (bad data, closed market,
  stale book); the bot carries on with the others.
- ``BugError``: an internal invariant was broken. Never expected; always reported.

Every error carries an ``exit_code`` used by the CLI (the one mapping lives in
``kalshibot.cli.main``) and a one-line ``str()`` meant for users.
"""

from __future__ import annotations


class KalshibotError(Exception):
    """Base of every error the project raises on purpose."""

    exit_code: int = 1
    reaction: str = "stop"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


# --- stop -------------------------------------------------------------------------------
class StopError(KalshibotError):
    """The bot cannot go on; a person must act."""

    reaction = "stop"


class ConfigError(StopError):
    """A setting is missing, malformed or incoherent."""

    exit_code = 3


class UserInputError(StopError):
    """A command-line argument or input file is wrong (not a bug, not the exchange)."""

    exit_code = 2


class StoreError(StopError):
    """The SQLite store cannot be opened, is corrupt, or is from a newer version."""

    exit_code = 3


class DatabaseBusyError(StopError):
    """Another process holds the database's writer lock (one writer per database)."""

    exit_code = 1


class LiveGateError(ConfigError):
    """Real orders were asked for, but a piece of the live checklist is missing (exit 3)."""


class AuthError(StopError):
    """Kalshi refused our credentials or signature (401/403)."""

    exit_code = 4


class ClockSkewError(AuthError):
    """The local clock and the exchange's differ too much for signed requests (or at all)."""


class FileSystemError(StopError):
    """A file or folder the bot needs cannot be read or written (disk full, read-only,
    permissions, I/O error): the machine, not the input, must be fixed."""

    exit_code = 3


class ReconciliationError(StopError):
    """Local orders/fills/positions disagree with the exchange; new entries stop."""

    exit_code = 5


class NotBuiltError(StopError):
    """A command exists in the CLI but its feature is not built yet."""

    exit_code = 1


# --- retry ------------------------------------------------------------------------------
class RetryableError(KalshibotError):
    """Transient failure; a read may be retried with backoff."""

    reaction = "retry"
    exit_code = 4


class RateLimitedError(RetryableError):
    """HTTP 429 or the local limiter refused."""


class ExchangeUnavailableError(RetryableError):
    """Timeout, connection failure, 5xx or exchange maintenance."""


class OrderOutcomeUnknownError(KalshibotError):
    """An order write may or may not have reached the exchange (timeout, 5xx, dropped link).

    The order is *in flight*: it must be resolved by reading orders and fills, never re-posted
    blindly. Carries the ``client_order_id`` that identifies it.
    """

    reaction = "reconcile"
    exit_code = 4

    def __init__(self, message: str, *, client_order_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.client_order_id = client_order_id


# --- skip -------------------------------------------------------------------------------
class SkipError(KalshibotError):
    """Skip this market or item for now; carry on with the rest."""

    reaction = "skip"
    exit_code = 1


class DataError(SkipError):
    """Malformed data: a missing or unparseable field in an exchange response or input file."""


class InvalidPriceError(DataError):
    """A price is not a valid exact decimal in range or not on the market's tick grid."""


class InvalidCountError(DataError):
    """A contract count is not a valid exact decimal with at most 2 places."""


class ExchangeRejectedError(SkipError):
    """The exchange rejected a request as invalid (400/404/409) for this item."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


#: Kalshi's error code for a killed fill-or-kill (409).
FOK_KILLED = "fill_or_kill_insufficient_resting_volume"


class OrderKilledError(ExchangeRejectedError):
    """A fill-or-kill order found too little resting volume and was killed (Kalshi: 409
    ``fill_or_kill_insufficient_resting_volume``): nothing filled, nothing rests. Not a
    duplicate ``client_order_id``."""


class WrongShardError(ExchangeRejectedError):
    """404 ``user_not_found`` on an order request: it reached an exchange shard that does not
    hold the account or order (``exchange_index``; route by market ticker)."""


# --- bug --------------------------------------------------------------------------------
class BugError(KalshibotError):
    """An internal invariant was broken. Please report it."""

    reaction = "bug"
    exit_code = 70
