"""Live Kalshi adapter: signing, HTTP (rate limits, retries, errors), wire models, parsing,
REST endpoints and ``KalshiExchange``."""
