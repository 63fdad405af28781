"""A log that cannot be written degrades to one warning line (issue 16 case 4).

On f6e3055 every record on a full disk printed Python's "--- Logging error ---" traceback
to stderr (a flood during ``trade``). Now: one warning, lost lines counted, one line again when
writing works once more. Fails there (no ``LogFileHandler``; the flood)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from kalshibot.monitor.logging import LogFileHandler, file_handler, setup_logging


def _full_device(path: Path) -> None:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # our own "full" device
    except OSError:
        path.symlink_to("/dev/full")


def test_full_log_warns_once_then_says_when_it_works_again(
        settings, capsys: pytest.CaptureFixture[str]) -> None:
    log_dir = settings.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    target = log_dir / "kalshibot.jsonl"
    _full_device(target)
    setup_logging(settings, console=False)
    handler = file_handler()
    assert isinstance(handler, LogFileHandler)
    log = logging.getLogger("kalshibot.test")
    for i in range(50):
        log.info("line %d", i)
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert err.count("cannot write the log") == 1
    assert handler.dropped == 50
    # the disk has room again: the next line is written and says how many were lost
    handler.close()
    target.unlink()
    handler.stream = None
    log.info("back")
    err = capsys.readouterr().err
    assert "again (50 line(s) were lost)" in err
    assert handler.dropped == 0
    handler.flush()
    assert '"back"' in target.read_text(encoding="utf-8")
