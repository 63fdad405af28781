"""Real history end to end (issue 21): ``data sync`` a month of KXBTC15M from a local fake of
Kalshi's market-data API (and of Coinbase's candles) over real HTTP -> ``train`` -> ``backtest``
with each strategy, every command a subprocess as a user runs it.

Before candle quotes (main at 13596ab) ``train`` exited 2 on such a store ("not enough settled
data to train"): it read only order-book snapshots, which a sync does not produce. (The fake
does not exist on f6e3055, so this test cannot run there.) About 90 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.kit.market_data import MarketDataFake

CANDLE_TRADE = ("/series/{t}/markets/{t}/candlesticks", "/historical/markets/{t}/candlesticks",
                "/markets/candlesticks", "/markets/trades", "/historical/trades")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[MarketDataFake, dict[str, str]]]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    fake = MarketDataFake(days=30, seed=4, now=now, cutoff_days=10)
    url, stop = fake.serve()
    tmp = tmp_path_factory.mktemp("real-history")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHIBOT_")}
    env.update(KALSHIBOT_API_BASE_URL=url, KALSHIBOT_DB_PATH=str(tmp / "s.db"),
               KALSHIBOT_MODEL_DIR=str(tmp / "models"), KALSHIBOT_DATA_DIR=str(tmp),
               KALSHIBOT_READ_RATE_PER_S="1000",
               KALSHIBOT_COINBASE_BASE_URL=url.split("/trade-api")[0])
    yield fake, env
    stop()


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "kalshibot", *args], env=env, text=True,
                       capture_output=True, timeout=300, cwd=Path(__file__).parents[2])
    assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
    return r


def _json(r: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(r.stdout)


@pytest.mark.timeout(600)
def test_a_synced_month_trains_and_backtests_every_strategy_on_candle_history(
        world: tuple[MarketDataFake, dict[str, str]]) -> None:
    fake, env = world
    until = datetime.fromtimestamp(fake.now, UTC).strftime("%Y-%m-%dT%H:%MZ")
    sync = ["data", "sync", "--series", "KXBTC15M", "--status", "settled", "--since", "30d",
            "--until", until, "--public", "--spot", "--json"]
    first = _json(_run(env, *sync))
    assert first["tables"]["markets"]["added"] == 2880
    assert first["candle_quotes"] > 40_000
    assert first["spot"]["source"] == {"BTC": "coinbase"}
    asked = sum(fake.requests[k] for k in CANDLE_TRADE)
    spot_asked = fake.requests["coinbase/products/BTC-USD/candles"]

    again = _json(_run(env, *sync))  # the same sync again: nothing new asked or stored
    assert sum(fake.requests[k] for k in CANDLE_TRADE) == asked
    assert again["tables"]["candles"]["added"] == 0 and again["tables"]["trades"]["added"] == 0
    assert fake.requests["coinbase/products/BTC-USD/candles"] == spot_asked

    text = _run(env, "train", "--series", "KXBTC15M", "--force").stdout
    assert "Brier" in text and "market" in text
    assert "history: candles (2880 market(s) quoted from candles" in text
    trained = _json(_run(env, "train", "--series", "KXBTC15M", "--force", "--json"))
    assert trained["history"]["source"] == "candles"
    assert trained["report"]["overall"]["market"]["brier"] > 0

    for strategy in ("edge", "crypto", "meanrev"):
        out = _json(_run(env, "backtest", "--strategy", strategy, "--series", "KXBTC15M",
                         "--from", "6h", "--interval", "60", "--unknown-size", "5", "--json"))
        assert out["history"]["source"] == "candles", strategy
        assert out["history"]["markets"]["candles"] > 0
        assert "fidelity" in out["history"]
        assert len(out["runs"]) == 1
