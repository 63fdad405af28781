"""Local books without a socket: exact unit parsing, snapshot + deltas, gaps, negative levels."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kalshibot.domain.book import OrderBook
from kalshibot.domain.money import Count, Price
from kalshibot.domain.orders import Side
from kalshibot.errors import DataError
from kalshibot.kalshi import parsing as p
from kalshibot.ws.books import BookTracker, count_units, price_units
from tests.ws.conftest import ws_fixture
from tests.ws.fake_server import fmt_count, fmt_price

T0 = datetime(2026, 11, 20, 19, 3, tzinfo=UTC)


def tracker(gaps: list[tuple[int, list[str]]] | None = None) -> BookTracker:
    return BookTracker(lambda: T0, on_gap=(lambda s, t: gaps.append((s, t))) if gaps is not None
                       else None)


@pytest.mark.parametrize(("text", "units"), [
    ("0.5100", 5100), ("0.510", 5100), ("0.51", 5100), ("0.510000", 5100), ("1.0000", 10000),
    ("0", 0), ("0.0001", 1)])
def test_price_units_exact(text: str, units: int) -> None:
    assert price_units(text) == units


@pytest.mark.parametrize("bad", ["0.51001", "1.0001", "-0.01", "1e-2", "", " 0.5", "abc", 0.5,
                                 None])
def test_price_units_rejects(bad: object) -> None:
    with pytest.raises(DataError):
        price_units(bad)


@pytest.mark.parametrize(("text", "units"), [("-4.00", -400), ("210.00", 21000), ("0.01", 1),
                                             ("7", 700), ("3.500", 350)])
def test_count_units_exact(text: str, units: int) -> None:
    assert count_units(text) == units


@pytest.mark.parametrize("bad", ["0.001", "4.5e1", 4.0, "--1"])
def test_count_units_rejects(bad: object) -> None:
    with pytest.raises(DataError):
        count_units(bad)


def test_fixture_snapshot_then_delta_matches_rest_parsing() -> None:
    snap, delta = ws_fixture("orderbook_snapshot"), ws_fixture("orderbook_delta")
    tr = tracker()
    tr.on_message(snap)
    tr.on_message(delta)
    t = snap["msg"]["market_ticker"]
    book = tr.book(t)
    assert book is not None
    no = p.parse_levels(snap["msg"]["no_dollars_fp"], "no")
    no = [(pr, Count(c.value - 4) if pr == Price("0.51") else c) for pr, c in no]
    want = OrderBook.from_levels(t, p.parse_levels(snap["msg"]["yes_dollars_fp"], "yes"), no, T0)
    assert book == want
    assert book.best_bid(Side.YES) is not None
    assert book.best_bid(Side.YES).price.value == Decimal("0.47")
    assert book.best_ask(Side.YES) is not None
    assert book.best_ask(Side.YES).price.value == Decimal("0.49")  # 1 - 0.51
    assert book.best_ask(Side.YES).size == Count(236)
    assert isinstance(book.no_bids[0].price.value, Decimal)


def test_level_removed_at_zero_and_book_cached_until_change() -> None:
    snap = ws_fixture("orderbook_snapshot")
    tr = tracker()
    tr.on_message(snap)
    t = snap["msg"]["market_ticker"]
    b1 = tr.book(t)
    assert tr.book(t) is b1  # cached
    tr.on_message({"type": "orderbook_delta", "sid": 2, "seq": 2, "msg": {
        "market_ticker": t, "price_dollars": "0.4400", "delta_fp": "-120.00", "side": "yes"}})
    b2 = tr.book(t)
    assert b2 is not b1 and b2 is not None
    assert [lv.price for lv in b2.yes_bids] == [Price("0.47"), Price("0.46"), Price("0.45")]


def test_seq_gap_marks_sid_unsynced_and_asks_for_snapshots() -> None:
    gaps: list[tuple[int, list[str]]] = []
    tr = tracker(gaps)
    snap = ws_fixture("orderbook_snapshot")
    t = snap["msg"]["market_ticker"]
    tr.on_message(snap)  # seq 1
    other = {"type": "orderbook_snapshot", "sid": 2, "seq": 2,
             "msg": {"market_ticker": "OTHER", "market_id": "x"}}
    tr.on_message(other)
    d = {"type": "orderbook_delta", "sid": 2, "seq": 5, "msg": {
        "market_ticker": t, "price_dollars": "0.4400", "delta_fp": "1.00", "side": "yes"}}
    tr.on_message(d)  # 3 and 4 lost
    assert gaps == [(2, sorted(["OTHER", t]))]
    assert tr.book(t) is None and tr.book("OTHER") is None
    tr.on_message({**d, "seq": 6})  # still unsynced: ignored
    assert tr.rejected == 2
    tr.on_message({**snap, "seq": 7})
    assert tr.book(t) is not None and tr.book("OTHER") is None
    assert len(gaps) == 1


def test_negative_level_forces_resync_of_that_market() -> None:
    gaps: list[tuple[int, list[str]]] = []
    tr = tracker(gaps)
    snap = ws_fixture("orderbook_snapshot")
    t = snap["msg"]["market_ticker"]
    tr.on_message(snap)
    tr.on_message({"type": "orderbook_delta", "sid": 2, "seq": 2, "msg": {
        "market_ticker": t, "price_dollars": "0.4400", "delta_fp": "-121.00", "side": "yes"}})
    assert gaps == [(2, [t])]
    assert tr.book(t) is None


def test_control_seq_is_not_a_gap() -> None:
    gaps: list[tuple[int, list[str]]] = []
    tr = tracker(gaps)
    snap = ws_fixture("orderbook_snapshot")
    tr.on_message(snap)
    tr.observe_seq(2, 2)  # an ``ok`` reply carrying seq
    tr.on_message({"type": "orderbook_delta", "sid": 2, "seq": 3, "msg": {
        "market_ticker": snap["msg"]["market_ticker"], "price_dollars": "0.4400",
        "delta_fp": "1.00", "side": "yes"}})
    assert gaps == []


def test_random_deltas_in_process_match_reference() -> None:
    """10k seeded deltas applied directly: integer books equal a Decimal reference."""
    rng = random.Random(7)
    tr = tracker()
    tr.on_message({"type": "orderbook_snapshot", "sid": 1, "seq": 1,
                   "msg": {"market_ticker": "M", "market_id": "m"}})
    ref: dict[str, dict[Decimal, Decimal]] = {"yes": {}, "no": {}}
    for seq in range(2, 10_002):
        side = rng.choice(("yes", "no"))
        price = rng.choice((rng.randrange(1, 100) * 100, rng.randrange(1, 10_000)))
        cur = ref[side].get(Decimal(fmt_price(price)), Decimal(0))
        cur_u = int(cur * 100)
        delta = rng.randrange(1, 50_000) if cur_u == 0 or rng.random() < 0.6 \
            else -rng.randrange(1, cur_u + 1)
        new = cur + Decimal(fmt_count(delta))
        if new:
            ref[side][Decimal(fmt_price(price))] = new
        else:
            ref[side].pop(Decimal(fmt_price(price)), None)
        tr.on_message({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": {
            "market_ticker": "M", "price_dollars": fmt_price(price),
            "delta_fp": fmt_count(delta), "side": side}})
    book = tr.book("M")
    assert book is not None
    want = OrderBook.from_levels("M", [(Price(k), Count(v)) for k, v in ref["yes"].items()],
                                 [(Price(k), Count(v)) for k, v in ref["no"].items()], T0)
    assert book == want
    assert tr.gaps == 0 and tr.deltas == 10_000
