"""Sweeps on a Dask cluster (issue 18): tasks get the data, not a path; unknown backends exit 2.

On f6e3055 ``--backend dask`` and ``--backend ray`` both ended as an internal error (exit 70),
and every task opened the SQLite file by its client-side path.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from kalshibot.backtest.sweep import combinations, parse_grid, run_one, run_sweep
from kalshibot.cli.main import run as cli
from tests.backtest.make_golden import DB, config

GRID = ["z_entry=2,3"]


def test_unknown_backend_is_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["backtest", "--db", str(DB), "--sweep", "z_entry=2,3", "--backend", "ray"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--backend 'ray'" in err and "loky, threading, dask" in err
    assert "Traceback" not in err


def test_dask_without_distributed_says_what_to_install(
        no_distributed: None, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["backtest", "--db", str(DB), "--sweep", "z_entry=2,3", "--backend", "dask"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install distributed" in err and "Traceback" not in err


def test_scheduler_with_a_local_backend_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["backtest", "--db", str(DB), "--sweep", "z_entry=2,3", "--backend", "loky",
                "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2 and "--scheduler needs --backend dask" in capsys.readouterr().err


@pytest.mark.timeout(240)
def test_local_cluster_sweep_equals_single_process_with_the_data_file_moved_away(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    from kalshibot.backtest.distributed import run_on_client

    db = tmp_path / "client" / "market.sqlite"
    db.parent.mkdir()
    shutil.copy(DB, db)
    cfg = replace(config(), data=db, state_dir=None)
    tasks = [("meanrev", c) for c in combinations(parse_grid(GRID))]
    expected = [run_one(cfg, s, c) for s, c in tasks]  # single process, in order

    elsewhere = tmp_path / "workers"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # worker processes start in another working directory
    moved = tmp_path / "moved-away.sqlite"

    def move_away() -> None:
        db.rename(moved)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        cwds = set(client.run(os.getcwd).values())
        got = run_on_client(client, cfg, tasks, on_dispatched=move_away)
    assert cwds == {str(elsewhere)}
    assert not db.exists() and moved.exists()
    assert got == expected
    assert any(r["trades"] for r in got)  # the comparison is not between two empty runs


def test_run_sweep_with_the_dask_backend_ranks_like_threading() -> None:
    pytest.importorskip("distributed")
    local, _ = run_sweep(config(), GRID, metric="net_pnl", backend="threading")
    dask, _ = run_sweep(config(), GRID, metric="net_pnl", backend="dask", n_jobs=1)
    assert [(r.params, r.stats) for r in dask] == [(r.params, r.stats) for r in local]


def test_configured_scheduler_applies_to_the_dask_backend_only(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KALSHIBOT_DASK_SCHEDULER", "tcp://127.0.0.1:1")
    # loky stays local: the configured scheduler is not consulted
    assert cli(["backtest", "--db", str(DB), "--sweep", "z_entry=2,3",
                "--backend", "threading", "--json"]) == 0
    capsys.readouterr()
    from kalshibot.cli.backtest_cmd import _env_scheduler

    assert _env_scheduler("dask", "tcp://127.0.0.1:1") == "tcp://127.0.0.1:1"
    assert _env_scheduler("DASK", "") is None and _env_scheduler(None, "tcp://x:1") is None
