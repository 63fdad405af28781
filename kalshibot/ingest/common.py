"""Helpers shared by ``sync`` and ``record``: series cache and wire -> domain markets."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from kalshibot.domain.market import Market, Series, series_of
from kalshibot.errors import DataError, ExchangeRejectedError
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.store.markets import upsert_series

#: ``markets.source`` of rows written from the Kalshi API.
SOURCE = "kalshi"


class SeriesCache:
    """``GET /series/{s}`` once per series per run; stored in the ``series`` table.

    A series the exchange does not know (404/400) or sends malformed is remembered as ``None``
    and its markets get the default fee type; the problem is kept in ``problems``.
    """

    def __init__(self, client: KalshiClient) -> None:
        self.client = client
        self._cache: dict[str, Series | None] = {}
        self.problems: list[str] = []

    def get(self, ticker: str) -> Series | None:
        if ticker not in self._cache:
            try:
                self._cache[ticker] = p.parse_series(self.client.get_series(ticker))
            except (ExchangeRejectedError, DataError) as exc:
                self.problems.append(f"series {ticker}: {exc}")
                self._cache[ticker] = None
        return self._cache[ticker]

    def save(self, conn: sqlite3.Connection, *, now: datetime) -> int:
        """Upsert every known series; returns rows written (new or changed)."""
        return upsert_series(conn, [s for s in self._cache.values() if s is not None], now=now)


def parse_markets(wires: Iterable[w.WireMarket], series: SeriesCache,
                  problems: list[str]) -> list[Market]:
    """Domain markets with their series' fee type; malformed markets go to ``problems``."""
    out: list[Market] = []
    for m in wires:
        s = series.get(series_of(m.event_ticker))
        try:
            out.append(p.parse_market(m, s))
        except DataError as exc:
            problems.append(f"market {m.ticker}: {exc}")
    return out
