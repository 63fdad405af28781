"""``KALSHIBOT_API_BASE_URL`` moves the WebSocket too (issue 16 case 8).

On f6e3055 the setting redirected REST only: a test set-up pointing REST at a fake exchange
with the socket on connected to real Kalshi. Fails there (``ws_url`` ignored the setting).
"""

from __future__ import annotations

import pytest

from kalshibot.config import load_settings
from kalshibot.ws.client import WS_URLS
from kalshibot.ws.marketdata import ws_url


@pytest.mark.parametrize("base,expected", [
    ("http://127.0.0.1:8765/trade-api/v2", "ws://127.0.0.1:8765/trade-api/ws/v2"),
    ("https://fake.example/trade-api/v2/", "wss://fake.example/trade-api/ws/v2"),
    ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/trade-api/ws/v2"),
    ("https://proxy.example/kalshi/trade-api/v2", "wss://proxy.example/kalshi/trade-api/ws/v2"),
])
def test_api_base_url_moves_the_websocket(base: str, expected: str) -> None:
    s = load_settings(env={"KALSHIBOT_API_BASE_URL": base}, dotenv_file=None)
    assert ws_url(s) == expected


def test_without_the_setting_the_environment_decides() -> None:
    for env in ("demo", "prod"):
        s = load_settings(env={"KALSHIBOT_ENVIRONMENT": env}, dotenv_file=None)
        assert ws_url(s) == WS_URLS[s.environment]
        assert "kalshi" in ws_url(s)
