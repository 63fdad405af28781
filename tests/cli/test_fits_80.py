"""Issue 19 item 7: tables fit 80 columns without cutting tickers; the live trade view keeps
its status lines on screen at 80x24 and 120x40.

The live-view test fails on f6e3055 (30 rows pushed the status lines off a 24-line screen; the
ticker column folded mid-word), as does the markets test (ticker folded at 80 columns).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rich.console import Console

from kalshibot.cli import render
from kalshibot.cli.trade_cmd import cycle_view
from kalshibot.domain.money import Count, Money, Price
from kalshibot.engine import CycleReport, MarketRow

TICKERS = [f"KXBTC15M-26NOV20{h:02d}{m:02d}-{m:02d}" for h in range(10) for m in (0, 15, 30, 45)]


def _report() -> CycleReport:
    rows = [MarketRow(t, 0.512, Price(Decimal("0.49")), Price(Decimal("0.52")),
                      Decimal("0.0212"), Count(Decimal("356.78")), Money(Decimal("-12.345678")),
                      "rejected", "edge below the minimum after fees and adverse selection " * 2)
            for t in TICKERS]
    return CycleReport(7, datetime(2026, 11, 20, 12, tzinfo=UTC), len(rows), 3, 2,
                       ["feed stale for 12 s"], Money(Decimal("12924.391234")),
                       Money(Decimal("10000")), Money(Decimal("-75.5")), "ok", False, "", rows,
                       12.0)


def _render(renderable, width: int, height: int) -> list[str]:
    buf = io.StringIO()
    Console(file=buf, width=width, height=height, force_terminal=False,
            color_system=None).print(renderable)
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_live_view_fits_the_terminal_with_its_footer(size: tuple[int, int]) -> None:
    width, height = size
    lines = _render(cycle_view(_report(), height=height), width, height)
    assert len(lines) <= height
    assert all(len(x) <= width for x in lines)
    text = "\n".join(lines)
    assert "equity $12,924.39" in text and "alerts:" in text  # the footer is visible
    assert "KXBTC15M-26NOV200000-00" in text  # tickers whole


def test_tables_fit_80_columns_and_keep_ids_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    cols = ["ticker", "title", "status", "yes bid", "yes ask", "spread", "volume",
            "close (UTC)", "order id"]
    rows = [(t, "BTC price up in next 15 mins? " * 2, "finalized (yes)", "0.4900", "0.5200",
             "0.0300", "1,234.56", "2026-11-20 05:45", f"ord-{i:08d}-7f3a9c2b")
            for i, t in enumerate(TICKERS[:5])]
    lines = _render(render.table("t", cols, rows, width=80), 80, 24)
    assert all(len(x) <= 80 for x in lines), max(len(x) for x in lines)
    text = "\n".join(lines)
    assert "KXBTC15M-26NOV200000-00" in text and "ord-00000000-7f3a9c2b" in text
