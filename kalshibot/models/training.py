"""Training: features -> walk-forward evaluation against the market -> final fit.

``train_model(hist, config, progress=None) -> TrainResult`` builds features with the one
``FeatureBuilder``, keeps the labelled rows (settled markets), evaluates the ensemble on
walk-forward folds (``evaluation.walk_forward_splits``) and fits the final model on every
labelled row. The folds and the final fit are independent tasks: ``TrainConfig.backend``
"local" (default) runs them through ``joblib.Parallel`` (``n_jobs`` processes), "dask" on a Dask
cluster (``TrainConfig.scheduler``, or a local cluster of ``n_jobs`` worker processes; see
``kalshibot.cluster``). On Dask the labelled feature frame is scattered once to every worker and
each task receives it plus its row positions, never a path; the tasks are the same function with
the same seeds, so the model and the report equal the single-process run exactly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits

from kalshibot.errors import KalshibotError, UserInputError
from kalshibot.features.builder import (
    FEATURE_NAMES,
    FeatureBuilder,
    FeatureConfig,
    HistoryFrames,
)
from kalshibot.models.ensemble import EnsembleModel, ModelConfig
from kalshibot.models.evaluation import (
    event_order,
    score_block,
    verdict,
    walk_forward_splits,
)

Progress = Callable[[str, int, int], None]
_KEEP = ["ticker", "event_ticker", "ts", "close_time", "yes_bid", "yes_ask", "label"]


@dataclass(frozen=True)
class TrainConfig:
    n_folds: int = 3
    min_edge: float = 0.02
    direct_member: bool = False  # simulated P&L pays $0.0001-rounded fees, not cents per order
    n_jobs: int = 2  # local: joblib processes; dask without a scheduler: local workers
    backend: str | None = None  # "local" (joblib; also "loky"/"threading") or "dask"
    model: ModelConfig = field(default_factory=ModelConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    min_rows: int = 200
    threads_per_task: int = 1  # BLAS/OpenMP threads inside each fit task
    scheduler: str | None = None  # Dask scheduler address (None: a local cluster)


BACKENDS = ("local", "dask")


def check_backend(backend: str | None, scheduler: str | None = None) -> str:
    """The training backend: "local" (or a local joblib backend name) or "dask". Unknown or
    uninstalled backends, and a scheduler without Dask, are a one-line ``UserInputError``."""
    from kalshibot.cluster import check_backend as check

    return check(backend, scheduler, default="local", listed=BACKENDS, also=("loky", "threading"))


@dataclass
class TrainResult:
    model: EnsembleModel
    report: dict[str, Any]
    rows: int
    data_hash: str
    window: tuple[pd.Timestamp, pd.Timestamp]
    seconds: dict[str, float] = field(default_factory=dict)


def calibration_mask(frame: pd.DataFrame, fraction: float) -> npt.NDArray[np.bool_]:
    """True for rows of the latest-ending ``fraction`` of events (by row count)."""
    ends = event_order(frame)
    counts = frame.groupby("event_ticker", sort=True).size().reindex(ends.index)
    cum = counts.cumsum().to_numpy()
    late = pd.Series(cum > (1.0 - fraction) * cum[-1], index=ends.index)
    return frame["event_ticker"].map(late).to_numpy(dtype=bool)


def data_hash(frame: pd.DataFrame) -> str:
    """sha256 of the labelled rows' keys, labels and feature values."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(frame[["ticker", "ts", "label"]], index=False)
             .to_numpy().tobytes())
    h.update(np.ascontiguousarray(frame[list(FEATURE_NAMES)].to_numpy(np.float64)).tobytes())
    return h.hexdigest()


def _fit_task(kind: str, index: int, train: pd.DataFrame, test: pd.DataFrame | None,
              cfg: TrainConfig) -> dict[str, Any]:
    """One joblib task: fit on ``train``; score on ``test`` (fold) or return the model (final)."""
    model = EnsembleModel(FEATURE_NAMES, cfg.model)
    y = train["label"].to_numpy(float)
    with threadpool_limits(limits=cfg.threads_per_task):
        model.fit(train, y, calibration_mask(train, cfg.model.calib_fraction))
    if kind == "final":
        return {"kind": kind, "model": model}
    assert test is not None
    p = model.predict_proba(test)
    base = float(y.mean())
    res = score_block(test, p, base, min_edge=cfg.min_edge, direct_member=cfg.direct_member)
    return {"kind": kind, "index": index, "p": p, "base": base, "scores": res,
            "train_rows": len(train), "train_events": int(train["event_ticker"].nunique())}


def _fit_shipped(lab: pd.DataFrame, kind: str, index: int, train: npt.NDArray[np.int64] | None,
                 test: npt.NDArray[np.int64] | None, cfg: TrainConfig) -> dict[str, Any]:
    """``_fit_task`` on a worker holding the scattered frame (rows by position). A data
    problem (e.g. a fold holding one outcome) comes back as a value, re-raised by the client,
    so workers do not log it as a failed computation."""
    try:
        return _fit_task(kind, index, lab if train is None else lab.iloc[train],
                         None if test is None else lab.iloc[test], cfg)
    except KalshibotError as exc:
        return {"kind": "error", "error": exc}


Spec = tuple[str, int, "npt.NDArray[np.int64] | None", "npt.NDArray[np.int64] | None"]


def _run_local(lab: pd.DataFrame, specs: list[Spec], cfg: TrainConfig, backend: str,
               progress: Progress | None) -> list[dict[str, Any]]:
    tasks = [delayed(_fit_task)(kind, i, lab if tr is None else lab.iloc[tr],
                                None if te is None else lab.iloc[te], cfg)
             for kind, i, tr, te in specs]
    results: list[dict[str, Any]] = []
    with parallel_config(backend=backend) if backend in ("loky", "threading") else nullcontext():
        par = Parallel(n_jobs=min(cfg.n_jobs, len(tasks)), return_as="generator_unordered")
        for i, res in enumerate(par(tasks), start=1):
            results.append(res)
            if progress:
                progress("fit", i, len(tasks))
    return results


def _run_dask(client: Any, lab: pd.DataFrame, specs: list[Spec], cfg: TrainConfig,
              progress: Progress | None,
              on_dispatched: Callable[[], None] | None) -> list[dict[str, Any]]:
    """Scatter ``lab`` once to every worker, one task per spec (row positions only)."""
    from distributed import as_completed

    shipped = client.scatter(lab, broadcast=True, hash=False)
    futures = [client.submit(_fit_shipped, shipped, kind, i, tr, te, cfg, pure=False)
               for kind, i, tr, te in specs]
    if on_dispatched is not None:
        on_dispatched()
    for done, _ in enumerate(as_completed(futures), start=1):
        if progress:
            progress("fit", done, len(futures))
    results: list[dict[str, Any]] = client.gather(futures)
    for r in results:
        if r["kind"] == "error":
            raise r["error"]
    return results


def train_model(hist: HistoryFrames | pd.DataFrame, config: TrainConfig | None = None,
                progress: Progress | None = None, *, client: Any = None,
                on_dispatched: Callable[[], None] | None = None) -> TrainResult:
    """Build features (unless given a feature frame), evaluate walk-forward, fit the final model.

    With ``config.backend == "dask"`` the fit tasks run on ``client`` (a ``distributed.Client``)
    or, without one, on a client for ``config.scheduler`` (a local cluster when None) opened and
    closed here; ``on_dispatched`` is called once every task is submitted (tests move the
    database away there). Raises ``UserInputError`` when there is too little settled data to
    train on, or for an unknown/uninstalled backend.
    """
    cfg = config or TrainConfig()
    backend = check_backend(cfg.backend, cfg.scheduler)
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    if isinstance(hist, HistoryFrames):
        if progress:
            progress("features", 0, 1)
        frame = FeatureBuilder(cfg.features).batch(hist)
        if progress:
            progress("features", 1, 1)
    else:
        frame = hist
    secs["features"] = time.perf_counter() - t0
    lab = frame[frame["label"].notna()].reset_index(drop=True)
    if len(lab) < cfg.min_rows or lab["label"].nunique() < 2:
        raise UserInputError(
            f"not enough settled data to train: {len(lab)} labelled snapshot rows from "
            f"{lab['ticker'].nunique() if len(lab) else 0} markets (need >= {cfg.min_rows} rows "
            "and both yes and no outcomes)",
            hint="widen --since/--until or --series, or record/sample more data")
    lab = lab[[*_KEEP, *FEATURE_NAMES]]
    folds = walk_forward_splits(lab, cfg.n_folds)
    specs: list[Spec] = [("fold", f.index, f.train, f.test) for f in folds]
    specs.append(("final", 0, None, None))
    t1 = time.perf_counter()
    if progress:
        progress("fit", 0, len(specs))
    if backend != "dask":
        results = _run_local(lab, specs, cfg, backend, progress)
    elif client is not None:
        results = _run_dask(client, lab, specs, cfg, progress, on_dispatched)
    else:
        from kalshibot.cluster import close_client, make_client

        own, cluster = make_client(cfg.scheduler, cfg.n_jobs)
        try:
            results = _run_dask(own, lab, specs, cfg, progress, on_dispatched)
        finally:
            close_client(own, cluster)
    secs["fit"] = time.perf_counter() - t1
    final = next(r["model"] for r in results if r["kind"] == "final")
    fold_res = sorted((r for r in results if r["kind"] == "fold"), key=lambda r: r["index"])
    report: dict[str, Any] = {"folds": [], "n_folds_requested": cfg.n_folds}
    pooled_idx: list[npt.NDArray[np.int64]] = []
    pooled_p: list[npt.NDArray[np.float64]] = []
    pooled_base: list[npt.NDArray[np.float64]] = []
    for f, r in zip(folds, fold_res, strict=True):
        entry = dict(r["scores"])
        entry.update({"fold": f.index, "train_rows": r["train_rows"],
                      "train_events": r["train_events"], "embargoed_rows": f.embargoed,
                      "train_end": str(f.train_end), "test_start": str(f.test_start),
                      "test_end": str(f.test_end)})
        report["folds"].append(entry)
        pooled_idx.append(f.test)
        pooled_p.append(r["p"])
        pooled_base.append(np.full(len(f.test), r["base"]))
    if pooled_idx:
        idx = np.concatenate(pooled_idx)
        test = lab.iloc[idx]
        overall = score_block(test, np.concatenate(pooled_p), float(np.concatenate(pooled_base)
                                                                   .mean()),
                              min_edge=cfg.min_edge, with_reliability=True,
                              direct_member=cfg.direct_member)
        overall["verdict"] = verdict(overall)
        report["overall"] = overall
    else:
        report["overall"] = None
        report["verdict"] = ("No out-of-sample evaluation was possible (too few events for "
                             "walk-forward folds): the model is unproven against the market.")
    secs["total"] = time.perf_counter() - t0
    window = (lab["ts"].min(), lab["ts"].max())
    return TrainResult(model=final, report=report, rows=len(lab), data_hash=data_hash(lab),
                       window=window, seconds=secs)


# ---- the whole `kalshibot train` pipeline over the store ----------------------------------
@dataclass
class Selection:
    """Which settled markets to train on (CLI ``--series/--tickers/--since/--until``)."""

    series: list[str] | None = None
    tickers: list[str] | None = None
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"series": self.series, "tickers": self.tickers,
                "since": None if self.since is None else self.since.isoformat(),
                "until": None if self.until is None else self.until.isoformat()}


#: Spot history loaded before the first market opens, to warm the EWMA volatility up.
SPOT_WARMUP = pd.Timedelta(hours=2)


def load_history(conn: Any, sel: Selection) -> HistoryFrames:
    """Markets closing in [since, until) (filtered by series/tickers) and everything the
    features need from the store: their snapshots and trades, and the spot of their assets."""
    from kalshibot.features.builder import spot_symbol_for_series
    from kalshibot.store import history as h

    markets = h.load_markets(conn, series=sel.series, tickers=sel.tickers, since=sel.since,
                             until=sel.until)
    if len(markets) == 0:
        return HistoryFrames(markets, h.load_snapshots(conn, tickers=["\x00"]), None, None)
    lo = markets["open_time"].min()
    hi = markets["close_time"].max() + pd.Timedelta(seconds=1)
    lo = markets["close_time"].min() - pd.Timedelta(days=2) if pd.isna(lo) else lo
    keep = set(markets["ticker"])
    snaps = h.load_snapshots(conn, since=lo, until=hi)
    snaps = snaps[snaps["ticker"].isin(keep)].reset_index(drop=True)
    trades = h.load_trades(conn, since=lo, until=hi)
    trades = trades[trades["ticker"].isin(keep)].reset_index(drop=True)
    symbols = sorted({s for s in map(spot_symbol_for_series, markets["series_ticker"].astype(str))
                      if s})
    spot = h.load_spot(conn, symbol=symbols, since=lo - SPOT_WARMUP, until=hi) if symbols else None
    return HistoryFrames(markets, snaps, trades, spot)


def run_training(
    database: Any,
    model_dir: Any,
    sel: Selection | None = None,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    *,
    require_beats_market: bool = False,
) -> tuple[TrainResult, Any]:
    """Store -> features -> walk-forward evaluation -> final model -> registry.

    ``database`` is the SQLite path; ``model_dir`` the registry folder. Returns the training
    result and the saved ``registry.Model``. The model is also recorded in the store's
    ``model_registry`` table. Raises ``UserInputError`` for a missing database or too little
    settled data.
    """
    from pathlib import Path

    from kalshibot.models.registry import save_model
    from kalshibot.store import connect
    from kalshibot.store import registry as store_registry

    sel = sel or Selection()
    cfg = config or TrainConfig()
    db = Path(database)
    if not db.exists():
        raise UserInputError(f"database {db} does not exist",
                             hint="run `kalshibot data sample` or record data first")
    conn = connect(db)
    try:
        if progress:
            progress("load", 0, 1)
        hist = load_history(conn, sel)
        if progress:
            progress("load", 1, 1)
        settled = hist.markets["result"].isin(["yes", "no"]).sum()
        if settled == 0:
            raise UserInputError(
                f"no settled markets in {db} for the selection "
                f"{ {k: v for k, v in sel.as_dict().items() if v} or 'all' }",
                hint="check --series/--tickers/--since/--until, or run `kalshibot data sample`")
        result = train_model(hist, cfg, progress)
        saved = save_model(Path(model_dir), result.model, report=result.report,
                           data_hash=result.data_hash, window=result.window, rows=result.rows,
                           feature_config=cfg.features, selection=sel.as_dict(),
                           require_beats_market=require_beats_market)
        overall = result.report.get("overall") or {}
        store_registry.register_model(
            conn, saved.model_id, str(saved.path), created=saved.created,
            metrics={"rows": result.rows, "beats_market": saved.meta["beats_market"],
                     "model": overall.get("model"), "market": overall.get("market"),
                     "bss_vs_market": overall.get("bss_vs_market")},
            make_current=bool(saved.meta.get("current")))
    finally:
        conn.close()
    return result, saved
