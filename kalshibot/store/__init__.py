"""The SQLite store: the single source of truth for trade, train, backtest and status.

- ``connection``: ``open_store(path)`` (WAL, foreign keys, busy timeout, migrated) and
  ``atomic(conn)``, the one transaction helper (nested use joins the outer transaction).
- ``migrations``: schema versions in ``PRAGMA user_version``.
- one repository module per aggregate: ``markets`` (series/events/markets), ``books``,
  ``trades``, ``candles``, ``spot``, ``prices``, ``settlements``, ``orders``, ``fills``,
  ``positions``, ``decisions``, ``equity``, ``runs``, ``registry``, ``kv``.
- ``history``: pandas loaders for features and backtests.
- ``units``: storage encodings (integer price/count units, decimal text, epoch ms).
"""

from kalshibot.store.connection import atomic, connect, integrity_check, open_store
from kalshibot.store.migrations import CURRENT_VERSION, schema_version

__all__ = ["atomic", "connect", "integrity_check", "open_store", "CURRENT_VERSION",
           "schema_version"]
