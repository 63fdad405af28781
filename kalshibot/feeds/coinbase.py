"""Coinbase Exchange public market data (no key).

- ``GET /products/{id}/ticker`` -> ``{"ask","bid","volume","trade_id","price","size","time"}``
  (decimal strings; ``time`` = last trade, ISO UTC).
- ``GET /products/{id}/candles?granularity=60&start&end`` -> ``[[time, low, high, open, close,
  volume], ...]`` newest first, numbers, at most 300 per request; ``time`` = bar open, epoch s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import requests

from kalshibot.clock import Clock, ensure_utc, from_epoch_s
from kalshibot.errors import DataError
from kalshibot.feeds.http import (
    DEFAULT_TIMEOUT,
    HttpSpotSource,
    get_json,
    mid,
    nonneg_decimal,
    parse_iso_utc,
    positive_decimal,
    require,
)
from kalshibot.feeds.symbols import COINBASE_PRODUCTS, normalize_symbol
from kalshibot.feeds.types import SpotCandle, SpotQuote

BASE_URL = "https://api.exchange.coinbase.com"
#: Most candles Coinbase returns per request.
MAX_CANDLES = 300


class CoinbaseSpotSource(HttpSpotSource):
    """Spot quotes and 1-minute candles from Coinbase Exchange.

    ``price_basis`` is ``"mid"`` (bid/ask mid, default; closer to an order-book index such as
    the CF Benchmarks RTI) or ``"last"`` (last trade).
    """

    name = "coinbase"

    instrument_word = "product"

    def __init__(
        self,
        session: requests.Session,
        clock: Clock,
        *,
        products: Mapping[str, str] = COINBASE_PRODUCTS,
        base_url: str = BASE_URL,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        price_basis: str = "mid",
    ) -> None:
        super().__init__(session, clock, instruments=products, base_url=base_url, timeout=timeout,
                         price_basis=price_basis)

    def product(self, symbol: str) -> str:
        """Coinbase product id of ``symbol`` (``'BTC'`` -> ``'BTC-USD'``)."""
        return self.instrument(symbol)

    def fetch_quote(self, symbol: str) -> SpotQuote:
        """Ticker -> quote; price in USD per coin, ``ts`` = our clock at receipt."""
        sym = normalize_symbol(symbol)
        product = self.product(sym)
        body = get_json(
            self._session,
            f"{self._base}/products/{product}/ticker",
            source=self.name,
            timeout=self._timeout,
        )
        return self.parse_ticker(sym, body, received=self._clock.now())

    def parse_ticker(self, symbol: str, body: Any, *, received: datetime) -> SpotQuote:
        """Parse a ticker body (exposed for tests and replays of recorded responses)."""
        what = f"{symbol} ticker"
        bid = positive_decimal(require(body, "bid", self.name, what), self.name, f"{what} bid")
        ask = positive_decimal(require(body, "ask", self.name, what), self.name, f"{what} ask")
        last = positive_decimal(require(body, "price", self.name, what), self.name, f"{what} price")
        ex_ts = parse_iso_utc(require(body, "time", self.name, what), self.name, f"{what} time")
        price = mid(bid, ask, self.name, symbol) if self._basis == "mid" else last
        return SpotQuote(
            source=self.name,
            symbol=symbol,
            price=price,
            ts=ensure_utc(received),
            bid=bid,
            ask=ask,
            last=last,
            exchange_ts=ex_ts,
        )

    def fetch_candles(self, symbol: str, start: datetime, end: datetime) -> list[SpotCandle]:
        """Closed 1-minute candles in ``[start, end)``, oldest first (pages of 300)."""
        sym = normalize_symbol(symbol)
        product = self.product(sym)
        start, end = ensure_utc(start), min(ensure_utc(end), self._clock.now())
        out: dict[datetime, SpotCandle] = {}
        page_start = start
        while page_start < end:
            page_end = min(end, page_start + timedelta(minutes=MAX_CANDLES))
            body = get_json(
                self._session,
                f"{self._base}/products/{product}/candles",
                source=self.name,
                params={
                    "granularity": 60,
                    "start": page_start.isoformat(),
                    "end": page_end.isoformat(),
                },
                timeout=self._timeout,
            )
            for candle in self.parse_candles(sym, body):
                out[candle.start] = candle
            page_start = page_end
        now = self._clock.now()
        return [
            c
            for ts, c in sorted(out.items())
            if start <= ts < end and ts + timedelta(seconds=c.interval_s) <= now
        ]

    def parse_candles(self, symbol: str, body: Any) -> list[SpotCandle]:
        """Parse a candles body (any order in, oldest first out)."""
        what = f"{symbol} candles"
        if not isinstance(body, list):
            raise DataError(f"{self.name}: {what}: expected a list, got {type(body).__name__}")
        out: list[SpotCandle] = []
        for i, row in enumerate(body):
            if not isinstance(row, list) or len(row) < 6:
                raise DataError(f"{self.name}: {what}[{i}]: expected 6 fields, got {row!r}")
            t, low, high, open_, close, volume = row[:6]
            if isinstance(t, bool) or not isinstance(t, int):
                raise DataError(f"{self.name}: {what}[{i}]: bad time {t!r}")
            out.append(
                SpotCandle(
                    source=self.name,
                    symbol=symbol,
                    start=from_epoch_s(t),
                    open=positive_decimal(open_, self.name, f"{what}[{i}] open"),
                    high=positive_decimal(high, self.name, f"{what}[{i}] high"),
                    low=positive_decimal(low, self.name, f"{what}[{i}] low"),
                    close=positive_decimal(close, self.name, f"{what}[{i}] close"),
                    volume=nonneg_decimal(volume, self.name, f"{what}[{i}] volume"),
                    interval_s=60,
                )
            )
        out.sort(key=lambda c: c.start)
        return out
