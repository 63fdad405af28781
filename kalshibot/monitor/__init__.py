"""Monitoring: structured logs, heartbeat helpers, alerts, health (``kalshibot status``).

- ``logging``: JSON-lines rotating log under ``log_dir``, rich console, secret redaction.
- ``alerts``: webhook (Slack/Discord) and Telegram targets, rate limited, never raising.
- ``trading``: ``TradingMonitor``, the engine's/session's hook for events and alerts.
- ``health``: the status document and exit code, computed from the store, settings and clock.
"""
