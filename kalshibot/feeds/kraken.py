"""Kraken public market data (no key).

Every response is ``{"error": [...], "result": {...}}``; a non-empty ``error`` arrives with
HTTP 200. The result is keyed by Kraken's canonical pair name, which may differ from the one
requested (``XBTUSD`` -> ``XXBTZUSD``).

- ``GET /0/public/Ticker?pair=XBTUSD`` -> ``a`` ask ``[price, whole lot vol, lot vol]``,
  ``b`` bid (same), ``c`` last trade ``[price, lot vol]``, ... (decimal strings, no timestamp).
- ``GET /0/public/OHLC?pair=XBTUSD&interval=1&since=T`` -> ``[[time, open, high, low, close,
  vwap, volume, count], ...]`` oldest first plus ``"last"``; ``time`` = bar open, epoch s; the
  newest bar is still open.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import requests

from kalshibot.clock import Clock, ensure_utc, from_epoch_s
from kalshibot.errors import DataError, ExchangeUnavailableError, RateLimitedError
from kalshibot.feeds.http import (
    DEFAULT_TIMEOUT,
    HttpSpotSource,
    get_json,
    mid,
    nonneg_decimal,
    positive_decimal,
    require,
)
from kalshibot.feeds.symbols import KRAKEN_PAIRS, normalize_symbol
from kalshibot.feeds.types import SpotCandle, SpotQuote

BASE_URL = "https://api.kraken.com"

_UNAVAILABLE_PREFIXES = ("EService:", "EGeneral:Temporary", "EAPI:Rate limit", "EGeneral:Too many")


class KrakenSpotSource(HttpSpotSource):
    """Spot quotes and 1-minute candles from Kraken; ``price_basis`` as for Coinbase."""

    name = "kraken"

    instrument_word = "pair"

    def __init__(
        self,
        session: requests.Session,
        clock: Clock,
        *,
        pairs: Mapping[str, str] = KRAKEN_PAIRS,
        base_url: str = BASE_URL,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        price_basis: str = "mid",
    ) -> None:
        super().__init__(session, clock, instruments=pairs, base_url=base_url, timeout=timeout,
                         price_basis=price_basis)

    def pair(self, symbol: str) -> str:
        """Kraken pair of ``symbol`` (``'BTC'`` -> ``'XBTUSD'``)."""
        return self.instrument(symbol)

    def fetch_quote(self, symbol: str) -> SpotQuote:
        """Ticker -> quote; price in USD per coin, ``ts`` = our clock at receipt."""
        sym = normalize_symbol(symbol)
        pair = self.pair(sym)
        body = get_json(
            self._session,
            f"{self._base}/0/public/Ticker",
            source=self.name,
            params={"pair": pair},
            timeout=self._timeout,
        )
        return self.parse_ticker(sym, pair, body, received=self._clock.now())

    def _result_for(self, body: Any, pair: str, what: str) -> Any:
        errors = require(body, "error", self.name, what)
        if not isinstance(errors, list):
            raise DataError(f"{self.name}: {what}: 'error' is not a list")
        if errors:
            text = "; ".join(str(e) for e in errors)
            if any(str(e).startswith("EAPI:Rate limit") for e in errors):
                raise RateLimitedError(f"{self.name}: {what}: {text}")
            if any(str(e).startswith(_UNAVAILABLE_PREFIXES) for e in errors):
                raise ExchangeUnavailableError(f"{self.name}: {what}: {text}")
            raise DataError(f"{self.name}: {what}: {text}")
        result = require(body, "result", self.name, what)
        if not isinstance(result, dict):
            raise DataError(f"{self.name}: {what}: 'result' is not an object")
        if pair in result:
            return result[pair]
        keys = [k for k in result if k != "last"]
        if len(keys) != 1:
            raise DataError(f"{self.name}: {what}: cannot find pair {pair} in result {keys}")
        return result[keys[0]]

    def parse_ticker(self, symbol: str, pair: str, body: Any, *, received: datetime) -> SpotQuote:
        """Parse a Ticker body for one requested pair."""
        what = f"{symbol} ticker"
        info = self._result_for(body, pair, what)
        bid = positive_decimal(self._first(info, "b", what), self.name, f"{what} bid")
        ask = positive_decimal(self._first(info, "a", what), self.name, f"{what} ask")
        last = positive_decimal(self._first(info, "c", what), self.name, f"{what} last")
        price = mid(bid, ask, self.name, symbol) if self._basis == "mid" else last
        return SpotQuote(
            source=self.name,
            symbol=symbol,
            price=price,
            ts=ensure_utc(received),
            bid=bid,
            ask=ask,
            last=last,
            exchange_ts=None,
        )

    def _first(self, info: Any, key: str, what: str) -> Any:
        arr = require(info, key, self.name, what)
        if not isinstance(arr, list) or not arr:
            raise DataError(f"{self.name}: {what}: field {key!r} is not a non-empty list")
        return arr[0]

    def fetch_candles(self, symbol: str, start: datetime, end: datetime) -> list[SpotCandle]:
        """Closed 1-minute candles in ``[start, end)``, oldest first.

        Kraken serves only the most recent 720 one-minute bars; older minutes are absent.
        """
        sym = normalize_symbol(symbol)
        pair = self.pair(sym)
        start, end = ensure_utc(start), ensure_utc(end)
        since = int(start.timestamp()) - 60  # Kraken returns bars strictly after ``since``
        body = get_json(
            self._session,
            f"{self._base}/0/public/OHLC",
            source=self.name,
            params={"pair": pair, "interval": 1, "since": since},
            timeout=self._timeout,
        )
        now = self._clock.now()
        return [
            c
            for c in self.parse_ohlc(sym, pair, body)
            if start <= c.start < end and c.start + timedelta(seconds=c.interval_s) <= now
        ]

    def parse_ohlc(self, symbol: str, pair: str, body: Any) -> list[SpotCandle]:
        """Parse an OHLC body (oldest first out)."""
        what = f"{symbol} OHLC"
        rows = self._result_for(body, pair, what)
        if not isinstance(rows, list):
            raise DataError(f"{self.name}: {what}: expected a list of bars")
        out: list[SpotCandle] = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) < 7:
                raise DataError(f"{self.name}: {what}[{i}]: expected 8 fields, got {row!r}")
            t = row[0]
            if isinstance(t, bool) or not isinstance(t, int):
                raise DataError(f"{self.name}: {what}[{i}]: bad time {t!r}")
            out.append(
                SpotCandle(
                    source=self.name,
                    symbol=symbol,
                    start=from_epoch_s(t),
                    open=positive_decimal(row[1], self.name, f"{what}[{i}] open"),
                    high=positive_decimal(row[2], self.name, f"{what}[{i}] high"),
                    low=positive_decimal(row[3], self.name, f"{what}[{i}] low"),
                    close=positive_decimal(row[4], self.name, f"{what}[{i}] close"),
                    volume=nonneg_decimal(row[6], self.name, f"{what}[{i}] volume"),
                    interval_s=60,
                )
            )
        out.sort(key=lambda c: c.start)
        return out
