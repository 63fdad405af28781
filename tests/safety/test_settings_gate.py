"""Invalid settings are refused by every command at start-up (issue 14): exit 3, every
problem listed at once, nothing done. On f6e3055 `trade --exchange sim` and `backtest` ran with
a Kelly fraction of 1.5 and a negative min edge, and NaN passed `config --validate`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.config import inspect_settings, validated_settings
from kalshibot.errors import ConfigError


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for k in list(os.environ):
        if k.upper().startswith("KALSHIBOT_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_env(folder: Path, **values: str) -> None:
    (folder / ".env").write_text("".join(f"KALSHIBOT_{k.upper()}={v}\n"
                                         for k, v in values.items()))


COMMANDS = [
    ["trade", "--exchange", "sim", "--series", "KXBTC15M", "--max-cycles", "1"],
    ["trade", "--series", "KXBTC15M", "--max-cycles", "1"],
    ["backtest", "--strategy", "meanrev"],
    ["train"],
    ["data", "sample", "--days", "0.1"],
    ["data", "import", "nothing.csv"],
    ["data", "sync", "--series", "KXBTC15M"],
    ["markets"],
    ["history"],
    ["risk", "reset", "--yes"],
    ["orders", "cancel-all", "--yes"],
    ["positions", "close-all", "--yes"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_invalid_settings_stop_every_command_before_it_does_anything(
    folder: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _write_env(folder, kelly_fraction="1.5", min_edge="-0.1")
    (folder / "nothing.csv").write_text("ts,ticker\n")
    assert run(argv) == 3
    err = capsys.readouterr().err
    assert "KALSHIBOT_KELLY_FRACTION" in err and "KALSHIBOT_MIN_EDGE" in err  # all at once
    assert "Traceback" not in err
    assert not (folder / "data").exists(), "nothing may be created before the check"
    assert not (folder / "models").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [("circuit_breaker_drawdown", "nan"), ("min_edge", "NaN"), ("trading_interval_s", "inf"),
     ("trading_interval_s", "0"), ("trading_interval_s", "-5"), ("kelly_fraction", "5"),
     ("circuit_breaker_drawdown", "1.5"), ("max_position_per_market", "-10"),
     ("capital_cap", "Infinity"), ("max_daily_loss", "nan"), ("retrain_interval_hours", "0")],
)
def test_every_setting_is_range_checked(folder: Path, key: str, value: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _write_env(folder, **{key: value})
    assert run(["config", "--validate", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert f"KALSHIBOT_{key.upper()}" in {p["key"] for p in doc["problems"]}
    assert run(["trade", "--exchange", "sim", "--max-cycles", "1"]) == 3


def test_validate_and_the_startup_check_report_the_same_errors(folder: Path) -> None:
    env = {"KALSHIBOT_KELLY_FRACTION": "0", "KALSHIBOT_MIN_EDGE": "nan",
           "KALSHIBOT_MAX_SPREAD": "2", "KALSHIBOT_NOPE": "1",
           "KALSHIBOT_MAX_DAILY_LOSS": "20000"}
    _, problems = inspect_settings(env=env, dotenv_file=None)
    errors = [p for p in problems if p.is_error and p.scope == "general"]
    assert len(errors) >= 5
    with pytest.raises(ConfigError) as exc:
        validated_settings(env=env, dotenv_file=None)
    for p in errors:
        assert f"{p.key}: {p.message}" in exc.value.message


def test_warnings_do_not_block(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_env(folder, kelly_fraction="0.8")
    s, shown = validated_settings(dotenv_file=folder / ".env")
    assert s.kelly_fraction == 0.8
    assert [p.severity for p in shown] == ["warning"]


def test_live_only_problems_do_not_stop_a_backtest(folder: Path) -> None:
    """A live configuration without keys blocks real orders, not research."""
    env = {"KALSHIBOT_MODE": "live"}
    validated_settings(env=env, dotenv_file=None)  # no raise
    with pytest.raises(ConfigError, match="KALSHIBOT_API_KEY_ID"):
        validated_settings(env=env, dotenv_file=None, uses=("live",))


@pytest.mark.parametrize("content", [b"\x00\x01\xff\xfe binary", "KALSHIBOT_MODE=p\xe4per\n"
                                     .encode("latin-1")])
def test_unreadable_config_files_are_one_line_exit_3(folder: Path, content: bytes,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "bad.env").write_bytes(content)
    assert run(["--config", str(folder / "bad.env"), "status"]) == 3
    (folder / ".env").write_bytes(content)
    assert run(["markets"]) == 3
    err = capsys.readouterr().err
    assert "not UTF-8" in err or "NUL" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("flag", ["--interval", "--duration"])
@pytest.mark.parametrize("value", ["nan", "inf", "0", "-5"])
def test_trade_numbers_must_be_finite_and_positive(folder: Path, flag: str, value: str) -> None:
    assert run(["trade", "--exchange", "sim", flag, value]) == 2


def test_key_problems_stop_only_commands_that_reach_the_exchange(tmp_path: Path) -> None:
    """A missing key file blocks what talks to Kalshi (exit 3 before any request), not the
    offline commands (README: "Key and URL problems stop only the commands that reach the
    exchange")."""
    env = {"KALSHIBOT_PRIVATE_KEY_PATH": str(tmp_path / "missing.pem"),
           "KALSHIBOT_API_KEY_ID": "key-id"}
    validated_settings(env=env, dotenv_file=None)  # offline: no raise
    with pytest.raises(ConfigError, match="missing.pem"):
        validated_settings(env=env, dotenv_file=None, uses=("exchange",))
