"""Real-time Kalshi market data over the WebSocket API (``kalshi-api.md`` section 11).

``client`` (connection, commands, heartbeat, reconnect), ``books`` (exact local books from
snapshots + deltas, seq gaps -> resync), ``channels`` (ticker, trade, fill, user_orders,
market_lifecycle_v2, cfbenchmarks_value), ``feed`` (wires them together), ``marketdata`` (what the
engine reads: WebSocket-backed or REST polling, staleness per market) and ``record``
(``kalshibot data record --ws``).
"""
