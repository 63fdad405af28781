"""Fixtures shared by the backtest tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch folder as a user's working directory: no KALSHIBOT_* from the machine, data,
    logs and models under ``tmp_path``."""
    for k in list(os.environ):
        if k.upper().startswith("KALSHIBOT_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KALSHIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KALSHIBOT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("KALSHIBOT_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path
