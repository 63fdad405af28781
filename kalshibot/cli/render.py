"""Rich tables and JSON output shared by commands."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from rich.table import Table

from kalshibot.cli.context import console


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(str(x) for x in r))
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
