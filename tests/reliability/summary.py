"""Figures the reliability suite reports at the end of the run (see ``conftest.py``)."""

from __future__ import annotations

from collections import Counter

SUMMARY: dict[str, int] = Counter()
FAULTS: Counter[str] = Counter()
NOTES: list[str] = []


def add(**kw: int) -> None:
    for k, v in kw.items():
        SUMMARY[k] += v
