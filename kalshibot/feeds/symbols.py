"""Crypto symbols of the 15-minute markets and their product ids on each spot exchange.

A *symbol* is the bare coin code used throughout the bot (``"BTC"``). Each exchange names the
USD pair differently (Coinbase ``BTC-USD``, Kraken ``XBTUSD``); more coins are added by passing
a bigger mapping to the sources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from kalshibot.errors import DataError

#: Coinbase Exchange product ids (USD pairs).
COINBASE_PRODUCTS: Mapping[str, str] = MappingProxyType(
    {
        "BTC": "BTC-USD",
        "ETH": "ETH-USD",
        "SOL": "SOL-USD",
        "XRP": "XRP-USD",
        "DOGE": "DOGE-USD",
    }
)

#: Kraken pair names as accepted by ``/0/public/Ticker?pair=`` (USD pairs).
KRAKEN_PAIRS: Mapping[str, str] = MappingProxyType(
    {
        "BTC": "XBTUSD",
        "ETH": "ETHUSD",
        "SOL": "SOLUSD",
        "XRP": "XRPUSD",
        "DOGE": "XDGUSD",
    }
)

#: Symbols served by default.
DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC", "ETH", "SOL", "XRP", "DOGE")

_SERIES_RE = re.compile(r"^KX([A-Z0-9]+?)15M$")


def series_to_symbol(series_or_ticker: str) -> str:
    """Coin symbol of a 15-minute crypto series: ``'KXBTC15M'`` -> ``'BTC'``.

    Also accepts an event or market ticker (``'KXBTC15M-26JUN261930-30'``): only the part
    before the first ``-`` is read. Raises ``DataError`` if it is not a ``KX<COIN>15M`` series.
    Whether a spot source covers the coin is decided by the sources, not here.
    """
    series = series_or_ticker.strip().upper().split("-", 1)[0]
    match = _SERIES_RE.match(series)
    if match is None:
        raise DataError(f"{series_or_ticker!r} is not a 15-minute crypto series (KX<COIN>15M)")
    return match.group(1)


def normalize_symbol(symbol: str) -> str:
    """Upper-case, stripped symbol; empty is a ``DataError``."""
    out = symbol.strip().upper()
    if not out:
        raise DataError("empty spot symbol")
    return out
