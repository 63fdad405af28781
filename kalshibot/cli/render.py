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
          width: int | None = None, optional: Sequence[str] = ()) -> Table:
    """A table that fits ``width`` (default: the console's): identifier columns (tickers,
    order ids) keep their full width unwrapped; other columns wrap between words, and are cut
    mid-word only when the words cannot all fit. ``optional`` names columns dropped, in that
    order, while the words do not fit (the least useful first)."""
    cells = [[str(x) for x in r] for r in rows]
    columns = list(columns)
    width = width or console.width
    while True:
        room = width - 3 * len(columns) - 1  # less borders and padding
        ids, words = [], []
        for i, c in enumerate(columns):
            texts = [r[i] for r in cells if i < len(r)]
            ids.append(max([len(c)] + [len(x) for x in texts]) if is_id_column(c) else 0)
            words.append(min(WORD, max([0] + [len(w) for x in [c, *texts] for w in x.split()])))
        keep_words = sum(max(a, b) for a, b in zip(ids, words, strict=True)) <= room
        drop = next((c for c in optional if c in columns), None)
        if keep_words or drop is None:
            break
        k = columns.index(drop)
        columns.pop(k)
        cells = [r[:k] + r[k + 1:] for r in cells]
    fixed = _widths(columns, cells, ids, words, room) if keep_words else None
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        if ids[i]:
            t.add_column(c, no_wrap=True, min_width=ids[i])
        else:
            t.add_column(c, overflow="fold", min_width=words[i] if keep_words else None,
                         width=fixed[i] if fixed else None)
    for r in cells:
        t.add_row(*r)
    return t


def _widths(columns: Sequence[str], cells: list[list[str]], ids: list[int], words: list[int],
            room: int) -> list[int] | None:
    """Column widths when the natural ones do not fit ``room`` (rich's own squeeze stops
    short of the words' widths and crops the right edge): identifiers whole, every other
    column at least its longest word; the rest of the room goes first to the columns that
    need least to show whole, then evenly."""
    natural = [max([len(c)] + [len(r[i]) for r in cells if i < len(r)])
               for i, c in enumerate(columns)]
    if sum(natural) <= room:
        return None
    base = [ids[i] or words[i] for i in range(len(columns))]
    want = [0 if ids[i] else natural[i] - base[i] for i in range(len(columns))]
    spare, total = room - sum(base), sum(want)
    if spare <= 0 or total == 0:
        return base
    extra = [0] * len(columns)
    order = sorted((i for i in range(len(columns)) if want[i]), key=lambda i: want[i])
    for k, i in enumerate(order):  # short columns whole first, the rest share evenly
        extra[i] = min(want[i], spare // (len(order) - k))
        spare -= extra[i]
    return [b + e for b, e in zip(base, extra, strict=True)]


def _amount(value: Any) -> Decimal:
    """The exact dollars of a ``Money``, ``Price``, ``Decimal``, int or decimal string."""
    for attr in ("amount", "value"):
        if hasattr(value, attr) and isinstance(getattr(value, attr), Decimal):
            return Decimal(getattr(value, attr))
    return Decimal(str(value))


def dollars(value: Any) -> str:
    """The one table format of an amount of money: dollars to the cent with thousands
    separators, no sign for gains, e.g. ``1,234.57`` / ``-0.02`` (for "... $" columns).
    ``None`` -> ``-``. Display only: exact amounts go to JSON, CSV and the store."""
    if value is None:
        return "-"
    cents = _amount(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{'-' if cents < 0 else ''}{abs(cents):,.2f}"


def money(value: Any) -> str:
    """Dollars to the cent for tables, e.g. ``-$1,234.57`` (``Money``, ``Decimal`` or decimal
    text; ``None`` -> ``-``)."""
    text = dollars(value)
    return text if text == "-" else (f"-${text[1:]}" if text.startswith("-") else f"${text}")


def signed_money(value: Any) -> str:
    """``money`` with an explicit ``+`` on gains (P&L columns), e.g. ``+$12.50``."""
    text = money(value)
    return f"+{text}" if text not in ("-", "$0.00") and not text.startswith("-") else text


def price(value: Any) -> str:
    """A price per contract in dollars: to the cent (``0.49``), with 4 decimals only when
    it is not a whole cent (``0.4950``, sub-cent tick markets). ``None`` -> ``-``."""
    if value is None:
        return "-"
    v = _amount(value)
    if v == v.quantize(Decimal("0.01")):
        return f"{v.quantize(Decimal('0.01')):f}"
    return f"{v.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN):f}"


def print_json(doc: Any) -> None:
    """Machine-readable output on stdout (no colour, no wrapping)."""
    print(json.dumps(doc, indent=2, sort_keys=True, default=str))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    console.print(table(title, columns, rows))
