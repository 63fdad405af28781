"""`kalshibot eval crypto` and its pieces on seeded synthetic paths in a real SQLite store."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from kalshibot.cli.main import run
from kalshibot.domain.market import Market, MarketStatus, Result
from kalshibot.domain.ticks import TickGrid
from kalshibot.models.crypto_data import RefPath, settlement_proxy
from kalshibot.models.crypto_eval import EvalConfig, evaluate
from kalshibot.models.crypto_scores import DayBootstrap, calibration_slope
from kalshibot.store.connection import connect
from kalshibot.store.markets import upsert_markets
from kalshibot.store.spot import insert_spot_rows
from tests.conftest import shared_path

START = datetime(2026, 3, 1, tzinfo=UTC)


def gbm_bars(days: float, seed: int = 3, sigma_min: float = 8e-4) -> tuple[np.ndarray, ...]:
    """One-minute OHLC bars of a seeded GBM (bar end times, epoch s)."""
    rng = np.random.default_rng(seed)
    n = int(days * 1440)
    sub = 6  # 10-second steps inside each minute for realistic highs/lows
    steps = rng.normal(0, sigma_min / math.sqrt(sub), n * sub)
    path = 30_000.0 * np.exp(np.cumsum(steps)).reshape(n, sub)
    close = path[:, -1]
    open_ = np.concatenate([[30_000.0], close[:-1]])
    high = np.maximum(path.max(axis=1), open_)
    low = np.minimum(path.min(axis=1), open_)
    end = START.timestamp() + 60.0 * np.arange(1, n + 1)
    return end, open_, high, low, close


def store(tmp_path: Path, days: float = 6.0, symbol: str = "BTCUSD",
          source: str = "binanceus") -> Path:
    db = tmp_path / "eval.sqlite"
    conn = connect(db)
    end, o, h, lo, c = gbm_bars(days)
    rows = [(source, symbol, int(t * 1000), f"{cc:.2f}", f"{oo:.2f}", f"{hh:.2f}",
             f"{ll:.2f}", "1") for t, oo, hh, ll, cc in zip(end, o, h, lo, c, strict=True)]
    insert_spot_rows(conn, rows)
    conn.commit()
    conn.close()
    return db


def models(result: dict, h: int) -> dict[str, dict]:
    block = next(x for x in result["horizons"] if x["minutes_into_window"] == h)
    return {m["name"]: m for m in block["models"]}


def test_spot_windows_walk_forward_on_a_gbm(tmp_path: Path) -> None:
    db = store(tmp_path)
    conn = connect(db, read_only=True)
    r = evaluate(conn, EvalConfig(n_boot=300))
    assert r["reference"]["symbol"] == "BTCUSD"
    assert r["reference"]["is_settlement_index"] is False
    assert r["windows"]["mode"] == "spot"
    assert r["days"] == 6 and r["train_only_days"] == 3 and len(r["test_days"]) == 3
    for h in (1, 5, 10):
        m = models(r, h)
        assert set(m) >= {"coin_flip", "ewma", "pricer", "robust", "har", "student_t",
                          "calibrated", "seasonal", "select"}
        # the digital knows something: clearly better than a coin flip
        ci = m["pricer"]["vs_coin_flip"]["ci95"]
        assert ci is not None and ci[1] < 0
        assert m["ewma"]["vs_ewma"]["diff"] == 0.0
        assert m["pricer"]["n"] == m["ewma"]["n"] == m["coin_flip"]["n"] > 200
    # a constant-volatility GBM: the digital is calibrated at 10 minutes
    lo, hi = models(r, 10)["pricer"]["calibration_slope_ci95"]
    assert lo < 1.0 < hi


def test_too_few_days_scores_unfitted_forecasters_only(tmp_path: Path) -> None:
    conn = connect(store(tmp_path, days=2.0), read_only=True)
    r = evaluate(conn, EvalConfig(n_boot=100))
    assert r["train_only_days"] == 0
    assert set(models(r, 5)) == {"coin_flip", "ewma", "pricer", "robust"}
    assert any("fitted candidates" in n for n in r["notes"])


def test_settled_markets_are_scored_on_their_results(tmp_path: Path) -> None:
    """Stored settled markets around the spot data are used (auto): their results, their
    strikes when stored. Flipping every result makes the pricer worse than a coin flip."""
    db = store(tmp_path, days=5.0)
    conn = connect(db)
    end, *_ , close = gbm_bars(5.0)
    path = RefPath("BTCUSD", "binanceus", end, close, None, None, None)
    closes = np.arange(START.timestamp() + 7200, end[-1], 900.0)
    a = settlement_proxy(path, closes)
    k = settlement_proxy(path, closes - 900)
    markets = []
    for i, (c, av, kv) in enumerate(zip(closes, a, k, strict=True)):
        ct = datetime.fromtimestamp(c, UTC)
        # every other market has a stored strike 0.2 % above the open (then it decides)
        stored = None if i % 2 else Decimal(f"{kv * 1.002:.2f}")
        res = Result.YES if av >= (kv if stored is None else float(stored)) else Result.NO
        markets.append(Market(f"KXBTC15M-X{i}-00", f"KXBTC15M-X{i}", "KXBTC15M", "up?",
                              MarketStatus.FINALIZED, ct - timedelta(minutes=15), ct,
                              TickGrid.linear_cent(), "greater_or_equal", stored, result=res))
    upsert_markets(conn, markets, now=START, source="test")
    conn.commit()
    good = evaluate(conn, EvalConfig(n_boot=100, research=False))
    assert good["windows"]["mode"] == "markets" and good["windows"]["count"] == len(markets)
    assert sum(m.result is Result.NO for m in markets[::2]) > 0.7 * len(markets[::2])
    # without the stored strikes the same results are priced worse: the strikes were used
    upsert_markets(conn, [replace(m, floor_strike=None) for m in markets],
                   now=START + timedelta(days=8), source="test")
    conn.commit()
    no_strikes = evaluate(conn, EvalConfig(n_boot=100, research=False))
    for h in (1, 5, 10):
        assert models(no_strikes, h)["pricer"]["log_loss"] > models(good, h)["pricer"][
            "log_loss"] + 0.01
    flipped = [replace(m, result=Result.NO if m.result is Result.YES else Result.YES)
               for m in markets]
    upsert_markets(conn, flipped, now=START + timedelta(days=9), source="test")
    conn.commit()
    bad = evaluate(conn, EvalConfig(n_boot=100, research=False))
    for h in (5, 10):
        assert models(good, h)["pricer"]["log_loss"] < math.log(2)
        assert models(bad, h)["pricer"]["log_loss"] > math.log(2)
    spot_mode = evaluate(conn, EvalConfig(n_boot=100, research=False, windows="spot"))
    assert spot_mode["windows"]["mode"] == "spot"


def test_settlement_proxy_rules() -> None:
    t = np.arange(0.0, 300.0)  # one observation a second, level = time
    fine = RefPath("BTC", "cfbenchmarks", t, 1000.0 + t, None, None, None)
    # (T-60, T]: seconds 181..240 at T = 240
    assert settlement_proxy(fine, np.array([240.0]))[0] == pytest.approx(1000 + 210.5)
    bars = RefPath("X", "s", np.array([60.0, 120.0]), np.array([10.0, 20.0]),
                   np.array([9.0, 11.0]), np.array([12.0, 23.0]), np.array([8.0, 10.0]))
    assert settlement_proxy(bars, np.array([120.0]))[0] == pytest.approx((11 + 23 + 10 + 20) / 4)
    closes = RefPath("X", "s", np.array([60.0, 120.0]), np.array([10.0, 20.0]), None, None,
                     None)
    assert settlement_proxy(closes, np.array([120.0]))[0] == pytest.approx(15.0)
    # nothing recent at T: no proxy
    assert math.isnan(settlement_proxy(closes, np.array([900.0]))[0])


def test_bootstrap_is_seeded_over_day_blocks() -> None:
    rng = np.random.default_rng(0)
    day = np.repeat(np.arange(10), 50)
    x = rng.normal(0.3, 1.0, len(day))
    sel = np.ones(len(day), dtype=bool)
    a = DayBootstrap(day, day, 500, seed=1).mean_ci(x, sel)
    b = DayBootstrap(day, day, 500, seed=1).mean_ci(x, sel)
    c = DayBootstrap(day, day, 500, seed=2).mean_ci(x, sel)
    assert a == b and a != c and a is not None
    assert a[0] < x.mean() < a[1]
    # days outside the blocks never enter
    only = DayBootstrap(day, np.arange(5), 200, seed=1)
    x2 = np.where(day < 5, 0.0, 100.0)
    assert only.mean_ci(x2, sel) == (0.0, 0.0)
    assert DayBootstrap(day[:50], day[:50], 100).mean_ci(x[:50], sel[:50]) is None  # one day


def test_calibration_slope_reads_over_and_under_confidence() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(0, 1.5, 20_000)
    p_true = 1 / (1 + np.exp(-z))
    y = (rng.random(len(z)) < p_true).astype(float)
    assert calibration_slope(p_true, y) == pytest.approx(1.0, abs=0.06)
    shy = 1 / (1 + np.exp(-0.5 * z))  # too close to 0.5: under-confident
    assert calibration_slope(shy, y) == pytest.approx(2.0, abs=0.15)


def test_cli_json_plot_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = store(tmp_path, days=4.0)
    png = tmp_path / "rel.png"
    assert run(["eval", "crypto", "--db", str(db), "--json", "--boot", "50",
                "--horizons", "5,10", "--plot", str(png)]) == 0
    doc = json.loads(capsys.readouterr().out)  # strict JSON: no NaN
    assert [h["minutes_into_window"] for h in doc["horizons"]] == [5, 10]
    assert doc["pricer"] == "robust(hl=30m)" and doc["baseline"] == "ewma(hl=30m)"
    assert png.stat().st_size > 1000
    assert run(["eval", "crypto", "--db", str(db), "--boot", "20", "--no-research"]) == 0
    out = capsys.readouterr().out
    assert "vs EWMA [95% CI]" in out and "NOT the settlement index" in out
    # the product's volatility model comes from the settings
    monkeypatch.setenv("KALSHIBOT_CRYPTO_VOL_MODEL", "ewma")
    assert run(["eval", "crypto", "--db", str(db), "--boot", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pricer"] == "ewma(hl=30m)"
    monkeypatch.delenv("KALSHIBOT_CRYPTO_VOL_MODEL")
    # user mistakes: one line, exit 2; a missing store: exit 3
    for args in (["--series", "KXHIGHNY"], ["--horizons", "15"], ["--horizons", "x"],
                 ["--windows", "both"], ["--symbol", "DOGEUSD"]):
        assert run(["eval", "crypto", "--db", str(db), *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") <= 2 and "Traceback" not in err
    assert run(["eval", "crypto", "--db", str(tmp_path / "none.sqlite")]) == 3
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert run(["eval", "crypto", "--db", str(db), "--boot", "0", "--plot",
                str(tmp_path / "x.png")]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err


def test_shared_btc_weeks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          clean_env: Path) -> None:
    """The two shared BTC weeks, imported with `data import`: Binance.US bars (not the index),
    spot-derived windows; the README table's pricer beats EWMA 10 minutes in."""
    folder = shared_path("data", "kalshi")
    db = tmp_path / "shared.sqlite"
    assert run(["data", "import", str(folder), "--db", str(db), "--json"]) == 0
    capsys.readouterr()
    assert run(["eval", "crypto", "--db", str(db), "--json", "--boot", "500",
                "--no-research"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ref = doc["reference"]
    assert (ref["source"], ref["symbol"], ref["is_settlement_index"]) == (
        "binanceus", "BTCUSD", False)
    assert doc["windows"]["mode"] == "spot" and doc["windows"]["count"] == 1338
    assert doc["test_samples"] == 3 * 1055
    ten = models(doc, 10)["pricer"]["vs_ewma"]
    assert ten["diff"] < 0 and ten["ci95"][1] < 0


def test_recorded_index_is_preferred_and_second_data_is_used(tmp_path: Path) -> None:
    """A day of per-second index ticks (source cfbenchmarks) beside longer exchange bars: the
    index is the reference (it is what settles the markets), averaged per second."""
    db = store(tmp_path, days=3.0)  # binanceus/BTCUSD, longer
    conn = connect(db)
    rng = np.random.default_rng(8)
    t0 = START.timestamp() + 86400
    p = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-4, 86400)))
    insert_spot_rows(conn, [("cfbenchmarks", "BTC", int((t0 + i) * 1000), f"{v:.2f}", None,
                             None, None, None) for i, v in enumerate(p)])
    conn.commit()
    r = evaluate(conn, EvalConfig(n_boot=50))
    assert r["reference"]["source"] == "cfbenchmarks" and r["reference"]["is_settlement_index"]
    assert r["reference"]["median_spacing_s"] == 1.0
    # opens from 01:00 (an hour of volatility warm-up) to 23:30: closes 01:15 .. 23:45
    assert r["windows"]["count"] == 91
    assert models(r, 5)["pricer"]["log_loss"] < math.log(2)
