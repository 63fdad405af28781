"""External reference prices (crypto spot, USD per coin) for the 15-minute crypto markets.

Live: ``SpotFeed([CoinbaseSpotSource(session, clock), KrakenSpotSource(session, clock)], clock)``
then ``refresh()`` each cycle and ``latest("BTC")`` / ``status("BTC")`` / ``history(...)``.
Backtests: ``ReplaySpotFeed(frame, sim_clock)`` with the same query methods.
"""

from typing import TYPE_CHECKING, Any

from kalshibot.feeds.coinbase import CoinbaseSpotSource
from kalshibot.feeds.combine import SpotFeedConfig, combine
from kalshibot.feeds.feed import SpotFeed
from kalshibot.feeds.kraken import KrakenSpotSource
from kalshibot.feeds.symbols import (
    COINBASE_PRODUCTS,
    DEFAULT_SYMBOLS,
    KRAKEN_PAIRS,
    series_to_symbol,
)
from kalshibot.feeds.types import (
    Resolution,
    SpotBar,
    SpotCandle,
    SpotFeedLike,
    SpotPrice,
    SpotQuote,
    SpotSource,
    SpotStatus,
    SpotUnavailableError,
)

if TYPE_CHECKING:
    from kalshibot.feeds.replay import ReplaySpotFeed, StaticSpotFeed


def __getattr__(name: str) -> Any:
    """``ReplaySpotFeed`` / ``StaticSpotFeed`` on first use: replay needs pandas, which the
    light commands (``--help``, ``status``) must not load (issue 19: start-up CPU)."""
    if name in ("ReplaySpotFeed", "StaticSpotFeed"):
        from kalshibot.feeds import replay

        return getattr(replay, name)
    raise AttributeError(f"module 'kalshibot.feeds' has no attribute {name!r}")


__all__ = [
    "COINBASE_PRODUCTS",
    "DEFAULT_SYMBOLS",
    "KRAKEN_PAIRS",
    "CoinbaseSpotSource",
    "KrakenSpotSource",
    "ReplaySpotFeed",
    "Resolution",
    "SpotBar",
    "SpotCandle",
    "SpotFeed",
    "SpotFeedConfig",
    "SpotFeedLike",
    "SpotPrice",
    "SpotQuote",
    "SpotSource",
    "SpotStatus",
    "SpotUnavailableError",
    "StaticSpotFeed",
    "combine",
    "series_to_symbol",
]
