"""The synthetic sample: deterministic, realistic shapes, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store import open_store
from kalshibot.store.history import load_markets, load_snapshots

END = datetime(2026, 10, 1, 0, 7, tzinfo=UTC)
CFG = SampleConfig(days=0.5, seed=3, series=("KXBTC15M", "KXHIGHNY"), end=END)


def _dump(conn):
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("markets", "book_snapshots", "trades", "spot_prices", "events", "series")
            } | {"markets": conn.execute("SELECT * FROM markets ORDER BY ticker").fetchall()}


def test_same_seed_same_data_and_idempotent(tmp_path):
    a, b = open_store(tmp_path / "a.sqlite"), open_store(tmp_path / "b.sqlite")
    generate_sample(a, CFG, now=END)
    generate_sample(b, CFG, now=END)
    da = _dump(a)
    assert da == _dump(b)
    again = generate_sample(a, CFG, now=END)
    assert again.rows["book_snapshots"] == 0 and again.rows["trades"] == 0
    assert _dump(a) == da


def test_sample_shapes(tmp_path):
    conn = open_store(tmp_path / "s.sqlite")
    generate_sample(conn, CFG, now=END)
    m = load_markets(conn)
    btc = m[m.series_ticker == "KXBTC15M"]
    assert btc.ticker.iloc[-1] == "KXBTC15M-26SEP302015-15"  # close 00:15Z = 20:15 ET
    done = btc[btc.status == "finalized"]
    assert set(done.result) <= {"yes", "no"} and len(done) == len(btc) - 1
    assert (btc.floor_strike > 0).all()
    fee = conn.execute("SELECT fee_type FROM series WHERE ticker='KXHIGHNY'").fetchone()[0]
    assert fee == "quadratic_with_maker_fees"
    s = load_snapshots(conn, tickers=list(done.ticker[:5]))
    both = s.dropna(subset=["yes_bid", "yes_ask"])
    assert (both.yes_ask > both.yes_bid).all()
    assert (s.groupby("ticker").size() == 90).all()  # 10-second snapshots
