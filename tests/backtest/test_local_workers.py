"""A local sweep or search starts no more worker processes than there are CPUs to run them
(or tasks to give them): `--jobs 4` on a 2-core machine paid four interpreter start-ups and
made four CPU-bound processes share two cores, for nothing."""

from __future__ import annotations

import os

import pytest

from kalshibot.cluster import local_workers


def test_workers_capped_by_cpus_and_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert local_workers(4, 6) == 2
    assert local_workers(4, 1) == 1
    assert local_workers(1, 6) == 1
    assert local_workers(0, 6) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert local_workers(4, 6) == 4
    assert local_workers(8, 6) == 6
