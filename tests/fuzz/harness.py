"""Driving the CLI in-process with hostile inputs and broken environments (issue 16).

- ``cli(argv, ws)`` runs ``kalshibot.cli.main.run`` in this process with only the workspace's
  ``KALSHIBOT_*`` environment, stdout/stderr captured, the working directory, the logging
  handlers and the SIGTERM handler restored afterwards. In-process is ~100x cheaper than a
  subprocess, which is what lets the fuzz suite try thousands of command lines.
- ``Workspace``: a folder with ``data/``, ``logs/``, ``models/`` and a store holding both
  market data (a small seeded sample) and trading state (a run, orders, fills, positions).
- ``check(result)``: the suite's rule: exit 0-5 (or 130), never 70, never a traceback, never a
  logging-error dump; a failure says so in one line on stderr.
- Faults: ``corrupt_schema`` / ``corrupt_page`` damage a store; ``mounted_dir`` gives a tiny
  tmpfs (full) or a read-only bind mount when the machine allows mounts (root, here), with a
  portable stand-in otherwise (a symlink to ``/dev/full``; a file where a folder is expected).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

T0 = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
#: Exit codes a command may end with: ok, failure, usage, config/store, exchange, mismatch,
#: interrupted. 70 ("internal error") is reserved for genuine bugs.
ALLOWED = {0, 1, 2, 3, 4, 5, 130}


@dataclass
class Result:
    argv: list[str]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def lines(self) -> list[str]:
        return [x for x in self.err.splitlines() if x.strip()]


def _build_template(path: Path) -> None:
    from kalshibot.sim.sample import SampleConfig, generate_sample
    from kalshibot.store.connection import connect
    from tests.monitor.conftest import build_store

    conn = connect(path)
    generate_sample(conn, SampleConfig(days=0.25, seed=3, series=("KXBTC15M", "KXHIGHNY"),
                                       end=T0))
    conn.close()
    build_store(path).close()  # trading state: a run, fills, a resting order, positions
    c = sqlite3.connect(path)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


_TEMPLATE: dict[str, Path] = {}


def template_store(cache_dir: Path) -> Path:
    """One store file per test session (market data + trading state), copied by workspaces."""
    if "store" not in _TEMPLATE:
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / f"template-{uuid.uuid4().hex[:8]}.sqlite"
        _build_template(path)
        _TEMPLATE["store"] = path
    return _TEMPLATE["store"]


class Workspace:
    """An isolated bot home: ``data/paper.sqlite`` (a copy of the template), logs, models."""

    def __init__(self, root: Path, template: Path | None = None) -> None:
        self.root = root
        for d in ("data", "logs", "models"):
            (root / d).mkdir(parents=True, exist_ok=True)
        self.db = root / "data" / "paper.sqlite"
        if template is not None:
            shutil.copy(template, self.db)
        self.extra: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        env = {"KALSHIBOT_DATA_DIR": str(self.root / "data"),
               "KALSHIBOT_LOG_DIR": str(self.root / "logs"),
               "KALSHIBOT_MODEL_DIR": str(self.root / "models"),
               # Nothing may reach the real exchange: a closed local port refuses at once.
               "KALSHIBOT_API_BASE_URL": "http://127.0.0.1:9/trade-api/v2",
               "KALSHIBOT_WEBSOCKET": "false",
               "KALSHIBOT_HTTP_CONNECT_TIMEOUT_S": "0.5",
               "KALSHIBOT_HTTP_READ_TIMEOUT_S": "0.5"}
        env.update(self.extra)
        return env


@contextlib.contextmanager
def _isolated(env: dict[str, str], cwd: Path) -> Iterator[None]:
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_term = signal.getsignal(signal.SIGTERM)
    for k in list(os.environ):
        if k.upper().startswith("KALSHIBOT_"):
            del os.environ[k]
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        signal.signal(signal.SIGTERM, saved_term)
        from kalshibot.monitor.logging import teardown_logging

        teardown_logging()
        logging.getLogger("kalshibot").setLevel(logging.NOTSET)


def cli(argv: list[str], ws: Workspace, *, stdin: str = "") -> Result:
    """Run ``kalshibot argv`` in-process in ``ws`` and capture what it printed."""
    import sys

    from kalshibot.cli.main import run

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    with _isolated(ws.env(), ws.root), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        sys.stdin = io.StringIO(stdin)
        try:
            code = run(list(argv))
        finally:
            sys.stdin = saved_stdin
    return Result(list(argv), code, out.getvalue(), err.getvalue())


def problems(r: Result) -> list[str]:
    """What breaks the suite's rule in one result (empty when it is fine)."""
    found = []
    if r.code not in ALLOWED:
        found.append(f"exit {r.code}")
    if "Traceback (most recent call last)" in r.text:
        found.append("traceback")
    if "--- Logging error ---" in r.text:
        found.append("logging error dump")
    if r.code in (2, 3, 4) and not r.lines() and not r.out.strip() \
            and "--output" not in r.argv and "-o" not in r.argv:  # status wrote its file
        found.append("failed without saying why")
    return found


def check(r: Result) -> None:
    bad = problems(r)
    assert not bad, f"{' '.join(r.argv)!r}: {', '.join(bad)}\n--- stdout\n{r.out[-3000:]}\n" \
                    f"--- stderr\n{r.err[-3000:]}"


def one_line(r: Result) -> str:
    """The single line a failing command printed on stderr."""
    check(r)
    lines = r.lines()
    assert len(lines) == 1, r.err
    return lines[0]


# --- damaged stores ------------------------------------------------------------------------
def corrupt_schema(path: Path, table: str = "runs") -> None:
    """Bytes that are not UTF-8 inside the schema text: every statement then fails with an
    SQLite message Python cannot decode (the ``UnicodeDecodeError`` of f6e3055)."""
    c = sqlite3.connect(path)
    c.execute("PRAGMA writable_schema = ON")
    c.execute("UPDATE sqlite_master SET sql = CAST(sql || x'caff' AS TEXT) WHERE name = ?",
              (table,))
    c.commit()
    c.close()


def corrupt_page(path: Path, table: str, seed: int = 1) -> None:
    """Overwrite the root page of ``table`` with seeded garbage (``sqlite_master``: page 1,
    keeping the 100-byte file header, so the file still opens as SQLite)."""
    import random

    c = sqlite3.connect(path)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root, skip = 1, 100
    if table != "sqlite_master":
        root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                         (table,)).fetchone()[0]
        skip = 0
    size = c.execute("PRAGMA page_size").fetchone()[0]
    c.close()
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        f.seek((root - 1) * size + skip)
        f.write(bytes(rng.randrange(256) for _ in range(size - skip)))


# --- broken folders ------------------------------------------------------------------------
def _mount(args: list[str]) -> bool:
    """Mount (root only); ``FUZZ_NO_MOUNT=1`` forces the portable stand-ins."""
    if os.environ.get("FUZZ_NO_MOUNT") or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    res = subprocess.run(["mount", *args], capture_output=True, timeout=10)
    return res.returncode == 0


@contextlib.contextmanager
def mounted_dir(path: Path, kind: str, contents: dict[str, bytes] | None = None
                ) -> Iterator[str]:
    """Make ``path`` (a folder) ``full`` (a tmpfs holding ``contents``, then filled to the
    last byte) or ``readonly`` (a read-only bind mount). Yields how: ``tmpfs`` / ``bind-ro``
    when mounted, else ``fallback``, where the caller uses ``dev_full_log`` /
    ``file_instead_of_dir`` instead."""
    path.mkdir(parents=True, exist_ok=True)
    how = "fallback"
    size = 16 * 1024 + sum(len(b) + 8192 for b in (contents or {}).values())
    if kind == "full" and _mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]):
        how = "tmpfs"
        for name, data in (contents or {}).items():
            with contextlib.suppress(OSError):
                (path / name).write_bytes(data)
        with contextlib.suppress(OSError), open(path / "filler", "wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
    elif kind == "readonly" and _mount(["--bind", "-o", "ro", str(path), str(path)]):
        how = "bind-ro"
    try:
        yield how
    finally:
        if how != "fallback":
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def dev_full_log(log_dir: Path, name: str = "kalshibot.jsonl") -> None:
    """Portable "disk full": the log file is a "full" device (ENOSPC on every write): a
    device node of our own as root (never the machine's /dev/full, which a rename could
    replace), else a symlink to /dev/full (a non-root user cannot replace it)."""
    import stat

    log_dir.mkdir(parents=True, exist_ok=True)
    target = log_dir / name
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except OSError:
        target.symlink_to("/dev/full")


def file_instead_of_dir(path: Path) -> None:
    """Portable "cannot write here" even for root: a file where a folder is expected."""
    if path.is_dir():
        shutil.rmtree(path)
    path.write_bytes(b"not a folder")
