"""Kalshi REST endpoints."""

from kalshibot.kalshi.endpoints.client import KalshiClient

__all__ = ["KalshiClient"]
