"""Rich tables and JSON output shared by commands."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from rich.table import Table

from kalshibot.cli.context import console

#: Column names whose cells are identifiers: never wrapped mid-word (other columns give way).
ID_WORDS = ("ticker", "market", "order id", "order", "id", "run")


WORD = 20  # a column is at least as wide as its longest word, up to this


def is_id_column(name: str) -> bool:
    return name.strip().lower() in ID_WORDS or name.strip().lower().endswith(("ticker", " id"))


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          width: int | None = None) -> Table:
    """A table that fits ``width`` (default: the console's): identifier columns (tickers,
    order ids) keep their full width unwrapped; other columns wrap between words, and are cut
    mid-word only when the words cannot all fit."""
    cells = [[str(x) for x in r] for r in rows]
    room = (width or console.width) - 3 * len(columns) - 1  # less borders and padding
    ids, words = [], []
    for i, c in enumerate(columns):
        texts = [r[i] for r in cells if i < len(r)]
        ids.append(max([len(c)] + [len(x) for x in texts]) if is_id_column(c) else 0)
        words.append(min(WORD, max([0] + [len(w) for x in [c, *texts] for w in x.split()])))
    keep_words = sum(max(a, b) for a, b in zip(ids, words, strict=True)) <= room
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        if ids[i]:
            t.add_column(c, no_wrap=True, min_width=ids[i])
        else:
            t.add_column(c, overflow="fold", min_width=words[i] if keep_words else None)
    for r in cells:
        t.add_row(*r)
    return t


def money(value: Any) -> str:
    """Dollars to the cent for tables, e.g. ``-$1,234.57`` (``Money`` or ``Decimal``; display
    only: exact amounts go to JSON and the store)."""
    amount = value.amount if hasattr(value, "amount") else Decimal(value)
    cents = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{'-' if cents < 0 else ''}${abs(cents):,.2f}"


def print_json(doc: Any) -> None:
    """Machine-readable output on stdout (no colour, no wrapping)."""
    print(json.dumps(doc, indent=2, sort_keys=True, default=str))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    console.print(table(title, columns, rows))
