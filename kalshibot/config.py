"""Settings: environment, ``.env`` and an optional config file, merged; frozen; secrets masked.

Precedence (highest first): explicit overrides (CLI flags) > process environment >
``--config FILE`` (or ``KALSHIBOT_CONFIG``) > ``.env`` in the working directory > defaults.
Every key is ``KALSHIBOT_<NAME>`` in the environment and in files (``config.env.example`` lists
them all with their defaults). Money limits are exact ``Decimal`` dollars; ratios are floats.

``load_settings`` raises ``ConfigError`` on the first unusable value; ``inspect_settings`` returns
every problem at once (for ``kalshibot config --validate``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kalshibot.errors import ConfigError

ENV_PREFIX = "KALSHIBOT_"
CONFIG_FILE_VAR = ENV_PREFIX + "CONFIG"


class Environment(StrEnum):
    DEMO = "demo"
    PROD = "prod"


class Mode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class Settings(BaseSettings):
    """All settings. Build with ``load_settings``; instances are immutable."""

    # NaN and infinity are refused for every number (a NaN limit compares false with everything).
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False
    )

    # exchange and credentials
    environment: Environment = Environment.DEMO
    mode: Mode = Mode.PAPER
    confirm_prod_live: bool = False
    api_key_id: SecretStr | None = None
    private_key_path: Path | None = None
    private_key_password: SecretStr | None = None
    http_connect_timeout_s: float = 3.05
    http_read_timeout_s: float = 10.0
    read_rate_per_s: float = 20.0
    write_rate_per_s: float = 10.0
    # REST base URL override (e.g. a local fake exchange in tests); default: the environment's.
    api_base_url: str | None = None
    websocket: bool = True  # stream books/fills over the WebSocket (false: REST polling only)
    max_clock_skew_s: float = 30.0  # refuse to trade live when exchange time differs more

    # files
    data_dir: Path = Path("data")
    db_path: Path | None = None  # default: data/paper.sqlite or data/live.sqlite by mode
    model_dir: Path = Path("models")
    log_dir: Path = Path("logs")
    kill_switch_path: Path | None = None  # default: <data_dir>/KILL

    # trading loop
    trading_interval_s: float = 5.0
    strategy: str = "edge"
    min_edge: float = 0.02  # dollars per contract after fees (probability units)
    kelly_fraction: float = 0.1
    retrain_interval_hours: float = 24.0
    cancel_on_exit: bool = True
    paper_starting_balance: Decimal = Decimal("10000")

    # issue 15/20: fees as charged; Kalshi API 3.34 order options
    direct_member: bool = False  # Kalshi direct member: fees cost $0.0001-rounded, not cents/order
    # Series (comma-separated fnmatch patterns) whose resting orders Kalshi cancels when trading
    # pauses (``cancel_order_on_pause``); "" = none.
    cancel_on_pause_series: str = "*15M"

    # risk limits (dollars unless stated)
    capital_cap: Decimal = Decimal("10000")  # most capital the bot may commit in total
    max_position_per_market: Decimal = Decimal("1000")
    max_portfolio_exposure: Decimal = Decimal("5000")
    max_exposure_per_event: Decimal = Decimal("2000")
    max_exposure_per_series: Decimal = Decimal("3000")
    max_daily_loss: Decimal = Decimal("500")
    circuit_breaker_drawdown: float = 0.20  # fraction below the day's peak equity
    max_concurrent_positions: int = 5
    max_spread: Decimal = Decimal("0.10")
    min_top_size: Decimal = Decimal("1")  # contracts at the touch
    min_seconds_to_close: float = 60.0

    # monitoring
    alert_webhook_url: SecretStr | None = None
    heartbeat_stale_s: float = 120.0
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    alert_on_fills: bool = False
    alert_min_interval_s: float = 900.0  # seconds between two alerts with the same key
    alert_timeout_s: float = 5.0  # seconds per alert delivery request
    alert_api_error_cycles: int = 3  # consecutive cycles with errors before an alert
    status_error_window_s: float = 900.0  # `status` looks this many seconds back for errors
    status_error_threshold: int = 3  # errors within the window that make `status` degraded
    log_max_bytes: int = 10_000_000  # rotate the JSON-lines log at this size, bytes
    log_backup_count: int = 5  # rotated log files kept

    # --- issue 15: the money path (passive edge, trading day) -------------------------------
    # A resting bid tends to fill when the price moves against it: its edge is charged this
    # many half-spreads of the book (1.0 = the half-spread; 0 = none) on top of fees.
    adverse_selection: float = 1.0
    # When the daily loss limit and the circuit breaker's peak start over: "HH:MM [IANA zone]".
    day_boundary: str = "00:00 UTC"

    # issue 17: the 15-minute crypto pricer (kalshibot.feeds.reference, features.volatility)
    crypto_use_index: bool = True  # price on the CF Benchmarks index (needs API keys for WS)
    crypto_index_5hz: bool = False  # also stream cfbenchmarks_value_5hz (BTC/ETH/SOL/XRP/DOGE)
    crypto_index_stale_s: float = 5.0  # an index tick older than this: fall back to spot
    crypto_spot_stale_s: float = 5.0  # exchange spot older than this: no price at all
    crypto_basis_halflife_s: float = 900.0  # online log(index/spot) estimate half-life
    crypto_basis_sd_floor_bps: float = 1.0  # least basis uncertainty on fallback, bps
    crypto_basis_unknown_sd_bps: float = 10.0  # basis uncertainty with no recent index
    crypto_vol_model: str = "robust"  # ewma | robust (README: the 15-minute crypto pricer)
    crypto_vol_halflife_s: float = 1800.0

    # --- issue 18: sweeps on a Dask cluster ---
    # Scheduler address for `--backend dask` (backtest sweeps/search/walk-forward retraining,
    # `train`; "" = start a local cluster).
    dask_scheduler: str = ""

    # --- issue 19: a paper/live session that cannot reach the exchange stops ---
    # Consecutive trading cycles that fail without any market data (network down, bad URL,
    # refused keys) before `trade` stops with exit 4; 0 = never stop for that.
    max_failed_cycles: int = 12

    # --- issue 21: spot history for `data sync --spot` ---
    # Base URLs of the public exchange APIs (unset = Coinbase Exchange / Kraken production).
    coinbase_base_url: str | None = None
    kraken_base_url: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Sources are merged by ``load_settings`` so unknown keys can be reported.
        return (init_settings,)

    # derived ------------------------------------------------------------------------------
    @property
    def database_path(self) -> Path:
        """Paper and live never share a database file."""
        if self.db_path is not None:
            return self.db_path
        return self.data_dir / f"{self.mode.value}.sqlite"

    @property
    def kill_switch_file(self) -> Path:
        return self.kill_switch_path or (self.data_dir / "KILL")

    @property
    def is_live(self) -> bool:
        return self.mode is Mode.LIVE

    def masked(self) -> dict[str, str]:
        """Every setting as display text; secrets shown as ``**********`` (or unset)."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = "**********"
            elif value is None:
                out[name] = "(unset)"
            else:
                out[name] = str(value.value if isinstance(value, StrEnum) else value)
        out["database_path (derived)"] = str(self.database_path)
        out["kill_switch_file (derived)"] = str(self.kill_switch_file)
        return out

    def __repr_args__(self) -> Any:  # keep secrets out of repr()/logs
        for k, v in super().__repr_args__():
            yield k, ("**********" if isinstance(v, SecretStr) else v)


FIELDS = tuple(Settings.model_fields)
SECRET_FIELDS = (
    "api_key_id", "private_key_password", "alert_webhook_url", "telegram_bot_token",
)


#: Problem scopes: which commands a problem concerns. ``general`` problems stop every command;
#: ``exchange`` ones the commands that talk to Kalshi (trade on paper or live, data sync and
#: record, status --live: the base URL, the key file); ``live`` ones only what sends real orders.
SCOPES = ("general", "exchange", "live")


@dataclass(frozen=True)
class Problem:
    """One configuration problem: which key, what is wrong, which commands it concerns and
    whether it blocks them (``error``) or is only reported (``warning``)."""

    key: str
    message: str
    scope: str = "general"
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class RawConfig:
    """Merged key/value pairs and where they came from, before validation."""

    values: dict[str, str]
    sources: dict[str, str]
    unknown: list[Problem]


def _strip(key: str) -> str | None:
    k = key.strip().upper()
    return k[len(ENV_PREFIX) :].lower() if k.startswith(ENV_PREFIX) else None


def gather(
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    dotenv_file: Path | None = Path(".env"),
    overrides: Mapping[str, Any] | None = None,
) -> RawConfig:
    """Merge the sources (see module docstring) into raw strings; note unknown keys."""
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    unknown: list[Problem] = []
    if config_file is None and env.get(CONFIG_FILE_VAR):
        config_file = Path(env[CONFIG_FILE_VAR])
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if dotenv_file is not None and dotenv_file.is_file():
        layers.append((str(dotenv_file), _read_env_file(dotenv_file)))
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
        layers.append((str(config_file), _read_env_file(config_file)))
    layers.append(("environment", {k: v for k, v in env.items() if k.upper() != CONFIG_FILE_VAR}))
    for origin, layer in layers:
        for key, val in layer.items():
            name = _strip(key)
            if name is None:
                if origin != "environment":
                    unknown.append(
                        Problem(key, f"unknown key in {origin} (keys start with {ENV_PREFIX})")
                    )
                continue
            if name not in FIELDS:
                unknown.append(Problem(key, f"unknown key in {origin}{_suggest(name)}"))
                continue
            if val is None or val == "":
                continue
            values[name] = val
            sources[name] = origin
    for name, val in (overrides or {}).items():
        if val is not None:
            values[name] = val
            sources[name] = "command line"
    return RawConfig(values, sources, unknown)


def _read_env_file(path: Path) -> dict[str, str | None]:
    """``KEY=VALUE`` lines of a dotenv/config file; ``ConfigError`` (exit 3) when the file is
    not UTF-8 text (a binary file, another encoding) or cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}): expected KEY=VALUE lines",
            hint="see config.env.example",
        ) from exc
    if "\x00" in text:
        raise ConfigError(f"{path} contains NUL bytes: expected KEY=VALUE lines",
                          hint="see config.env.example")
    import io

    return dict(dotenv_values(stream=io.StringIO(text)))


def _suggest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, FIELDS, n=1)
    return f": did you mean {ENV_PREFIX}{close[0].upper()}?" if close else ""


def _build(values: Mapping[str, Any]) -> tuple[Settings, list[Problem]]:
    """Validate; bad values become problems and fall back to defaults so checks can go on."""
    problems: list[Problem] = []
    vals = dict(values)
    for _ in range(len(FIELDS) + 1):
        try:
            return Settings(**vals), problems
        except ValidationError as exc:
            bad: set[str] = set()
            for err in exc.errors():
                key = str(err["loc"][0]) if err["loc"] else "?"
                bad.add(key)
                shown = "**********" if key in SECRET_FIELDS else repr(vals.get(key))
                problems.append(Problem(_env_name(key), f"{err['msg']} (got {shown})"))
            for key in bad:
                vals.pop(key, None)
    raise ConfigError("settings could not be validated")  # pragma: no cover


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load_settings(
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    dotenv_file: Path | None = Path(".env"),
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings or raise ``ConfigError`` naming the first bad values."""
    raw = gather(env=env, config_file=config_file, dotenv_file=dotenv_file, overrides=overrides)
    settings, problems = _build(raw.values)
    if problems:
        shown = "; ".join(f"{p.key}: {p.message}" for p in problems[:3])
        raise ConfigError(
            f"invalid configuration: {shown}",
            hint="run `kalshibot config --validate` for the full list",
        )
    return settings


def inspect_settings(
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    dotenv_file: Path | None = Path(".env"),
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Settings, list[Problem]]:
    """Every problem at once: unknown keys, bad values, credentials, incoherent limits."""
    raw = gather(env=env, config_file=config_file, dotenv_file=dotenv_file, overrides=overrides)
    settings, problems = _build(raw.values)
    return settings, raw.unknown + problems + check_settings(settings)


def blocking(problems: Sequence[Problem], uses: Iterable[str] = ()) -> list[Problem]:
    """The errors among ``problems`` that stop a command using the ``general`` settings plus
    the scopes in ``uses`` (see ``SCOPES``). Warnings never block."""
    scopes = {"general", *uses}
    return [p for p in problems if p.is_error and p.scope in scopes]


def validated_settings(
    *,
    uses: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    dotenv_file: Path | None = Path(".env"),
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Settings, list[Problem]]:
    """The start-up check of every command: the same checks as ``config --validate``
    (``inspect_settings``). Raises ``ConfigError`` (exit 3) listing every blocking problem at
    once; returns the settings and the warnings (and errors of scopes not used) to show."""
    s, problems = inspect_settings(
        env=env, config_file=config_file, dotenv_file=dotenv_file, overrides=overrides
    )
    stop = blocking(problems, uses)
    if stop:
        shown = "; ".join(f"{p.key}: {p.message}" for p in stop)
        raise ConfigError(
            f"invalid configuration ({len(stop)} problem{'s' if len(stop) > 1 else ''}): "
            f"{shown}",
            hint="fix them, then run `kalshibot config --validate`",
        )
    return s, [p for p in problems if p not in stop]


def check_settings(s: Settings) -> list[Problem]:
    """Semantic checks on a validated ``Settings``."""
    p: list[Problem] = []

    def add(field: str, message: str, scope: str = "general", severity: str = "error") -> None:
        p.append(Problem(_env_name(field), message, scope, severity))

    if not (0 < s.kelly_fraction <= 1):
        add("kelly_fraction", f"must be in (0, 1], got {s.kelly_fraction}")
    elif s.kelly_fraction > 0.5:
        add("kelly_fraction", f"{s.kelly_fraction} is more than half Kelly: large swings",
            severity="warning")
    if s.retrain_interval_hours <= 0:
        add("retrain_interval_hours", f"must be positive, got {s.retrain_interval_hours}")
    if s.min_top_size < 0:
        add("min_top_size", f"must be >= 0 contracts, got {s.min_top_size}")
    if s.min_seconds_to_close < 0:
        add("min_seconds_to_close", f"must be >= 0 seconds, got {s.min_seconds_to_close}")
    if not (0 < s.circuit_breaker_drawdown < 1):
        add("circuit_breaker_drawdown", f"must be in (0, 1), got {s.circuit_breaker_drawdown}")
    if s.min_edge < 0 or s.min_edge >= 1:
        add("min_edge", f"must be in [0, 1) dollars per contract, got {s.min_edge}")
    for name in (
        "capital_cap",
        "max_position_per_market",
        "max_portfolio_exposure",
        "max_exposure_per_event",
        "max_exposure_per_series",
        "max_daily_loss",
        "paper_starting_balance",
    ):
        if getattr(s, name) <= 0:
            add(name, f"must be positive, got {getattr(s, name)}")
    if s.max_daily_loss > s.capital_cap:
        add(
            "max_daily_loss",
            f"daily loss limit {s.max_daily_loss} exceeds the capital cap {s.capital_cap}",
        )
    if s.max_position_per_market > s.max_portfolio_exposure:
        add(
            "max_position_per_market",
            f"per-market cap {s.max_position_per_market} exceeds the "
            f"portfolio exposure cap {s.max_portfolio_exposure}",
        )
    if s.max_portfolio_exposure > s.capital_cap:
        add(
            "max_portfolio_exposure",
            f"portfolio exposure cap {s.max_portfolio_exposure} exceeds "
            f"the capital cap {s.capital_cap}",
        )
    for name in ("max_exposure_per_event", "max_exposure_per_series"):
        if getattr(s, name) > s.max_portfolio_exposure:
            add(
                name,
                f"{getattr(s, name)} exceeds the portfolio exposure cap {s.max_portfolio_exposure}",
            )
    for name in ("alert_min_interval_s", "status_error_window_s"):
        if getattr(s, name) < 0:
            add(name, f"must be >= 0 seconds, got {getattr(s, name)}")
    for name in ("alert_timeout_s", "heartbeat_stale_s"):
        if getattr(s, name) <= 0:
            add(name, f"must be positive seconds, got {getattr(s, name)}")
    for name in ("alert_api_error_cycles", "status_error_threshold", "log_max_bytes"):
        if getattr(s, name) < 1:
            add(name, f"must be at least 1, got {getattr(s, name)}")
    if s.log_backup_count < 0:
        add("log_backup_count", f"must be >= 0, got {s.log_backup_count}")
    if s.max_failed_cycles < 0:
        add("max_failed_cycles", f"must be >= 0, got {s.max_failed_cycles}")
    if (s.telegram_bot_token is None) != (s.telegram_chat_id is None):
        add("telegram_chat_id", "Telegram alerts need both KALSHIBOT_TELEGRAM_BOT_TOKEN and "
            "KALSHIBOT_TELEGRAM_CHAT_ID")
    if s.max_concurrent_positions < 1:
        add("max_concurrent_positions", f"must be at least 1, got {s.max_concurrent_positions}")
    if not (0 < s.max_spread <= 1):
        add("max_spread", f"must be in (0, 1] dollars, got {s.max_spread}")
    if s.trading_interval_s <= 0:
        add("trading_interval_s", f"must be positive, got {s.trading_interval_s}")
    for name in (
        "read_rate_per_s",
        "write_rate_per_s",
        "http_connect_timeout_s",
        "http_read_timeout_s",
        "max_clock_skew_s",
    ):
        if getattr(s, name) <= 0:
            add(name, f"must be positive, got {getattr(s, name)}")
    if s.is_live:
        if s.api_key_id is None:
            add("api_key_id", "live mode needs an API key id", "live")
        if s.private_key_path is None:
            add("private_key_path", "live mode needs the path of your private key file", "live")
        if s.environment is Environment.PROD and not s.confirm_prod_live:
            add(
                "confirm_prod_live",
                "prod + live trades real money: set KALSHIBOT_CONFIRM_PROD_LIVE=true to confirm",
                "live",
            )
    if s.api_base_url is not None and not s.api_base_url.startswith(("https://", "http://")):
        add("api_base_url", f"must be an http(s) URL, got {s.api_base_url!r}", "exchange")
    if s.private_key_path is not None:
        for msg in check_key_file(s.private_key_path, s.private_key_password):
            add("private_key_path", msg, "exchange")
    if (
        s.db_path is not None
        and s.db_path == s.data_dir / f"{Mode.PAPER.value}.sqlite"
        and s.is_live
    ):
        add("db_path", "live mode must not use the paper database", "live")
    p += _check_money_path(s)
    p += _check_crypto(s)
    return p


def _check_money_path(s: Settings) -> list[Problem]:
    """Issue 15: range checks of the money-path settings (NaN and infinity refused)."""
    import math

    from kalshibot.domain.day import DayBoundary

    p: list[Problem] = []
    if not (math.isfinite(s.adverse_selection) and 0 <= s.adverse_selection <= 10):
        p.append(Problem(_env_name("adverse_selection"),
                         f"must be in [0, 10] half-spreads, got {s.adverse_selection}"))
    try:
        DayBoundary.parse(s.day_boundary)
    except ValueError as exc:
        p.append(Problem(_env_name("day_boundary"), str(exc)))
    return p


#: The volatility forecasts of ``kalshibot.features.volatility`` (kept here so that checking
#: the settings does not import numpy/scipy: ``status`` from cron starts fast).
VOL_MODELS = ("ewma", "robust")


def _check_crypto(s: Settings) -> list[Problem]:
    """issue 17: ranges of the crypto pricer settings."""
    p: list[Problem] = []

    def add(field: str, message: str) -> None:
        p.append(Problem(_env_name(field), message))

    for name in ("crypto_index_stale_s", "crypto_spot_stale_s"):
        v = getattr(s, name)
        if not 0 < v <= 300:
            add(name, f"must be in (0, 300] seconds, got {v}")
    for name in ("crypto_basis_halflife_s", "crypto_vol_halflife_s"):
        v = getattr(s, name)
        if not 0 < v <= 7 * 86_400:
            add(name, f"must be in (0, 604800] seconds, got {v}")
    if not 0 <= s.crypto_basis_sd_floor_bps <= 1000:
        add("crypto_basis_sd_floor_bps", f"must be in [0, 1000] bps, got "
            f"{s.crypto_basis_sd_floor_bps}")
    if not s.crypto_basis_sd_floor_bps <= s.crypto_basis_unknown_sd_bps <= 1000:
        add("crypto_basis_unknown_sd_bps", "must be >= KALSHIBOT_CRYPTO_BASIS_SD_FLOOR_BPS and "
            f"<= 1000 bps, got {s.crypto_basis_unknown_sd_bps}")
    if s.crypto_vol_model not in VOL_MODELS:
        add("crypto_vol_model",
            f"must be one of {', '.join(VOL_MODELS)}, got {s.crypto_vol_model!r}")
    return p


def check_key_file(path: Path, password: SecretStr | None = None) -> list[str]:
    """Problems with a private key file: missing, unreadable, not RSA/Ed25519 PEM, too open."""
    if not path.exists():
        return [f"key file {path} does not exist"]
    if not path.is_file():
        return [f"key file {path} is not a file"]
    problems: list[str] = []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        problems.append(
            f"key file {path} has permissions {mode:04o}, wider than 0600 (run: chmod 600 {path})"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        return problems + [f"key file {path} is not readable: {exc.strerror}"]
    try:
        load_private_key(data, password)
    except ConfigError as exc:
        problems.append(f"key file {path}: {exc.message}")
    return problems


def load_private_key(data: bytes, password: SecretStr | None = None) -> Any:
    """Parse a PEM RSA or Ed25519 private key; ``ConfigError`` with a clear reason otherwise."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if b"-----BEGIN" not in data:
        raise ConfigError("not a PEM file (expected '-----BEGIN ... PRIVATE KEY-----')")
    pw = password.get_secret_value().encode() if password is not None else None
    try:
        key = load_pem_private_key(data, password=pw)
    except TypeError as exc:
        if pw is None:
            raise ConfigError("the key is encrypted: set KALSHIBOT_PRIVATE_KEY_PASSWORD") from exc
        raise ConfigError("the key is not encrypted but a password was given") from exc
    except ValueError as exc:
        if pw is not None:
            raise ConfigError("cannot decrypt the key: wrong password or corrupt file") from exc
        raise ConfigError("not a readable PEM private key") from exc
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm etc.
        raise ConfigError(f"not a usable private key ({type(exc).__name__})") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigError(f"unsupported key type {type(key).__name__}: use RSA or Ed25519")
    return key
