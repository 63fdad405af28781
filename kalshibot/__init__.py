"""kalshibot: a command-line trading bot for Kalshi prediction markets."""

__version__ = "0.1.0"
