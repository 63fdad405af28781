"""Sweeps on a Dask cluster (``--backend dask``; needs the ``[dask]`` extra, i.e. ``distributed``).

Tasks never see a client-side path: the selected market-data store is copied into a read-only
SQLite snapshot, shipped as bytes once per worker (``Client.scatter(..., broadcast=True)``),
written by each worker process to its own scratch folder, and every task replays it with a
fresh scratch state store. A worker on another machine (or whose data file has moved) therefore
computes exactly what the single-process run computes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kalshibot.backtest.config import BacktestConfig
from kalshibot.cluster import INSTALL_HINT, close_client, make_client, require_distributed

#: Per worker process: snapshot digest -> the file it was written to.
_SNAPSHOTS: dict[str, Path] = {}


def snapshot_bytes(data: Path | str) -> bytes:
    """A consistent, self-contained copy (rollback journal, no WAL) of the store at ``data``."""
    from kalshibot.backtest.runner import open_data

    src = open_data(data)
    with tempfile.TemporaryDirectory(prefix="kalshibot-snapshot-") as d:
        path = Path(d) / "snapshot.sqlite"
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
            src.close()
        return path.read_bytes()


def _materialise(blob: bytes, digest: str) -> Path:
    """Write the snapshot once per worker process into its own scratch folder."""
    path = _SNAPSHOTS.get(digest)
    if path is None or not path.exists():
        folder = Path(tempfile.mkdtemp(prefix="kalshibot-worker-"))
        path = folder / f"{digest[:16]}.sqlite"
        path.write_bytes(blob)
        _SNAPSHOTS[digest] = path
    return path


def run_task(blob: bytes, digest: str, cfg: BacktestConfig, strategy: str,
             params: dict[str, str]) -> dict[str, Any]:
    """One sweep configuration on a worker: its stats as ``Stats.as_dict()``."""
    from kalshibot.backtest.sweep import run_one

    return run_one(replace(cfg, data=_materialise(blob, digest)), strategy, params)


def run_on_client(client: Any, cfg: BacktestConfig, tasks: Sequence[tuple[str, dict[str, str]]],
                  *, on_dispatched: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Run ``tasks`` (strategy, params) on ``client``; results in task order.

    ``on_dispatched`` is called once every task has been submitted (tests move the data file
    away there to prove no worker reads it)."""
    blob = snapshot_bytes(cfg.data)
    digest = hashlib.sha256(blob).hexdigest()
    shipped = client.scatter(blob, broadcast=True, hash=False)
    futures = [client.submit(run_task, shipped, digest, cfg, s, p, pure=False) for s, p in tasks]
    if on_dispatched is not None:
        on_dispatched()
    return list(client.gather(futures))


def run_dask(cfg: BacktestConfig, tasks: Sequence[tuple[str, dict[str, str]]], *,
             scheduler: str | None, n_workers: int) -> list[dict[str, Any]]:
    """``run_on_client`` on a client for ``scheduler`` (or a local cluster), closed afterwards."""
    client, cluster = make_client(scheduler, n_workers)
    try:
        return run_on_client(client, cfg, tasks)
    finally:
        close_client(client, cluster)


__all__ = ["INSTALL_HINT", "make_client", "require_distributed", "run_dask", "run_on_client",
           "run_task", "snapshot_bytes"]
