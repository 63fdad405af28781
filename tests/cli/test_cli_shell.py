"""CLI shell: help, config command, exit codes, no tracebacks for user mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshibot.cli.main import run

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_commands(capsys: pytest.CaptureFixture[str], clean_env: Path):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("trade", "train", "status", "config", "backtest"):
        assert cmd in out


@pytest.mark.parametrize("cmd", ["trade", "train", "status", "backtest", "config"])
def test_every_command_has_help(cmd: str, capsys: pytest.CaptureFixture[str], clean_env: Path):
    assert run([cmd, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_config_validate_on_example(capsys: pytest.CaptureFixture[str], clean_env: Path):
    assert run(["--config", str(REPO / "config.env.example"), "config", "--validate"]) == 0
    assert "valid" in capsys.readouterr().out


def test_example_documents_every_key():
    from kalshibot.config import FIELDS

    text = (REPO / "config.env.example").read_text()
    for name in FIELDS:
        assert f"KALSHIBOT_{name.upper()}=" in text


def test_config_validate_fails_with_exit_1(
    capsys: pytest.CaptureFixture[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KALSHIBOT_KELLY_FRACTION", "7")
    assert run(["config", "--validate", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"valid": false' in out and "KALSHIBOT_KELLY_FRACTION" in out


def test_config_show_masks_secrets(
    capsys: pytest.CaptureFixture[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KALSHIBOT_API_KEY_ID", "super-secret-key-id")
    assert run(["config", "--show", "--json"]) == 0
    out = capsys.readouterr().out
    assert "super-secret-key-id" not in out and "**********" in out


@pytest.mark.parametrize("cmd", [["backtest"], ["trade", "--exchange", "sim"]])
def test_missing_data_is_one_line_not_a_traceback(
    cmd: list[str], capsys: pytest.CaptureFixture[str], clean_env: Path
):
    code = run(cmd)
    err = capsys.readouterr().err
    assert code != 0
    assert "data sample" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_bad_config_is_one_line_exit_3(
    capsys: pytest.CaptureFixture[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
):
    from kalshibot.cli.context import settings

    monkeypatch.setenv("KALSHIBOT_MAX_DAILY_LOSS", "lots")
    import typer

    probe = typer.Typer()

    @probe.command()
    def _cmd() -> None:
        settings()

    from kalshibot.cli import main as main_mod

    monkeypatch.setattr(main_mod, "app", probe)
    assert run([]) == 3
    err = capsys.readouterr().err
    assert "KALSHIBOT_MAX_DAILY_LOSS" in err and "Traceback" not in err


def test_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str], clean_env: Path):
    assert run(["--no-such-flag"]) == 2


@pytest.mark.parametrize("args,message", [
    (["--cash", "nan"], "--cash: not a finite number"),
    (["--cash", "Infinity"], "--cash: not a finite number"),
    (["--min-edge", "NaN"], "--min-edge: not a finite number"),
    (["--unknown-size", "nan"], "--unknown-size: not a finite number"),
    (["--kelly", "-1"], "--kelly must be in (0, 1]"),
    (["--min-edge", "1.5"], "--min-edge must be in [0, 1)"),
])
def test_backtest_bad_numbers_are_one_line_user_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], clean_env: Path
):
    """NaN used to reach a Decimal comparison: "internal error", exit 70."""
    assert run(["backtest", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "internal error" not in err


def test_backtest_explicit_zero_min_edge_is_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean_env: Path
):
    """``--min-edge 0`` was replaced by the settings default (``0 or default``)."""
    from decimal import Decimal

    from kalshibot.backtest import BacktestConfig
    from kalshibot.errors import UserInputError

    seen: list[BacktestConfig] = []

    def capture(self: BacktestConfig) -> None:
        seen.append(self)
        raise UserInputError("captured")

    monkeypatch.setattr(BacktestConfig, "validate", capture)
    assert run(["backtest", "--min-edge", "0", "--kelly", "0.25"]) == 2
    assert seen[0].min_edge == Decimal(0) and seen[0].kelly_fraction == Decimal("0.25")
