"""Market-data ingestion from Kalshi into the store.

- ``sync``: ``run_sync(client, conn, SyncOptions(...), clock=...)`` downloads markets, events,
  series, candlesticks, trades and (authenticated) account settlements; resumable through
  ``sync.*`` keys in the ``kv`` table and idempotent.
- ``record``: ``run_record(client, conn, RecordOptions(...), clock=..., spot=...)`` polls live
  order books (batch endpoint) and spot prices every N seconds, one transaction per poll.
"""

from kalshibot.ingest.record import RecordOptions, RecordReport, StopFlag, run_record
from kalshibot.ingest.sync import SyncOptions, SyncProgress, SyncReport, run_sync

__all__ = ["RecordOptions", "RecordReport", "StopFlag", "SyncOptions", "SyncProgress",
           "SyncReport", "run_record", "run_sync"]
