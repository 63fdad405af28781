"""Walk-forward splits never leak a market or an event; scores; P&L after fees."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from kalshibot.models.evaluation import (
    brier,
    ece,
    log_loss,
    reliability,
    score_block,
    simulate_pnl,
    verdict,
    walk_forward_splits,
)


@pytest.mark.parametrize("n_folds", [1, 3, 5])
def test_splits_never_leak_a_market_or_event(frame: pd.DataFrame, n_folds: int) -> None:
    lab = frame[frame["label"].notna()].reset_index(drop=True)
    folds = walk_forward_splits(lab, n_folds)
    assert len(folds) == n_folds
    prev_end = None
    for f in folds:
        tr, te = lab.iloc[f.train], lab.iloc[f.test]
        assert not set(tr["ticker"]) & set(te["ticker"])
        assert not set(tr["event_ticker"]) & set(te["event_ticker"])
        # embargo: every test row comes after the last training market closed
        assert te["ts"].min() >= tr["close_time"].max()
        # walk forward: later folds test later data and train on everything before
        if prev_end is not None:
            assert f.test_start >= prev_end
        prev_end = f.test_end
        assert len(set(f.train) & set(f.test)) == 0


def test_scores_known_values() -> None:
    y = np.array([1.0, 0.0, 1.0, 0.0])
    p = np.array([0.8, 0.2, 0.6, 0.4])
    assert brier(p, y) == pytest.approx((0.04 + 0.04 + 0.16 + 0.16) / 4)
    assert log_loss(p, y) == pytest.approx(-np.mean(np.log([0.8, 0.8, 0.6, 0.6])))
    assert log_loss([1.0, 0.0], [0.0, 1.0]) == pytest.approx(-np.log(1e-4))  # clipped, finite
    # ECE: bins 0.2, 0.4, 0.6, 0.8 -> |0.2-0|, |0.4-0|, |0.6-1|, |0.8-1| each weight 1/4
    assert ece(p, y) == pytest.approx((0.2 + 0.4 + 0.4 + 0.2) / 4)
    table = reliability(p, y)
    assert len(table) == 10 and sum(r["n"] for r in table) == 4


def _one_market(p_row: dict[str, float]) -> pd.DataFrame:
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.DataFrame({"ticker": ["A-1", "A-1"], "event_ticker": ["A", "A"],
                         "ts": [t0, t0 + pd.Timedelta(seconds=10)],
                         "yes_bid": [p_row["bid"]] * 2, "yes_ask": [p_row["ask"]] * 2,
                         "label": [p_row["label"]] * 2,
                         "mid": [(p_row["bid"] + p_row["ask"]) / 2] * 2})


def test_pnl_buys_once_at_the_ask_and_pays_the_exact_fee() -> None:
    f = _one_market({"bid": 0.48, "ask": 0.50, "label": 1.0})
    out = simulate_pnl(f, np.array([0.9, 0.9]), min_edge=0.02)
    # one YES at 0.50: fee ceil_0.0001(0.07 * 0.25) = 0.0175, charged $0.02 (whole cents per
    # order; f6e3055 charged 0.0175); wins 1.00
    assert out["trades"] == 1
    assert Decimal(out["pnl"]) == Decimal("1") - Decimal("0.50") - Decimal("0.02")
    # NO side: model says 0.1 -> buy NO at 1 - 0.48 = 0.52 and lose when YES wins
    out = simulate_pnl(f, np.array([0.1, 0.1]), min_edge=0.02)
    assert Decimal(out["pnl"]) == -(Decimal("0.52") + Decimal("0.02"))
    # a direct member pays the $0.0001-rounded fee
    out = simulate_pnl(f, np.array([0.9, 0.9]), min_edge=0.02, direct_member=True)
    assert Decimal(out["pnl"]) == Decimal("1") - Decimal("0.50") - Decimal("0.0175")
    # no edge after fees: no trade
    out = simulate_pnl(f, np.array([0.51, 0.51]), min_edge=0.0)
    assert out["trades"] == 0 and Decimal(out["pnl"]) == 0


def test_pnl_edge_uses_the_fee_charged_on_a_1_lot() -> None:
    """At $0.05 a 1-lot is modelled at $0.0033 but charged $0.01: p = 0.0585 has a modelled
    edge of 0.0052 >= 0.005 and a charged edge of -0.0015. Fails on f6e3055 (it traded)."""
    f = _one_market({"bid": 0.03, "ask": 0.05, "label": 1.0})
    assert simulate_pnl(f, np.array([0.0585, 0.0585]), min_edge=0.005)["trades"] == 0
    out = simulate_pnl(f, np.array([0.0585, 0.0585]), min_edge=0.005, direct_member=True)
    assert out["trades"] == 1


def test_verdict_says_plainly_when_the_model_loses_to_the_market() -> None:
    f = _one_market({"bid": 0.88, "ask": 0.90, "label": 1.0})
    res = score_block(f, np.array([0.5, 0.5]), 0.5)
    assert not res["beats_market"] and res["bss_vs_market"] < 0
    assert "does NOT beat the market" in verdict(res)
    res = score_block(f, np.array([0.99, 0.99]), 0.5)
    assert res["beats_market"] and "beats the market" in verdict(res)
