"""The one way kalshibot reaches a Dask cluster (``[dask]`` extra, i.e. ``distributed``).

Used by ``backtest --sweep/--search`` (``kalshibot.backtest.distributed``), ``train`` folds and
walk-forward retraining (``kalshibot.models.training``). ``make_client`` connects to a scheduler
address or starts a local cluster of worker processes; ``scheduler_for`` applies
``KALSHIBOT_DASK_SCHEDULER`` to ``--backend dask`` only. Tasks are always handed their data
(scattered to the workers), never a client-side path.
"""

from __future__ import annotations

import os
from typing import Any

from kalshibot.errors import UserInputError

INSTALL_HINT = ("--backend dask needs the 'distributed' package: pip install distributed "
                "(the kalshibot 'dask' extra)")


def local_workers(n_jobs: int, n_tasks: int) -> int:
    """Worker processes for ``n_tasks`` CPU-bound tasks on this machine: ``n_jobs``, but no
    more than the CPUs this process may run on, nor than the tasks (more processes than cores
    only add start-up and switching costs; the results do not depend on it)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(n_jobs, cpus, n_tasks))


def require_distributed() -> None:
    """Raise a one-line ``UserInputError`` (exit 2) when ``distributed`` is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UserInputError(INSTALL_HINT) from None


def check_backend(backend: str | None, scheduler: str | None, *, default: str,
                  listed: tuple[str, ...], also: tuple[str, ...] = ()) -> str:
    """The backend name (lower case; ``default`` when none is given, "dask" with a scheduler).
    Names outside ``listed`` + ``also``, a scheduler without Dask, and Dask without
    ``distributed`` installed are one-line ``UserInputError``s (exit 2)."""
    name = (backend or ("dask" if scheduler else default)).strip().lower()
    if name not in (*listed, *also):
        raise UserInputError(f"--backend {backend!r}: choose from {', '.join(listed)}")
    if scheduler and name != "dask":
        raise UserInputError(f"--scheduler needs --backend dask, not {name!r}")
    if name == "dask":
        require_distributed()
    return name


def scheduler_for(backend: str | None, option: str | None, configured: str) -> str | None:
    """The scheduler address: ``--scheduler`` if given, else ``KALSHIBOT_DASK_SCHEDULER``
    (``configured``) for ``--backend dask`` only (local backends stay local)."""
    if option:
        return option
    return configured or None if (backend or "").strip().lower() == "dask" else None


def make_client(scheduler: str | None, n_workers: int) -> tuple[Any, Any]:
    """``(client, cluster)``: connect to ``scheduler`` or start a local cluster of processes
    (``cluster`` is None for a remote scheduler)."""
    require_distributed()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError) as exc:
            raise UserInputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                                 hint="start one with `dask scheduler` and workers with "
                                      "`dask worker ADDR`") from None
    cluster = LocalCluster(n_workers=max(1, n_workers), threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def close_client(client: Any, cluster: Any) -> None:
    """Close what ``make_client`` opened (the cluster only when it was started locally)."""
    client.close()
    if cluster is not None:
        cluster.close()


#: (scheduler, n_workers) -> (client, cluster), kept for a whole command (``shared_client``).
_SHARED: dict[tuple[str | None, int], tuple[Any, Any]] = {}


def shared_client(scheduler: str | None, n_workers: int) -> Any:
    """A client reused by every caller in this process (e.g. each walk-forward retraining of a
    backtest and of its lookahead re-runs); ``close_shared`` closes it (also at exit)."""
    key = (scheduler or None, max(1, n_workers))
    if key not in _SHARED:
        if not _SHARED:
            import atexit

            atexit.register(close_shared)
        _SHARED[key] = make_client(*key)
    return _SHARED[key][0]


def close_shared() -> None:
    """Close every client opened by ``shared_client`` (and the local clusters it started)."""
    while _SHARED:
        close_client(*_SHARED.popitem()[1])
