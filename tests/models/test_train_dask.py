"""`train` folds and walk-forward retraining on a Dask cluster (issue 18).

On f6e3055 ``train`` had no backend option and ``TrainConfig(backend="dask")`` ended in
"To use Joblib with Dask first create a Dask Client" (joblib's Dask backend needs a client
nobody created); the walk-forward ``edge`` backtest retrained in process only. Here the fit
tasks get the labelled feature frame scattered to the workers, never a path, and the model,
its report and the trades equal the single-process run exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kalshibot.cli.main import run as cli
from kalshibot.models.training import Selection, TrainConfig, load_history, train_model
from kalshibot.store import connect
from tests.backtest.make_golden import DB, config
from tests.models.conftest import FAST

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """Two worker processes started in another working directory than the client's."""
    distributed = pytest.importorskip("distributed")
    elsewhere = tmp_path_factory.mktemp("workers")
    here = os.getcwd()
    os.chdir(elsewhere)
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as c:
            os.chdir(here)
            yield c, elsewhere
    finally:
        os.chdir(here)


def _report(r: Any) -> str:
    return json.dumps(r.report, sort_keys=True, default=str)


def test_train_on_a_local_cluster_equals_single_process_with_the_database_moved_away(
        tmp_path: Path, cluster: tuple[Any, Path]) -> None:
    import distributed

    db = tmp_path / "client" / "market.sqlite"
    db.parent.mkdir()
    shutil.copy(DB, db)
    conn = connect(db)
    try:
        hist = load_history(conn, Selection())
    finally:
        conn.close()
    cfg = TrainConfig(n_folds=2, n_jobs=1, model=FAST)
    expected = train_model(hist, cfg)
    moved = tmp_path / "moved-away.sqlite"

    def move_away() -> None:
        db.rename(moved)

    with distributed.Client(cluster[0].scheduler_address) as client:
        cwds = set(client.run(os.getcwd).values())
        got = train_model(hist, replace(cfg, backend="dask"), client=client,
                          on_dispatched=move_away)
    assert cwds == {str(cluster[1])}
    assert not db.exists() and moved.exists()
    assert _report(got) == _report(expected)
    assert len(expected.report["folds"]) == 2
    assert (got.rows, got.data_hash, got.window) == (expected.rows, expected.data_hash,
                                                     expected.window)
    from kalshibot.features import FeatureBuilder

    feats = FeatureBuilder().batch(hist)
    assert np.array_equal(got.model.predict_proba(feats), expected.model.predict_proba(feats))


def test_train_cli_on_the_configured_scheduler_equals_local(
        tmp_path: Path, clean_env: Path, cluster: tuple[Any, Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import distributed

    def no_local_cluster(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a local cluster was started instead of using the scheduler")

    # KALSHIBOT_DASK_SCHEDULER applies to --backend dask only: the local run stays local
    monkeypatch.setenv("KALSHIBOT_DASK_SCHEDULER", cluster[0].scheduler_address)
    monkeypatch.setattr(distributed, "LocalCluster", no_local_cluster)
    docs = []
    for name in ("local", "dask"):
        db = tmp_path / f"{name}.sqlite"
        shutil.copy(DB, db)
        code = cli(["train", "--db", str(db), "--model-dir", str(tmp_path / name),
                    "--folds", "2", "--jobs", "1", "--json", "--force", "--backend", name])
        out = capsys.readouterr()
        assert code == 0, out.err
        docs.append(json.loads(out.out))
    local, dask = docs
    for key in ("rows", "training_window", "report", "beats_market"):
        assert dask[key] == local[key], key


def test_train_help_names_the_backends_and_the_scheduler_setting(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert cli(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--backend" in out and "--scheduler" in out and "KALSHIBOT_DASK_SCHEDULER" in out


def test_walk_forward_retraining_on_dask_trades_like_single_process(
        cluster: tuple[Any, Path]) -> None:
    from kalshibot.backtest import backtest
    from kalshibot.cluster import close_shared

    cfg = replace(config(), strategies=("edge",), series=("KXBTC15M",), retrain_every_h=1.5,
                  interval_s=60.0)
    expected = backtest(cfg)[0]
    try:
        got = backtest(replace(cfg, train_backend="dask",
                               train_scheduler=cluster[0].scheduler_address))[0]
    finally:
        close_shared()
    assert got.stats.as_dict() == expected.stats.as_dict()
    def trades(r: Any) -> list[tuple[Any, ...]]:  # client order ids are random
        return [(f.ticker, f.side, f.action, f.price, f.count, f.fee, f.is_taker, f.ts)
                for f in r.run.fills]

    assert trades(got) == trades(expected)
    assert expected.run.fills  # the comparison is not between two runs without a model


@pytest.mark.parametrize("args, needle", [
    (["--backend", "ray"], "choose from local, dask"),
    (["--backend", "local", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs"),
])
def test_train_backend_mistakes_exit_2_in_one_line(
        tmp_path: Path, clean_env: Path, capsys: pytest.CaptureFixture[str],
        args: list[str], needle: str) -> None:
    code = cli(["train", "--db", str(DB), "--model-dir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # the error line (+ an optional hint)


def test_train_dask_without_distributed_says_what_to_install(
        tmp_path: Path, clean_env: Path, no_distributed: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (["train", "--model-dir", str(tmp_path)],
                ["backtest", "--strategy", "edge"]):
        code = cli([*cmd, "--db", str(DB), "--backend", "dask"])
        err = capsys.readouterr().err
        assert code == 2 and "pip install distributed" in err and "Traceback" not in err


def test_training_on_a_store_recorded_without_spot_prices() -> None:
    """Every spot feature is NaN there: gradient boosting used to fail with "window shape
    cannot be larger than input array shape" (exit 70 from `train`, on f6e3055 too)."""
    from kalshibot.features import FEATURE_NAMES, FeatureBuilder

    conn = connect(DB)
    try:
        feats = FeatureBuilder().batch(load_history(conn, Selection()))
    finally:
        conn.close()
    assert feats["spot_vol_15m"].isna().all() and len(FEATURE_NAMES) > 8
    res = train_model(feats, TrainConfig(n_folds=2, n_jobs=1, model=FAST))
    p = res.model.predict_proba(feats)
    assert np.isfinite(p).all() and len(np.unique(p)) > 10
