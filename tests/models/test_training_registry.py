"""Training end to end on synthetic frames; registry save/load, history, refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kalshibot.errors import UserInputError
from kalshibot.features import FEATURE_NAMES
from kalshibot.models import (
    IncompatibleModelError,
    NoModelError,
    list_models,
    load_current_model,
    needs_retrain,
    save_model,
)
from kalshibot.models.training import TrainConfig, TrainResult, train_model


def _save(tmp: Path, r: TrainResult, when: datetime | None = None):  # type: ignore[no-untyped-def]
    return save_model(tmp, r.model, report=r.report, data_hash=r.data_hash, window=r.window,
                      rows=r.rows, created=when)


def test_training_reports_against_market_and_base_rate(trained: TrainResult) -> None:
    rep = trained.report
    assert len(rep["folds"]) == 2
    o = rep["overall"]
    for who in ("model", "market", "base_rate"):
        assert set(o[who]) == {"brier", "log_loss", "ece"}
    assert "bss_vs_market" in o and "pnl" in o and len(o["reliability"]["model"]) == 10
    assert ("beats the market" in o["verdict"]) or ("does NOT beat" in o["verdict"])
    assert o["beats_market"] == ("does NOT" not in o["verdict"])


def test_predict_proba_batched(trained: TrainResult, frame: pd.DataFrame) -> None:
    p = trained.model.predict_proba(frame.iloc[:50])
    assert p.shape == (50,) and p.dtype == np.float64
    assert ((p >= 0.001) & (p <= 0.999)).all()
    # column order and extra columns do not matter
    shuffled = frame.iloc[:50][list(reversed(FEATURE_NAMES)) + ["ticker"]]
    np.testing.assert_array_equal(trained.model.predict_proba(shuffled), p)


def test_too_little_data_is_a_user_error(frame: pd.DataFrame) -> None:
    with pytest.raises(UserInputError, match="not enough settled data"):
        train_model(frame.iloc[:50], TrainConfig(n_jobs=1))


def test_registry_round_trip_history_and_current(tmp_path: Path, trained: TrainResult,
                                                 frame: pd.DataFrame) -> None:
    with pytest.raises(NoModelError):
        load_current_model(tmp_path)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = _save(tmp_path, trained, t0)
    b = _save(tmp_path, trained, t0 + timedelta(hours=1))
    assert a.model_id != b.model_id
    assert [m["model_id"] for m in list_models(tmp_path)] == [a.model_id, b.model_id]
    cur = load_current_model(tmp_path)
    assert cur.model_id == b.model_id
    np.testing.assert_array_equal(cur.predict_proba(frame.iloc[:20]),
                                  trained.model.predict_proba(frame.iloc[:20]))
    meta = json.loads((b.path / "meta.json").read_text())
    for key in ("feature_names", "feature_version", "training_window", "data_hash", "metrics",
                "libraries", "created", "rows", "model_config"):
        assert key in meta
    assert meta["libraries"]["scikit-learn"]
    assert needs_retrain(tmp_path, t0 + timedelta(hours=30), 24.0)
    assert not needs_retrain(tmp_path, t0 + timedelta(hours=2), 24.0)


def test_a_model_not_made_current_still_resets_the_retrain_clock(
        tmp_path: Path, trained: TrainResult) -> None:
    """A session retrains every ``retrain_interval_hours``; a model saved but not made current
    (it does not beat the market) is a training too, else the session would retrain on every
    check (every 60 cycles) with the same verdict."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    _save(tmp_path, trained, t0)  # current
    later = save_model(tmp_path, trained.model, report={"overall": {"beats_market": False}},
                       data_hash="f" * 16, window=trained.window, rows=trained.rows,
                       created=t0 + timedelta(hours=30), require_beats_market=True)
    assert later.meta["current"] is False
    assert load_current_model(tmp_path).model_id != later.model_id
    assert not needs_retrain(tmp_path, t0 + timedelta(hours=31), 24.0)
    assert needs_retrain(tmp_path, t0 + timedelta(hours=55), 24.0)


@pytest.mark.parametrize("edit", ["version", "names"])
def test_registry_refuses_an_artefact_built_for_other_features(
        tmp_path: Path, trained: TrainResult, edit: str) -> None:
    saved = _save(tmp_path, trained)
    meta_file = saved.path / "meta.json"
    meta = json.loads(meta_file.read_text())
    if edit == "version":
        meta["feature_version"] = "0"
    else:
        meta["feature_names"] = meta["feature_names"][:-1] + ["old_feature"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(IncompatibleModelError, match="built for features") as exc:
        load_current_model(tmp_path)
    assert "kalshibot train" in str(exc.value)
    if edit == "names":
        assert "old_feature" in str(exc.value)


def test_require_beats_market_keeps_the_previous_current(tmp_path: Path,
                                                         trained: TrainResult) -> None:
    first = _save(tmp_path, trained)
    report = json.loads(json.dumps(trained.report, default=str))
    report["overall"]["beats_market"] = False
    second = save_model(tmp_path, trained.model, report=report, data_hash="f" * 64,
                        window=trained.window, rows=trained.rows, require_beats_market=True)
    assert not second.meta["current"]
    assert load_current_model(tmp_path).model_id == first.model_id


@pytest.mark.parametrize("combine, calibration", [("average", "isotonic"), ("stack", "platt")])
def test_other_combiners(frame: pd.DataFrame, combine: str, calibration: str) -> None:
    from dataclasses import replace

    from tests.models.conftest import FAST

    cfg = TrainConfig(n_folds=1, n_jobs=1,
                      model=replace(FAST, combine=combine, calibration=calibration))
    r = train_model(frame, cfg)
    p = r.model.predict_proba(frame.iloc[:30])
    assert p.shape == (30,) and np.isfinite(p).all()
    assert r.report["overall"]["model"]["brier"] < 0.25
