"""Issue 19 item 5: ``status --output`` writes a world-readable file and never the database.

Both tests fail on f6e3055 (the file was 0600; ``--output`` naming the database overwrote it).
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshibot.cli.main import run
from kalshibot.clock import SimClock
from tests.monitor.conftest import Prepared


def test_output_into_missing_folder_is_created_with_mode_0644(
        prepared: Callable[..., Prepared], clock: SimClock, tmp_path: Path):
    prepared()
    target = tmp_path / "missing" / "deeper" / "kalshibot.prom"
    assert run(["status", "--format", "prometheus", "--output", str(target)]) == 0
    assert target.read_text().startswith("# HELP ")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_output_naming_the_database_is_refused(
        prepared: Callable[..., Prepared], clock: SimClock,
        capsys: pytest.CaptureFixture[str]):
    p = prepared()
    before = p.path.read_bytes()
    assert run(["status", "--format", "prometheus", "--db", str(p.path),
                "--output", str(p.path)]) == 2
    err = capsys.readouterr().err
    assert "database" in err and len(err.strip().splitlines()) == 1
    assert p.path.read_bytes() == before
    sqlite3.connect(p.path).execute("PRAGMA integrity_check").fetchone()
