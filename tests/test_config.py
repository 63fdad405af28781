"""Configuration: sources, unknown keys, every validation problem, secret masking."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kalshibot.config import Mode, inspect_settings, load_settings
from kalshibot.errors import ConfigError


def write_key(path: Path, key: object, mode: int = 0o600, password: bytes | None = None) -> Path:
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )
    )
    os.chmod(path, mode)
    return path


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def problems(env: dict[str, str], **kw) -> dict[str, str]:
    _, probs = inspect_settings(env=env, dotenv_file=None, **kw)
    return {p.key: p.message for p in probs}


def test_defaults_are_valid_and_safe():
    s, probs = inspect_settings(env={}, dotenv_file=None)
    assert probs == []
    assert s.mode is Mode.PAPER
    assert s.kelly_fraction == 0.1
    assert str(s.max_position_per_market) == "1000"
    assert s.database_path == Path("data/paper.sqlite")
    live = load_settings(env={"KALSHIBOT_MODE": "live"}, dotenv_file=None)
    assert live.database_path == Path("data/live.sqlite")


def test_settings_are_frozen():
    s = load_settings(env={}, dotenv_file=None)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError
        s.kelly_fraction = 0.5  # type: ignore[misc]


def test_precedence_env_over_file_over_dotenv(tmp_path: Path):
    dot = tmp_path / ".env"
    dot.write_text(
        "KALSHIBOT_MIN_EDGE=0.01\nKALSHIBOT_KELLY_FRACTION=0.2\nKALSHIBOT_STRATEGY=meanrev\n"
    )
    cfg = tmp_path / "kb.env"
    cfg.write_text("KALSHIBOT_KELLY_FRACTION=0.3\nKALSHIBOT_STRATEGY=crypto\n")
    s = load_settings(env={"KALSHIBOT_STRATEGY": "edge"}, config_file=cfg, dotenv_file=dot)
    assert (s.min_edge, s.kelly_fraction, s.strategy) == (0.01, 0.3, "edge")
    s2 = load_settings(env={}, config_file=cfg, dotenv_file=dot, overrides={"strategy": "x"})
    assert s2.strategy == "x"


def test_unknown_keys_are_reported_with_a_suggestion(tmp_path: Path):
    cfg = tmp_path / "kb.env"
    cfg.write_text("KALSHIBOT_MAX_DAILY_LOS=100\nSOMETHING=1\n")
    p = problems({"KALSHIBOT_KELY_FRACTION": "0.2"}, config_file=cfg)
    assert "KALSHIBOT_KELLY_FRACTION" in p["KALSHIBOT_KELY_FRACTION"]
    assert "KALSHIBOT_MAX_DAILY_LOSS" in p["KALSHIBOT_MAX_DAILY_LOS"]
    assert "unknown key" in p["SOMETHING"]


def test_missing_config_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError):
        load_settings(env={}, config_file=tmp_path / "nope.env", dotenv_file=None)


def test_bad_value_raises_config_error_on_load():
    with pytest.raises(ConfigError) as err:
        load_settings(env={"KALSHIBOT_MAX_DAILY_LOSS": "lots"}, dotenv_file=None)
    assert "KALSHIBOT_MAX_DAILY_LOSS" in str(err.value)


def test_live_needs_key_id_and_key_file():
    p = problems({"KALSHIBOT_MODE": "live"})
    assert "API key id" in p["KALSHIBOT_API_KEY_ID"]
    assert "private key" in p["KALSHIBOT_PRIVATE_KEY_PATH"]


def test_prod_live_needs_explicit_confirmation():
    env = {"KALSHIBOT_MODE": "live", "KALSHIBOT_ENVIRONMENT": "prod"}
    assert "CONFIRM_PROD_LIVE" in problems(env)["KALSHIBOT_CONFIRM_PROD_LIVE"]
    env["KALSHIBOT_CONFIRM_PROD_LIVE"] = "true"
    assert "KALSHIBOT_CONFIRM_PROD_LIVE" not in problems(env)


def test_key_file_problems(tmp_path: Path, rsa_key):
    base = {"KALSHIBOT_MODE": "live", "KALSHIBOT_API_KEY_ID": "abc"}
    good = write_key(tmp_path / "good.pem", rsa_key)
    assert problems({**base, "KALSHIBOT_PRIVATE_KEY_PATH": str(good)}) == {}

    wide = write_key(tmp_path / "wide.pem", rsa_key, mode=0o644)
    msg = problems({**base, "KALSHIBOT_PRIVATE_KEY_PATH": str(wide)})["KALSHIBOT_PRIVATE_KEY_PATH"]
    assert "0644" in msg and "wider than 0600" in msg

    missing = problems({**base, "KALSHIBOT_PRIVATE_KEY_PATH": str(tmp_path / "none.pem")})
    assert "does not exist" in missing["KALSHIBOT_PRIVATE_KEY_PATH"]

    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    os.chmod(junk, 0o600)
    assert (
        "not a PEM"
        in problems({**base, "KALSHIBOT_PRIVATE_KEY_PATH": str(junk)})["KALSHIBOT_PRIVATE_KEY_PATH"]
    )

    ecfile = write_key(tmp_path / "ec.pem", ec.generate_private_key(ec.SECP256R1()))
    assert (
        "RSA or Ed25519"
        in problems({**base, "KALSHIBOT_PRIVATE_KEY_PATH": str(ecfile)})[
            "KALSHIBOT_PRIVATE_KEY_PATH"
        ]
    )

    ed = write_key(tmp_path / "ed.pem", ed25519.Ed25519PrivateKey.generate())
    assert problems({**base, "KALSHIBOT_PRIVATE_KEY_PATH": str(ed)}) == {}


def test_encrypted_key_password(tmp_path: Path, rsa_key):
    base = {"KALSHIBOT_MODE": "live", "KALSHIBOT_API_KEY_ID": "abc"}
    enc = write_key(tmp_path / "enc.pem", rsa_key, password=b"s3cret")
    env = {**base, "KALSHIBOT_PRIVATE_KEY_PATH": str(enc)}
    assert "PRIVATE_KEY_PASSWORD" in problems(env)["KALSHIBOT_PRIVATE_KEY_PATH"]
    assert (
        "wrong password"
        in problems({**env, "KALSHIBOT_PRIVATE_KEY_PASSWORD": "nope"})["KALSHIBOT_PRIVATE_KEY_PATH"]
    )
    assert problems({**env, "KALSHIBOT_PRIVATE_KEY_PASSWORD": "s3cret"}) == {}


@pytest.mark.parametrize(
    ("env", "key", "needle"),
    [
        ({"KALSHIBOT_KELLY_FRACTION": "0"}, "KALSHIBOT_KELLY_FRACTION", "(0, 1]"),
        ({"KALSHIBOT_KELLY_FRACTION": "1.5"}, "KALSHIBOT_KELLY_FRACTION", "(0, 1]"),
        ({"KALSHIBOT_MAX_DAILY_LOSS": "20000"}, "KALSHIBOT_MAX_DAILY_LOSS", "capital cap"),
        (
            {"KALSHIBOT_MAX_POSITION_PER_MARKET": "6000"},
            "KALSHIBOT_MAX_POSITION_PER_MARKET",
            "portfolio exposure cap",
        ),
        (
            {"KALSHIBOT_MAX_EXPOSURE_PER_EVENT": "9000"},
            "KALSHIBOT_MAX_EXPOSURE_PER_EVENT",
            "portfolio exposure cap",
        ),
        (
            {"KALSHIBOT_MAX_PORTFOLIO_EXPOSURE": "20000"},
            "KALSHIBOT_MAX_PORTFOLIO_EXPOSURE",
            "capital cap",
        ),
        (
            {"KALSHIBOT_CIRCUIT_BREAKER_DRAWDOWN": "1.2"},
            "KALSHIBOT_CIRCUIT_BREAKER_DRAWDOWN",
            "(0, 1)",
        ),
        (
            {"KALSHIBOT_MAX_CONCURRENT_POSITIONS": "0"},
            "KALSHIBOT_MAX_CONCURRENT_POSITIONS",
            "at least 1",
        ),
        ({"KALSHIBOT_MIN_EDGE": "-0.1"}, "KALSHIBOT_MIN_EDGE", "[0, 1)"),
        ({"KALSHIBOT_MODE": "yolo"}, "KALSHIBOT_MODE", "paper"),
        ({"KALSHIBOT_TRADING_INTERVAL_S": "0"}, "KALSHIBOT_TRADING_INTERVAL_S", "positive"),
    ],
)
def test_each_incoherent_setting_has_its_own_message(env, key, needle):
    p = problems(env)
    assert key in p, p
    assert needle in p[key]


def test_all_problems_reported_at_once():
    p = problems(
        {
            "KALSHIBOT_KELLY_FRACTION": "3",
            "KALSHIBOT_MAX_DAILY_LOSS": "50000",
            "KALSHIBOT_TYPO": "1",
            "KALSHIBOT_MODE": "live",
        }
    )
    assert {
        "KALSHIBOT_KELLY_FRACTION",
        "KALSHIBOT_MAX_DAILY_LOSS",
        "KALSHIBOT_TYPO",
        "KALSHIBOT_API_KEY_ID",
        "KALSHIBOT_PRIVATE_KEY_PATH",
    } <= set(p)


def test_secrets_are_masked_in_show_repr_and_logs(caplog: pytest.LogCaptureFixture):
    env = {
        "KALSHIBOT_API_KEY_ID": "key-id-very-secret",
        "KALSHIBOT_PRIVATE_KEY_PASSWORD": "pw-42",
        "KALSHIBOT_ALERT_WEBHOOK_URL": "https://hooks.example/T000/secret-token",
    }
    s = load_settings(env=env, dotenv_file=None)
    shown = " ".join(s.masked().values())
    with caplog.at_level(logging.INFO):
        logging.getLogger("kalshibot.test").info("settings: %s / %r", s, s)
    for secret in ("key-id-very-secret", "pw-42", "secret-token"):
        assert secret not in shown
        assert secret not in repr(s) and secret not in str(s)
        assert secret not in caplog.text
    assert s.api_key_id is not None and s.api_key_id.get_secret_value() == "key-id-very-secret"
    # a bad secret value is not echoed in validation problems either
    p = problems(
        {
            "KALSHIBOT_ALERT_WEBHOOK_URL": "",
            "KALSHIBOT_PRIVATE_KEY_PASSWORD": "pw-42",
            "KALSHIBOT_KELLY_FRACTION": "zz",
        }
    )
    assert "pw-42" not in " ".join(p.values())
