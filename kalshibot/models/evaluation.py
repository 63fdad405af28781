"""Leak-free walk-forward splits and scores against the market itself.

Splits (``walk_forward_splits``): events are ordered by when they end (the latest close of their
markets) and cut into ``n_folds + 1`` consecutive blocks of about equal row count. Fold ``k``
trains on blocks ``0..k-1`` and tests on block ``k``. A whole event (so every market and every
snapshot of it) sits in exactly one block, so no market or event is ever on both sides. Test rows
taken *before* the last training event closed are embargoed (dropped): at that time the
training label was not yet known, so using it would be lookahead across markets.

Scores (``score_block``): Brier, log loss (probabilities clipped to [1e-4, 1 - 1e-4]), ECE
(10 equal-width bins, weighted by count) and a reliability table, for

- the model,
- the market: the YES mid used as a probability,
- the base rate: the training set's YES frequency as a constant,

the Brier skill score of the model against the market and against the base rate
(``1 - Brier_model / Brier_ref``; > 0 means better), and a simulated P&L (``simulate_pnl``).

P&L rule: in each test market, at the first snapshot where the model's edge after the taker fee
exceeds ``min_edge`` on one side, buy one contract of that side at the quoted ask (YES ask, or
NO ask = 1 - YES bid) and hold to settlement. The fee, in the edge and in the P&L, is what a
one-contract order is charged (``kalshibot.domain.fees.order_fee``: whole cents per order, e.g.
$0.02 at $0.50 and $0.01 at $0.05, unless ``direct_member``); the sums are exact ``Decimal``
dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from kalshibot.domain.fees import FeeSchedule, order_fee
from kalshibot.domain.money import Count, Price

EPS = 1e-4
N_BINS = 10


@dataclass(frozen=True)
class Fold:
    """Row positions (into the labelled frame) of one walk-forward fold."""

    index: int
    train: npt.NDArray[np.int64]
    test: npt.NDArray[np.int64]
    embargoed: int
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def event_order(frame: pd.DataFrame) -> pd.Series:
    """Event tickers -> the time their last market closes (sorted)."""
    ends = frame.groupby("event_ticker", sort=True)["close_time"].max()
    return ends.sort_values(kind="mergesort")


def walk_forward_splits(frame: pd.DataFrame, n_folds: int = 3) -> list[Fold]:
    """Expanding-window folds grouped by event; see the module docstring."""
    if n_folds < 1:
        raise ValueError("n_folds must be >= 1")
    ends = event_order(frame)
    counts = frame.groupby("event_ticker", sort=True).size().reindex(ends.index)
    cum = counts.cumsum().to_numpy()
    total = float(cum[-1]) if len(cum) else 0.0
    block_of_event = np.minimum((cum - 1) * (n_folds + 1) // max(total, 1.0), n_folds)
    block_of_event = np.maximum.accumulate(block_of_event.astype(np.int64))
    block = frame["event_ticker"].map(pd.Series(block_of_event, index=ends.index)).to_numpy()
    folds: list[Fold] = []
    ts = frame["ts"]
    for k in range(1, n_folds + 1):
        tr = np.flatnonzero(block < k)
        te_all = np.flatnonzero(block == k)
        if len(tr) == 0 or len(te_all) == 0:
            continue
        train_end = frame["close_time"].iloc[tr].max()
        keep = (ts.iloc[te_all] >= train_end).to_numpy()
        te = te_all[keep]
        if len(te) == 0:
            continue
        folds.append(Fold(index=len(folds) + 1, train=tr, test=te,
                          embargoed=int((~keep).sum()), train_end=train_end,
                          test_start=ts.iloc[te].min(), test_end=ts.iloc[te].max()))
    return folds


# ---- scores ---------------------------------------------------------------------------------
def brier(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    pa, ya = np.asarray(p, float), np.asarray(y, float)
    return float(np.mean((pa - ya) ** 2)) if len(pa) else float("nan")


def log_loss(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    pa = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    ya = np.asarray(y, float)
    if not len(pa):
        return float("nan")
    return float(-np.mean(ya * np.log(pa) + (1 - ya) * np.log(1 - pa)))


def reliability(p: npt.ArrayLike, y: npt.ArrayLike, n_bins: int = N_BINS) -> list[dict[str, Any]]:
    """Per equal-width bin: range, count, mean prediction, observed YES frequency."""
    pa, ya = np.asarray(p, float), np.asarray(y, float)
    b = np.clip((pa * n_bins).astype(int), 0, n_bins - 1)
    out: list[dict[str, Any]] = []
    for i in range(n_bins):
        sel = b == i
        n = int(sel.sum())
        out.append({"bin": f"{i / n_bins:.1f}-{(i + 1) / n_bins:.1f}", "n": n,
                    "mean_pred": float(pa[sel].mean()) if n else None,
                    "freq_yes": float(ya[sel].mean()) if n else None})
    return out


def ece(p: npt.ArrayLike, y: npt.ArrayLike, n_bins: int = N_BINS) -> float:
    pa = np.asarray(p, float)
    if not len(pa):
        return float("nan")
    tot = 0.0
    for r in reliability(p, y, n_bins):
        if r["n"]:
            tot += r["n"] / len(pa) * abs(r["mean_pred"] - r["freq_yes"])
    return float(tot)


def scores(p: npt.ArrayLike, y: npt.ArrayLike) -> dict[str, float]:
    return {"brier": brier(p, y), "log_loss": log_loss(p, y), "ece": ece(p, y)}


def skill(model_brier: float, ref_brier: float) -> float:
    return float(1.0 - model_brier / ref_brier) if ref_brier > 0 else float("nan")


@lru_cache(maxsize=16384)
def _fee_one(price: Decimal, direct_member: bool = False) -> Decimal:
    """Fee charged for a one-contract taker order at ``price`` (dollars)."""
    return order_fee(Count(1), Price(price), is_taker=True, schedule=FeeSchedule(),
                     direct_member=direct_member).amount


def _fees_one(prices: npt.NDArray[np.float64], direct_member: bool) -> npt.NDArray[np.float64]:
    """``_fee_one`` of each price (NaN stays NaN); prices have at most 4 decimals."""
    out = np.full(len(prices), np.nan)
    for i, x in enumerate(prices):
        if x == x and 0.0 <= x <= 1.0:
            out[i] = float(_fee_one(_dec(x), direct_member))
    return out


def _dec(x: float) -> Decimal:
    return Decimal(f"{x:.4f}")


def simulate_pnl(frame: pd.DataFrame, p: npt.ArrayLike, *, min_edge: float = 0.02,
                 direct_member: bool = False) -> dict[str, Any]:
    """Trade the model's edge at the quoted ask, one contract per market (module docstring)."""
    pa = np.asarray(p, float)
    bid = frame["yes_bid"].to_numpy(float)
    ask = frame["yes_ask"].to_numpy(float)
    no_ask = 1.0 - bid
    fee = _fees_one(ask, direct_member)
    fee_no = _fees_one(no_ask, direct_member)
    e_yes = np.where(np.isnan(ask), -np.inf, pa - ask - fee)
    e_no = np.where(np.isnan(bid), -np.inf, (1 - pa) - no_ask - fee_no)
    best = np.maximum(e_yes, e_no)
    cand = pd.DataFrame({"ticker": frame["ticker"].to_numpy(), "ts": frame["ts"].to_numpy(),
                         "pos": np.arange(len(frame))})[best > min_edge]
    first = cand.sort_values(["ticker", "ts"], kind="mergesort").groupby("ticker").head(1)
    pnl = Decimal(0)
    fees = Decimal(0)
    wins = 0
    label = frame["label"].to_numpy(float)
    for i in first["pos"].to_numpy():
        if e_yes[i] >= e_no[i]:
            price, won = _dec(ask[i]), label[i] == 1.0
        else:
            price, won = _dec(no_ask[i]), label[i] == 0.0
        f = _fee_one(price, direct_member)
        pnl += (Decimal(1) if won else Decimal(0)) - price - f
        fees += f
        wins += int(won)
    n = len(first)
    return {"trades": n, "pnl": str(pnl), "fees": str(fees),
            "pnl_per_trade": str((pnl / n).quantize(Decimal("0.0001"))) if n else "0",
            "hit_rate": wins / n if n else float("nan"), "min_edge": min_edge,
            "markets": int(frame["ticker"].nunique())}


def score_block(frame: pd.DataFrame, p_model: npt.ArrayLike, base_rate: float, *,
                min_edge: float = 0.02, with_reliability: bool = False,
                direct_member: bool = False) -> dict[str, Any]:
    """Everything reported for one test block (a fold, or all folds pooled)."""
    y = frame["label"].to_numpy(float)
    p_mkt = np.clip(frame["mid"].to_numpy(float), 0.0, 1.0)
    p_base = np.full(len(y), base_rate)
    out: dict[str, Any] = {
        "rows": int(len(y)), "markets": int(frame["ticker"].nunique()),
        "events": int(frame["event_ticker"].nunique()),
        "model": scores(p_model, y), "market": scores(p_mkt, y), "base_rate": scores(p_base, y),
        "base_rate_value": base_rate,
    }
    out["bss_vs_market"] = skill(out["model"]["brier"], out["market"]["brier"])
    out["bss_vs_base"] = skill(out["model"]["brier"], out["base_rate"]["brier"])
    out["beats_market"] = bool(out["model"]["brier"] < out["market"]["brier"]
                               and out["model"]["log_loss"] < out["market"]["log_loss"])
    out["pnl"] = simulate_pnl(frame, p_model, min_edge=min_edge, direct_member=direct_member)
    if with_reliability:
        out["reliability"] = {"model": reliability(p_model, y), "market": reliability(p_mkt, y)}
    return out


def verdict(overall: dict[str, Any]) -> str:
    """One plain sentence on whether the model beats the market out of sample."""
    m, k = overall["model"], overall["market"]
    pnl = Decimal(overall["pnl"]["pnl"])
    if overall["beats_market"]:
        s = (f"The model beats the market out of sample (Brier {m['brier']:.4f} vs "
             f"{k['brier']:.4f}, skill {overall['bss_vs_market']:+.3f}; log loss "
             f"{m['log_loss']:.4f} vs {k['log_loss']:.4f})")
    else:
        s = (f"The model does NOT beat the market out of sample (Brier {m['brier']:.4f} vs "
             f"{k['brier']:.4f}, skill {overall['bss_vs_market']:+.3f}; log loss "
             f"{m['log_loss']:.4f} vs {k['log_loss']:.4f}): do not trade its edge")
    s += (f"; simulated P&L after fees {'+' if pnl >= 0 else '-'}${abs(pnl):.2f} over "
          f"{overall['pnl']['trades']} one-contract trades.")
    return s
