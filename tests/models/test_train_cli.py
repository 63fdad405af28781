"""`kalshibot train` on a small generated sample store; user mistakes are one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.models import load_current_model
from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store import open_store


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("store") / "paper.sqlite"
    conn = open_store(db)
    try:
        generate_sample(conn, SampleConfig(days=1.0, seed=3, series=("KXBTC15M", "KXHIGHNY"),
                                           end=datetime(2026, 10, 1, tzinfo=UTC)))
    finally:
        conn.close()
    return db


def test_train_on_the_sample_store(sample_db: Path, tmp_path: Path, clean_env: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    code = run(["train", "--db", str(sample_db), "--model-dir", str(models), "--folds", "2",
                "--jobs", "1", "--json", "--force"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert doc["current"] and doc["forced"] and Path(doc["path"]).is_dir()
    overall = doc["report"]["overall"]
    assert {"model", "market", "base_rate", "bss_vs_market", "pnl", "verdict"} <= set(overall)
    assert load_current_model(models).model_id == doc["model_id"]


def test_train_table_output(sample_db: Path, tmp_path: Path, clean_env: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["train", "--db", str(sample_db), "--model-dir", str(tmp_path / "m"),
                "--series", "KXBTC15M", "--folds", "1", "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "market" in out and "Brier" in out and "saved model" in out
    assert "beat the market" in out or "beats the market" in out


@pytest.mark.parametrize("args, needle", [
    (["--since", "yesterday-ish"], "--since"),
    (["--since", "2026-10-02", "--until", "2026-10-01"], "not before"),
    (["--series", "KXNOPE"], "no settled markets"),
    (["--folds", "0"], "--folds"),
])
def test_user_mistakes_exit_2_in_one_line(sample_db: Path, tmp_path: Path, clean_env: Path,
                                          capsys: pytest.CaptureFixture[str], args: list[str],
                                          needle: str) -> None:
    code = run(["train", "--db", str(sample_db), "--model-dir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err


def test_missing_database(tmp_path: Path, clean_env: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["train", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_for_trading_uses_the_series_of_the_traded_tickers(
        sample_db: Path, tmp_path: Path, clean_env: Path) -> None:
    from kalshibot.cli.train_cmd import train_for_trading
    from kalshibot.config import load_settings

    s = load_settings(env={}, dotenv_file=None,
                      overrides={"db_path": str(sample_db), "model_dir": str(tmp_path)})
    saved = train_for_trading(s, tickers=["KXBTC15M-26OCT010015-15"])
    assert saved.meta["selection"]["series"] == ["KXBTC15M"]


def test_trade_train_never_makes_a_model_that_loses_to_the_market_current(
        sample_db: Path, tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``trade --train`` applies train's gate (issue 22): on this seeded sample the model loses
    to the market out of sample, so it is saved but not made current, and the line says so.
    Before, ``trade --train`` made it current and traded it."""
    from kalshibot.cli.train_cmd import train_for_trading
    from kalshibot.config import load_settings
    from kalshibot.models.registry import NoModelError

    s = load_settings(env={}, dotenv_file=None,
                      overrides={"db_path": str(sample_db), "model_dir": str(tmp_path)})
    saved = train_for_trading(s, series=["KXBTC15M"])
    assert saved.meta["beats_market"] is False
    assert "NOT marked current" in capsys.readouterr().err
    with pytest.raises(NoModelError):
        load_current_model(tmp_path)
    # ... so an edge session has no model to trade and refuses to start (README: exit 3)
    monkeypatch.setenv("KALSHIBOT_DATA_DIR", str(sample_db.parent))
    monkeypatch.setenv("KALSHIBOT_MODEL_DIR", str(tmp_path))
    code = run(["trade", "--exchange", "sim", "--strategy", "edge", "--series", "KXBTC15M",
                "--max-cycles", "1", "--fresh", "--quiet"])
    assert code == 3
    assert "no current model" in capsys.readouterr().err


def test_train_makes_a_model_current_only_when_it_beats_the_market(
        sample_db: Path, tmp_path: Path, clean_env: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: on this seeded sample the model loses to the market out of sample, so
    ``train`` saves it but does not make it current (f6e3055 made it current); ``--force``
    does, and says so."""
    from kalshibot.models.registry import NoModelError

    models = tmp_path / "models"
    args = ["train", "--db", str(sample_db), "--model-dir", str(models), "--folds", "2",
            "--jobs", "1"]
    assert run([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["beats_market"] is False and doc["current"] is False
    assert Path(doc["path"]).is_dir()
    with pytest.raises(NoModelError):
        load_current_model(models)
    assert run(args) == 0
    assert "NOT marked current" in capsys.readouterr().out
    assert run([*args, "--force"]) == 0
    out = capsys.readouterr().out
    assert "marked current by --force" in out
    assert load_current_model(models) is not None


def test_backtest_over_the_training_window_is_refused_or_stamped(
        sample_db: Path, tmp_path: Path, clean_env: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: ``backtest --strategy edge --model`` over the span the model was trained on
    exits 2 with one line, unless ``--allow-in-sample``; then terminal and JSON say IN-SAMPLE.
    (f6e3055 ran it silently.)"""
    models = tmp_path / "models"
    assert run(["train", "--db", str(sample_db), "--model-dir", str(models), "--folds", "2",
                "--jobs", "1", "--force", "--series", "KXBTC15M"]) == 0
    capsys.readouterr()
    bt = ["backtest", "--db", str(sample_db), "--strategy", "edge", "--model", "current",
          "--model-dir", str(models), "--series", "KXBTC15M", "--from", "2026-09-30T12:00Z",
          "--to", "2026-09-30T13:00Z"]
    assert run(bt) == 2
    err = capsys.readouterr().err
    assert "in-sample" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # the message and its hint
    assert run([*bt, "--allow-in-sample", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"][0]["in_sample"]
    assert run([*bt, "--allow-in-sample"]) == 0
    assert "IN-SAMPLE" in capsys.readouterr().out
